package hl7v2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// Kind is the connector kind, as plugin catalog entries and connections name
// it.
const Kind = "hl7v2"

// Version is the connector's own version, reported in its manifest.
const Version = "0.1.0"

// system is the provenance system written into every record's source block.
const system = "hl7v2"

// The patient search parameters.
const (
	ParamName       = "name"       // family name, @PID.5.1.1
	ParamGiven      = "given"      // given name, @PID.5.2
	ParamBirthDate  = "birth_date" // @PID.7
	ParamGender     = "gender"     // @PID.8
	ParamIdentifier = "identifier" // "system|value" or "value", @PID.3
)

// Exchanger sends one HL7 message to the connection's source and returns
// its answer: the host's MLLP transport, which owns the framing, the
// connection, TLS and the timeouts. The connector finds it on the
// request's Transport. It is the SDK's connectors.Exchanger.
type Exchanger = connectors.Exchanger

// Settings are a connection's connector settings, the `settings` object of
// the connection in Ferry's config. Every field is optional.
type Settings struct {
	// SendingApplication is MSH-3 of every query; default {"namespace":
	// "FERRY"}.
	SendingApplication HD `json:"sending_application"`
	// SendingFacility is MSH-4; default empty.
	SendingFacility HD `json:"sending_facility"`
	// ReceivingApplication is MSH-5: the supplier's application, which
	// some suppliers use to choose the patient source; default empty.
	ReceivingApplication HD `json:"receiving_application"`
	// ReceivingFacility is MSH-6; default empty.
	ReceivingFacility HD `json:"receiving_facility"`
	// ProcessingID is MSH-11: "P" (default), "D" or "T".
	ProcessingID string `json:"processing_id"`
	// Version is MSH-12, "2.5" (the default) or another 2.x version.
	Version string `json:"version"`
	// IDAuthority is the assigning authority whose identifiers are the
	// patients' ids on this connection: a read by id queries PID-3 in this
	// domain. Default empty: the first identifier of PID-3 is the id, and a
	// read queries the identifier in any domain.
	IDAuthority HD `json:"id_authority"`
	// DomainsReturned are the assigning authorities whose identifiers the
	// supplier should return (QPD-8); default empty, all. IHE suppliers
	// answer an unknown domain with an error.
	DomainsReturned []HD `json:"domains_returned"`
	// IdentifierSystems maps assigning authority namespace ids to
	// identifier system URIs, both ways: PID-3 identifiers are written with
	// the URI, and an identifier search naming the URI asks for the
	// namespace. Default empty.
	IdentifierSystems map[string]string `json:"identifier_systems"`
}

// connection is what the connector keeps of a configured connection.
type connection struct {
	s       Settings
	mapping PatientMapping
}

// Connector is the HL7 v2 connector: IHE Patient Demographics Query
// (ITI-21) over the host's MLLP transport. One value serves every connection
// of kind "hl7v2"; the only state it keeps is each connection's settings.
type Connector struct {
	conns sync.Map // connection id → *connection

	// now is the clock of MSH-7 and fetched_at; newID makes control ids and
	// query tags. Tests replace both to get stable output.
	now   func() time.Time
	newID func() string
}

var _ connectors.Connector = (*Connector)(nil)

// New returns an HL7 v2 connector. Its signature is the factory that
// connectors.Serve takes.
func New() connectors.Connector { return newConnector() }

func newConnector() *Connector {
	return &Connector{now: time.Now, newID: randomID}
}

// randomID returns 20 hex digits: unique enough for a control id (MSH-10
// allows 20 characters in v2.5) and for a query tag.
func randomID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// Metadata returns the connector's manifest.
func (c *Connector) Metadata(ctx context.Context, req *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	return &connectors.MetadataResponse{
		Kind:      Kind,
		Version:   Version,
		AuthKinds: []string{"none"},
		Resources: []connectors.ResourceCapability{{
			Resource:     unified.Patients,
			Read:         true,
			Search:       true,
			SearchParams: []string{ParamName, ParamGiven, ParamBirthDate, ParamGender, ParamIdentifier},
		}},
	}, nil
}

// Configure decodes, checks and stores a connection's settings.
func (c *Connector) Configure(ctx context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	if req.ConnectionID == "" {
		return nil, connectors.InvalidParam("connection_id")
	}
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	c.conns.Store(req.ConnectionID, &connection{
		s:       *s,
		mapping: PatientMapping{IDAuthority: s.IDAuthority, Systems: s.IdentifierSystems},
	})
	return &connectors.ConfigureResponse{}, nil
}

