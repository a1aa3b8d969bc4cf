package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/internal/gateway"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/secrets"
)

// DemoSigningKey is the demo tenant's checkpoint signing key: a 32-byte
// Ed25519 seed, public like DemoAuditKey, so `ferry audit verify` without a
// config checks the signatures in what `ferry demo` prints.
const DemoSigningKey = "demo-signing-key-not-secret-0123"

const auditUsage = `Usage:
  ferry audit verify [--config FILE] [--key TENANT=ed25519:KEY]... [--partial] [--any-order] [PATH|-]
        check a JSON-lines audit stream (a file, or stdin): report every deleted,
        reordered, edited or forged event with its line; exit 0 only if intact
  ferry audit hash [--config FILE] --tenant T --patient-id ID|- [--connection C]
        print the patient_ref of a patient id, to search the trail for it
        (--patient-id - reads the id from stdin, keeping it out of ps and history)
  ferry audit pubkey [--config FILE] --tenant T
        print a tenant's checkpoint public key, for verifiers without the secret

Without --config, the demo's configuration is used (tenant "demo").
`

func cmdAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return cmdAuditVerify(args[1:], os.Stdin, stdout, stderr)
	case "hash":
		return cmdAuditHash(args[1:], os.Stdin, stdout, stderr)
	case "pubkey":
		return cmdAuditPubkey(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return 0
	}
	fmt.Fprintf(stderr, "ferry audit: unknown command %q\n\n%s", args[0], auditUsage)
	return 2
}

// auditConfig loads --config, or the demo's configuration when path is "",
// and each tenant's secrets provider.
func auditConfig(ctx context.Context, path string, stderr io.Writer) (*config.Config, map[string]secrets.Provider, int) {
	var cfg *config.Config
	var probs []config.Problem
	if path == "" {
		// Only the tenants and their keys matter here; the listeners,
		// plugin and source are placeholders that are never used.
		cfg, probs = config.Parse(demoConfig("127.0.0.1:8080", "127.0.0.1:9090", "ferry-connector-fhir", strings.Repeat("0", 64), "http://127.0.0.1:1/fhir/R4"), "")
		path = "demo config"
	} else {
		cfg, probs = config.Load(path)
	}
	if len(probs) > 0 {
		printProblems(stderr, path, probs)
		return nil, nil, 1
	}
	providers, err := gateway.NewTenantSecrets(ctx, cfg, newLogger(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "ferry audit: %v\n", err)
		return nil, nil, 3
	}
	// A tenant of another region has no provider on this node's config:
	// its keys are read only in its home region.
	for _, t := range cfg.Tenants {
		if providers[t.ID] == nil {
			providers[t.ID] = elsewhere(t.HomeRegion)
		}
	}
	return cfg, providers, 0
}

// elsewhere is the secrets provider of a tenant served in another region:
// it reads nothing.
type elsewhere string

func (e elsewhere) Resolve(context.Context, string) (secrets.Value, error) {
	return secrets.Value{}, fmt.Errorf("the tenant is served in region %q: use a config of that region", string(e))
}

// keyFlags collects repeated --key TENANT=ed25519:KEY flags.
type keyFlags map[string][]ed25519.PublicKey

func (k keyFlags) String() string { return "" }

func (k keyFlags) Set(s string) error {
	tenant, key, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want TENANT=ed25519:KEY (TENANT may be empty for the default stream)")
	}
	pub, err := auditlog.ParsePublicKey(key)
	if err != nil {
		return err
	}
	k[tenant] = append(k[tenant], pub)
	return nil
}

func cmdAuditVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file whose tenants' signing keys check the checkpoints (default: the demo's)")
	partial := fs.Bool("partial", false, "accept chains that start after seq 1 (a window of a longer trail)")
	anyOrder := fs.Bool("any-order", false, "do not report events out of order (copies from stores that do not keep order)")
	extra := keyFlags{}
	fs.Var(extra, "key", "TENANT=ed25519:KEY: also accept this public key for TENANT's checkpoints (repeatable)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	ctx := context.Background()
	keys := map[string][]ed25519.PublicKey{}
	if *cfgPath != "" || len(extra) == 0 {
		cfg, providers, code := auditConfig(ctx, *cfgPath, stderr)
		if code != 0 {
			return code
		}
		for _, t := range cfg.Tenants {
			if t.Audit.SigningKeyRef == "" {
				continue
			}
			key, err := gateway.ResolveSigningKey(ctx, providers[t.ID], t.Audit.SigningKeyRef)
			if err != nil {
				// Its checkpoints will be reported as unverified.
				fmt.Fprintf(stderr, "ferry audit verify: tenant %q: signing key: %v\n", t.ID, err)
				continue
			}
			keys[t.ID] = append(keys[t.ID], key.Public().(ed25519.PublicKey))
		}
	}
	for t, ks := range extra {
		keys[t] = append(keys[t], ks...)
	}

	in, name := stdin, "stdin"
	if p := fs.Arg(0); p != "" && p != "-" {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintf(stderr, "ferry audit verify: %v\n", err)
			return 3
		}
		defer f.Close()
		in, name = f, p
	}
	rep, err := auditlog.Verify(in, auditlog.VerifyOptions{Keys: keys, Partial: *partial, AnyOrder: *anyOrder})
	if err != nil {
		fmt.Fprintf(stderr, "ferry audit verify: reading %s: %v\n", name, err)
		return 3
	}
	return printReport(stdout, name, rep)
}

