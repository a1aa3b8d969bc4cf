package fhir

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// Kind is the connector kind, as plugin catalog entries and connections name
// it.
const Kind = "fhir"

// Version is the connector's own version, reported in its manifest.
const Version = "0.1.0"

// system is the provenance system written into every record's source block.
const system = "fhir"

// contentType is what the connector asks the source for. FHIR servers that
// serve XML by default answer JSON when asked this way.
const contentType = "application/fhir+json"

// Paging is how a connection's searches ask the source for the next page.
type Paging string

// The paging modes; see the package documentation.
const (
	PagingAuto   Paging = "auto"
	PagingLink   Paging = "link"
	PagingOffset Paging = "offset"
)

// Settings are a connection's connector settings, the `settings` object of
// the connection in Ferry's config.
type Settings struct {
	// Paging is "auto" (default), "link" or "offset".
	Paging Paging `json:"paging,omitempty"`
	// PatientSearch is how a search by patient is asked: "patient"
	// (default; patient={id}, the parameter US Core requires of servers)
	// or "subject", for servers that cannot evaluate `patient` on resources
	// whose patient is their subject (it is defined there as
	// subject.where(resolve() is Patient)): they get subject=Patient/{id},
	// actor=Patient/{id} for an Appointment, and patient=Patient/{id}
	// elsewhere (a typed reference, which such servers also need).
	PatientSearch PatientSearch `json:"patient_search,omitempty"`
}

// PatientSearch is the way a connection searches by patient.
type PatientSearch string

// The patient search modes.
const (
	PatientSearchPatient PatientSearch = "patient"
	PatientSearchSubject PatientSearch = "subject"
)

// Connector is the FHIR R4 connector. One value serves every connection of
// kind "fhir" at once; the only state it keeps is each connection's
// settings.
type Connector struct {
	conns sync.Map // connection id → *Settings

	// now is the clock of fetched_at; tests replace it to get stable output.
	now func() time.Time
}

var _ connectors.Connector = (*Connector)(nil)

// New returns a FHIR connector. Its signature is the factory that
// connectors.Serve takes.
func New() connectors.Connector { return newConnector() }

func newConnector() *Connector {
	return &Connector{now: time.Now}
}

// Metadata returns the connector's manifest. It is built fresh on every call
// so that a caller may keep or change it without affecting the next one.
func (c *Connector) Metadata(ctx context.Context, req *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	m := &connectors.MetadataResponse{
		Kind:      Kind,
		Version:   Version,
		AuthKinds: []string{"none", "bearer", "basic", "api_key"},
	}
	for _, r := range unified.ResourceTypes() {
		if rm, ok := resourceMaps[r]; ok {
			m.Resources = append(m.Resources, rm.capability())
		}
	}
	return m, nil
}

// Configure decodes and stores a connection's settings. A connection may be
// configured again (after a plugin restart or a config reload); the new
// settings replace the old for the requests that follow.
func (c *Connector) Configure(ctx context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	if req.ConnectionID == "" {
		return nil, connectors.InvalidParam("connection_id")
	}
	s, err := parseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	c.conns.Store(req.ConnectionID, s)
	return &connectors.ConfigureResponse{Templates: templates(s)}, nil
}

// parseSettings decodes settings strictly: an unknown field is an error, so
// a misspelt setting is caught at load rather than silently ignored. Empty
// or null settings mean every default.
func parseSettings(raw json.RawMessage) (*Settings, error) {
	s := &Settings{}
	if err := connectors.DecodeSettings(raw, s); err != nil {
		return nil, err
	}
	switch s.Paging {
	case "":
		s.Paging = PagingAuto
	case PagingAuto, PagingLink, PagingOffset:
	default:
		return nil, connectors.InvalidParam("settings.paging")
	}
	switch s.PatientSearch {
	case "":
		s.PatientSearch = PatientSearchPatient
	case PatientSearchPatient, PatientSearchSubject:
	default:
		return nil, connectors.InvalidParam("settings.patient_search")
	}
	return s, nil
}

// settings returns the stored settings of a connection. A request for a
// connection that was never configured is a bug in the host (the contract
// says Configure comes first), so it fails instead of guessing defaults
// that might differ from the connection's real settings.
func (c *Connector) settings(connectionID string) (*Settings, error) {
	v, ok := c.conns.Load(connectionID)
	if !ok {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: connection is not configured")
	}
	return v.(*Settings), nil
}

// mapping returns the mapping of a resource, or an unsupported error.
func mapping(r unified.ResourceType) (*resourceMap, error) {
	m, ok := resourceMaps[r]
	if !ok {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: "resource"}
	}
	return m, nil
}

// Read fetches one record by its source id.
func (c *Connector) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	if _, err := c.settings(req.ConnectionID); err != nil {
		return nil, err
	}
	m, err := mapping(req.Resource)
	if err != nil {
		return nil, err
	}
	// The host has checked the id already; checking it again against FHIR's
	// own id grammar keeps a dot segment or a slash out of the path even if
	// the host's pattern is ever loosened.
	if !validID(req.ID) {
		return nil, connectors.InvalidParam("id")
	}
	if req.Transport == nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: no transport")
	}
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{
		Method: "GET",
		Path:   m.fhirType + "/" + req.ID,
		Header: acceptHeader(),
	})
	if err != nil {
		// Transport errors are the host's own *connectors.Error values, with
		// the code the host chose (timeout, unavailable, credentials).
		return nil, err
	}
	if err := statusError(resp.Status, false); err != nil {
		return nil, err
	}
	src := c.source(req.ConnectionID)
	src.SourceID = req.ID
	rec, err := m.record(resp.Body, src, req.Raw, false)
	if err != nil {
		return nil, err
	}
	if m.resolveRead != nil {
		if rec, err = m.resolveRead(ctx, req.Transport, resp.Body, rec); err != nil {
			return nil, err
		}
	}
	return &connectors.ReadResponse{Record: rec, Version: etagVersion(resp.Header)}, nil
}

