package plugins

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
	"github.com/ferryhealth/ferry/unified"
)

// wireClient is a connectors.Connector backed by one plugin process: the
// control plane (Metadata, Configure) over go-plugin's gRPC, every Read and
// Search over the process's data plane (connectors.HostConn).
//
// On top of what the plugin says, the host's rules:
//   - a connection's template makes the call's first source request in the
//     host before the call, so that the call costs one round trip between
//     the processes instead of two; when that request fails, the host's
//     error is the answer and the plugin is not called;
//   - when the host's own transport failed during a call (credentials,
//     deadline, egress refusal), the client sees the host's code, whatever
//     the plugin claims;
//   - a failure at or past the deadline is a timeout;
//   - a plugin that crashed, hung up or broke the protocol fails the call
//     as a plugin failure (ErrPluginFailed).
type wireClient struct {
	rpc   pb.ConnectorClient
	conn  *connectors.HostConn
	stats *Stats

	// templates are the connections' source templates, by connection id,
	// from Configure; replaced whole when a reload configures a connection
	// in the running plugin (addTemplates), so calls read them without a
	// lock.
	templates atomic.Pointer[map[string][]connectors.SourceTemplate]
	addMu     sync.Mutex
	// shared holds one copy of each distinct template set (shareTemplates).
	sharedMu sync.Mutex
	shared   map[string][]connectors.SourceTemplate
}

var (
	_ connectors.Connector   = (*wireClient)(nil)
	_ connectors.EventMapper = (*wireClient)(nil)
)

// ErrPluginFailed is wrapped by the error of a call that failed because the
// plugin process crashed, hung up or broke the protocol, as opposed to a
// connector error the plugin reported.
var ErrPluginFailed = errors.New("plugin call failed")

// Stats count what the plugin hop did; the proxy exposes them as metrics.
type Stats struct {
	// Prefetched counts calls sent with the connection template's source
	// answer; PrefetchMissed those whose connector asked for something
	// else first (the template is wrong, or the request needed more).
	Prefetched, PrefetchMissed atomic.Uint64
	// Panics counts calls that failed because the connector panicked.
	Panics atomic.Uint64
}

func (w *wireClient) Metadata(ctx context.Context, _ *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	m, err := w.rpc.Metadata(ctx, &pb.MetadataRequest{})
	if err != nil {
		return nil, &connectors.Error{Code: connectors.CodeInternal, Err: errors.Join(ErrPluginFailed, err)}
	}
	return connectors.MetadataFromWire(m), nil
}

func (w *wireClient) Configure(ctx context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	resp, err := w.rpc.Configure(ctx, &pb.ConfigureRequest{ConnectionId: req.ConnectionID, Settings: req.Settings})
	if err != nil {
		return nil, w.callErr(ctx, nil, errors.Join(connectors.ErrPluginGone, err))
	}
	if werr := connectors.ErrorFromWire(resp.GetError()); werr != nil {
		return nil, werr
	}
	return &connectors.ConfigureResponse{Templates: w.shareTemplates(resp)}, nil
}

// shareTemplates decodes a connection's templates, sharing one copy among
// the connections whose templates are the same: a FHIR connection's are a
// few kilobytes, the same for every connection with the same settings, and
// a node may serve ten thousand connections.
func (w *wireClient) shareTemplates(resp *pb.ConfigureResponse) []connectors.SourceTemplate {
	if len(resp.GetTemplates()) == 0 {
		return nil
	}
	key, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.ConfigureResponse{Templates: resp.GetTemplates()})
	if err != nil {
		return connectors.TemplatesFromWire(resp.GetTemplates())
	}
	w.sharedMu.Lock()
	defer w.sharedMu.Unlock()
	if ts, ok := w.shared[string(key)]; ok {
		return ts
	}
	ts := connectors.TemplatesFromWire(resp.GetTemplates())
	if w.shared == nil {
		w.shared = map[string][]connectors.SourceTemplate{}
	}
	w.shared[string(key)] = ts
	return ts
}

func (w *wireClient) template(connection string, resource unified.ResourceType) *connectors.SourceTemplate {
	if m := w.templates.Load(); m != nil {
		return connectors.TemplateFor((*m)[connection], resource)
	}
	return nil
}

// addTemplates records a connection's templates, configured while the
// plugin serves.
func (w *wireClient) addTemplates(connection string, ts []connectors.SourceTemplate) {
	w.addMu.Lock()
	defer w.addMu.Unlock()
	next := map[string][]connectors.SourceTemplate{}
	if m := w.templates.Load(); m != nil {
		maps.Copy(next, *m)
	}
	next[connection] = ts
	w.templates.Store(&next)
}

func (w *wireClient) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	var pre *connectors.Prefetched
	if t := w.template(req.ConnectionID, req.Resource); t != nil {
		if hreq, ok := t.Read.ReadRequest(req.ID); ok {
			resp, err := req.Transport.Do(ctx, hreq)
			if err != nil {
				return nil, err
			}
			pre = &connectors.Prefetched{Request: hreq, Response: resp}
		}
	}
	tr := watch(req.Transport)
	defer tr.release()
	r := *req
	r.Transport = tr
	resp, info, err := w.conn.Read(ctx, &r, pre)
	w.count(pre, info)
	if err != nil {
		return nil, w.callErr(ctx, tr, err)
	}
	return resp, nil
}

