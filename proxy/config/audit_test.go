package config

import (
	"slices"
	"strings"
	"testing"
)

// auditDoc is awsDoc with tenant acme's audit block replaced.
func auditDoc(audit map[string]any) []byte {
	return awsDoc(func(m map[string]any) { tenant0(m)["audit"] = audit })
}

func TestAuditValid(t *testing.T) {
	doc := auditDoc(map[string]any{
		"key_ref":             testARN + "#audit_key",
		"signing_key_ref":     testARN + "#audit_signing_key",
		"on_sink_failure":     "drop",
		"checkpoint_every":    500,
		"checkpoint_interval": "30s",
		"queue_size":          20000,
		"sinks": []any{
			map[string]any{"kind": "stdout"},
			map[string]any{"kind": "webhook", "url": "https://siem.acme.example/ferry?token=x", "hmac_key_ref": testARN + "#webhook",
				"batch_size": 50, "flush_interval": "2s", "timeout": "5s", "tls": map[string]any{"ca_file": "/etc/ferry/acme-ca.pem"}},
			map[string]any{"kind": "syslog", "address": "syslog.acme.example:6514", "tls": map[string]any{"server_name": "syslog.acme.example"}},
			map[string]any{"kind": "syslog", "name": "syslog-plain", "address": "10.0.0.5:514", "facility": 10},
			map[string]any{"kind": "cloudwatch", "region": "eu-west-1", "log_group": "/ferry/acme", "log_stream_prefix": "eu/"},
			map[string]any{"kind": "firehose", "region": "eu-west-1", "delivery_stream": "ferry-audit", "endpoint": "https://firehose.eu-west-1.amazonaws.com"},
			map[string]any{"kind": "s3", "region": "eu-west-1", "bucket": "acme-audit", "prefix": "ferry/", "path_style": true, "endpoint": "http://127.0.0.1:5000"},
		},
	})
	c, probs := Parse(doc, "")
	if len(probs) > 0 {
		t.Fatalf("valid audit block rejected: %v", probs)
	}
	a := c.Tenants[0].Audit
	if len(a.Sinks) != 7 || a.Sinks[1].TLS.CAFile != "/etc/ferry/acme-ca.pem" || a.CheckpointInterval.D().String() != "30s" {
		t.Fatalf("decoded %+v", a)
	}

	// The smallest block is still valid: sinks, policy, checkpoints and
	// queue all have defaults.
	if _, probs := Parse(auditDoc(map[string]any{"key_ref": testARN + "#audit_key"}), ""); len(probs) > 0 {
		t.Fatalf("minimal audit block rejected: %v", probs)
	}
}

// TestAuditProblems: one broken audit block, every problem reported, each
// at its path, none quoting a secret.
func TestAuditProblems(t *testing.T) {
	doc := auditDoc(map[string]any{
		"key_ref":             "literal:" + pastedSecret,
		"signing_key_ref":     pastedSecret,
		"on_sink_failure":     "retry",
		"checkpoint_every":    -1,
		"checkpoint_interval": "10ms",
		"queue_size":          5,
		"sinks": []any{
			map[string]any{"kind": "kafka"},
			map[string]any{},
			map[string]any{"kind": "webhook", "url": "http://user:pw@siem.example/x#frag", "batch_size": 20000, "timeout": "1h", "address": "x:1"},
			map[string]any{"kind": "webhook", "url": "https://siem.example/", "hmac_key_ref": "env:X"},
			map[string]any{"kind": "syslog", "address": "syslog.example", "facility": 30, "bucket": "b", "flush_interval": "-1s"},
			map[string]any{"kind": "cloudwatch", "region": "mars", "log_group": "bad group!", "log_stream_prefix": "a:b", "endpoint": "http://10.0.0.1/"},
			map[string]any{"kind": "firehose", "region": "eu-west-1", "delivery_stream": "", "batch_size": 501},
			map[string]any{"kind": "s3", "region": "eu-west-1", "bucket": "Bad_Bucket", "prefix": "/abs/../x", "tls": map[string]any{}},
			map[string]any{"kind": "stdout", "name": "Bad Name"},
			map[string]any{"kind": "stdout", "name": "dup"},
			map[string]any{"kind": "stdout", "name": "dup"},
		},
	})
	_, probs := Parse(doc, "")
	got := map[string]bool{}
	for _, p := range probs {
		got[p.Path] = true
		if strings.Contains(p.Message, pastedSecret) || strings.Contains(p.Message, "pw") {
			t.Errorf("problem repeats a secret: %v", p)
		}
	}
	const a = "$.tenants[0].audit"
	want := []string{
		a + ".key_ref", a + ".signing_key_ref", a + ".on_sink_failure", a + ".checkpoint_every",
		a + ".checkpoint_interval", a + ".queue_size",
		a + ".sinks[0].kind", a + ".sinks[1].kind",
		a + ".sinks[2].url", a + ".sinks[2].hmac_key_ref", a + ".sinks[2].batch_size", a + ".sinks[2].timeout", a + ".sinks[2].address",
		a + ".sinks[3].hmac_key_ref", a + ".sinks[3].name",
		a + ".sinks[4].address", a + ".sinks[4].facility", a + ".sinks[4].bucket", a + ".sinks[4].flush_interval",
		a + ".sinks[5].region", a + ".sinks[5].log_group", a + ".sinks[5].log_stream_prefix", a + ".sinks[5].endpoint",
		a + ".sinks[6].delivery_stream", a + ".sinks[6].batch_size",
		a + ".sinks[7].bucket", a + ".sinks[7].prefix", a + ".sinks[7].tls",
		a + ".sinks[8].name", a + ".sinks[10].name",
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no problem reported at %s", w)
		}
	}
	for p := range got {
		if !slices.Contains(want, p) {
			t.Errorf("unexpected problem at %s", p)
		}
	}
}

func TestAuditCheckpointsNeedAKey(t *testing.T) {
	_, probs := Parse(auditDoc(map[string]any{"key_ref": testARN + "#k", "checkpoint_every": 10, "checkpoint_interval": "1m"}), "")
	var paths []string
	for _, p := range probs {
		paths = append(paths, p.Path)
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"$.tenants[0].audit.checkpoint_every", "$.tenants[0].audit.checkpoint_interval"}) {
		t.Errorf("problems %v", probs)
	}
}

// TestAuditEnvRefsInDevMode: an env tenant's audit references follow the
// env rules, like its other references.
func TestAuditEnvRefsInDevMode(t *testing.T) {
	doc := awsDoc(func(m map[string]any) {
		m["dev_mode"] = true
		tenant0(m)["secrets"] = map[string]any{"provider": "env"}
		tenant0(m)["audit"] = map[string]any{
			"key_ref": "env:AUDIT", "signing_key_ref": "literal:demo-signing-key-not-secret-0123",
			"sinks": []any{map[string]any{"kind": "webhook", "url": "http://127.0.0.1:9/x", "allow_insecure_http": true, "hmac_key_ref": testARN}},
		}
		for _, c := range m["connections"].([]any) {
			if a := c.(map[string]any)["auth"].(map[string]any); a["secret_ref"] != nil {
				a["secret_ref"] = "env:TOKEN"
			}
		}
	})
	_, probs := Parse(doc, "")
	if len(probs) != 1 || probs[0].Path != "$.tenants[0].audit.sinks[0].hmac_key_ref" {
		t.Errorf("problems %v, want only the ARN given to an env tenant", probs)
	}
}
