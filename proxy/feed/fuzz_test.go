package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/hl7v2"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/webhook"
)

func addMessageSeeds(f *testing.F) {
	files, _ := filepath.Glob("../../connectors/hl7v2/testdata/events/*.hl7")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1"))
	f.Add([]byte("MSH#!@$%|A|B"))
	f.Add([]byte("MSH|^~|A"))
}

// FuzzParseHeader checks that any message either has no header or gives
// an ACK that is itself a message with the same delimiters and its MSA,
// and never a framing byte unless the message had one.
//
// Run with: go test ./proxy/feed -run '^$' -fuzz '^FuzzParseHeader$' -fuzztime 30s
func FuzzParseHeader(f *testing.F) {
	addMessageSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := ParseHeader(msg)
		ack := AppendAck(nil, &h, AckError, reasonUnavailable, "F1", time.Unix(0, 0))
		back, perr := ParseHeader(ack)
		if perr != nil {
			t.Fatalf("the ACK has no header: %q (message header error %v)", ack, err)
		}
		if err == nil && back.ControlID() != "F1" {
			t.Fatalf("ACK control id %q in %q", back.ControlID(), ack)
		}
		if !bytes.Contains(ack, []byte("\rMSA")) {
			t.Fatalf("no MSA in %q", ack)
		}
		if bytes.ContainsAny(ack, "\x0b\x1c") && !bytes.ContainsAny(msg, "\x0b\x1c") {
			t.Fatalf("the ACK has framing bytes the message had not: %q", ack)
		}
	})
}

// FuzzHandle runs any message through the host's side of a feed (header,
// sender check, the real connector's mapping, the host's checks of its
// events) and checks it always answers a parseable ACK, never CA.
//
// Run with: go test ./proxy/feed -run '^$' -fuzz '^FuzzHandle$' -fuzztime 30s
func FuzzHandle(f *testing.F) {
	addMessageSeeds(f)
	cn := config.Connection{ID: "adt", Tenant: "t1", Connector: "hl7v2", Feed: &config.Feed{
		SendingApplication: "EPICADT", SendingFacility: "RIVERSIDE", AckBudget: config.Duration(time.Second), OnFailure: "ae"}}
	c := hl7v2.New()
	if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "adt", Settings: json.RawMessage(`{}`)}); err != nil {
		f.Fatal(err)
	}
	d, _ := webhook.New(&config.Config{}, nil, webhook.Options{})
	fd, err := New(Options{Connection: cn, AuditKey: bytes.Repeat([]byte("k"), 32), Mapper: c.(connectors.EventMapper),
		Webhooks: d, Audit: &auditlogtest.Recorder{}})
	if err != nil {
		f.Fatal(err)
	}
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ack, keep := fd.handle(peer, msg)
		if !keep {
			t.Fatal("closed with on_failure ae")
		}
		h, err := ParseHeader(ack)
		if err != nil {
			t.Fatalf("unparseable ACK %q", ack)
		}
		_ = h
		if bytes.Contains(ack, []byte("MSA|CA")) {
			t.Fatal("a commit accept")
		}
	})
}