// ParseSettings decodes settings strictly (an unknown field is an error),
// fills in the defaults and checks every field, reporting all problems at
// once, each under its JSON path. Empty or null settings mean every
// default.
func ParseSettings(raw json.RawMessage) (*Settings, error) {
	s := &Settings{}
	if err := connectors.DecodeSettings(raw, s); err != nil {
		return nil, err
	}
	if s.SendingApplication.IsZero() {
		s.SendingApplication = HD{Namespace: "FERRY"}
	}
	if s.ProcessingID == "" {
		s.ProcessingID = "P"
	}
	if s.Version == "" {
		s.Version = "2.5"
	}
	var problems []error
	bad := func(path, why string) {
		problems = append(problems, fmt.Errorf("settings.%s: %s", path, why))
	}
	for path, h := range map[string]HD{
		"sending_application": s.SendingApplication, "sending_facility": s.SendingFacility,
		"receiving_application": s.ReceivingApplication, "receiving_facility": s.ReceivingFacility,
		"id_authority": s.IDAuthority,
	} {
		checkHD(path, h, bad)
	}
	for i, h := range s.DomainsReturned {
		if h.IsZero() {
			bad(fmt.Sprintf("domains_returned[%d]", i), "names no authority")
		}
		checkHD(fmt.Sprintf("domains_returned[%d]", i), h, bad)
	}
	switch s.ProcessingID {
	case "P", "D", "T":
	default:
		bad("processing_id", `must be "P", "D" or "T"`)
	}
	if !validVersion(s.Version) {
		bad("version", `must be an HL7 v2 version such as "2.5"`)
	}
	for ns, uri := range s.IdentifierSystems {
		if ns == "" || hasControl(ns) || len(ns) > maxParam {
			bad("identifier_systems", "has an empty or unusable namespace id")
		}
		if uri == "" || hasControl(uri) || strings.ContainsAny(uri, " |") {
			bad("identifier_systems."+ns, "must be a URI")
		}
	}
	if len(problems) > 0 {
		return nil, &connectors.Error{Code: connectors.CodeInvalidArgument, Param: "settings", Err: errors.Join(problems...)}
	}
	return s, nil
}

func checkHD(path string, h HD, bad func(path, why string)) {
	for _, f := range []struct{ name, v string }{
		{"namespace", h.Namespace}, {"universal_id", h.UniversalID}, {"universal_id_type", h.UniversalIDType},
	} {
		if len(f.v) > maxParam || hasControl(f.v) {
			bad(path+"."+f.name, "is too long or holds control characters")
		}
	}
	if (h.UniversalID == "") != (h.UniversalIDType == "") {
		bad(path, "universal_id and universal_id_type go together")
	}
}

func validVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	return ok && major == "2" && minor != "" && len(v) <= 8 && digits(strings.ReplaceAll(minor, ".", ""))
}

func (c *Connector) connection(id string) (*connection, error) {
	v, ok := c.conns.Load(id)
	if !ok {
		return nil, connectors.Errorf(connectors.CodeInternal, "hl7v2: connection is not configured")
	}
	return v.(*connection), nil
}

func exchanger(t connectors.Transport) (Exchanger, error) {
	if ex, ok := t.(Exchanger); ok && ex != nil {
		return ex, nil
	}
	return nil, connectors.Errorf(connectors.CodeInternal, "hl7v2: the host transport offers no MLLP exchange")
}

// Read fetches the patient whose id (an identifier in the connection's
// id_authority) is req.ID: a PDQ query by identifier that must match
// exactly one patient.
func (c *Connector) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	conn, err := c.connection(req.ConnectionID)
	if err != nil {
		return nil, err
	}
	if req.Resource != unified.Patients {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: "resource"}
	}
	if !unified.ValidID(req.ID) {
		return nil, connectors.InvalidParam("id")
	}
	ex, err := exchanger(req.Transport)
	if err != nil {
		return nil, err
	}
	// A limit of two is enough to tell one match from several without
	// fetching every duplicate.
	resp, err := c.query(ctx, ex, conn, PDQParams{Identifier: req.ID, Authority: conn.s.IDAuthority}, 2, "", "")
	if err != nil {
		return nil, err
	}
	src := c.source(req.ConnectionID)
	var found []unified.Patient
	for _, pid := range resp.Patients {
		// A supplier that matches loosely could return someone else: only
		// a patient whose id is exactly the one asked for is this record.
		if p := conn.mapping.Patient(pid, src, req.Raw); p.ID == req.ID {
			found = append(found, p)
		}
	}
	switch {
	case len(found) == 0:
		return nil, &connectors.Error{Code: connectors.CodeNotFound}
	case len(found) > 1 || resp.Continuation != "":
		return nil, connectors.Errorf(connectors.CodeUpstream, "hl7v2: the id matches more than one patient")
	}
	rec, err := json.Marshal(found[0])
	if err != nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "hl7v2: encoding a patient: %w", err)
	}
	return &connectors.ReadResponse{Record: rec}, nil
}

