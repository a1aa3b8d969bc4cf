package feed

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/hl7v2"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/mllp"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/webhook"
)

// The feed's unit tests run the real HL7 v2 connector in process and a Go
// receiver that checks every signature; cmd/ferry's e2e tests run the
// whole product against python3-hl7 and npm standardwebhooks.

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver records deliveries; answer picks each one's status.
type receiver struct {
	mu     sync.Mutex
	got    []delivery
	answer atomic.Value // func(id string) int
	srv    *httptest.Server
}

type delivery struct {
	ID   string
	Body map[string]any
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.answer.Store(func(string) int { return 204 })
	key, _ := webhook.ParseSecret(testSecret)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id, ts := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp")
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "." + string(body)))
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		if !strings.Contains(" "+req.Header.Get("webhook-signature")+" ", " "+want+" ") {
			t.Errorf("bad signature on %s", id)
			w.WriteHeader(400)
			return
		}
		status := r.answer.Load().(func(string) int)(id)
		if status < 300 {
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			r.mu.Lock()
			r.got = append(r.got, delivery{id, m})
			r.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

type fixture struct {
	feed  *Feed
	addr  string
	audit *auditlogtest.Recorder
	recv  *receiver
}

func startFeed(t *testing.T, mod func(*config.Feed, *config.Webhook)) *fixture {
	t.Helper()
	recv := newReceiver(t)
	fc := &config.Feed{Listen: "127.0.0.1:0", SendingApplication: "EPICADT", SendingFacility: "RIVERSIDE"}
	wh := config.Webhook{ID: "alerts", URL: recv.srv.URL, SecretRefs: []string{"literal:" + testSecret}, AllowPrivateNetwork: true}
	cfg := &config.Config{DevMode: true,
		Tenants:     []config.Tenant{{ID: "t1"}},
		Connections: []config.Connection{{ID: "adt", Tenant: "t1", Connector: "hl7v2", Feed: fc}},
		Clients:     []config.Client{{ID: "app", Tenant: "t1", Connections: []string{"adt"}, Webhooks: []config.Webhook{wh}}},
	}
	cfg.ApplyEventDefaults()
	if mod != nil {
		mod(fc, &cfg.Clients[0].Webhooks[0])
	}
	d, err := webhook.New(cfg, map[string]secrets.Provider{"t1": secrets.Env{}}, webhook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := hl7v2.New()
	if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "adt", Settings: json.RawMessage(`{"id_authority":{"namespace":"RIVERSIDE"}}`)}); err != nil {
		t.Fatal(err)
	}
	rec := &auditlogtest.Recorder{}
	f, err := New(Options{Connection: cfg.Connections[0], Region: "local", AuditKey: bytes.Repeat([]byte("k"), 32),
		Mapper: c.(connectors.EventMapper), Webhooks: d, Audit: rec})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := f.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Serve(ln) }()
	t.Cleanup(func() { _ = f.Close() })
	return &fixture{feed: f, addr: ln.Addr().String(), audit: rec, recv: recv}
}

func adt(trigger, control, app string) []byte {
	return []byte("MSH|^~\\&|" + app + "|RIVERSIDE|FERRY|FERRY|20260301081500-0500||ADT^" + trigger + "^ADT_A01|" + control + "|P|2.5.1\r" +
		"EVN|" + trigger + "|20260301081200-0500\r" +
		"PID|1||MRN100234^^^RIVERSIDE^MR||QUILLFEATHER^ORLA||19720414|F\r" +
		"PV1|1|I|4WEST^412^A||||||||||||||||V42^^^RIVERSIDE^VN")
}

