package awssm

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

const goodARN = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:ferry/epic-prod-a1B2c3"

func TestParseRef(t *testing.T) {
	r, err := ParseRef(goodARN + "#client_secret")
	if err != nil {
		t.Fatal(err)
	}
	want := Ref{ARN: goodARN, Partition: "aws", Region: "eu-west-1", Account: "222222222222", Name: "ferry/epic-prod-a1B2c3", Field: "client_secret"}
	if r != want {
		t.Fatalf("got %+v", r)
	}
	for _, ok := range []string{
		goodARN,
		"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:a_b+c=d.e@f-ABCDEF#private.key-1",
		"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-abcdef",
	} {
		if _, err := ParseRef(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "env:X", "literal:x", "arn:", goodARN + "#", goodARN + "#a b", goodARN + "#x#y",
		strings.Replace(goodARN, "secretsmanager", "ssm", 1),
		strings.Replace(goodARN, ":secret:", ":parameter:", 1),
		strings.Replace(goodARN, "eu-west-1", "EU-WEST-1", 1),
		strings.Replace(goodARN, "eu-west-1", "", 1),
		strings.Replace(goodARN, "222222222222", "22222222222", 1),
		strings.Replace(goodARN, "arn:aws:", "arn:gcp:", 1),
		"arn:aws:secretsmanager:eu-west-1:222222222222:secret:ferry/epic", // partial ARN, no suffix
		"arn:aws:secretsmanager:eu-west-1:222222222222:secret:ferry/e pic-a1B2c3",
		"arn:aws:secretsmanager:eu-west-1:222222222222:secret:-a1B2c3",
		goodARN + "#" + strings.Repeat("f", 129),
	} {
		if _, err := ParseRef(bad); !errors.Is(err, secrets.ErrBadRef) {
			t.Errorf("%q: %v, want ErrBadRef", bad, err)
		}
	}
}

func TestValidateRef(t *testing.T) {
	role := "arn:aws:iam::222222222222:role/ferry"
	if err := ValidateRef(goodARN, "eu-west-1", role); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"region":  ValidateRef(goodARN, "eu-central-1", role),
		"account": ValidateRef(goodARN, "eu-west-1", "arn:aws:iam::333333333333:role/ferry"),
		"role":    ValidateRef(goodARN, "eu-west-1", "arn:aws:iam::222222222222:user/ferry"),
	} {
		if !errors.Is(err, secrets.ErrBadRef) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(Options{Tenant: "t", Region: "nowhere", RoleARN: "x"})
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"region", "role_arn", "external_id", "credentials"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if got := sessionName("Tenant A/ü" + strings.Repeat("x", 80)); len(got) != 64 || !strings.HasPrefix(got, "ferry-Tenant_A_") {
		t.Errorf("session name %q", got)
	}
}

func FuzzParseRef(f *testing.F) {
	f.Add(goodARN + "#client_secret")
	f.Add("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:a-ABCDEF")
	f.Add("arn:aws:secretsmanager:::secret:#")
	f.Fuzz(func(t *testing.T, ref string) {
		r, err := ParseRef(ref)
		if err != nil {
			if !errors.Is(err, secrets.ErrBadRef) {
				t.Fatalf("error without ErrBadRef: %v", err)
			}
			return
		}
		back := r.ARN
		if r.Field != "" {
			back += "#" + r.Field
		}
		if back != ref || !strings.Contains(r.ARN, ":"+r.Region+":"+r.Account+":secret:"+r.Name) {
			t.Fatalf("%q parsed as %+v", ref, r)
		}
	})
}

// TestResolveCachedAllocs: a cached Resolve is on every request's path and
// allocates nothing.
func TestResolveCachedAllocs(t *testing.T) {
	p, err := New(Options{Tenant: "t", Region: "eu-west-1", RoleARN: "arn:aws:iam::222222222222:role/ferry", ExternalID: "ext", Credentials: nodeCreds})
	if err != nil {
		t.Fatal(err)
	}
	v := &version{value: secrets.NewValue([]byte(`{"k":"v"}`)), id: "1"}
	p.store(goodARN, 1, v, nil)
	ctx := t.Context()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := p.Resolve(ctx, goodARN+"#k"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("cached Resolve allocates %.1f times", allocs)
	}
}

func BenchmarkResolveCached(b *testing.B) {
	p, _ := New(Options{Tenant: "t", Region: "eu-west-1", RoleARN: "arn:aws:iam::222222222222:role/ferry", ExternalID: "ext", Credentials: nodeCreds})
	p.store(goodARN, 1, &version{value: secrets.NewValue([]byte(`{"k":"v"}`)), id: "1"}, nil)
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = p.Resolve(ctx, goodARN+"#k")
		}
	})
}