// printReport writes the findings, one per line, then a line per chain and
// the verdict, and returns the exit code.
func printReport(w io.Writer, name string, rep *auditlog.Report) int {
	counts := map[string]int{}
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "%s:%s\n", name, f)
		counts[f.Kind]++
	}
	for _, c := range rep.Chains {
		tenant := c.Tenant
		if tenant == "" {
			tenant = "(none)"
		}
		fmt.Fprintf(w, "chain %s tenant %s: %d events, seq %d..%d, %d/%d checkpoints verified", c.ChainID, tenant, c.Events, c.FirstSeq, c.LastSeq, c.Verified, c.Checkpoints)
		switch {
		case c.SignedThrough == 0:
			fmt.Fprint(w, "; nothing signed")
		case c.SignedThrough < c.LastSeq:
			fmt.Fprintf(w, "; signed through seq %d, %d later events not signed yet", c.SignedThrough, c.LastSeq-c.SignedThrough)
		default:
			fmt.Fprint(w, "; signed through the end")
		}
		fmt.Fprintln(w)
	}
	if rep.OK() {
		note := ""
		if n := counts[auditlog.FindingDuplicate]; n > 0 {
			note = fmt.Sprintf(" (%d duplicate lines, redelivered)", n)
		}
		fmt.Fprintf(w, "OK: %d events in %d chains, intact%s\n", rep.Events, len(rep.Chains), note)
		return 0
	}
	var parts []string
	for _, k := range []string{auditlog.FindingDeleted, auditlog.FindingReordered, auditlog.FindingEdited, auditlog.FindingForged,
		auditlog.FindingUnverified, auditlog.FindingUnchained, auditlog.FindingMalformed, auditlog.FindingDuplicate} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	fmt.Fprintf(w, "FAIL: %s\n", strings.Join(parts, ", "))
	return 1
}

func cmdAuditHash(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit hash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: the demo's)")
	tenantID := fs.String("tenant", "", "tenant id (required)")
	patientID := fs.String("patient-id", "", `the patient's id in the source; "-" reads it from stdin`)
	connID := fs.String("connection", "", "connection id; default: every connection of the tenant, one line each")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *tenantID == "" || *patientID == "" {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	id := *patientID
	if id == "-" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "ferry audit hash: reading stdin: %v\n", err)
			return 3
		}
		id = strings.TrimRight(line, "\r\n")
		if id == "" {
			fmt.Fprintln(stderr, "ferry audit hash: no patient id on stdin")
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, providers, code := auditConfig(ctx, *cfgPath, stderr)
	if code != 0 {
		return code
	}
	t := cfg.Tenant(*tenantID)
	if t == nil {
		fmt.Fprintf(stderr, "ferry audit hash: no tenant %q in the config\n", *tenantID)
		return 1
	}
	var conns []string
	for _, c := range cfg.Connections {
		if c.Tenant == t.ID && (*connID == "" || c.ID == *connID) {
			conns = append(conns, c.ID)
		}
	}
	if len(conns) == 0 {
		if *connID != "" {
			fmt.Fprintf(stderr, "ferry audit hash: tenant %q has no connection %q\n", t.ID, *connID)
		} else {
			fmt.Fprintf(stderr, "ferry audit hash: tenant %q has no connections\n", t.ID)
		}
		return 1
	}
	key, err := providers[t.ID].Resolve(ctx, t.Audit.KeyRef)
	if err != nil {
		fmt.Fprintf(stderr, "ferry audit hash: tenant %q: audit key: %v\n", t.ID, err)
		return 3
	}
	if len(key.Reveal()) < auditlog.MinAuditKeyLen {
		fmt.Fprintf(stderr, "ferry audit hash: tenant %q: audit key is shorter than %d bytes\n", t.ID, auditlog.MinAuditKeyLen)
		return 1
	}
	for _, c := range conns {
		ref := auditlog.PatientRef(key.Reveal(), t.ID, c, id)
		if *connID != "" {
			fmt.Fprintln(stdout, ref)
		} else {
			fmt.Fprintf(stdout, "%s\t%s\n", ref, c)
		}
	}
	return 0
}

func cmdAuditPubkey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit pubkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: the demo's)")
	tenantID := fs.String("tenant", "", "tenant id (required)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *tenantID == "" {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, providers, code := auditConfig(ctx, *cfgPath, stderr)
	if code != 0 {
		return code
	}
	t := cfg.Tenant(*tenantID)
	if t == nil || t.Audit.SigningKeyRef == "" {
		fmt.Fprintf(stderr, "ferry audit pubkey: tenant %q has no audit.signing_key_ref in the config\n", *tenantID)
		return 1
	}
	key, err := gateway.ResolveSigningKey(ctx, providers[t.ID], t.Audit.SigningKeyRef)
	if err != nil {
		fmt.Fprintf(stderr, "ferry audit pubkey: tenant %q: %v\n", t.ID, err)
		return 3
	}
	fmt.Fprintf(stdout, "%s=%s\n", t.ID, auditlog.FormatPublicKey(key.Public().(ed25519.PublicKey)))
	return 0
}
