package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// poolOp is one kind of pool change: what the body must hold, and how the
// board makes it.
type poolOp struct {
	// body says what of PoolRequest the route takes: "upstreams",
	// "address" or "" (neither).
	body string
	do   func(ctx context.Context, name string, c config.Color, req PoolRequest, br switchboard.PoolRequest) (switchboard.PoolChange, error)
}

func (s *Server) poolSet(w http.ResponseWriter, r *http.Request) {
	s.pool(w, r, poolOp{body: "upstreams", do: func(ctx context.Context, name string, c config.Color, req PoolRequest, br switchboard.PoolRequest) (switchboard.PoolChange, error) {
		ups := req.Upstreams
		if ups == nil {
			ups = []string{}
		}
		return s.o.Board.SetPool(ctx, name, c, ups, br)
	}})
}

func (s *Server) poolAdd(w http.ResponseWriter, r *http.Request) {
	s.pool(w, r, poolOp{body: "address", do: func(ctx context.Context, name string, c config.Color, req PoolRequest, br switchboard.PoolRequest) (switchboard.PoolChange, error) {
		return s.o.Board.AddUpstream(ctx, name, c, req.Address, br)
	}})
}

func (s *Server) poolRemove(w http.ResponseWriter, r *http.Request) {
	s.pool(w, r, poolOp{do: func(ctx context.Context, name string, c config.Color, _ PoolRequest, br switchboard.PoolRequest) (switchboard.PoolChange, error) {
		return s.o.Board.RemoveUpstream(ctx, name, c, r.PathValue("address"), br)
	}})
}

func (s *Server) poolReset(w http.ResponseWriter, r *http.Request) {
	s.pool(w, r, poolOp{do: func(ctx context.Context, name string, c config.Color, _ PoolRequest, br switchboard.PoolRequest) (switchboard.PoolChange, error) {
		return s.o.Board.ResetPool(ctx, name, c, br)
	}})
}

// pool serves every pool change: 404 for an unknown service, 400 for a bad
// colour or body, the board's refusals as for flips, and one audit line
// naming the colour and its upstreams before and after.
func (s *Server) pool(w http.ResponseWriter, r *http.Request, op poolOp) {
	name := r.PathValue("name")
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	rec := auditOf(r)
	rec.generation = v.Record.Generation
	c, err := config.ParseColor(r.PathValue("color"))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("color: %v", err))
		return
	}
	rec.color = c.String()
	rec.from = fmt.Sprint(v.Config.Pool(c).Upstreams)
	req, err := decodePool(r, op.body)
	rec.reason = req.Reason
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	br := switchboard.PoolRequest{ExpectGeneration: req.ExpectGeneration, ExpectPoolsVersion: req.ExpectPoolsVersion,
		Actor: actor(r), Detail: req.Reason}
	rec.changedBy = br.Actor
	pc, err := op.do(r.Context(), name, c, req, br)
	if err != nil {
		status, code := errorStatus(err)
		writeError(w, status, code, err.Error())
		return
	}
	v, _ = s.o.Board.View(name)
	rec.to, rec.unchanged = fmt.Sprint(pc.To), !pc.Changed
	writeJSON(w, http.StatusOK, PoolResult{Changed: pc.Changed, Color: c.String(), From: nonNil(pc.From), To: nonNil(pc.To), Service: s.status(v)})
}

// decodePool reads a PoolRequest (decodeBody) and refuses what the route
// does not take: want is "upstreams", "address" or "".
func decodePool(r *http.Request, want string) (PoolRequest, error) {
	var req PoolRequest
	if err := decodeBody(r, &req); err != nil {
		return req, err
	}
	switch {
	case want == "address" && req.Address == "":
		return req, errors.New("address: required (\"host:port\")")
	case want != "address" && req.Address != "":
		return req, errors.New("address: only POST …/upstreams takes an address")
	case want != "upstreams" && req.Upstreams != nil:
		return req, errors.New("upstreams: only PUT …/pools/{color} takes upstreams")
	case want == "upstreams" && len(req.Upstreams) > 1024:
		return req, errors.New("upstreams: more than 1024")
	case len(req.Reason) > 1024:
		return req, errors.New("reason: longer than 1024 bytes")
	}
	return req, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
