# Small static non-root image: docker build -t switchd .
# Pinned: builds older than go1.26.10 can be crashed over HTTP/2 (GO-2026-6617).
FROM golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/switchd/switchd/internal/daemon.Version=${VERSION}" -o /out/switchd ./cmd/switchd \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/switchd/switchd/internal/ctl.Version=${VERSION}" -o /out/switchctl ./cmd/switchctl \
 && mkdir -p /out/state /out/run

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchd /out/switchctl /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/state /var/lib/switchd
COPY --from=build --chown=65532:65532 /out/run /run/switchd
# A config for containers: upstreams by container name (blue:8080,
# green:8080), the control API on a unix socket in /run/switchd, state in
# /var/lib/switchd. Mount your own over it.
COPY docker/config.toml /etc/switchd/config.toml
USER 65532:65532
# Port 80 (and 443 with TLS on); Docker (20.10+) lets a non-root user bind
# them.
EXPOSE 80 443
VOLUME ["/var/lib/switchd", "/run/switchd"]
# Distroless has no shell or curl: switchctl asks /healthz, which needs no
# token, over the control socket.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/switchctl", "--addr", "unix:/run/switchd/control.sock", "health"]
ENTRYPOINT ["/usr/local/bin/switchd"]
CMD ["-config", "/etc/switchd/config.toml"]
