package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/hl7v2"
	"github.com/ferryhealth/ferry/connectors/sdktest"
	"github.com/ferryhealth/ferry/unified"
)

// The sandbox served on 127.0.0.1, queried by the hl7v2 connector through a
// minimal MLLP exchanger. Run alone with: go test ./hl7v2/sandbox

// exchanger is a one-connection MLLP client, enough for a test.
type exchanger struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

func (e *exchanger) Do(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	return nil, errors.New("no HTTP here")
}

func (e *exchanger) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d, ok := ctx.Deadline(); ok {
		_ = e.conn.SetDeadline(d)
	}
	frame := append(append([]byte{startBlock}, msg...), endBlock, cr)
	if _, err := e.conn.Write(frame); err != nil {
		return nil, err
	}
	return readFrame(e.r)
}

func start(t *testing.T) (*Server, *exchanger) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, &exchanger{conn: c, r: bufio.NewReader(c)}
}

func connector(t *testing.T) connectors.Connector {
	t.Helper()
	c := hl7v2.New()
	if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{
		ConnectionID: "sbx", Settings: json.RawMessage(`{"id_authority": {"namespace": "SANDBOX"}}`),
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

func search(t *testing.T, c connectors.Connector, ex *exchanger, params map[string]string, limit int, token string) ([]unified.Patient, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Search(ctx, &connectors.SearchRequest{
		ConnectionID: "sbx", Resource: unified.Patients, Params: params, Limit: limit, PageToken: token, Transport: ex,
	})
	if err != nil {
		return nil, "", err
	}
	var out []unified.Patient
	for _, r := range resp.Records {
		var p unified.Patient
		if err := json.Unmarshal(r, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out, resp.NextPageToken, nil
}

func TestSearchAndPage(t *testing.T) {
	s, ex := start(t)
	c := connector(t)
	ps, next, err := search(t, c, ex, map[string]string{"name": "okafor"}, 10, "")
	if err != nil || len(ps) != 2 || next != "" || ps[0].ID != "SBX-1002" || ps[1].ID != "SBX-1003" {
		t.Fatalf("name search: %v %+v %q", err, ps, next)
	}
	if ps[0].Names[0].Family != "Okafor" || ps[0].BirthDate != "1971-08-07" || ps[0].Gender != "male" {
		t.Fatalf("mapping: %+v", ps[0])
	}
	// Everyone (a family name wildcard), five at a time, through continuation
	// pointers.
	var all []string
	token := ""
	for page := 0; page < 10; page++ {
		ps, next, err := search(t, c, ex, map[string]string{"name": "*"}, 5, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			all = append(all, p.ID)
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(all) != len(s.MRNs()) {
		t.Fatalf("paged through %v, want all %d", all, len(s.MRNs()))
	}
	for i, id := range s.MRNs() {
		if all[i] != id {
			t.Fatalf("page order: %v", all)
		}
	}
	ps, _, err = search(t, c, ex, map[string]string{"birth_date": "1984-03-12"}, 10, "")
	if err != nil || len(ps) != 1 || ps[0].ID != "SBX-1001" {
		t.Fatalf("birth date: %v %+v", err, ps)
	}
	ps, _, err = search(t, c, ex, map[string]string{"identifier": "900-01-1009"}, 10, "")
	if err != nil || len(ps) != 1 || ps[0].ID != "SBX-1009" {
		t.Fatalf("identifier: %v %+v", err, ps)
	}
}

func TestReadAndErrors(t *testing.T) {
	_, ex := start(t)
	c := connector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Read(ctx, &connectors.ReadRequest{ConnectionID: "sbx", Resource: unified.Patients, ID: "SBX-1005", Transport: ex})
	if err != nil {
		t.Fatal(err)
	}
	var p unified.Patient
	if err := json.Unmarshal(resp.Record, &p); err != nil || p.ID != "SBX-1005" || p.Deceased == nil {
		t.Fatalf("read: %v %s", err, resp.Record)
	}
	if _, err := c.Read(ctx, &connectors.ReadRequest{ConnectionID: "sbx", Resource: unified.Patients, ID: "SBX-9999", Transport: ex}); connectors.CodeOf(err) != connectors.CodeNotFound {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestAnswerToOtherMessages(t *testing.T) {
	s := New()
	for _, msg := range []string{"", "garbage", "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5"} {
		m, err := hl7v2.Parse(s.Answer([]byte(msg)))
		if err != nil || m.Segment("MSA").Value(1) != "AR" {
			t.Errorf("%q: %v %v", msg, err, m)
		}
	}
}

// TestThroughSDKTest: the connector in sdktest's harness, with the
// sandbox as its message source: every patient, paged, decodes strictly
// into the unified model.
func TestThroughSDKTest(t *testing.T) {
	s := New()
	h := sdktest.New(t, hl7v2.New(), sdktest.Options{
		Settings: json.RawMessage(`{"id_authority": {"namespace": "SANDBOX"}}`),
		Messages: func(_ context.Context, msg []byte) ([]byte, error) { return s.Answer(msg), nil },
	})
	all, err := h.SearchAll(unified.Patients, map[string]string{"name": "*"}, 5, 5)
	if err != nil || len(all) != len(s.MRNs()) {
		t.Fatalf("%d records, %v", len(all), err)
	}
	if _, err := h.Read(unified.Patients, "SBX-1012"); err != nil {
		t.Fatal(err)
	}
}