func (w *wireClient) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	var pre *connectors.Prefetched
	if t := w.template(req.ConnectionID, req.Resource); t != nil && req.PageToken == "" {
		if hreq, ok := t.Search.SearchRequest(req.Params, req.Limit); ok {
			resp, err := req.Transport.Do(ctx, hreq)
			if err != nil {
				return nil, err
			}
			pre = &connectors.Prefetched{Request: hreq, Response: resp}
		}
	}
	tr := watch(req.Transport)
	defer tr.release()
	r := *req
	r.Transport = tr
	resp, info, err := w.conn.Search(ctx, &r, pre)
	w.count(pre, info)
	if err != nil {
		return nil, w.callErr(ctx, tr, err)
	}
	return resp, nil
}

// MapEvent sends one inbound message to the plugin to be mapped. A plugin
// that does not announce the operation answers unsupported without being
// called; one that crashes fails the message as a plugin failure, so the
// sender is refused and resends it.
func (w *wireClient) MapEvent(ctx context.Context, req *connectors.MapEventRequest) (*connectors.MapEventResponse, error) {
	resp, info, err := w.conn.MapEvent(ctx, req)
	w.count(nil, info)
	if err != nil {
		return nil, w.callErr(ctx, nil, err)
	}
	return resp, nil
}

func (w *wireClient) count(pre *connectors.Prefetched, info connectors.CallInfo) {
	if w.stats == nil {
		return
	}
	if pre != nil {
		w.stats.Prefetched.Add(1)
		if !info.PrefetchUsed {
			w.stats.PrefetchMissed.Add(1)
		}
	}
	if info.Panicked {
		w.stats.Panics.Add(1)
	}
}

// callErr applies the host's rules to a failed call.
func (w *wireClient) callErr(ctx context.Context, tr *watchedTransport, err error) error {
	var ce *connectors.Error
	switch {
	case errors.As(err, &ce):
		// The connector's own answer: the host's record of its transport
		// wins, then the deadline.
		if tr != nil {
			if h := tr.lastErr(); h != nil {
				return h
			}
		}
		if pastDeadline(ctx) {
			// The deadline travels to the plugin, whose own timer can fire
			// and answer before the host's context notices: a failure at or
			// past the deadline is a timeout, whatever the plugin calls it.
			return &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: err}
		}
		return err
	case pastDeadline(ctx):
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: ctx.Err()}
	}
	return &connectors.Error{Code: connectors.CodeInternal, Err: errors.Join(ErrPluginFailed, err)}
}

// pastDeadline reports whether ctx is done or its deadline has passed, even
// if its timer has not fired yet.
func pastDeadline(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// watchedTransport is a call's Transport as the plugin uses it: the host's,
// remembering the last error the host's transport returned, so that the
// host's record of what went wrong wins over the plugin's claim.
type watchedTransport struct {
	inner connectors.Transport

	mu  sync.Mutex
	err error
}

var watchedPool = sync.Pool{New: func() any { return &watchedTransport{} }}

func watch(t connectors.Transport) *watchedTransport {
	w := watchedPool.Get().(*watchedTransport)
	w.inner = t
	return w
}

// release pools w once the call has ended: the data plane serves a call's
// source requests only while it is in flight.
func (w *watchedTransport) release() {
	w.mu.Lock()
	w.inner, w.err = nil, nil
	w.mu.Unlock()
	watchedPool.Put(w)
}

func (w *watchedTransport) lastErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watchedTransport) note(err error) {
	if err != nil {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}
}

func (w *watchedTransport) Do(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	resp, err := w.inner.Do(ctx, req)
	w.note(err)
	return resp, err
}

// Exchange serves a plugin's message exchange (MLLP) through the call's
// transport; a transport with no message side (an HTTP connection) answers
// unsupported.
func (w *watchedTransport) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	ex, ok := w.inner.(connectors.Exchanger)
	if !ok {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported}
	}
	out, err := ex.Exchange(ctx, msg)
	w.note(err)
	return out, err
}

var _ connectors.Writer = (*wireClient)(nil)

// Create sends a create to the plugin: never prefetched (the source
// request depends on the body), with the same rules on its outcome as a
// read. A plugin that did not announce writes answers unsupported without
// being called.
func (w *wireClient) Create(ctx context.Context, req *connectors.CreateRequest) (*connectors.WriteResponse, error) {
	tr := watch(req.Transport)
	defer tr.release()
	r := *req
	r.Transport = tr
	resp, info, err := w.conn.Create(ctx, &r)
	w.count(nil, info)
	if err != nil {
		return nil, w.callErr(ctx, tr, err)
	}
	return resp, nil
}

// Update is Create for an update.
func (w *wireClient) Update(ctx context.Context, req *connectors.UpdateRequest) (*connectors.WriteResponse, error) {
	tr := watch(req.Transport)
	defer tr.release()
	r := *req
	r.Transport = tr
	resp, info, err := w.conn.Update(ctx, &r)
	w.count(nil, info)
	if err != nil {
		return nil, w.callErr(ctx, tr, err)
	}
	return resp, nil
}
