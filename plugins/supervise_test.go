package plugins

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/clock"
)

// TestBackOffDoublesUpToTheMax: each step of the restart backoff marks the
// plugin backing off, waits on the host's clock, and doubles the next wait
// up to MaxBackoff; a stopped host ends the wait at once.
func TestBackOffDoublesUpToTheMax(t *testing.T) {
	clk := clock.NewManual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	i := newInstance(&Host{opts: Options{MaxBackoff: 300 * time.Millisecond}}, Spec{Kind: "k"})
	backoff := 100 * time.Millisecond
	for _, want := range []time.Duration{200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond} {
		done := make(chan bool)
		go func() { done <- i.backOff(context.Background(), clk, &backoff) }()
		for clk.Waiting() == 0 {
			time.Sleep(time.Millisecond)
		}
		if st, _ := i.snapshot(); st != stateBackoff {
			t.Fatalf("state %v while backing off", st)
		}
		clk.Advance(backoff)
		if !<-done || backoff != want {
			t.Fatalf("next backoff %v, want %v", backoff, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if i.backOff(ctx, clk, &backoff) {
		t.Fatal("backed off past the host's end")
	}
}
