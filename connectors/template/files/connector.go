package main

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// Kind is the connector kind, as plugin catalog entries and connections name
// it.
const Kind = "templatekind"

// Version is the connector's own version, reported in its manifest.
const Version = "0.1.0"

// Settings are a connection's connector settings: the `settings` object of
// the connection in Ferry's config. They are not secret; credentials never
// reach a connector (the host injects them into each source request).
type Settings struct {
	// MRNSystem is the identifier system URI of the source's medical
	// record numbers. Default "urn:templatekind:mrn".
	MRNSystem string `json:"mrn_system,omitempty"`
}

// Connector is the templatekind connector. One value serves every connection
// of its kind at once; the only state it keeps is each connection's
// settings.
type Connector struct {
	conns sync.Map // connection id → *Settings

	// now is the clock of fetched_at; tests replace it.
	now func() time.Time
}

var _ connectors.Connector = (*Connector)(nil)

// New returns the connector; its signature is what connectors.Serve takes.
func New() connectors.Connector { return &Connector{now: time.Now} }

// Metadata returns the manifest (manifest.go).
func (c *Connector) Metadata(context.Context, *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	return manifest(), nil
}

// Configure decodes a connection's settings strictly: an unknown field is an
// error, so a misspelt setting fails when Ferry loads its config.
func (c *Connector) Configure(_ context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	s := &Settings{}
	if err := connectors.DecodeSettings(req.Settings, s); err != nil {
		return nil, err
	}
	if s.MRNSystem == "" {
		s.MRNSystem = "urn:templatekind:mrn"
	}
	c.conns.Store(req.ConnectionID, s)
	return &connectors.ConfigureResponse{Templates: templates()}, nil
}

// templates describe the request a read and a search's first page begin
// with, exactly as Read and Search build them, so that the host can make it
// before the call and save the plugin a round trip. They are optional (a
// request that differs simply goes to the host in-band); the conformance
// kit's templates check holds them to what the connector sends.
func templates() []connectors.SourceTemplate {
	search := &connectors.RequestTemplate{Path: "patients", Header: acceptJSON, Query: []connectors.QueryTemplate{
		{Name: "limit", Limit: true}, {Name: "offset", Value: "0"},
	}}
	for _, f := range searchFilters {
		search.Query = append(search.Query, connectors.QueryTemplate{Name: f.source, Filter: f.param})
	}
	return []connectors.SourceTemplate{{
		Resource: unified.Patients,
		Read:     &connectors.RequestTemplate{Path: "patients/{id}", Header: acceptJSON},
		Search:   search,
	}}
}

func (c *Connector) settings(connectionID string) (*Settings, error) {
	v, ok := c.conns.Load(connectionID)
	if !ok {
		// The host configures every connection before using it.
		return nil, connectors.Errorf(connectors.CodeInternal, "connection not configured")
	}
	return v.(*Settings), nil
}

func (c *Connector) source(connectionID, sourceID string) unified.Source {
	return unified.Source{ConnectionID: connectionID, System: Kind, SourceID: sourceID, FetchedAt: c.now().UTC()}
}

// Read fetches one record by its source id.
func (c *Connector) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	s, err := c.settings(req.ConnectionID)
	if err != nil {
		return nil, err
	}
	if req.Resource != unified.Patients {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: "resource"}
	}
	// The only way to the source: a path relative to the connection's
	// base URL, through the Transport the host lends for this request. Pass
	// ctx on, so the request's deadline reaches the source call.
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Path: "patients/" + req.ID, Header: acceptJSON})
	if err != nil {
		return nil, err // the host's own code: timeout, unavailable…
	}
	if err := statusError(resp.Status, true); err != nil {
		return nil, err
	}
	rec, err := mapPatient(resp.Body, c.source(req.ConnectionID, req.ID), s, req.Raw)
	if err != nil {
		return nil, err
	}
	return &connectors.ReadResponse{Record: rec}, nil
}

// Search fetches one page of records. The page token is the source's
// offset of the next page.
func (c *Connector) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	s, err := c.settings(req.ConnectionID)
	if err != nil {
		return nil, err
	}
	if req.Resource != unified.Patients {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: "resource"}
	}
	offset := 0
	if req.PageToken != "" {
		if offset, err = strconv.Atoi(req.PageToken); err != nil || offset < 0 {
			return nil, connectors.InvalidParam("cursor")
		}
	}
	q := []connectors.Param{{Name: "limit", Value: strconv.Itoa(req.Limit)}, {Name: "offset", Value: strconv.Itoa(offset)}}
	for _, f := range searchFilters {
		if v := req.Params[f.param]; v != "" {
			q = append(q, connectors.Param{Name: f.source, Value: v})
		}
	}
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Path: "patients", Query: q, Header: acceptJSON})
	if err != nil {
		return nil, err
	}
	if err := statusError(resp.Status, false); err != nil {
		return nil, err
	}
	recs, next, err := mapPatientPage(resp.Body, c.source(req.ConnectionID, ""), s, req.Raw)
	if err != nil {
		return nil, err
	}
	out := &connectors.SearchResponse{Records: recs[:min(len(recs), req.Limit)]}
	if next > offset {
		out.NextPageToken = strconv.Itoa(next)
	}
	return out, nil
}

var acceptJSON = []connectors.Param{{Name: "Accept", Value: "application/json"}}

// statusError maps the source's HTTP status to a connector error; nil for
// 200. Bodies of error answers are never read: they may hold PHI.
func statusError(status int, read bool) error {
	switch {
	case status == 200:
		return nil
	case status == 404 && read:
		return &connectors.Error{Code: connectors.CodeNotFound}
	default:
		return connectors.Errorf(connectors.CodeUpstream, "templatekind: source status %d", status)
	}
}
