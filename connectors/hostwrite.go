package connectors

import (
	"context"
	"slices"
)

// The host's end of the write operations: a Call with a create or update,
// sent only to a plugin whose Hello announced both.

// Create sends one create, to a plugin that announced writes. The record
// is valid until the response is released.
func (h *HostConn) Create(ctx context.Context, req *CreateRequest) (*WriteResponse, CallInfo, error) {
	return h.write(ctx, req.Transport, req, nil)
}

// Update sends one update; see Create. A version conflict's error carries
// the current version the plugin reported.
func (h *HostConn) Update(ctx context.Context, req *UpdateRequest) (*WriteResponse, CallInfo, error) {
	return h.write(ctx, req.Transport, nil, req)
}

func (h *HostConn) write(ctx context.Context, tr Transport, create *CreateRequest, update *UpdateRequest) (*WriteResponse, CallInfo, error) {
	if !h.writes() {
		return nil, CallInfo{}, ErrNoWrites
	}
	d, info, err := h.call(ctx, tr, nil, nil, nil, create, update)
	if err != nil {
		return nil, info, err
	}
	if len(d.msg.records) != 1 {
		d.fb.release()
		return nil, info, Errorf(CodeInternal, "a write answered with %d records", len(d.msg.records))
	}
	return &WriteResponse{Record: d.msg.records[0], Version: d.msg.version, Replayed: d.msg.replayed, frame: d.fb}, info, nil
}

// writes reports whether the plugin announced the write operations.
func (h *HostConn) writes() bool {
	select {
	case <-h.helloReady:
		return slices.Contains(h.hello.operations, "create") && slices.Contains(h.hello.operations, "update")
	default:
		return false
	}
}
