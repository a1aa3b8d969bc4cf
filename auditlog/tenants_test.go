package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
)

// TestAddRemoveTenant: a tenant added to a running Emitter gets a chain of
// its own from seq 1; a tenant kept across SetConfigHash keeps its chain
// (the next seq, no gap); a removed tenant's chain ends with a signed
// checkpoint, its queue is flushed, and its requests are refused after;
// the whole output verifies.
func TestAddRemoveTenant(t *testing.T) {
	var out bytes.Buffer
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	sink := func() []SinkOptions { return []SinkOptions{{Sink: NewJSONLines(&out)}} }
	em, err := New(Options{ConfigHash: "h1", Tenants: map[string]StreamOptions{"kept": {Sinks: sink(), SigningKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	if em.HasTenant("new") || em.Admit("new") == nil {
		t.Fatal("a tenant without a stream is admitted")
	}
	em.Emit(t.Context(), &Event{Tenant: "kept", Action: ActionRead})
	if err := em.AddTenant("new", StreamOptions{Sinks: sink(), SigningKey: key}); err != nil {
		t.Fatal(err)
	}
	if err := em.AddTenant("new", StreamOptions{Sinks: sink()}); !errors.Is(err, ErrTenantExists) {
		t.Fatalf("added twice: %v", err)
	}
	if !em.HasTenant("new") || em.Admit("new") != nil {
		t.Fatal("the added tenant is not admitted")
	}
	em.SetConfigHash("h2")
	em.Emit(t.Context(), &Event{Tenant: "new", Action: ActionRead})
	em.Emit(t.Context(), &Event{Tenant: "kept", Action: ActionRead})
	if err := em.RemoveTenant(t.Context(), "new"); err != nil {
		t.Fatal(err)
	}
	if em.HasTenant("new") || em.Admit("new") == nil {
		t.Fatal("a removed tenant is still admitted")
	}
	em.Emit(t.Context(), &Event{Tenant: "new", Action: ActionRead}) // counted, not in the trail
	closeEmitter(t, em)

	chains := map[string][]uint64{}
	lastAction := map[string]string{}
	hashes := map[string]string{}
	for l := range bytes.SplitSeq(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var e Event
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		chains[e.Tenant] = append(chains[e.Tenant], e.Seq)
		lastAction[e.Tenant] = e.Action
		if e.Action == ActionCheckpoint {
			hashes[e.Tenant] = e.ConfigHash
		}
	}
	if got := chains["kept"]; len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("kept's chain: %v (want 1 2 and the final checkpoint 3)", got)
	}
	if got := chains["new"]; len(got) != 2 || got[0] != 1 || lastAction["new"] != ActionCheckpoint {
		t.Fatalf("new's chain: %v ending with %q (want its event and a final checkpoint)", got, lastAction["new"])
	}
	if hashes["kept"] != "h2" || hashes["new"] != "h2" {
		t.Fatalf("checkpoints after SetConfigHash carry %v", hashes)
	}
	if em.Failures() != 1 {
		t.Fatalf("failures: %d, want 1 (the event after removal)", em.Failures())
	}
	pub := key.Public().(ed25519.PublicKey)
	rep, err := Verify(bytes.NewReader(out.Bytes()), VerifyOptions{Keys: map[string][]ed25519.PublicKey{"kept": {pub}, "new": {pub}}})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
