package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	hl7sandbox "github.com/ferryhealth/ferry/connectors/hl7v2/sandbox"
	"github.com/ferryhealth/ferry/proxy/mllp"
	"github.com/ferryhealth/ferry/proxy/webhook"
)

// `ferry demo --events` adds the inbound side to the demo (docs/events.md):
// a feed on the demo-hl7 connection, a webhook of the demo client pointing
// at a receiver in this process that verifies each delivery's signature
// and prints it, and a sandbox sender that pushes a few ADT and ORU
// messages of the sandbox's fictional patients once the gateway is ready.

// demoWebhookSecret signs the demo's deliveries: public, like every demo
// key.
const demoWebhookSecret = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1ub3Qtc2VjcmV0"

// demoReceiver is the demo's webhook receiver.
type demoReceiver struct {
	srv *http.Server
	url string
	out io.Writer
	mu  sync.Mutex
}

func startDemoReceiver(out io.Writer) (*demoReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	key, err := webhook.ParseSecret(demoWebhookSecret)
	if err != nil {
		return nil, err
	}
	r := &demoReceiver{url: "http://" + ln.Addr().String() + "/events", out: out}
	r.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		id, ts := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp")
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "." + string(body)))
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		verified := false
		for _, sig := range strings.Fields(req.Header.Get("webhook-signature")) {
			verified = verified || hmac.Equal([]byte(sig), []byte(want))
		}
		if !verified {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			Type      string `json:"type"`
			PatientID string `json:"patient_id"`
			Records   []struct{ Resource, ID string }
		}
		_ = json.Unmarshal(body, &ev)
		var recs []string
		for _, rc := range ev.Records {
			recs = append(recs, rc.Resource+"/"+rc.ID)
		}
		r.mu.Lock()
		fmt.Fprintf(r.out, "webhook (signature verified): %s %-28s %s\n", id, ev.Type, strings.Join(recs, " "))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// withDemoFeed gives the demo-hl7 connection a feed on feedAddr and the
// demo client a webhook to receiverURL.
func withDemoFeed(cfgJSON []byte, feedAddr, receiverURL string) []byte {
	var cfg map[string]any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		panic("demo config: " + err.Error())
	}
	for _, c := range cfg["connections"].([]any) {
		if cn := c.(map[string]any); cn["id"] == demoHL7Conn {
			cn["feed"] = map[string]any{"listen": feedAddr, "sending_application": "SANDBOXADT", "sending_facility": "SANDBOX"}
		}
	}
	for _, c := range cfg["clients"].([]any) {
		if cl := c.(map[string]any); cl["id"] == demoClient {
			cl["webhooks"] = []any{map[string]any{"id": "demo-receiver", "url": receiverURL, "payload": "ids",
				"secret_refs": []string{"literal:" + demoWebhookSecret}, "allow_private_network": true}}
		}
	}
	b, _ := json.Marshal(cfg)
	return b
}

// demoMessages are the sandbox sender's messages: an admission, a
// transfer, a lab result and a discharge of the sandbox's patient
// SBX-1002, all fictional.
func demoMessages(now time.Time) []string {
	ts := now.UTC().Format("20060102150405") + "+0000"
	msh := "MSH|^~\\&|SANDBOXADT|SANDBOX|FERRY|DEMO|" + ts + "||"
	pid := "PID|1||SBX-1002^^^" + hl7sandbox.Namespace + "^MR||Okafor^Chidi||19710807|M"
	pv1 := func(loc string) string {
		// PV1-2 class, 3 location, 7 attending, 10 service, 19 visit number.
		return "PV1|1|I|" + loc + "||||1234567890^Brennan^Siobhan|||MED" + strings.Repeat("|", 9) + "VSBX-77"
	}
	return []string{
		msh + "ADT^A01^ADT_A01|DEMO1|P|2.5.1\rEVN|A01|" + ts + "\r" + pid + "\r" + pv1("4WEST^412^A"),
		msh + "ADT^A02^ADT_A02|DEMO2|P|2.5.1\rEVN|A02|" + ts + "\r" + pid + "\r" + pv1("ICU^02^B"),
		msh + "ORU^R01^ORU_R01|DEMO3|P|2.5.1\r" + pid + "\rOBR|1||LAB-5501|24323-8^Comprehensive metabolic panel^LN|||" + ts + "\r" +
			"OBX|1|NM|2345-7^Glucose^LN||98|mg/dL|70-99|N|||F\rOBX|2|NM|2160-0^Creatinine^LN||1.1|mg/dL|0.7-1.3|N|||F",
		msh + "ADT^A03^ADT_A03|DEMO4|P|2.5.1\rEVN|A03|" + ts + "\r" + pid + "\r" + pv1("ICU^02^B"),
	}
}

// sendDemoMessages pushes the messages to the feed as an interface engine
// would: in order, each until it is acknowledged AA (at most five tries).
func sendDemoMessages(feedAddr string, out io.Writer) {
	for _, msg := range demoMessages(time.Now()) {
		for try := 1; try <= 5; try++ {
			ack, err := exchangeOnce(feedAddr, msg)
			code := "no answer"
			if err == nil {
				code = ackCode(ack)
			}
			fmt.Fprintf(out, "sandbox sender: %s -> %s\n", strings.Split(strings.Split(msg, "\r")[0], "|")[8], code)
			if code == "AA" || code == "AR" {
				break
			}
			time.Sleep(time.Second)
		}
	}
}

func exchangeOnce(addr, msg string) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	frame, err := mllp.AppendFrame(nil, []byte(msg))
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	return mllp.NewReader(c, 0).ReadFrame()
}

func ackCode(ack []byte) string {
	for _, seg := range strings.Split(string(ack), "\r") {
		if f := strings.Split(seg, "|"); f[0] == "MSA" && len(f) > 1 {
			return f[1]
		}
	}
	return "?"
}
