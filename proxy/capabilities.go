package proxy

import (
	gojson "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// serveCapabilities answers GET /v1/{connection_id}/capabilities from the
// connector's manifest: which resources, operations and filters this
// connection offers, so a client learns what is required before it asks.
func (s *Server) serveCapabilities(x *exchange) *verdict.Problem {
	meta, ok := s.conns.Metadata(x.conn.kind)
	if !ok {
		return verdict.Fail(unified.CodeConnectorUnavailable, "")
	}
	c := unified.Capabilities{
		ConnectionID: x.conn.cfg.ID,
		Connector:    unified.ConnectorInfo{Kind: meta.Kind, Version: meta.Version},
		Resources:    make([]unified.ResourceCapabilities, 0, len(meta.Resources)),
		// Passthrough relays HTTP: an MLLP connection has none.
		Passthrough: x.client.scopes[config.ScopePassthrough] && (x.conn.source == nil || x.conn.source.RelaysHTTP()),
		Write:       x.client.scopes[config.ScopeWrite],
	}
	for _, r := range meta.Resources {
		if !r.Resource.Known() {
			continue
		}
		_, writable := unified.Writable(r.Resource)
		rc := unified.ResourceCapabilities{Resource: r.Resource, Read: r.Read, Search: r.Search,
			Create: writable && r.Create, Update: writable && r.Update}
		for _, name := range r.SearchParams {
			f := unified.FilterCapability{Name: name, Kind: unified.FilterString, Required: r.Requires(name)}
			if std, ok := unified.StandardFilter(name); ok {
				f.Kind, f.Description = std.Kind, std.Doc
			}
			rc.Filters = append(rc.Filters, f)
		}
		c.Resources = append(c.Resources, rc)
	}
	body, err := gojson.Marshal(&c)
	if err != nil {
		return verdict.Fail(unified.CodeInternal, "")
	}
	x.rc.Response.Header.SetContentType("application/json")
	x.rc.SetStatusCode(fasthttp.StatusOK)
	x.rc.SetBody(body)
	return nil
}
