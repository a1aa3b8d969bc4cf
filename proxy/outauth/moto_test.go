//go:build unix

package outauth

// SMART Backend Services with the private key in the tenant's AWS Secrets
// Manager (moto, started on 127.0.0.1) read through the awssm provider.
// Alone: go test -race -run Moto ./proxy/outauth/

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/proxy/secrets/awssm"
)

func TestMotoSMARTKeyInSecretsManagerWithRotation(t *testing.T) {
	m := testpeer.StartMoto(t)
	const region, role, ext = "us-east-2", "arn:aws:iam::222222222222:role/ferry", "ext-1"
	node := credentials.NewStaticCredentialsProvider("AKIANODE", "node-key", "")

	// The tenant's side: a secret in their account holding key and kid.
	cfg := aws.Config{Region: region, Credentials: node}
	stsc := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(m.Endpoint) })
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, role, func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String(ext) }))
	adm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(m.Endpoint) })
	k1, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	secretJSON := func(k *ecdsa.PrivateKey, kid string) string {
		return mustJSON(t, map[string]string{"private_key": pkcs8PEM(t, k), "kid": kid})
	}
	out, err := adm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("ferry/epic-smart"), SecretString: aws.String(secretJSON(k1, "kid-1"))})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	if !strings.Contains(arn, ":222222222222:secret:ferry/epic-smart-") {
		t.Fatalf("secret landed at %s", arn)
	}

	// Ferry's side.
	p, err := awssm.New(awssm.Options{Tenant: "acme", Region: region, RoleARN: role, ExternalID: ext, Endpoint: m.Endpoint, Credentials: node, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := newSMARTServer(t, "ferry-acme", &k1.PublicKey, jose.ES384, "kid-1")
	sb, err := NewSMARTBackend(SMARTConfig{TokenURL: srv.URL, ClientID: "ferry-acme", Scopes: []string{"system/Patient.rs"},
		Key: ProviderSecret(p, arn), Options: Options{AllowHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sb.Credential(t.Context())
	if err != nil {
		t.Fatalf("%v (server refused: %v)", err, srv.refusals())
	}
	if !strings.HasPrefix(string(c.Value.Reveal()), "Bearer smart-access-") {
		t.Fatal("no bearer token")
	}

	// Key rotation: the tenant stores a new key and registers it at the
	// EHR. Ferry's cached key is refused; the forced re-read finds the new
	// one, with no restart.
	if _, err := adm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(secretJSON(k2, "kid-2"))}); err != nil {
		t.Fatal(err)
	}
	srv.register(&k2.PublicKey, "kid-2")
	sb.o.MinRefreshInterval = 1 // let Rejected drop the young token
	if !sb.Rejected(t.Context(), c) {
		t.Fatal("Rejected kept the token")
	}
	if _, err := sb.Credential(t.Context()); err != nil {
		t.Fatalf("after key rotation: %v (server refused: %v)", err, srv.refusals())
	}
	if s := p.Stats(); s.ForcedRefreshes != 1 || s.AssumeRoles != 1 {
		t.Fatalf("secrets stats %+v", s)
	}
	if len(srv.refusals()) != 1 {
		t.Fatalf("server refusals: %v (want exactly the one with the old key)", srv.refusals())
	}
}
