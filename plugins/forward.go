package plugins

import (
	"context"

	"github.com/ferryhealth/ferry/connectors"
)

// The Connector methods forward to the running process. Each holds the
// process (acquire) for the length of its call and lets go on return, so a
// process replaced by a reload is stopped only once its calls are done.

var (
	_ connectors.Connector   = (*instance)(nil)
	_ connectors.EventMapper = (*instance)(nil)
	_ connectors.Writer      = (*instance)(nil)
)

// forward runs one call on the running process.
func forward[Req, Resp any](ctx context.Context, i *instance, req Req,
	call func(*wireClient, context.Context, Req) (Resp, error)) (Resp, error) {
	l, err := i.acquire(ctx, false)
	if err != nil {
		var zero Resp
		return zero, unavailable(err)
	}
	defer l.release()
	return call(l.wire, ctx, req)
}

func (i *instance) Metadata(ctx context.Context, req *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	return forward(ctx, i, req, (*wireClient).Metadata)
}

func (i *instance) Configure(ctx context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	return forward(ctx, i, req, (*wireClient).Configure)
}

func (i *instance) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	return forward(ctx, i, req, (*wireClient).Read)
}

func (i *instance) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	return forward(ctx, i, req, (*wireClient).Search)
}

// MapEvent maps one inbound message to events (connectors.EventMapper).
func (i *instance) MapEvent(ctx context.Context, req *connectors.MapEventRequest) (*connectors.MapEventResponse, error) {
	return forward(ctx, i, req, (*wireClient).MapEvent)
}

// Create and Update forward a write; a plugin that did not announce writes
// answers unsupported (connectors.ErrNoWrites).
func (i *instance) Create(ctx context.Context, req *connectors.CreateRequest) (*connectors.WriteResponse, error) {
	return forward(ctx, i, req, (*wireClient).Create)
}

func (i *instance) Update(ctx context.Context, req *connectors.UpdateRequest) (*connectors.WriteResponse, error) {
	return forward(ctx, i, req, (*wireClient).Update)
}
