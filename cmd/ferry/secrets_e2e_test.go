//go:build unix

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// TestServeWithTenantSecretsInAWS: the real ferry binary and FHIR plugin,
// not in dev mode, with the tenant's credentials in the tenant's own AWS
// account (moto on 127.0.0.1, reached by AssumeRole with an ExternalId,
// the node's identity from the SDK's default chain, here AWS_* variables).
// Medplum demands the bearer token kept there. A connection whose secret
// does not exist answers 503 credentials_unavailable. The secret canary
// appears in no output of the process: stdout (audit), stderr (logs),
// /metrics, problem bodies.
//
// Alone: make build test-deps && FERRY_BIN=$PWD/bin go test -run TestServeWithTenantSecretsInAWS ./cmd/ferry/
func TestServeWithTenantSecretsInAWS(t *testing.T) {
	const (
		canary = "CANARY-ferry-e2e-secret-c41d7a"
		region = "eu-west-1"
		role   = "arn:aws:iam::222222222222:role/ferry-reader"
		extID  = "ext-e2e-tenant-5b"
		apiKey = "e2e-aws-tenant-client-key"
	)
	moto := testpeer.StartMoto(t)
	token := "medplum-" + canary
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{RequireAuth: "Bearer " + token})

	// The tenant's side: the token and the audit key in their account.
	node := credentials.NewStaticCredentialsProvider("AKIAFERRYE2ENODE0000", "e2e-node-secret", "")
	acfg := aws.Config{Region: region, Credentials: node}
	stsc := sts.NewFromConfig(acfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	acfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, role, func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String(extID) }))
	sm := secretsmanager.NewFromConfig(acfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	create := func(name, value string) string {
		out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	tokenARN := create("ferry/medplum", `{"token":"`+token+`"}`)
	auditARN := create("ferry/audit", `{"key":"audit-key-e2e-0123456789abcdef-`+canary+`"}`)
	missingARN := tokenARN[:strings.LastIndexByte(tokenARN, ':')+1] + "ferry/missing-AbC123"

	nodeEnv(t, "AKIAFERRYE2ENODE0000", "e2e-node-secret")

	plugin := filepath.Join(binaries(t), "ferry-connector-fhir")
	sum, err := fileSHA256(plugin)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(apiKey))
	listen, admin := freePort(t), freePort(t)
	conn := func(id, ref string) map[string]any {
		return map[string]any{"id": id, "tenant": "acme", "connector": "fhir", "base_url": peer.BaseURL,
			"auth": map[string]any{"kind": "bearer", "secret_ref": ref}, "allow_insecure_http": true, "allow_private_network": true}
	}
	doc, _ := json.MarshalIndent(map[string]any{
		"node":    map[string]any{"listen": listen, "admin_listen": admin, "region": "eu"},
		"regions": []any{map[string]any{"name": "eu", "endpoint": "https://eu.ferry.example", "aws_regions": []string{region}}},
		"plugins": []any{map[string]any{"kind": "fhir", "path": plugin, "sha256": sum}},
		"cursor":  map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:FERRY_E2E_CURSOR_KEY"}}},
		"tenants": []any{map[string]any{"id": "acme", "home_region": "eu",
			"secrets": map[string]any{"provider": "aws", "region": region, "role_arn": role, "external_id": extID,
				"endpoint": moto.Endpoint, "cache_ttl": "1m"},
			"audit": map[string]any{"key_ref": auditARN + "#key"}}},
		"clients": []any{map[string]any{"id": "app", "tenant": "acme", "api_key_sha256": hex.EncodeToString(digest[:]),
			"connections": []string{"medplum", "broken"}}},
		"connections": []any{conn("medplum", tokenARN+"#token"), conn("broken", missingARN)},
	}, "", "  ")
	cfgPath := filepath.Join(t.TempDir(), "ferry.json")
	if err := os.WriteFile(cfgPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	chk := startFerry(t, "check", "--config", cfgPath)
	if err := chk.cmd.Wait(); err != nil {
		t.Fatalf("ferry check: %v\n%s", err, chk.stdout.String())
	}

	f := startFerry(t, "serve", "--config", cfgPath)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	base := "http://" + listen + "/v1/"
	var bodies strings.Builder
	status, body := get(t, base+"medplum/patients?limit=2", apiKey)
	bodies.Write(body)
	var list unified.List[unified.Patient]
	if status != 200 || json.Unmarshal(body, &list) != nil || len(list.Data) != 2 {
		t.Fatalf("search with the token from Secrets Manager: %d %s", status, body)
	}
	for _, id := range peer.PatientIDs {
		status, body := get(t, base+"medplum/patients/"+id, apiKey)
		bodies.Write(body)
		if status != 200 {
			t.Fatalf("read %s: %d %s", id, status, body)
		}
	}
	status, body = get(t, base+"broken/patients?limit=1", apiKey)
	bodies.Write(body)
	var p unified.Problem
	if status != 503 || json.Unmarshal(body, &p) != nil || p.Code != unified.CodeCredentialsUnavailable {
		t.Fatalf("missing secret: %d %s", status, body)
	}
	for _, r := range peer.Requests(t) {
		if r.Status == 401 {
			t.Fatalf("Medplum refused a request: %+v", r)
		}
	}

	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := 2 + len(peer.PatientIDs)
	waitFor(t, func() bool { return strings.Count(f.stdout.String(), "\n") >= want }, 5*time.Second)
	if !strings.Contains(f.stdout.String(), `"error_code":"credentials_unavailable"`) {
		t.Fatalf("no audit event for the refused request:\n%s", f.stdout.String())
	}
	if !strings.Contains(f.stderr.String(), "ResourceNotFoundException") {
		t.Fatalf("the missing secret was not logged with its AWS error code:\n%s", f.stderr.String())
	}
	for name, out := range map[string]string{
		"stdout": f.stdout.String(), "stderr": f.stderr.String(), "metrics": string(metrics), "response bodies": bodies.String(),
	} {
		if strings.Contains(out, canary) {
			t.Errorf("a secret reached %s", name)
		}
	}
}

// nodeEnv gives the ferry process started by the test its node's AWS
// identity and the operator's cursor key (FERRY_E2E_CURSOR_KEY) the way a
// pod gets them, from the environment: never a config file, nor any file
// of AWS's, nor the instance metadata service.
func nodeEnv(t *testing.T, accessKey, secretKey string) {
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("FERRY_E2E_CURSOR_KEY", "cursor-key-e2e-0123456789abcdef0123456789")
}
