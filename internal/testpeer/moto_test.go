//go:build unix

package testpeer

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMoto starts the emulator and asks its Secrets Manager for a secret
// that does not exist: the typed error proves the service answers, not just
// the port.
func TestMoto(t *testing.T) {
	m := StartMoto(t)
	req, _ := http.NewRequest("POST", m.Endpoint+"/", strings.NewReader(`{"SecretId":"missing"}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 400 || !strings.Contains(string(body), "ResourceNotFoundException") {
		t.Fatalf("GetSecretValue of a missing secret: %d %s", resp.StatusCode, body)
	}
	m.Stop()
	select {
	case <-m.exited:
	default:
		t.Fatal("moto_server still running after Stop")
	}
}
