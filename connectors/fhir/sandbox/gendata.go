//go:build ignore

// gendata writes data/synthea/: the transaction Bundles of a few Synthea
// patients, cut down to the resource types the sandbox serves. Run it from
// this directory when the choice of patients changes:
//
//	go run gendata.go -src ../../../testdata/synthea
//
// Each kept entry is copied with every JSON token unchanged (only
// whitespace is removed), one entry a line so that diffs stay readable.
// References are left as Synthea wrote them (urn:uuid:…); the sandbox
// rewrites them when it loads the data, as a FHIR server does when it
// stores a transaction.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// patients maps each output file to the start of its source file's name.
var patients = []struct{ out, src string }{
	{"Barry_Wolf.json", "Barry_Wolf_"},
	{"Carla_Echevarria.json", "Carla_Echevarr"},
	{"Loyd_Connelly.json", "Loyd_Connelly_"},
	{"Trey_Berge.json", "Trey_Berge_"},
}

// keep lists the resource types the sandbox serves that Synthea writes.
// Claim, ExplanationOfBenefit, CarePlan, Goal and ImagingStudy are dropped:
// the unified API maps none of them, and nothing kept refers to them.
var keep = map[string]bool{
	"Patient": true, "Practitioner": true, "Organization": true, "Encounter": true,
	"Observation": true, "Condition": true, "AllergyIntolerance": true,
	"MedicationRequest": true, "Immunization": true, "Procedure": true, "DiagnosticReport": true,
}

func main() {
	src := flag.String("src", "../../../testdata/synthea", "directory of the Synthea R4 bundles")
	out := flag.String("out", "data/synthea", "output directory")
	flag.Parse()
	for _, p := range patients {
		matches, err := filepath.Glob(filepath.Join(*src, p.src+"*.json"))
		if err != nil || len(matches) != 1 {
			fail(fmt.Errorf("%s: want exactly one source file, found %d", p.src, len(matches)))
		}
		body, err := os.ReadFile(matches[0])
		if err != nil {
			fail(err)
		}
		var b struct {
			Type  string            `json:"type"`
			Entry []json.RawMessage `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.Type != "transaction" {
			fail(fmt.Errorf("%s: not a transaction Bundle: %v", matches[0], err))
		}
		var lines []string
		for _, e := range b.Entry {
			var head struct {
				Resource struct {
					ResourceType string `json:"resourceType"`
				} `json:"resource"`
			}
			if err := json.Unmarshal(e, &head); err != nil {
				fail(err)
			}
			if !keep[head.Resource.ResourceType] {
				continue
			}
			var c bytes.Buffer
			if err := json.Compact(&c, e); err != nil {
				fail(err)
			}
			lines = append(lines, c.String())
		}
		doc := `{"resourceType":"Bundle","type":"transaction","entry":[` + "\n" +
			strings.Join(lines, ",\n") + "\n]}\n"
		if !json.Valid([]byte(doc)) {
			fail(fmt.Errorf("%s: output is not JSON", p.out))
		}
		if err := os.WriteFile(filepath.Join(*out, p.out), []byte(doc), 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("%s: %d entries from %s\n", p.out, len(lines), filepath.Base(matches[0]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gendata:", err)
	os.Exit(1)
}