// send writes one frame and reads the answer's MSA-1 ("" when the
// connection closed without one).
func send(t *testing.T, conn net.Conn, msg []byte) string {
	t.Helper()
	frame, err := mllp.AppendFrame(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(frame); err != nil {
		return ""
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack, err := mllp.NewReader(conn, 0).ReadFrame()
	if err != nil {
		return ""
	}
	for _, seg := range strings.Split(string(ack), "\r") {
		if strings.HasPrefix(seg, "MSA|") {
			return strings.Split(seg, "|")[1]
		}
	}
	t.Fatalf("no MSA in %q", ack)
	return ""
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAckOnlyWhenDelivered(t *testing.T) {
	fx := startFeed(t, func(f *config.Feed, _ *config.Webhook) { f.AckBudget = config.Duration(5 * time.Second) })
	conn := dial(t, fx.addr)
	if got := send(t, conn, adt("A01", "C1", "EPICADT")); got != AckAccept {
		t.Fatalf("ACK %q", got)
	}
	// The endpoint fails: AE, and the sender's resend, once it is back,
	// carries the same webhook-id.
	fx.recv.answer.Store(func(string) int { return 503 })
	if got := send(t, conn, adt("A03", "C2", "EPICADT")); got != AckError {
		t.Fatalf("ACK with the endpoint failing: %q", got)
	}
	fx.recv.answer.Store(func(string) int { return 200 })
	if got := send(t, conn, adt("A03", "C2", "EPICADT")); got != AckAccept {
		t.Fatalf("ACK of the resend: %q", got)
	}
	ds := fx.recv.deliveries()
	if len(ds) != 2 || ds[0].Body["type"] != "encounter.started" || ds[1].Body["type"] != "encounter.ended" {
		t.Fatalf("deliveries %+v", ds)
	}
	// ids payload by default: references, no records.
	if _, has := ds[0].Body["data"]; has || ds[0].Body["id"] != ds[0].ID || !strings.HasPrefix(ds[0].ID, "msg_") {
		t.Fatalf("payload %+v", ds[0])
	}
	// A resend of C1 gives C1's id again.
	if got := send(t, conn, adt("A01", "C1", "EPICADT")); got != AckAccept {
		t.Fatal(got)
	}
	if ds := fx.recv.deliveries(); ds[2].ID != ds[0].ID {
		t.Fatalf("a resent message has a new id: %s, %s", ds[0].ID, ds[2].ID)
	}
	// Audit: a receive per message and an attempt per delivery, with no
	// message content.
	var receives, attempts int
	for _, e := range fx.audit.Events() {
		line, _ := json.Marshal(e)
		if bytes.Contains(line, []byte("QUILLFEATHER")) || bytes.Contains(line, []byte("MRN100234")) {
			t.Fatalf("PHI in audit: %s", line)
		}
		switch e.Action {
		case auditlog.ActionEventReceive:
			receives++
		case auditlog.ActionEventDeliver:
			attempts++
		}
	}
	if receives != 4 || attempts != 4 {
		t.Fatalf("%d receive and %d deliver events", receives, attempts)
	}
}

func TestUnknownSenderAndGarbage(t *testing.T) {
	fx := startFeed(t, nil)
	conn := dial(t, fx.addr)
	if got := send(t, conn, adt("A01", "C1", "OTHERAPP")); got != AckReject {
		t.Fatalf("unknown sender: %q", got)
	}
	if got := send(t, conn, []byte("not an HL7 message")); got != AckReject {
		t.Fatalf("garbage: %q", got)
	}
	// An ORM is not mapped: acknowledged at once, nothing delivered.
	orm := []byte("MSH|^~\\&|EPICADT|RIVERSIDE|F|F|20260101||ORM^O01|C9|P|2.5.1\rPID|1||X")
	if got := send(t, conn, orm); got != AckAccept {
		t.Fatalf("unmapped: %q", got)
	}
	if n := len(fx.recv.deliveries()); n != 0 {
		t.Fatalf("%d deliveries", n)
	}
	var codes []string
	for _, e := range fx.audit.Events() {
		codes = append(codes, e.ErrorCode+"/"+strconv.Itoa(e.Status))
	}
	if strings.Join(codes, ",") != "unknown_sender/403,invalid_message/400,/200" {
		t.Fatalf("audit %v", codes)
	}
}

func TestOversizeFrameAndSlowloris(t *testing.T) {
	fx := startFeed(t, func(f *config.Feed, _ *config.Webhook) {
		f.MaxFrameBytes, f.FrameTimeout = 512, config.Duration(300*time.Millisecond)
	})
	conn := dial(t, fx.addr)
	if got := send(t, conn, append(adt("A01", "C1", "EPICADT"), bytes.Repeat([]byte("x"), 1024)...)); got != "" {
		t.Fatalf("oversize: %q", got)
	}
	// A sender that trickles a frame is cut off at the frame timeout.
	slow := dial(t, fx.addr)
	start := time.Now()
	_, _ = slow.Write([]byte{mllp.StartBlock, 'M'})
	for i := 0; i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
		if _, err := slow.Write([]byte("S")); err != nil {
			break
		}
	}
	_ = slow.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := slow.Read(make([]byte, 1)); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("slowloris not cut off: %v after %s", err, time.Since(start))
	}
	if fx.feed.Stats.Closed.Load() < 1 {
		t.Fatal("oversize frame not counted")
	}
}

func TestBreakerRefusesFast(t *testing.T) {
	fx := startFeed(t, func(f *config.Feed, w *config.Webhook) {
		f.AckBudget = config.Duration(2 * time.Second)
		w.BreakerFailures, w.BreakerOpenFor = 2, config.Duration(time.Minute)
	})
	var hits atomic.Int64
	fx.recv.answer.Store(func(string) int { hits.Add(1); return 500 })
	conn := dial(t, fx.addr)
	for i := 0; i < 5; i++ {
		if got := send(t, conn, adt("A01", "C"+strconv.Itoa(i), "EPICADT")); got != AckError {
			t.Fatalf("ACK %q", got)
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("the endpoint was called %d times; the breaker should open after 2", hits.Load())
	}
}

// brokenMapper stands for a plugin that fails (crashed, or answered what the
// host refuses): faults the real connector cannot be made to produce.
type brokenMapper struct{ events []string }

func (b brokenMapper) MapEvent(context.Context, *connectors.MapEventRequest) (*connectors.MapEventResponse, error) {
	if b.events == nil {
		return nil, &connectors.Error{Code: connectors.CodeInternal}
	}
	out := &connectors.MapEventResponse{}
	for _, e := range b.events {
		out.Events = append(out.Events, json.RawMessage(e))
	}
	return out, nil
}

func TestMapperFailuresAreAE(t *testing.T) {
	fx := startFeed(t, nil)
	for name, m := range map[string]brokenMapper{
		"plugin down":      {},
		"unknown type":     {events: []string{`{"type":"encounter.exploded","connection_id":"adt","records":[]}`}},
		"other connection": {events: []string{`{"type":"patient.updated","connection_id":"other","records":[]}`}},
		"unknown field":    {events: []string{`{"type":"patient.updated","connection_id":"adt","records":[],"extra":1}`}},
		"not JSON":         {events: []string{`{`}},
	} {
		fx.feed.o.Mapper = m
		if got := send(t, dial(t, fx.addr), adt("A01", "C-"+name, "EPICADT")); got != AckError {
			t.Errorf("%s: %q", name, got)
		}
	}
	if n := len(fx.recv.deliveries()); n != 0 {
		t.Fatalf("%d deliveries of refused events", n)
	}
}
