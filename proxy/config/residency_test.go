package config

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

const (
	euARN = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:ferry/eu-a1B2c3"
	usARN = "arn:aws:secretsmanager:us-east-1:222222222222:secret:ferry/us-a1B2c3"
)

// regionsDoc is a valid production config with two regions: tenant "euco"
// must stay in the EU (home eu, nothing else), tenant "acme" lives in us
// and may keep a source in eu.
func regionsDoc(mutate func(m map[string]any)) []byte {
	tenant := func(id, home, awsRegion, arn string, allowed ...string) map[string]any {
		t := map[string]any{
			"id": id, "home_region": home,
			"secrets": map[string]any{"provider": "aws", "region": awsRegion, "role_arn": testRoleA, "external_id": "ext-" + id},
			"audit": map[string]any{"key_ref": arn + "#audit", "sinks": []any{
				map[string]any{"kind": "cloudwatch", "region": awsRegion, "log_group": "ferry-" + id},
				map[string]any{"kind": "webhook", "url": "https://audit." + home + ".example/in", "hmac_key_ref": arn + "#hmac"},
			}},
		}
		if len(allowed) > 0 {
			t["allowed_regions"] = allowed
		}
		return t
	}
	conn := func(id, tenant, region, arn string) map[string]any {
		c := map[string]any{"id": id, "tenant": tenant, "connector": "fhir", "base_url": "https://" + id + ".example/R4",
			"auth": map[string]any{"kind": "bearer", "secret_ref": arn + "#token"}}
		if region != "" {
			c["region"] = region
		}
		return c
	}
	m := map[string]any{
		"node":        map[string]any{"region": "eu"},
		"misdirected": "forward",
		"regions": []any{
			map[string]any{"name": "us", "endpoint": "https://us.ferry.example", "aws_regions": []string{"us-east-1", "us-west-2"}},
			map[string]any{"name": "eu", "endpoint": "https://eu.ferry.example", "aws_regions": []string{"eu-west-1", "eu-central-1"}},
		},
		"plugins": []any{map[string]any{"kind": "fhir", "path": "/bin/x", "sha256": hexA}},
		"cursor":  map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:CURSOR_KEY"}}},
		"tenants": []any{tenant("euco", "eu", "eu-west-1", euARN), tenant("acme", "us", "us-east-1", usARN, "eu")},
		"clients": []any{map[string]any{"id": "app", "tenant": "euco", "api_key_sha256": hexB, "connections": []string{"eu-ehr"}}},
		"connections": []any{
			conn("eu-ehr", "euco", "eu", euARN),
			conn("eu-lab", "euco", "", euARN), // defaults to the home region
			conn("us-ehr", "acme", "us", usARN),
			conn("acme-eu", "acme", "eu", usARN),
		},
	}
	if mutate != nil {
		mutate(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func tenantN(m map[string]any, i int) map[string]any { return m["tenants"].([]any)[i].(map[string]any) }
func connN(m map[string]any, i int) map[string]any {
	return m["connections"].([]any)[i].(map[string]any)
}
func sinkN(m map[string]any, t, i int) map[string]any {
	return tenantN(m, t)["audit"].(map[string]any)["sinks"].([]any)[i].(map[string]any)
}

func TestResidencyValid(t *testing.T) {
	c, probs := Parse(regionsDoc(nil), "")
	if len(probs) > 0 {
		t.Fatalf("valid config rejected: %v", probs)
	}
	if c.Connections[1].Region != "eu" || c.Tenants[0].Audit.Sinks[1].Region != "eu" {
		t.Fatalf("region defaults: %q %q", c.Connections[1].Region, c.Tenants[0].Audit.Sinks[1].Region)
	}
	if !c.ServedHere(&c.Tenants[0]) || c.ServedHere(&c.Tenants[1]) {
		t.Fatal("ServedHere")
	}
	if c.MisdirectedMode() != "forward" {
		t.Fatal("misdirected")
	}
	// The default mode is redirect.
	c, probs = Parse(regionsDoc(func(m map[string]any) { delete(m, "misdirected") }), "")
	if len(probs) > 0 || c.MisdirectedMode() != "redirect" {
		t.Fatalf("default mode: %v %v", probs, c)
	}
}

// TestResidencyEveryViolation: one document breaking every rule, each
// problem at its path.
func TestResidencyEveryViolation(t *testing.T) {
	doc := regionsDoc(func(m map[string]any) {
		m["misdirected"] = "bounce"
		m["node"] = map[string]any{"region": "apac"}
		m["regions"] = append(m["regions"].([]any),
			map[string]any{"name": "eu", "endpoint": "http://eu2.ferry.example", "aws_regions": []string{"mars-1"}},
			map[string]any{"name": "uk", "endpoint": "https://uk.ferry.example", "aws_regions": []string{"eu-west-1"}})
		eu := tenantN(m, 0)
		eu["allowed_regions"] = []string{"moon"}
		eu["secrets"].(map[string]any)["region"] = "us-west-2"
		sinkN(m, 0, 0)["region"] = "us-east-1"
		sinkN(m, 0, 1)["region"] = "us"
		eu["audit"].(map[string]any)["sinks"] = append(eu["audit"].(map[string]any)["sinks"].([]any),
			map[string]any{"kind": "s3", "region": "ap-south-1", "bucket": "ferry-audit"},
			map[string]any{"kind": "syslog", "address": "syslog.example:6514", "region": "nowhere"})
		connN(m, 0)["region"] = "us"
		connN(m, 1)["auth"].(map[string]any)["secret_ref"] = usARN + "#token"
		tenantN(m, 1)["home_region"] = ""
	})
	_, probs := Parse(doc, "")
	want := map[string]string{
		"$.misdirected":                      "unknown mode",
		"$.node.region":                      `no region "apac"`,
		"$.regions[2].name":                  "listed twice",
		"$.regions[2].endpoint":              "http only",
		"$.regions[2].aws_regions[0]":        "AWS region",
		"$.regions[3].aws_regions":           "already lies in region",
		"$.tenants[0].allowed_regions[0]":    `no region "moon"`,
		"$.tenants[0].secrets.region":        `"us-west-2" lies in region "us"`,
		"$.tenants[0].audit.sinks[0].region": `lies in region "us"`,
		"$.tenants[0].audit.sinks[1].region": "outside the tenant's regions",
		"$.tenants[0].audit.sinks[2].region": "lies in no declared region",
		"$.tenants[0].audit.sinks[3].region": `no region "nowhere"`,
		"$.tenants[1].home_region":           "required",
		"$.connections[0].region":            "outside the tenant's regions",
		"$.connections[1].auth.secret_ref":   `"us-east-1" lies in region "us"`,
	}
	got := map[string]string{}
	for _, p := range probs {
		got[p.Path] += p.Message + "; "
	}
	for path, w := range want {
		if !strings.Contains(got[path], w) {
			t.Errorf("%s: want %q, got %q", path, w, got[path])
		}
	}
	if t.Failed() {
		for _, p := range probs {
			t.Log(p)
		}
	}
}

func TestResidencyRequiredInProduction(t *testing.T) {
	_, probs := Parse(regionsDoc(func(m map[string]any) {
		delete(m, "regions")
		delete(m, "misdirected")
	}), "")
	paths := map[string]bool{}
	for _, p := range probs {
		paths[p.Path] = true
	}
	for _, want := range []string{"$.regions", "$.tenants[0].home_region", "$.connections[0].region", "$.tenants[1].allowed_regions"} {
		if !paths[want] {
			t.Errorf("no problem at %s: %v", want, probs)
		}
	}
}

// TestDevModeWithoutRegions: the demo's shape (dev_mode, region "local",
// no regions) still loads, and its tenants are served everywhere.
func TestDevModeWithoutRegions(t *testing.T) {
	c, probs := Parse([]byte(strings.ReplaceAll(validDoc, "%s", hexA)), "")
	if len(probs) > 0 {
		t.Fatalf("dev config rejected: %v", probs)
	}
	if c.ResidencyEnabled() || !c.ServedHere(&c.Tenants[0]) {
		t.Fatal("a config without regions serves every tenant")
	}
	_, probs = Parse([]byte(strings.Replace(strings.ReplaceAll(validDoc, "%s", hexA), `"dev_mode": true,`, `"dev_mode": true, "misdirected": "forward",`, 1)), "")
	if len(probs) != 1 || probs[0].Path != "$.misdirected" {
		t.Fatalf("forward without regions: %v", probs)
	}
}

// FuzzResidencyRules builds configs from fuzzed region names and checks
// that whatever the validator accepts keeps every tenant's data in the
// tenant's regions: node region declared, every connection, sink and
// secret (by its AWS region) in the tenant's home or allowed regions.
func FuzzResidencyRules(f *testing.F) {
	f.Add("eu", "eu", "", "eu", "eu-west-1", "eu-west-1", "eu", "eu-west-1", true)
	f.Add("eu", "eu", "us", "us", "us-east-1", "eu-west-1", "", "eu-west-1", false)
	f.Add("us", "eu", "", "", "eu-central-1", "us-east-1", "us", "eu-west-1", false)
	f.Add("eu", "us", "eu", "eu", "eu-west-1", "us-west-2", "eu", "us-east-1", true)
	f.Add("eu", "eu", "eu", "apac", "", "eu-west-1", "eu", "ap-south-1", false)
	f.Fuzz(func(t *testing.T, node, home, allowed, connRegion, sinkAWS, secretsAWS, hookRegion, arnRegion string, forward bool) {
		doc := regionsDoc(func(m map[string]any) {
			m["node"] = map[string]any{"region": node}
			if !forward {
				delete(m, "misdirected")
			}
			eu := tenantN(m, 0)
			eu["home_region"] = home
			if allowed != "" {
				eu["allowed_regions"] = []string{allowed}
			}
			eu["secrets"].(map[string]any)["region"] = secretsAWS
			sinkN(m, 0, 0)["region"] = sinkAWS
			sinkN(m, 0, 1)["region"] = hookRegion
			connN(m, 0)["region"] = connRegion
			connN(m, 1)["auth"].(map[string]any)["secret_ref"] = strings.Replace(euARN, "eu-west-1", arnRegion, 1) + "#t"
		})
		c, probs := Parse(doc, "")
		if (c == nil) == (len(probs) == 0) {
			t.Fatalf("config %v with problems %v", c != nil, probs)
		}
		if c == nil {
			return
		}
		owner := map[string]string{}
		var names []string
		for _, r := range c.Regions {
			names = append(names, r.Name)
			owner[r.Name] = r.Name
			for _, a := range r.AWSRegions {
				owner[a] = r.Name
			}
		}
		if !slices.Contains(names, c.Node.Region) {
			t.Fatalf("node region %q undeclared", c.Node.Region)
		}
		for _, tn := range c.Tenants {
			in := func(r string) bool { return r == tn.HomeRegion || slices.Contains(tn.AllowedRegions, r) }
			if !slices.Contains(names, tn.HomeRegion) {
				t.Fatalf("tenant %s home %q undeclared", tn.ID, tn.HomeRegion)
			}
			if !in(owner[tn.Secrets.Region]) {
				t.Fatalf("tenant %s secrets in %q", tn.ID, tn.Secrets.Region)
			}
			for _, sk := range tn.Audit.Sinks {
				if !in(owner[sk.Region]) {
					t.Fatalf("tenant %s sink %s in %q", tn.ID, sk.Kind, sk.Region)
				}
			}
			for _, cn := range c.Connections {
				if cn.Tenant != tn.ID {
					continue
				}
				if !in(cn.Region) {
					t.Fatalf("connection %s in %q, tenant %s in %v", cn.ID, cn.Region, tn.ID, tn.Placement().Regions())
				}
				if parts := strings.Split(cn.Auth.SecretRef, ":"); len(parts) > 3 && !in(owner[parts[3]]) {
					t.Fatalf("connection %s secret in %q", cn.ID, parts[3])
				}
			}
		}
	})
}

// TestResidencyDocExample: the EU-only example of docs/residency.md loads,
// and each change the page says `ferry check` refuses is refused at the
// field it names.
func TestResidencyDocExample(t *testing.T) {
	page, err := os.ReadFile("../../docs/residency.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(page), "## Example: an EU-only tenant")
	_, rest, _ = strings.Cut(rest, "```json\n")
	block, _, _ := strings.Cut(rest, "```")
	block = strings.NewReplacer("<64 hex digits>", hexA, "<sha256 of the key, hex>", hexB).Replace(block)
	if _, probs := Parse([]byte(block), ""); len(probs) > 0 {
		t.Fatalf("the documented example is refused: %v", probs)
	}
	for path, change := range map[string][2]string{
		"$.tenants[0].secrets.region":        {`"provider": "aws", "region": "eu-central-1"`, `"provider": "aws", "region": "us-east-1"`},
		"$.connections[0].auth.secret_ref":   {`eu-central-1:444455556666:secret:ferry/ehr`, `us-east-1:444455556666:secret:ferry/ehr`},
		"$.tenants[0].audit.sinks[0].region": {`"kind": "s3", "region": "eu-central-1"`, `"kind": "s3", "region": "us-west-2"`},
		"$.tenants[0].audit.sinks[1].region": {`"kind": "webhook", "region": "eu"`, `"kind": "webhook", "region": "us"`},
		"$.connections[0].region":            {`"connector": "fhir", "region": "eu"`, `"connector": "fhir", "region": "us"`},
	} {
		if !strings.Contains(block, change[0]) {
			t.Fatalf("the example no longer has %s", change[0])
		}
		_, probs := Parse([]byte(strings.Replace(block, change[0], change[1], 1)), "")
		found := false
		for _, p := range probs {
			found = found || p.Path == path
		}
		if !found {
			t.Errorf("changing %s: no problem at %s: %v", change[0], path, probs)
		}
	}
}
