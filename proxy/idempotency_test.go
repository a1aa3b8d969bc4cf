package proxy

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// TestIdempotencyID: the identifier is per tenant key, client, connection
// and resource, carries nothing of the key, and is stable.
func TestIdempotencyID(t *testing.T) {
	k1, k2 := deriveWriteKey([]byte("audit-key-one-0123456789abcdef012345")), deriveWriteKey([]byte("audit-key-two-0123456789abcdef012345"))
	base := idempotencyID(k1, "app", "conn", unified.Appointments, []byte("key-123"))
	if base != idempotencyID(k1, "app", "conn", unified.Appointments, []byte("key-123")) {
		t.Fatal("not stable")
	}
	for name, other := range map[string]string{
		"another tenant's key": idempotencyID(k2, "app", "conn", unified.Appointments, []byte("key-123")),
		"another client":       idempotencyID(k1, "app2", "conn", unified.Appointments, []byte("key-123")),
		"another connection":   idempotencyID(k1, "app", "conn2", unified.Appointments, []byte("key-123")),
		"another resource":     idempotencyID(k1, "app", "conn", unified.Observations, []byte("key-123")),
		"another key":          idempotencyID(k1, "app", "conn", unified.Appointments, []byte("key-124")),
		"shifted boundaries":   idempotencyID(k1, "ap", "pconn", unified.Appointments, []byte("key-123")),
	} {
		if other == base {
			t.Errorf("%s: same identifier", name)
		}
	}
	if strings.Contains(base, "key-123") || len(base) != 43 {
		t.Errorf("identifier %q", base)
	}
	if string(k1) == "audit-key-one-0123456789abcdef012345" {
		t.Error("the write key is the audit key")
	}
}

// TestCreateLocks: creates of one identifier run one at a time, others
// in parallel, and a waiter gives up at its deadline.
func TestCreateLocks(t *testing.T) {
	var l createLocks
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !l.acquire("a", nil) {
				t.Error("no turn")
				return
			}
			if n := inside.Add(1); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			l.release("a")
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d creates of one identifier at once", most.Load())
	}
	if !l.acquire("a", nil) || !l.acquire("b", nil) {
		t.Fatal("another identifier waited")
	}
	done := make(chan struct{})
	close(done)
	if l.acquire("a", done) {
		t.Fatal("a waiter past its deadline got the turn")
	}
	l.release("a")
	l.release("b")
	if len(l.locks) != 0 {
		t.Fatalf("%d locks kept after every create ended", len(l.locks))
	}
}
