package hl7v2

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// These tests drive the connector in-process through a scripted exchanger;
// internal/testpeer's TestMLLP* run it against real MLLP peers.

// scripted is a transport whose Exchange parses the query and answers with
// the script's function of it.
type scripted struct {
	answer func(q *Message) string
	err    error
	seen   []*Message
}

func (s *scripted) Do(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	return nil, errors.New("no HTTP here")
}

func (s *scripted) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	q, err := Parse(msg)
	if err != nil {
		return nil, err
	}
	s.seen = append(s.seen, q)
	return cr(s.answer(q)), nil
}

// rsp answers q with the given QAK status, segments and DSC pointer.
func rsp(q *Message, status string, segs ...string) string {
	ctrl := q.Header().Value(10)
	tag := q.Segment("QPD").Value(2)
	head := "MSH|^~\\&|PDQ||FERRY||20240315||RSP^K22^RSP_K21|R1|P|2.5\nMSA|AA|" + ctrl + "\nQAK|" + tag + "|" + status + "\n"
	return head + strings.Join(segs, "\n")
}

func newTestConnector(t *testing.T, settings string) *Connector {
	t.Helper()
	c := newConnector()
	c.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	n := 0
	c.newID = func() string { n++; return "ID" + string(rune('A'+n)) }
	if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "c1", Settings: json.RawMessage(settings)}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMetadata(t *testing.T) {
	m, err := newConnector().Metadata(context.Background(), &connectors.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("manifest: %v", err)
	}
}

func TestParseSettings(t *testing.T) {
	s, err := ParseSettings(nil)
	if err != nil || s.SendingApplication.Namespace != "FERRY" || s.ProcessingID != "P" || s.Version != "2.5" {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	_, err = ParseSettings(json.RawMessage(`{"processing_id": "X", "version": "3.0", "id_authority": {"universal_id": "1.2"},
		"domains_returned": [{}], "identifier_systems": {"NS": "has space"}}`))
	if connectors.CodeOf(err) != connectors.CodeInvalidArgument {
		t.Fatalf("error %v", err)
	}
	for _, path := range []string{"processing_id", "version", "id_authority", "domains_returned[0]", "identifier_systems.NS"} {
		if !strings.Contains(err.Error(), "settings."+path) {
			t.Errorf("error %q does not name settings.%s", err, path)
		}
	}
	if _, err := ParseSettings(json.RawMessage(`{"paging": "x"}`)); connectors.CodeOf(err) != connectors.CodeInvalidArgument {
		t.Errorf("an unknown setting: %v", err)
	}
}

func TestSearchParams(t *testing.T) {
	c := newTestConnector(t, `{"identifier_systems": {"GOODHEALTH": "http://goodhealth.example/mrn"}}`)
	tr := &scripted{answer: func(q *Message) string { return rsp(q, "NF") }}
	search := func(params map[string]string) error {
		_, err := c.Search(context.Background(), &connectors.SearchRequest{
			ConnectionID: "c1", Resource: unified.Patients, Params: params, Limit: 5, Transport: tr,
		})
		return err
	}
	if err := search(map[string]string{"name": "Smith", "given": "Jo", "birth_date": "1970-04", "gender": "female",
		"identifier": "http://goodhealth.example/mrn|A1"}); err != nil {
		t.Fatal(err)
	}
	qpd := tr.seen[0].Segment("QPD")
	got := map[string]string{}
	for _, r := range qpd.Field(3) {
		got[r.Value(1)] = r.Value(2)
	}
	want := map[string]string{"@PID.5.1.1": "Smith", "@PID.5.2": "Jo", "@PID.7": "197004", "@PID.8": "F", "@PID.3.1": "A1", "@PID.3.4.1": "GOODHEALTH"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("QPD-3 %s = %q, want %q", k, got[k], v)
		}
	}
	if rcp := tr.seen[0].Segment("RCP"); rcp.Get(2, 1, 1, 1) != "5" || rcp.Get(2, 1, 2, 1) != "RD" {
		t.Errorf("RCP-2 = %q", rcp.Field(2))
	}

	if err := search(map[string]string{"identifier": "urn:oid:1.2.3|A1"}); err != nil {
		t.Fatal(err)
	}
	if q := tr.seen[1].Segment("QPD"); q.Get(3, 2, 2, 1) != "1.2.3" || q.Get(3, 3, 2, 1) != "ISO" {
		t.Errorf("an OID system is not sent as a universal id: %q", q.Field(3))
	}

	for name, params := range map[string]map[string]string{
		"birth_date": {"birth_date": "1970-13"},
		"gender":     {"gender": "f"},
		"identifier": {"identifier": "sys|"},
		"name":       {"name": "a\x00b"},
		"given":      {"given": ""},
	} {
		var ce *connectors.Error
		if err := search(params); !errors.As(err, &ce) || ce.Code != connectors.CodeInvalidArgument || ce.Param != name {
			t.Errorf("%v: error %v, want invalid %s", params, err, name)
		}
	}
	if err := search(map[string]string{"address": "x"}); connectors.CodeOf(err) != connectors.CodeUnsupported {
		t.Errorf("an unknown parameter: %v", err)
	}
	if err := search(nil); connectors.CodeOf(err) != connectors.CodeInvalidArgument {
		t.Errorf("no parameter: %v", err)
	}
}

