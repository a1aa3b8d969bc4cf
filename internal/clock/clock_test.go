package clock

import (
	"context"
	"testing"
	"time"
)

func TestSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, System, time.Hour) {
		t.Fatal("Sleep outlived its context")
	}
	if !Sleep(context.Background(), System, time.Millisecond) {
		t.Fatal("Sleep did not wait out 1 ms")
	}
}

func TestManualFiresWhenAdvanced(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(start)
	slept := make(chan bool)
	go func() { slept <- Sleep(context.Background(), m, time.Second) }()
	for m.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	fired := make(chan struct{})
	stopped := m.AfterFunc(2*time.Second, func() { t.Error("a stopped timer fired") })
	m.AfterFunc(2*time.Second, func() { close(fired) })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported it had fired")
	}
	m.Advance(999 * time.Millisecond)
	select {
	case <-slept:
		t.Fatal("the sleep ended before its time")
	case <-time.After(10 * time.Millisecond):
	}
	m.Advance(time.Millisecond)
	if !<-slept {
		t.Fatal("Sleep reported a cancelled wait")
	}
	m.Advance(time.Second)
	<-fired
	if got := m.Now(); !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("Now = %v", got)
	}
	if Or(nil) != System || Or(m) != m {
		t.Fatal("Or")
	}
}
