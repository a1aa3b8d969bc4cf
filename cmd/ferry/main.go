// Command ferry is Ferry's single binary: the gateway (serve), a
// self-contained demo (demo), the config checker (check), the audit trail's
// tools (audit), the connector author's tools (plugin) and its version.
//
// Exit codes: 0 success, 1 a problem with the input (bad config), 2 bad
// usage, 3 a runtime failure.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `Ferry: one unified healthcare API over your customers' source systems,
executed live, storing nothing.

Usage:
  ferry serve --config FILE     run the gateway
  ferry demo [--listen ADDR] [--admin-listen ADDR]
                                run the gateway, the FHIR and HL7 v2 connectors and
                                sandbox sources with synthetic patients
  ferry check --config FILE     validate a config; print every problem
  ferry audit verify [PATH|-]   check an audit stream's chain and signatures
  ferry audit hash --tenant T --patient-id ID|-
                                print a patient's keyed reference, to search the trail
  ferry audit pubkey --tenant T print a tenant's checkpoint public key
  ferry plugin check PATH       run the connector conformance kit on a plugin binary
  ferry plugin init NAME [DIR]  write a new connector from the SDK's template
  ferry version                 print the version
  ferry help                    print this text

Each command group explains its flags: ferry audit help, ferry plugin help.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(args[1:], stdout, stderr)
	case "plugin":
		return cmdPlugin(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "ferry %s (connector protocol v%d)\n", version(), protocolVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", args[0], usage)
	return 2
}
