package main

import (
	"testing"

	"github.com/ferryhealth/ferry/connectors/conformance"
	"github.com/ferryhealth/ferry/connectors/sdktest"
)

// TestConformance builds this plugin and runs the conformance kit on it, as
// `ferry plugin check` would, with the recorded answers as its realistic
// source. It starts the plugin process itself: run it alone with
// go test -run TestConformance .
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	replay, err := sdktest.Replay("testdata/upstream.txtar")
	if err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, conformance.Options{
		Binary:   conformance.Build(t, "."),
		Kind:     Kind,
		Upstream: replay,
	})
}
