// Package minimal is a small, conforming connector for a JSON REST source,
// which the kit's deliberately broken test plugins bend in one way each.
package minimal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/mapping"
	"github.com/ferryhealth/ferry/unified"
)

// Faults are the ways a test plugin misbehaves.
type Faults struct {
	// Panic makes the mapper index into the source's answer without
	// checking it: any malformed answer panics.
	Panic bool
	// Dial makes every call open network sockets of its own and keep them,
	// as a connector with its own HTTP client would.
	Dial bool
	// Crash makes the mapper run in a goroutine of its own, where a panic
	// on a malformed answer takes the whole process down.
	Crash bool
	// BadTemplate describes the read request with another Accept header
	// than the one the connector sends: the host's prefetch is wasted.
	BadTemplate bool
}

type connector struct {
	kind   string
	faults Faults
	conns  sync.Map
	mu     sync.Mutex
	held   []net.Conn
}

// New returns the connector.
func New(kind string, f Faults) connectors.Connector { return &connector{kind: kind, faults: f} }

func (c *connector) Metadata(context.Context, *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	return &connectors.MetadataResponse{Kind: c.kind, Version: "0.0.1", Resources: []connectors.ResourceCapability{
		{Resource: unified.Patients, Read: true, Search: true, SearchParams: []string{"name"}},
	}}, nil
}

type settings struct {
	Dial string `json:"dial,omitempty"`
}

func (c *connector) Configure(_ context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	var s settings
	dec := json.NewDecoder(bytes.NewReader(req.Settings))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, connectors.InvalidParam("settings")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, connectors.InvalidParam("settings")
	}
	c.conns.Store(req.ConnectionID, &s)
	accept := "application/json"
	if c.faults.BadTemplate {
		accept = "application/fhir+json"
	}
	return &connectors.ConfigureResponse{Templates: []connectors.SourceTemplate{{
		Resource: unified.Patients,
		Read:     &connectors.RequestTemplate{Path: "patients/{id}", Header: []connectors.Param{{Name: "Accept", Value: accept}}},
		Search: &connectors.RequestTemplate{Path: "patients", Query: []connectors.QueryTemplate{
			{Name: "limit", Limit: true}, {Name: "offset", Value: "0"}, {Name: "name", Filter: "name"},
		}},
	}}}, nil
}

func (c *connector) settings(id string) (*settings, error) {
	v, ok := c.conns.Load(id)
	if !ok {
		return nil, connectors.Errorf(connectors.CodeInternal, "connection not configured")
	}
	return v.(*settings), nil
}

// dial is the fault: sockets of the plugin's own, kept open like a
// keep-alive pool.
func (c *connector) dial(s *settings) {
	targets := [][2]string{{"udp", "127.0.0.1:9"}, {"tcp", "127.0.0.1:9"}}
	if s.Dial != "" {
		targets = append(targets, [2]string{"tcp", s.Dial})
	}
	for _, t := range targets {
		if conn, err := net.DialTimeout(t[0], t[1], time.Second); err == nil {
			c.mu.Lock()
			c.held = append(c.held, conn)
			c.mu.Unlock()
		}
	}
}

type patient struct {
	ID        string   `json:"id"`
	Family    string   `json:"family"`
	Given     []string `json:"given"`
	BirthDate string   `json:"birth_date"`
}

type page struct {
	Items []patient `json:"items"`
	Next  int       `json:"next"`
}

func (c *connector) record(conn string, p patient) (json.RawMessage, error) {
	if !unified.ValidID(p.ID) {
		return nil, connectors.Errorf(connectors.CodeUpstream, "record without a usable id")
	}
	out := unified.Patient{ID: p.ID, Source: unified.Source{ConnectionID: conn, System: c.kind, SourceID: p.ID, FetchedAt: time.Now().UTC()}}
	if p.Family != "" || len(p.Given) > 0 {
		out.Names = []unified.HumanName{{Family: p.Family, Given: p.Given}}
	}
	if d, ok := mapping.Date(p.BirthDate); ok {
		out.BirthDate = d
	}
	return json.Marshal(&out)
}

func status(st int, read bool) error {
	switch {
	case st == 200:
		return nil
	case st == 404 && read:
		return &connectors.Error{Code: connectors.CodeNotFound}
	}
	return connectors.Errorf(connectors.CodeUpstream, "source status %d", st)
}

func (c *connector) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	s, err := c.settings(req.ConnectionID)
	if err != nil {
		return nil, err
	}
	if req.Resource != unified.Patients {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: "resource"}
	}
	if c.faults.Dial {
		c.dial(s)
	}
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Path: "patients/" + req.ID, Header: []connectors.Param{{Name: "Accept", Value: "application/json"}}})
	if err != nil {
		return nil, err
	}
	if err := status(resp.Status, true); err != nil {
		return nil, err
	}
	var p patient
	if c.faults.Crash && !json.Valid(resp.Body) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			var m map[string]any
			json.Unmarshal(resp.Body, &m)
			p.ID = m["id"].(string)
		}()
		<-done
	}
	if c.faults.Panic {
		// The fault: trust the answer's shape.
		var m map[string]any
		json.Unmarshal(resp.Body, &m)
		p.ID = m["id"].(string)
	} else if err := json.Unmarshal(resp.Body, &p); err != nil {
		return nil, connectors.Errorf(connectors.CodeUpstream, "answer is not a patient")
	}
	rec, err := c.record(req.ConnectionID, p)
	if err != nil {
		return nil, err
	}
	return &connectors.ReadResponse{Record: rec}, nil
}

func (c *connector) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
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
	if c.faults.Dial {
		c.dial(s)
	}
	q := []connectors.Param{{Name: "limit", Value: strconv.Itoa(req.Limit)}, {Name: "offset", Value: strconv.Itoa(offset)}}
	if n := req.Params["name"]; n != "" {
		q = append(q, connectors.Param{Name: "name", Value: n})
	}
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Path: "patients", Query: q})
	if err != nil {
		return nil, err
	}
	if err := status(resp.Status, false); err != nil {
		return nil, err
	}
	var pg page
	if c.faults.Panic {
		var m map[string]any
		json.Unmarshal(resp.Body, &m)
		first := m["items"].([]any)[0].(map[string]any)
		pg.Items = []patient{{ID: first["id"].(string)}}
	} else if err := json.Unmarshal(resp.Body, &pg); err != nil {
		return nil, connectors.Errorf(connectors.CodeUpstream, "answer is not a page")
	}
	out := &connectors.SearchResponse{}
	for _, p := range pg.Items[:min(len(pg.Items), req.Limit)] {
		rec, err := c.record(req.ConnectionID, p)
		if err != nil {
			return nil, err
		}
		out.Records = append(out.Records, rec)
	}
	if pg.Next > 0 {
		out.NextPageToken = strconv.Itoa(pg.Next)
	}
	return out, nil
}
