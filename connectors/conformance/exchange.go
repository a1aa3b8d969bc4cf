package conformance

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/connectors"
)

// The message side of the Transport: connectors for sources that are not
// HTTP (HL7 v2 over MLLP) send messages with Exchange. The exchange check
// finds the operations that do, and holds them to what the HTTP checks
// hold Do's users to: malformed and empty answers are upstream errors, never
// a panic, a crash or a hang; the Transport's errors come back with their
// own code; the request's deadline reaches Exchange and ends the call.

// xscript answers a plugin's Exchange requests during one call.
type xscript func(ctx context.Context, msg []byte) ([]byte, error)

// Exchange serves a plugin's message exchange like Do, from the call's
// script.
func (c *call) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	f := c.ft
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	c.beginExchange(ctx)
	defer c.end()
	if len(msg) == 0 {
		f.violation("%s: an empty message; the host refuses it", c.label)
		return nil, &connectors.Error{Code: connectors.CodeInternal}
	}
	if c.xscript == nil {
		// What the host answers on a connection whose source is HTTP.
		return nil, &connectors.Error{Code: connectors.CodeUnsupported}
	}
	return c.xscript(ctx, msg)
}

// exchangeCount returns how many Exchange requests the call made.
func (c *call) exchangeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchanges
}

// reply answers every exchange with msg.
func reply(msg []byte) xscript {
	return func(context.Context, []byte) ([]byte, error) { return msg, nil }
}

// xfail answers every exchange with a host transport error.
func xfail(code connectors.ErrorCode) xscript {
	return func(context.Context, []byte) ([]byte, error) {
		return nil, &connectors.Error{Code: code}
	}
}

// xhang never answers, until the request's context ends.
func xhang(ctx context.Context, _ []byte) ([]byte, error) {
	<-ctx.Done()
	return nil, &connectors.Error{Code: connectors.CodeUpstreamTimeout}
}

// malformedMessages are answers no HL7 v2 (or other message) connector can
// take: each must give upstream, never a panic, a crash or a hang.
func malformedMessages() []struct {
	name string
	msg  []byte
} {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var manyPIDs bytes.Buffer
	manyPIDs.WriteString("MSH|^~\\&|SRC||FERRY||20240101||RSP^K22^RSP_K21|X|P|2.5\rMSA|AA|X\rQAK|X|OK\r")
	for manyPIDs.Len() < 4<<20 {
		manyPIDs.WriteString("PID|||" + strings.Repeat("~", 200) + "|" + strings.Repeat("^&", 100) + "\r")
	}
	return []struct {
		name string
		msg  []byte
	}{
		{"an empty message", nil},
		{"a message of spaces", []byte("   ")},
		{"text that is not HL7", []byte("this is not an HL7 message")},
		{"JSON", []byte(`{"resourceType":"Patient","id":"1"}`)},
		{"a bare MSH", []byte("MSH")},
		{"an MSH with broken delimiters", []byte("MSH||||||||")},
		{"an acknowledgement of another message", []byte("MSH|^~\\&|SRC||FERRY||20240101||ACK|X|P|2.5\rMSA|AA|not-yours")},
		{"an answer with no MSA", []byte("MSH|^~\\&|SRC||FERRY||20240101||RSP^K22^RSP_K21|X|P|2.5\rQAK|X|OK")},
		{"an AR answer", []byte("MSH|^~\\&|SRC||FERRY||20240101||ACK|X|P|2.5\rMSA|AR|X\rERR||MSH^1|207^Application internal error^HL70357|E")},
		{"a batch", []byte("BHS|^~\\&|SRC\rMSH|^~\\&|SRC||FERRY||20240101||RSP^K22^RSP_K21|X|P|2.5\rBTS|1")},
		{"invalid UTF-8", []byte("MSH|^~\\&|SRC\xff\xfe||FERRY||2024||RSP^K22|\xc3\x28|P|2.5\rMSA|AA|\xff")},
		{"random bytes", random},
		{"4 MiB of PID segments of empty repetitions", manyPIDs.Bytes()},
	}
}

// checkExchange runs after the HTTP checks: an operation that made no HTTP
// request may use Exchange instead.
func (k *kit) checkExchange() Result {
	if why := k.ready(); why != "" {
		return skip(why)
	}
	var p problems
	ok := reply([]byte("MSH|^~\\&|SRC||FERRY||20240101||RSP^K22^RSP_K21|X|P|2.5\rMSA|AA|X\rQAK|X|NF"))
	for _, t := range k.targets {
		if k.calls[t.String()] {
			continue // an HTTP operation
		}
		cands := []target{t}
		if t.op == "search" && len(t.params) == 0 {
			// A search may need a filter before it sends anything: try
			// each declared one with a plausible value.
			for _, r := range k.meta.GetResources() {
				if r.GetResource() != string(t.resource) {
					continue
				}
				for _, name := range r.GetSearchParams() {
					c := t
					c.params = map[string]string{name: sampleValue(name)}
					cands = append(cands, c)
				}
			}
		}
		for _, c := range cands {
			o := k.doWith(c, c.String()+", probing for Exchange", nil, ok, k.o.CallTimeout)
			if o.call.exchangeCount() > 0 {
				k.exchangeTargets = append(k.exchangeTargets, c)
				break
			}
		}
	}
	if len(k.exchangeTargets) == 0 {
		if len(k.httpTargets) == len(k.targets) {
			return Result{Status: Pass, Reason: "every operation uses the HTTP Transport (Transport.Do): no message exchange to check"}
		}
		return skip("no operation used the message Transport (Transport.Exchange)")
	}
	msgs := malformedMessages()
	for _, t := range k.exchangeTargets {
		for _, m := range msgs {
			label := fmt.Sprintf("%s, source answered %s", t, m.name)
			if o := k.doWith(t, label, nil, reply(m.msg), k.o.CallTimeout); !o.is("upstream") {
				p.add("%s gave %s; want upstream", label, o.describe())
			}
			if k.dead != "" {
				return p.result("exchange", "")
			}
		}
		for _, code := range []connectors.ErrorCode{connectors.CodeSourceUnavailable, connectors.CodeUpstreamTimeout, connectors.CodeUpstream} {
			want := code.String()
			label := fmt.Sprintf("%s, Exchange failed with %s", t, want)
			if o := k.doWith(t, label, nil, xfail(code), k.o.CallTimeout); !o.is(want) {
				p.add("%s gave %s; return the Transport's error as it is", label, o.describe())
			}
		}
	}
	t := k.exchangeTargets[0]
	d, m := k.o.Deadline, k.o.Margin
	label := fmt.Sprintf("%s, source hangs, deadline %v", t, d)
	o := k.doWith(t, label, nil, xhang, d)
	if o.call.exchangeCount() == 0 {
		p.add("%s: the plugin made no Exchange request this time", label)
	}
	if !o.call.waitIdle(m) {
		p.add("%s: the Exchange request was still open %v after the deadline", label, m)
	}
	if o.took > d+m {
		p.add("%s: answered after %v", label, o.took.Round(time.Millisecond))
	}
	return p.result("exchange", fmt.Sprintf("%d operation(s) through Transport.Exchange: %d kinds of malformed, empty and huge answers gave upstream, no panic, crash or hang; Exchange errors came back with their own code; the deadline reached Exchange and ended the call",
		len(k.exchangeTargets), len(msgs)))
}