// Search runs a PDQ query and returns one page of patients. Pages after the
// first use the supplier's continuation pointer (the IHE Continuation
// Option); a supplier that ignores the quantity limit and answers with more
// patients than asked for is paged by repeating the query and skipping the
// pages already served.
func (c *Connector) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	conn, err := c.connection(req.ConnectionID)
	if err != nil {
		return nil, err
	}
	if req.Resource != unified.Patients {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: "resource"}
	}
	params, err := conn.params(req.Params)
	if err != nil {
		return nil, err
	}
	ex, err := exchanger(req.Transport)
	if err != nil {
		return nil, err
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
	resp, err := c.query(ctx, ex, conn, params, limit, tok.tag, tok.pointer)
	if connectors.CodeOf(err) == connectors.CodeNotFound {
		// The supplier knows no such identifier or domain: nobody matches.
		return &connectors.SearchResponse{Records: []json.RawMessage{}}, nil
	}
	if err != nil {
		return nil, err
	}
	pids := resp.Patients
	next := ""
	switch {
	case len(pids) > limit && resp.Continuation != "":
		return nil, connectors.Errorf(connectors.CodeUpstream, "hl7v2: the source sent more patients than asked for, and a continuation pointer")
	case len(pids) > limit || tok.kind == tokenOffset:
		// The supplier ignores RCP-2: serve the answer a page at a time.
		start := min(tok.offset, len(pids))
		end := min(start+limit, len(pids))
		pids = pids[start:end]
		if end < len(resp.Patients) {
			next = pageToken{kind: tokenOffset, offset: end}.String()
		}
	case resp.Continuation != "":
		tag := tok.tag
		if tag == "" {
			tag = resp.Message.Segment("QAK").Value(1)
		}
		next = pageToken{kind: tokenContinuation, tag: tag, pointer: resp.Continuation}.String()
	}
	src := c.source(req.ConnectionID)
	records := make([]json.RawMessage, 0, len(pids))
	for _, pid := range pids {
		rec, err := json.Marshal(conn.mapping.Patient(pid, src, req.Raw))
		if err != nil {
			return nil, connectors.Errorf(connectors.CodeInternal, "hl7v2: encoding a patient: %w", err)
		}
		records = append(records, rec)
	}
	return &connectors.SearchResponse{Records: records, NextPageToken: next}, nil
}

// params turns a search's parameters into PDQ demographics.
func (conn *connection) params(in map[string]string) (PDQParams, error) {
	var p PDQParams
	// In name order, so that of several bad parameters the same one is
	// named every time.
	for _, name := range slices.Sorted(maps.Keys(in)) {
		v := in[name]
		if v == "" || len(v) > maxParam || hasControl(v) {
			return PDQParams{}, connectors.InvalidParam(name)
		}
		switch name {
		case ParamName:
			p.Family = v
		case ParamGiven:
			p.Given = v
		case ParamBirthDate:
			if _, ok := dtmDate(v); !ok {
				return PDQParams{}, connectors.InvalidParam(name)
			}
			p.BirthDate = v
		case ParamGender:
			if _, ok := genderCodes[v]; !ok {
				return PDQParams{}, connectors.InvalidParam(name)
			}
			p.Gender = v
		case ParamIdentifier:
			sys, val, qualified := strings.Cut(v, "|")
			if !qualified {
				sys, val = "", v
			}
			if val == "" {
				return PDQParams{}, connectors.InvalidParam(name)
			}
			p.Identifier = val
			if sys != "" {
				p.Authority = conn.mapping.Authority(sys)
			}
		default:
			return PDQParams{}, &connectors.Error{Code: connectors.CodeUnsupported, Param: name}
		}
	}
	if p.Family == "" && p.Given == "" && p.BirthDate == "" && p.Gender == "" && p.Identifier == "" {
		return PDQParams{}, connectors.Errorf(connectors.CodeInvalidArgument,
			"hl7v2: a patient search needs at least one of name, given, birth_date, gender, identifier")
	}
	return p, nil
}

// query sends one QBP^Q22 (a continuation when pointer is set, under the
// query tag of the query it continues) and checks the answer.
func (c *Connector) query(ctx context.Context, ex Exchanger, conn *connection, p PDQParams, limit int, tag, pointer string) (*PDQResponse, error) {
	if tag == "" {
		tag = c.newID()
	}
	q := &PDQQuery{
		SendingApplication:   conn.s.SendingApplication,
		SendingFacility:      conn.s.SendingFacility,
		ReceivingApplication: conn.s.ReceivingApplication,
		ReceivingFacility:    conn.s.ReceivingFacility,
		ControlID:            c.newID(),
		Time:                 c.now(),
		ProcessingID:         conn.s.ProcessingID,
		Version:              conn.s.Version,
		QueryTag:             tag,
		Params:               p,
		DomainsReturned:      conn.s.DomainsReturned,
		Limit:                limit,
		Continuation:         pointer,
	}
	msg, err := q.Encode()
	if err != nil {
		return nil, &connectors.Error{Code: connectors.CodeInvalidArgument, Err: err}
	}
	answer, err := ex.Exchange(ctx, msg)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: err}
		}
		return nil, &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: err}
	}
	return ParsePDQResponse(answer, q.ControlID, q.QueryTag)
}

func (c *Connector) source(connectionID string) unified.Source {
	return unified.Source{ConnectionID: connectionID, System: system, FetchedAt: c.now().UTC()}
}
