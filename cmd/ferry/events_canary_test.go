//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// TestPHICanaryFeed is the PHI canary of the inbound path: ADT and ORU
// messages whose PID and OBX carry canary markers go through a feed to a
// full-payload webhook. The receiver gets the markers (the positive
// control); Ferry's audit trail, logs and metrics hold none of them, and
// strace shows it wrote no file.
//
// Run alone with:
//
//	make build test-deps && FERRY_BIN=$PWD/bin go test -run PHICanaryFeed -v ./cmd/ferry/
func TestPHICanaryFeed(t *testing.T) {
	if _, err := os.Stat(straceBin); err != nil {
		t.Fatalf("%s not found (%v): run `make test-deps`", straceBin, err)
	}
	recv := testpeer.StartWebhookReceiver(t, eventSecretOld)
	feedAddr := freePort(t)
	hl7Path := filepath.Join(binaries(t), "ferry-connector-hl7v2")
	hl7Sum, err := fileSHA256(hl7Path)
	if err != nil {
		t.Fatal(err)
	}
	f := startTracedFerry(t, "http://127.0.0.1:1/fhir", func(cfg map[string]any) {
		cfg["plugins"] = append(cfg["plugins"].([]any), map[string]any{"kind": "hl7v2", "path": hl7Path, "sha256": hl7Sum})
		cfg["connections"] = append(cfg["connections"].([]any), map[string]any{
			"id": "adt", "tenant": demoTenant, "connector": "hl7v2", "base_url": "mllp://127.0.0.1:1",
			"auth": map[string]any{"kind": "none"}, "allow_insecure_http": true, "allow_private_network": true,
			"feed": map[string]any{"listen": feedAddr, "sending_application": "EPICADT", "sending_facility": "RIVERSIDE"},
		})
		cl := cfg["clients"].([]any)[0].(map[string]any)
		cl["connections"] = append(cl["connections"].([]any), "adt")
		cl["webhooks"] = []any{map[string]any{"id": "canary", "url": recv.URL + "/c", "payload": "full",
			"secret_refs": []string{"literal:" + eventSecretOld}, "allow_private_network": true}}
	})

	needles := []string{canaryPrefix + "FEEDFAMILY", canaryPrefix + "FEEDGIVEN", "CANARYMRN77", canaryPrefix + "OBXVALUE", "VCANARY99"}
	msh := "MSH|^~\\&|EPICADT|RIVERSIDE|FERRY|FERRY|20260301081500-0500||"
	pid := "PID|1||CANARYMRN77^^^RIVERSIDE^MR||" + needles[0] + "^" + needles[1] + "||19720414|F"
	msgs := []string{
		msh + "ADT^A01^ADT_A01|CAN1|P|2.5.1\rEVN|A01|20260301081200-0500\r" + pid + "\rPV1|1|I|4WEST||||||||||||||||VCANARY99",
		msh + "ORU^R01^ORU_R01|CAN2|P|2.5.1\r" + pid + "\rOBR|1||ACC1|1234-5^Panel^LN|||20260301\r" +
			"OBX|1|ST|5678-9^Result^LN||" + needles[3] + "||||||F",
		strings.Replace(msh, "EPICADT", "OTHERAPP", 1) + "ADT^A08^ADT_A01|CAN3|P|2.5.1\r" + pid,
	}
	attempts := testpeer.SendHL7(t, feedAddr, msgs, 5*time.Second, 200*time.Millisecond, 5)
	if len(attempts) != 3 || attempts[0].Ack != "AA" || attempts[1].Ack != "AA" || attempts[2].Ack != "AR" {
		t.Fatalf("acks: %+v", attempts)
	}
	// Positive control: the markers reached the receiver, so their absence
	// below means something.
	got, _ := json.Marshal(recv.Deliveries(t))
	for _, n := range needles {
		if !strings.Contains(string(got), n) {
			t.Fatalf("the receiver never got %q: the canary proves nothing", n)
		}
	}
	metrics := (&canaryClient{t: t}).metrics(f.admin)
	f.stop(t)
	for name, text := range map[string]string{"audit (stdout)": f.stdout.String(), "logs (stderr)": f.stderr.String(), "metrics": metrics} {
		if found := findNeedles(text, needles); len(found) > 0 {
			t.Errorf("%s holds %v", name, found)
		}
	}
	if !strings.Contains(f.stdout.String(), `"action":"event_deliver"`) || !strings.Contains(f.stdout.String(), `"error_code":"unknown_sender"`) {
		t.Error("the feed's audit events are missing")
	}
	trace, err := os.ReadFile(f.trace)
	if err != nil {
		t.Fatal(err)
	}
	if writes, _ := fileWrites(string(trace), f.allow()); len(writes) > 0 {
		t.Errorf("ferry wrote files: %v", writes)
	}
}
