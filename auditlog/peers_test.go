//go:build unix

package auditlog

// These tests deliver to real receivers: an HTTP server in the test
// (webhook), rsyslogd (syslog over TCP and TLS) and moto (CloudWatch Logs,
// Firehose, S3), each on 127.0.0.1, and check with Verify that what arrived
// is the intact chain. Run them alone with
//
//	go test ./auditlog -run 'Webhook|Syslog|AWS'
//
// rsyslogd comes from the Debian packages rsyslog and rsyslog-gnutls;
// moto_server ships with the image's Python.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// webhookReceiver is the test's HTTP receiver: it checks every request's
// signature and keeps the bodies it accepted, in order. down makes it
// answer 503.
type webhookReceiver struct {
	key      []byte
	down     atomic.Bool
	mu       sync.Mutex
	bodies   [][]byte
	idem     []string
	rejected atomic.Int64
}

func (rc *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if rc.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != WebhookContentType {
		rc.rejected.Add(1)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := VerifyWebhook(rc.key, r.Header.Get(HeaderWebhookTimestamp), r.Header.Get(HeaderWebhookSignature), body, time.Now(), 5*time.Minute); err != nil {
		rc.rejected.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.idem = append(rc.idem, r.Header.Get(HeaderIdempotencyKey))
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *webhookReceiver) stream() []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return bytes.Join(rc.bodies, nil)
}

func (rc *webhookReceiver) events() int { return bytes.Count(rc.stream(), []byte("\n")) }

// TestWebhookSinkDownAndBack: batches arrive signed; while the receiver is
// down the queue fills and Admit refuses; nothing admitted is lost, and
// once the receiver is back the backlog arrives and verifies.
func TestWebhookSinkDownAndBack(t *testing.T) {
	key := testSigner(t)
	rc := &webhookReceiver{key: []byte("webhook-hmac-key-0123456789abcdef")}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	so, err := NewSink(t.Context(), SinkConfig{Kind: SinkWebhook, URL: srv.URL + "/audit?token=x", HMACKey: rc.key, BatchSize: 10, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const queue = 30
	em, err := New(Options{Region: "us", Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{
		Sinks: []SinkOptions{so}, QueueSize: queue, SigningKey: key, CheckpointEvery: 25,
	})}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		// The queue is small: let the receiver keep up.
		waitUntil(t, "admission", 5*time.Second, func() bool { return em.Admit("acme") == nil })
		em.Emit(t.Context(), admitted("acme", i))
	}
	waitUntil(t, "the first 40 events and a checkpoint", 10*time.Second, func() bool {
		return rc.events() == 41 && em.Stats()[0].Sinks[0].Queued == 0
	})

	rc.down.Store(true)
	served := 0
	for i := range 200 {
		if em.Admit("acme") != nil {
			continue
		}
		served++
		em.Emit(t.Context(), admitted("acme", 100+i))
	}
	// The queue holds the served events and the checkpoint after the
	// 50th event.
	if served != queue-1 {
		t.Fatalf("served %d requests with the receiver down, want %d", served, queue-1)
	}
	waitUntil(t, "failed deliveries", 5*time.Second, func() bool { return em.Stats()[0].Sinks[0].Failures >= 2 })
	if err := em.Admit("acme"); !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("Admit while the receiver is down: %v", err)
	}
	rc.down.Store(false)
	closeEmitter(t, em)

	// 40 + 29 events, checkpoints after 25, 50 and at close.
	rep := mustVerify(t, rc.stream(), pubKeys("acme", key))
	if rep.Events != 72 || rep.Chains[0].SignedThrough != 72 || em.Stats()[0].Emitted != 72 {
		t.Errorf("received %d events, signed through %d", rep.Events, rep.Chains[0].SignedThrough)
	}
	if rc.rejected.Load() != 0 {
		t.Errorf("%d requests failed the receiver's checks", rc.rejected.Load())
	}
	for _, k := range rc.idem {
		if !strings.HasPrefix(k, rep.Chains[0].ChainID+"-") {
			t.Errorf("Idempotency-Key %q", k)
		}
	}
	if st := em.Stats()[0]; st.Sinks[0].Failures == 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookSignature(t *testing.T) {
	key := []byte("k")
	sig := WebhookSignature(key, "1700000000", []byte("body\n"))
	now := time.Unix(1700000010, 0)
	if err := VerifyWebhook(key, "1700000000", sig, []byte("body\n"), now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"other key":  func() error { return VerifyWebhook([]byte("K"), "1700000000", sig, []byte("body\n"), now, time.Minute) },
		"other body": func() error { return VerifyWebhook(key, "1700000000", sig, []byte("body!\n"), now, time.Minute) },
		"other time": func() error { return VerifyWebhook(key, "1700000001", sig, []byte("body\n"), now, time.Minute) },
		"too old": func() error {
			return VerifyWebhook(key, "1700000000", sig, []byte("body\n"), now.Add(time.Hour), time.Minute)
		},
		"bad ts": func() error { return VerifyWebhook(key, "x", sig, []byte("body\n"), now, time.Minute) },
	} {
		if f() == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// A redirect is a failure, never followed.
	redirect := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:1/", http.StatusFound))
	defer redirect.Close()
	s, err := NewWebhook(WebhookOptions{URL: redirect.URL, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	err = s.WriteBatch(t.Context(), &Batch{Records: []Record{{Seq: 1, Line: []byte("{}")}}})
	if err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("redirect: %v", err)
	}
	if _, err := NewWebhook(WebhookOptions{URL: "ftp://x", Key: key}); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := NewWebhook(WebhookOptions{URL: redirect.URL}); err == nil {
		t.Error("no key accepted")
	}
}

// syslogStream returns the messages rsyslog received on input, as JSON
// lines.
func syslogStream(t *testing.T, r *testpeer.Rsyslog, input string) ([]byte, []testpeer.SyslogMessage) {
	t.Helper()
	msgs, err := r.Messages()
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	var got []testpeer.SyslogMessage
	for _, m := range msgs {
		if m.Input == input {
			b = append(append(b, m.Msg...), '\n')
			got = append(got, m)
		}
	}
	return b, got
}

// TestSyslogSinks sends one tenant's stream to rsyslogd over TCP and over
// TLS at once, then stops rsyslogd, fills the queue, restarts it and checks
// that both copies are whole and verify.
func TestSyslogSinks(t *testing.T) {
	r := testpeer.StartRsyslog(t)
	key := testSigner(t)
	tcp, err := NewSink(t.Context(), SinkConfig{Kind: SinkSyslog, Name: "tcp", Address: r.Addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tlsSink, err := NewSink(t.Context(), SinkConfig{Kind: SinkSyslog, Name: "tls", Address: r.TLSAddr, UseTLS: true, CAFile: r.CAFile, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const queue = 25
	em, err := New(Options{Region: "us", Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{
		Sinks: []SinkOptions{tcp, tlsSink}, QueueSize: queue, SigningKey: key, CheckpointEvery: 20,
	})}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		em.Emit(t.Context(), admitted("acme", i))
	}
	waitUntil(t, "31 messages on each input", 15*time.Second, func() bool {
		a, _ := syslogStream(t, r, "tcp")
		b, _ := syslogStream(t, r, "tls")
		return bytes.Count(a, []byte("\n")) == 31 && bytes.Count(b, []byte("\n")) == 31
	})

	r.Stop()
	served := 0
	for i := range 100 {
		if em.Admit("acme") != nil {
			break
		}
		served++
		em.Emit(t.Context(), admitted("acme", 100+i))
		// Give the sinks a moment to notice the collector is gone, so the
		// events pile up in the queues rather than in dead sockets.
		time.Sleep(2 * time.Millisecond)
	}
	if served > queue || em.Admit("acme") == nil {
		t.Fatalf("served %d with rsyslog down; Admit still accepts", served)
	}
	r.Restart(t)
	closeEmitter(t, em)

	// Everything the Emitter chained, checkpoints included, must arrive.
	total := int(em.Stats()[0].Emitted)
	if served == 0 || total < 30+served+2 {
		t.Fatalf("served %d, chained %d", served, total)
	}
	for _, input := range []string{"tcp", "tls"} {
		var stream []byte
		var msgs []testpeer.SyslogMessage
		waitUntil(t, "the backlog on "+input, 15*time.Second, func() bool {
			stream, msgs = syslogStream(t, r, input)
			return bytes.Count(stream, []byte("\n")) >= total
		})
		rep := mustVerify(t, stream, pubKeys("acme", key))
		if rep.Events != total || rep.Chains[0].SignedThrough != uint64(total) {
			t.Errorf("%s: %d events (want %d), signed through %d", input, rep.Events, total, rep.Chains[0].SignedThrough)
		}
		m := msgs[0]
		if m.PRI != "110" || m.Version != "1" || m.AppName != "ferry" || m.MsgID != "audit" || m.SD != "-" || m.ProcID == "" {
			t.Errorf("%s: header parsed as %+v", input, m)
		}
		if _, err := time.Parse(time.RFC3339, m.Timestamp); err != nil {
			t.Errorf("%s: timestamp %q: %v", input, m.Timestamp, err)
		}
	}
}

func TestSyslogTLSRefusesUnknownCA(t *testing.T) {
	r := testpeer.StartRsyslog(t)
	s, err := NewSyslog(SyslogOptions{Address: r.TLSAddr, TLS: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WriteBatch(ctx, &Batch{Records: []Record{{Seq: 1, Time: time.Now(), Line: []byte("{}")}}}); err == nil {
		t.Fatal("TLS to a server of an unknown CA succeeded")
	}
}

// motoAWS is the SDK configuration for the moto peer.
func motoAWS(t *testing.T, m *testpeer.Moto) (aws.Config, SinkConfig) {
	t.Helper()
	creds := credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	cfg, err := LoadAWSConfig(t.Context(), AWSOptions{Region: "us-east-1", Endpoint: m.Endpoint, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, SinkConfig{Region: "us-east-1", Endpoint: m.Endpoint, Credentials: creds}
}

// emitSigned runs n events through a fresh Emitter with sink and closes it.
func emitSigned(t *testing.T, so SinkOptions, n int) {
	t.Helper()
	key := testSigner(t)
	em, err := New(Options{Region: "us-east-1", Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{
		Sinks: []SinkOptions{so}, SigningKey: key, CheckpointEvery: 10,
	})}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		em.Emit(t.Context(), admitted("acme", i))
	}
	closeEmitter(t, em)
	if st := em.Stats()[0]; st.Sinks[0].Delivered != st.Emitted {
		t.Fatalf("stats %+v", st)
	}
}

// TestAWSSinks delivers to CloudWatch Logs, S3 and Firehose (Direct PUT to
// S3) on one moto peer, which takes seconds to start.
func TestAWSSinks(t *testing.T) {
	m := testpeer.StartMoto(t)
	t.Run("cloudwatch", func(t *testing.T) { testCloudWatchSink(t, m) })
	t.Run("s3", func(t *testing.T) { testS3Sink(t, m) })
	t.Run("firehose", func(t *testing.T) { testFirehoseSink(t, m) })
}

func testCloudWatchSink(t *testing.T, m *testpeer.Moto) {
	cfg, sc := motoAWS(t, m)
	cw := cloudwatchlogs.NewFromConfig(cfg)
	if _, err := cw.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ferry/acme")}); err != nil {
		t.Fatal(err)
	}
	sc.Kind, sc.LogGroup, sc.BatchSize, sc.FlushInterval = SinkCloudWatch, "/ferry/acme", 8, time.Millisecond
	so, err := NewSink(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	emitSigned(t, so, 35)

	streams, err := cw.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/ferry/acme")})
	if err != nil {
		t.Fatal(err)
	}
	if len(streams.LogStreams) != 1 || !strings.HasPrefix(aws.ToString(streams.LogStreams[0].LogStreamName), "ferry-") {
		t.Fatalf("log streams %+v", streams.LogStreams)
	}
	var stream []byte
	var last int64
	var token *string
	for {
		out, err := cw.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String("/ferry/acme"), LogStreamName: streams.LogStreams[0].LogStreamName,
			StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events {
			stream = append(append(stream, aws.ToString(e.Message)...), '\n')
			if ts := aws.ToInt64(e.Timestamp); ts < last {
				t.Errorf("timestamps go backwards: %d after %d", ts, last)
			} else {
				last = ts
			}
		}
		if len(out.Events) == 0 || aws.ToString(out.NextForwardToken) == aws.ToString(token) {
			break
		}
		token = out.NextForwardToken
	}
	rep := mustVerify(t, stream, pubKeys("acme", testSigner(t)))
	if rep.Events != 35+3+1 || rep.Chains[0].SignedThrough != 39 {
		t.Errorf("CloudWatch holds %d events, signed through %d", rep.Events, rep.Chains[0].SignedThrough)
	}
}

// s3Objects returns every object under prefix, in key order, and their
// concatenated bodies.
func s3Objects(t *testing.T, client *s3.Client, bucket, prefix string) ([]string, []byte) {
	t.Helper()
	out, err := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var all []byte
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
		obj, err := client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		all = append(all, b...)
	}
	return keys, all
}

func testS3Sink(t *testing.T, m *testpeer.Moto) {
	cfg, sc := motoAWS(t, m)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("ferry-audit")}); err != nil {
		t.Fatal(err)
	}
	sc.Kind, sc.Bucket, sc.Prefix, sc.PathStyle, sc.BatchSize, sc.FlushInterval = SinkS3, "ferry-audit", "acme/", true, 7, time.Millisecond
	so, err := NewSink(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	emitSigned(t, so, 30)

	keys, stream := s3Objects(t, client, "ferry-audit", "acme/")
	if len(keys) < 5 || !slices.IsSorted(keys) {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "acme/20") || !strings.HasSuffix(k, ".jsonl") {
			t.Errorf("key %q", k)
		}
	}
	// Objects in key order are the chain in order: no AnyOrder needed.
	rep := mustVerify(t, stream, pubKeys("acme", testSigner(t)))
	if rep.Events != 30+3 || rep.Chains[0].SignedThrough != 33 {
		t.Errorf("S3 holds %d events, signed through %d", rep.Events, rep.Chains[0].SignedThrough)
	}
}

func TestS3Key(t *testing.T) {
	s := &S3Sink{prefix: "p/"}
	at := time.Date(2026, 3, 14, 9, 5, 7, 1500, time.FixedZone("X", 3600))
	got := s.S3Key(at, "abc", 42)
	const want = "p/2026/03/14/08/20260314T080507.000001500Z-abc-00000000000000000042.jsonl"
	if got != want {
		t.Errorf("S3Key = %s, want %s", got, want)
	}
	if a, b := s.S3Key(at, "abc", 9), s.S3Key(at.Add(time.Nanosecond), "abc", 1); a >= b {
		t.Errorf("keys do not sort by time: %s >= %s", a, b)
	}
}

func testFirehoseSink(t *testing.T, m *testpeer.Moto) {
	cfg, sc := motoAWS(t, m)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("firehose-dest")}); err != nil {
		t.Fatal(err)
	}
	fh := firehose.NewFromConfig(cfg)
	if _, err := fh.CreateDeliveryStream(t.Context(), &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("ferry-audit"), DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::firehose-dest"), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
			Prefix: aws.String("acme/"),
		},
	}); err != nil {
		t.Fatal(err)
	}
	sc.Kind, sc.DeliveryStream, sc.BatchSize, sc.FlushInterval = SinkFirehose, "ferry-audit", 9, time.Millisecond
	so, err := NewSink(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	emitSigned(t, so, 40)

	keys, stream := s3Objects(t, client, "firehose-dest", "acme/")
	if len(keys) < 4 {
		t.Fatalf("Firehose wrote %d objects", len(keys))
	}
	// Firehose names objects by arrival second and a random suffix, so
	// their order is not the chain's.
	rep, err := Verify(bytes.NewReader(stream), VerifyOptions{Keys: pubKeys("acme", testSigner(t)), AnyOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Events != 40+4+0 || rep.Chains[0].SignedThrough != 44 {
		t.Errorf("Firehose delivered %d events, signed through %d: %v", rep.Events, rep.Chains[0].SignedThrough, rep.Findings)
	}
}

func TestNewSinkErrors(t *testing.T) {
	for name, c := range map[string]SinkConfig{
		"kind":          {Kind: "kafka"},
		"webhook url":   {Kind: SinkWebhook, URL: "not a url", HMACKey: []byte("k")},
		"webhook key":   {Kind: SinkWebhook, URL: "https://x.example/"},
		"syslog addr":   {Kind: SinkSyslog, Address: "nope"},
		"syslog ca":     {Kind: SinkSyslog, Address: "127.0.0.1:1", UseTLS: true, CAFile: "/nonexistent/ca.pem"},
		"aws region":    {Kind: SinkS3, Bucket: "b"},
		"cw group":      {Kind: SinkCloudWatch, Region: "us-east-1"},
		"firehose name": {Kind: SinkFirehose, Region: "us-east-1"},
		"s3 bucket":     {Kind: SinkS3, Region: "us-east-1"},
	} {
		if _, err := NewSink(t.Context(), c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	so, err := NewSink(t.Context(), SinkConfig{Kind: SinkStdout, Stdout: io.Discard})
	if err != nil || so.Name != SinkStdout || so.BatchSize != 100 || so.Timeout != DefaultSinkTimeout {
		t.Errorf("stdout defaults: %+v %v", so, err)
	}
	if _, ok := so.Sink.(*JSONLinesSink); !ok {
		t.Errorf("stdout sink is %T", so.Sink)
	}
}