// Search fetches one page of records.
func (c *Connector) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	s, err := c.settings(req.ConnectionID)
	if err != nil {
		return nil, err
	}
	m, err := mapping(req.Resource)
	if err != nil {
		return nil, err
	}
	if req.Transport == nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: no transport")
	}
	limit := req.Limit
	if limit <= 0 {
		limit = unified.DefaultLimit
	}
	limit = min(limit, connectors.MaxSearchLimit)

	var tok pageToken
	if req.PageToken != "" {
		if tok, err = parsePageToken(req.PageToken); err != nil {
			return nil, err
		}
	}

	hreq := &connectors.HTTPRequest{Method: "GET", Header: acceptHeader()}
	if tok.kind == tokenLink {
		// The source's own next link already carries the filters and the
		// page size it agreed to; the request's are not added again.
		hreq.Path, hreq.Query = tok.path, tok.query
	} else {
		q, err := m.query(req.Params, limit, s)
		if err != nil {
			return nil, err
		}
		if tok.offset > 0 {
			q = append(q, connectors.Param{Name: "_offset", Value: strconv.Itoa(tok.offset)})
		}
		hreq.Path, hreq.Query = m.fhirType, q
	}

	resp, err := req.Transport.Do(ctx, hreq)
	if err != nil {
		return nil, err
	}
	if err := statusError(resp.Status, true); err != nil {
		return nil, err
	}
	records, page, err := m.page(resp.Body, c.source(req.ConnectionID), req.Raw)
	if err != nil {
		return nil, err
	}
	next, err := nextPageToken(s.Paging, page, hreq.Path, tok, limit)
	if err != nil {
		return nil, err
	}
	return &connectors.SearchResponse{Records: records, NextPageToken: next}, nil
}

// nextPageToken decides, from the connection's paging mode and the page just
// read, how the next page will be asked for.
func nextPageToken(mode Paging, page pageInfo, requested string, cur pageToken, limit int) (string, error) {
	if mode != PagingOffset {
		if page.next != "" {
			t, err := linkToken(page.next, page.self, requested)
			if err != nil {
				return "", err
			}
			return t.String(), nil
		}
	}
	// The offset of a page read by a next link is the source's secret, so
	// an offset can only follow a page that was itself read by offset.
	if mode == PagingLink || cur.kind == tokenLink || page.matches == 0 || page.matches < limit {
		return "", nil
	}
	next := cur.offset + page.matches
	// A source that reports its total tells us when the last page was full
	// by coincidence; without this, a full last page would cost one more,
	// empty, request.
	if page.total != nil && next >= *page.total {
		return "", nil
	}
	if next > maxOffset {
		return "", connectors.Errorf(connectors.CodeUpstream, "fhir: search result is too deep to page by offset")
	}
	return pageToken{kind: tokenOffset, offset: next}.String(), nil
}

// escapeSearchValue escapes the characters that FHIR search gives a meaning
// inside a value (the SDK's, so that the host's prefetch of a template
// writes a value exactly as the connector does).
func escapeSearchValue(v string) string { return connectors.EscapeFHIRSearch(v) }

// validDate reports whether v is a calendar date written YYYY-MM-DD.
func validDate(v string) bool {
	if len(v) != len("2006-01-02") {
		return false
	}
	_, err := time.Parse(time.DateOnly, v)
	return err == nil
}

// validID reports whether id matches FHIR's id type: 1 to 64 letters,
// digits, '-' and '.'. Ids made only of dots are refused too, since they are
// dot segments of a path.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 || strings.Trim(id, ".") == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '.') {
			return false
		}
	}
	return true
}

// statusError maps the source's HTTP status to a connector error; nil for
// 200. The status code is safe to keep in the wrapped error; the body never
// is. For a search, a 404 or 410 means the search endpoint or the page is
// gone, not that a record does not exist, so it is an upstream failure.
func statusError(status int, search bool) error {
	switch {
	case status == 200:
		return nil
	case (status == 404 || status == 410) && !search:
		return &connectors.Error{Code: connectors.CodeNotFound}
	case status == 401 || status == 403:
		// The host owns the credentials; to the client this is the source
		// refusing Ferry, not the client, so it is not an auth error.
		return connectors.Errorf(connectors.CodeUpstream, "fhir: source refused the request (status %d)", status)
	case status >= 500:
		return connectors.Errorf(connectors.CodeUpstream, "fhir: source failed (status %d)", status)
	default:
		return connectors.Errorf(connectors.CodeUpstream, "fhir: unexpected status %d from source", status)
	}
}

// source is the provenance of the records of one request; every record of
// a search page shares its fetched_at.
func (c *Connector) source(connectionID string) unified.Source {
	return unified.Source{ConnectionID: connectionID, System: system, FetchedAt: c.now().UTC()}
}

func acceptHeader() []connectors.Param {
	return []connectors.Param{{Name: "Accept", Value: contentType}}
}
