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
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchd /out/switchctl /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/state /var/lib/switchd
COPY config.toml /etc/switchd/config.toml
USER 65532:65532
# config.toml listens on :80 and :443; Docker (20.10+) lets a non-root user bind
# them. The control API stays on 127.0.0.1:9180 unless the config says otherwise.
EXPOSE 80 443
VOLUME ["/var/lib/switchd"]
ENTRYPOINT ["/usr/local/bin/switchd"]
CMD ["-config", "/etc/switchd/config.toml"]