func TestSearchPaging(t *testing.T) {
	c := newTestConnector(t, `{}`)
	pid := func(n string) string { return "PID|1||" + n + "^^^NS||FAMILY" + n }
	tr := &scripted{}
	tr.answer = func(q *Message) string {
		if dsc := q.Segment("DSC"); dsc != nil {
			if dsc.Value(1) != "NEXT&1" {
				t.Errorf("DSC-1 = %q", dsc.Value(1))
			}
			return rsp(q, "OK", pid("3"))
		}
		return rsp(q, "OK", pid("1"), pid("2"), "DSC|NEXT\\T\\1|I")
	}
	req := &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Params: map[string]string{"name": "F*"}, Limit: 2, Transport: tr}
	resp, err := c.Search(context.Background(), req)
	if err != nil || len(resp.Records) != 2 || !strings.HasPrefix(resp.NextPageToken, "c:") {
		t.Fatalf("first page: %v, %+v", err, resp)
	}
	req.PageToken = resp.NextPageToken
	resp, err = c.Search(context.Background(), req)
	if err != nil || len(resp.Records) != 1 || resp.NextPageToken != "" {
		t.Fatalf("second page: %v, %+v", err, resp)
	}
	if tag0, tag1 := tr.seen[0].Segment("QPD").Value(2), tr.seen[1].Segment("QPD").Value(2); tag0 != tag1 {
		t.Errorf("the continuation has tag %q, the query %q", tag1, tag0)
	}

	// More patients than asked for, and a continuation pointer: not
	// something to page through.
	tr.answer = func(q *Message) string { return rsp(q, "OK", pid("1"), pid("2"), pid("3"), "DSC|X|I") }
	req.PageToken = ""
	if _, err := c.Search(context.Background(), req); connectors.CodeOf(err) != connectors.CodeUpstream {
		t.Errorf("error %v, want upstream", err)
	}
	req.PageToken = "c:bad tag:AA"
	if _, err := c.Search(context.Background(), req); connectors.CodeOf(err) != connectors.CodeInvalidArgument {
		t.Errorf("a bad cursor: %v", err)
	}
}

func TestRead(t *testing.T) {
	c := newTestConnector(t, `{"id_authority": {"namespace": "GOODHEALTH"}}`)
	for _, tc := range []struct {
		name   string
		answer string
		code   connectors.ErrorCode
	}{
		{"found", "PID|1||A1^^^GOODHEALTH~B7^^^OTHER||DOE^JANE", -1},
		{"another domain's identifier", "PID|1||A1^^^OTHER||DOE^JANE", connectors.CodeNotFound},
		{"a near match", "PID|1||A10^^^GOODHEALTH||DOE^JANE", connectors.CodeNotFound},
		{"two patients", "PID|1||A1^^^GOODHEALTH||DOE^JANE\nPID|2||A1^^^GOODHEALTH||DOE^JOHN", connectors.CodeUpstream},
		{"not found", "", connectors.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &scripted{answer: func(q *Message) string {
				if tc.answer == "" {
					return rsp(q, "NF")
				}
				return rsp(q, "OK", tc.answer)
			}}
			resp, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "A1", Transport: tr})
			if tc.code < 0 {
				var p unified.Patient
				if err != nil || json.Unmarshal(resp.Record, &p) != nil || p.ID != "A1" || p.Names[0].Given[0] != "JANE" {
					t.Fatalf("read: %v", err)
				}
			} else if connectors.CodeOf(err) != tc.code {
				t.Fatalf("error %v, want %v", err, tc.code)
			}
			if err != nil && strings.Contains(err.Error(), "DOE") {
				t.Errorf("error %q quotes the answer", err)
			}
			q := tr.seen[0].Segment("QPD")
			if q.Get(3, 1, 2, 1) != "A1" || q.Get(3, 2, 2, 1) != "GOODHEALTH" || tr.seen[0].Segment("RCP").Get(2, 1, 1, 1) != "2" {
				t.Errorf("the read's query: %q", q.Field(3))
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	c := newTestConnector(t, `{}`)
	req := &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "A1"}
	req.Transport = httpOnly{}
	if _, err := c.Read(context.Background(), req); connectors.CodeOf(err) != connectors.CodeInternal {
		t.Errorf("a transport without Exchange: %v", err)
	}
	host := &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	req.Transport = &scripted{err: host}
	if _, err := c.Read(context.Background(), req); !errors.Is(err, host) {
		t.Errorf("the host's error is not passed on: %v", err)
	}
	req.Transport = &scripted{err: errors.New("dial tcp: refused")}
	if _, err := c.Read(context.Background(), req); connectors.CodeOf(err) != connectors.CodeSourceUnavailable {
		t.Errorf("a plain transport error: %v", err)
	}
	if _, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "other", Resource: unified.Patients, ID: "A1"}); connectors.CodeOf(err) != connectors.CodeInternal {
		t.Errorf("an unconfigured connection: %v", err)
	}
	if _, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Observations, ID: "A1"}); connectors.CodeOf(err) != connectors.CodeUnsupported {
		t.Errorf("another resource: %v", err)
	}
}

type httpOnly struct{}

func (httpOnly) Do(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	return nil, errors.New("unused")
}

func TestPageToken(t *testing.T) {
	for _, tok := range []pageToken{
		{kind: tokenContinuation, tag: "ABC123", pointer: "p|2&x"},
		{kind: tokenOffset, offset: 40},
	} {
		back, err := parsePageToken(tok.String())
		if err != nil || back != tok {
			t.Errorf("%q parses as %+v, %v", tok.String(), back, err)
		}
	}
	for _, bad := range []string{"", "c:", "c:TAG:", "c:TAG:!!", "c:T-G:QQ", "c:TAG:QQ==", "o:", "o:0", "o:01", "o:-1", "o:1000001", "x:1", "c:" + strings.Repeat("A", 33) + ":QQ"} {
		if _, err := parsePageToken(bad); err == nil {
			t.Errorf("%q must be refused", bad)
		}
	}
}
