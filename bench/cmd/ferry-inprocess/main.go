// Command ferry-inprocess is `ferry serve` with the FHIR and HL7 v2
// connectors linked into the process instead of started as plugins: a
// benchmark target only (the harness's "inprocess"), so that every table
// shows what the plugin hop costs beside what the rest of the pipeline
// does. It is not shipped: a connector in the host's process is neither
// isolated nor sandboxed.
//
//	ferry-inprocess --config FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/hl7v2"
	"github.com/ferryhealth/ferry/internal/gateway"
	"github.com/ferryhealth/ferry/proxy/config"
)

func main() {
	path := flag.String("config", "", "config file (JSON)")
	flag.Parse()
	if *path == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: ferry-inprocess --config FILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry-inprocess:", err)
		os.Exit(1)
	}
	cfg, probs := config.Load(*path)
	if len(probs) > 0 {
		for _, p := range probs {
			fmt.Fprintf(os.Stderr, "%s: %s\n", *path, p.String())
		}
		os.Exit(1)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	g, err := gateway.Start(context.Background(), cfg, config.Hash(data), os.Stdout, logger, gateway.Options{
		InProcess: map[string]connectors.Connector{fhir.Kind: fhir.New(), hl7v2.Kind: hl7v2.New()},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry-inprocess:", err)
		os.Exit(3)
	}
	logger.Info("ferry-inprocess serving", "api", g.APIAddr().String(), "admin", g.AdminAddr().String())
	os.Exit(g.Wait(logger))
}
