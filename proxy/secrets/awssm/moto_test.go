//go:build unix

package awssm

// These tests run against one moto (internal/testpeer), started on
// 127.0.0.1 by TestMoto and shared by its subtests, which run in order.
// Alone: go test -race -run TestMoto ./proxy/secrets/awssm/

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// TestMoto runs the scenarios against one moto; "Down" stops it, so it
// runs last.
func TestMoto(t *testing.T) {
	e := newEnv(t)
	for _, sc := range []struct {
		name string
		f    func(*testing.T, *env)
	}{
		{"TwoTenantsTwoAccounts", testMotoTwoTenantsTwoAccounts},
		{"Singleflight", testMotoSingleflight},
		{"Rotation", testMotoRotation},
		{"Down", testMotoDown},
	} {
		e.front.setMode("")
		if !t.Run(sc.name, func(t *testing.T) { sc.f(t, e) }) {
			return
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustResolve(t *testing.T, p *Provider, ref, want string) {
	t.Helper()
	v, err := p.Resolve(ctxT(t), ref)
	noCanary(t, err)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got := string(v.Reveal()); got != want {
		t.Fatalf("Resolve gave %d bytes, not the expected value", len(got))
	}
}

// TestMotoTwoTenantsTwoAccounts: each tenant's role lands in its own AWS
// account, each tenant resolves its own secrets, and neither can read the
// other's, even by naming the other's ARN.
func testMotoTwoTenantsTwoAccounts(t *testing.T, e *env) {
	admA, admB := e.admin(t, roleA, extA), e.admin(t, roleB, extB)
	// The same name in both accounts, different values.
	arnA := create(t, admA, "ferry/epic", `{"client_id":"a-id","client_secret":"a-`+canary+`"}`, accountA)
	arnB := create(t, admB, "ferry/epic", `{"client_id":"b-id","client_secret":"b-`+canary+`"}`, accountB)
	if arnA == arnB {
		t.Fatal("moto gave both tenants the same ARN")
	}
	pA := e.provider(t, "tenant-a", roleA, extA)
	pB := e.provider(t, "tenant-b", roleB, extB)

	mustResolve(t, pA, arnA+"#client_secret", "a-"+canary)
	mustResolve(t, pA, arnA+"#client_id", "a-id")
	mustResolve(t, pB, arnB+"#client_secret", "b-"+canary)
	if s := pA.Stats(); s.Fetches != 1 || s.AssumeRoles != 1 {
		t.Fatalf("tenant A: two fields of one secret should cost one fetch and one AssumeRole: %+v", s)
	}

	// A names B's secret: refused before any AWS call.
	before := e.front.count("GetSecretValue")
	for _, ref := range []string{arnB, arnB + "#client_secret"} {
		_, err := pA.Resolve(ctxT(t), ref)
		if !errors.Is(err, secrets.ErrBadRef) {
			t.Fatalf("tenant A resolving tenant B's secret: %v", err)
		}
		noCanary(t, err)
		if _, err := pA.Refresh(ctxT(t), ref); !errors.Is(err, secrets.ErrBadRef) {
			t.Fatalf("tenant A refreshing tenant B's secret: %v", err)
		}
	}
	if n := e.front.count("GetSecretValue"); n != before {
		t.Fatalf("a refused reference still reached Secrets Manager (%d calls)", n-before)
	}

	// Below the account check, AWS itself keeps them apart: A's role asking
	// for B's ARN finds nothing in A's account.
	_, err := pA.fetch(ctxT(t), arnB, false)
	if !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("tenant A's credentials reading tenant B's ARN: %v", err)
	}
	// B's ARN rewritten into A's account is a secret A does not have.
	forged := strings.Replace(arnB, accountB, accountA, 1)
	if _, err := pA.Resolve(ctxT(t), forged); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("forged ARN: %v", err)
	}

	// A missing field is not found, and says nothing of the value.
	if _, err := pA.Resolve(ctxT(t), arnA+"#nope"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("missing field: %v", err)
	} else {
		noCanary(t, err)
	}
	// Another region is refused (residency), with no call.
	other := strings.Replace(arnA, testRegion, "us-east-1", 1)
	if _, err := pA.Resolve(ctxT(t), other); !errors.Is(err, secrets.ErrBadRef) {
		t.Fatalf("other region: %v", err)
	}
}

// TestMotoSingleflight: 50 concurrent cold resolves of one secret (and of
// its fields) cause exactly one GetSecretValue, counted at the front.
func testMotoSingleflight(t *testing.T, e *env) {
	adm := e.admin(t, roleA, extA)
	arn := create(t, adm, "ferry/sf", `{"token":"`+canary+`","user":"u"}`, accountA)
	p := e.provider(t, "tenant-a", roleA, extA)
	gsv0, ar0 := e.front.count("GetSecretValue"), e.front.count("AssumeRole")

	release := e.front.hold() // keep the one fetch in flight until all 50 wait
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := arn + "#token"
			if i%2 == 1 {
				ref = arn + "#user"
			}
			v, err := p.Resolve(ctxT(t), ref)
			if err == nil && v.Empty() {
				err = errors.New("empty value")
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Resolves < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.front.count("GetSecretValue") - gsv0; n != 1 {
		t.Fatalf("50 concurrent resolves caused %d GetSecretValue calls, want 1", n)
	}
	// Warm: 1000 more resolves, no call.
	for range 1000 {
		mustResolve(t, p, arn+"#user", "u")
	}
	s := p.Stats()
	if s.Fetches != 1 || e.front.count("GetSecretValue")-gsv0 != 1 || e.front.count("AssumeRole")-ar0 != 1 {
		t.Fatalf("warm resolves reached AWS: %+v, front GetSecretValue=%d AssumeRole=%d", s, e.front.count("GetSecretValue")-gsv0, e.front.count("AssumeRole")-ar0)
	}
	t.Logf("Secrets Manager calls per resolve: %.5f", float64(s.Fetches)/float64(s.Resolves))
}

// TestMotoRotation: a rotation in progress (AWSPENDING) is picked up by a
// forced refresh; a finished one by the TTL or a forced refresh; forced
// refreshes are shared and rate-limited.
func testMotoRotation(t *testing.T, e *env) {
	ctx := ctxT(t)
	adm := e.admin(t, roleA, extA)
	arn := create(t, adm, "ferry/rot", "v1-"+canary, accountA)
	p := e.provider(t, "tenant-a", roleA, extA)
	mustResolve(t, p, arn, "v1-"+canary)

	// Nothing new: a forced refresh fetches AWSCURRENT (same), asks for
	// AWSPENDING (none), keeps v1.
	v, err := p.Refresh(ctx, arn)
	if err != nil || string(v.Reveal()) != "v1-"+canary {
		t.Fatalf("refresh with nothing new: %v", err)
	}

	// Rotation step 1: the new version is staged AWSPENDING; the source
	// already accepts it, AWSCURRENT is still v1.
	put, err := adm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String("v2-" + canary), VersionStages: []string{stagePending},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustResolve(t, p, arn, "v1-"+canary) // cached
	// The source answers 401 to many requests at once: within the rate
	// limit window they share the refresh.
	e.clock.Advance(DefaultMinForcedRefreshInterval)
	gsvBefore := e.front.count("GetSecretValue")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := p.Refresh(ctx, arn)
			if err != nil || string(v.Reveal()) != "v2-"+canary {
				t.Errorf("forced refresh during rotation: %v (want the pending version)", err)
			}
		}()
	}
	wg.Wait()
	if n := e.front.count("GetSecretValue") - gsvBefore; n != 2 { // AWSCURRENT + AWSPENDING, once
		t.Fatalf("20 concurrent refreshes made %d GetSecretValue calls, want 2", n)
	}
	mustResolve(t, p, arn, "v2-"+canary)

	// A source that keeps answering 401: refreshes inside the window make
	// no call.
	gsvBefore = e.front.count("GetSecretValue")
	for range 10 {
		if _, err := p.Refresh(ctx, arn); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.front.count("GetSecretValue") - gsvBefore; n != 0 {
		t.Fatalf("rate-limited refreshes made %d calls", n)
	}

	// The TTL passes while the rotation is still in progress: AWSCURRENT has
	// not moved, so the pending version stays.
	e.clock.Advance(DefaultTTL + time.Second)
	mustResolve(t, p, arn, "v2-"+canary)

	// Rotation finishes: AWSCURRENT moves to v2.
	desc, err := adm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var v1ID string
	for id, stages := range desc.VersionIdsToStages {
		for _, s := range stages {
			if s == stageCurrent {
				v1ID = id
			}
		}
	}
	if _, err := adm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String(stageCurrent),
		MoveToVersionId: put.VersionId, RemoveFromVersionId: aws.String(v1ID),
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultTTL + time.Second)
	mustResolve(t, p, arn, "v2-"+canary)
	// ... and the finished rotation drops its AWSPENDING label.
	if _, err := adm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String(stagePending), RemoveFromVersionId: put.VersionId,
	}); err != nil {
		t.Fatal(err)
	}

	// A plain new AWSCURRENT (no staging): served after a forced refresh.
	if _, err := adm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String("v3-" + canary)}); err != nil {
		t.Fatal(err)
	}
	mustResolve(t, p, arn, "v2-"+canary)
	e.clock.Advance(DefaultMinForcedRefreshInterval)
	if v, err := p.Refresh(ctx, arn); err != nil || string(v.Reveal()) != "v3-"+canary {
		t.Fatalf("forced refresh after a new AWSCURRENT: %v %+v", err, p.Stats())
	}
	mustResolve(t, p, arn, "v3-"+canary)
	s := p.Stats()
	if s.ForcedRefreshes != 3 || s.RefreshesCoalesced != 29 {
		t.Fatalf("stats: %+v", s)
	}
}

// TestMotoDown: with Secrets Manager unreachable the cached value is served
// until its TTL, then ErrUnavailable; once it is back, recovery without
// restart. Then the same with moto really stopped.
func testMotoDown(t *testing.T, e *env) {
	adm := e.admin(t, roleA, extA)
	arn := create(t, adm, "ferry/down", canary, accountA)
	p := e.provider(t, "tenant-a", roleA, extA)
	ctx := ctxT(t)
	mustResolve(t, p, arn, canary) // t0
	waitFetches := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for p.Stats().Fetches < n {
			if time.Now().After(deadline) {
				t.Fatalf("fetches: %+v, want %d", p.Stats(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	for _, mode := range []string{"down", "500", "throttle"} {
		t.Run(mode, func(t *testing.T) {
			e.front.setMode(mode)
			start := p.Stats()
			// Inside the refresh-ahead window: one background fetch, which
			// fails; the cached value is served meanwhile and after.
			e.clock.Advance(DefaultTTL - DefaultTTL/5 + time.Second)
			mustResolve(t, p, arn, canary)
			waitFetches(start.Fetches + 1)
			deadline := time.Now().Add(20 * time.Second)
			for p.Stats().FetchErrors < start.FetchErrors+1 {
				if time.Now().After(deadline) {
					t.Fatal("background fetch did not fail")
				}
				time.Sleep(5 * time.Millisecond)
			}
			for range 100 {
				mustResolve(t, p, arn, canary)
			}
			if s := p.Stats(); s.Fetches != start.Fetches+1 {
				t.Fatalf("a failing store was called per request: %+v", s)
			}
			// Past the TTL: the error, without the value.
			e.clock.Advance(DefaultTTL / 5)
			for i := range 3 {
				_, err := p.Resolve(ctx, arn)
				if !errors.Is(err, secrets.ErrUnavailable) {
					t.Fatalf("after TTL (%d): %v, want ErrUnavailable", i, err)
				}
				if mode == "throttle" && !errors.Is(err, secrets.ErrThrottled) {
					t.Fatalf("throttling: %v", err)
				}
				noCanary(t, err)
				e.clock.Advance(DefaultErrorBackoff)
			}
			// Back up: recovery with no restart, after the backoff.
			e.front.setMode("")
			e.clock.Advance(DefaultErrorBackoff)
			mustResolve(t, p, arn, canary)
		})
	}

	t.Run("access denied", func(t *testing.T) {
		q := e.provider(t, "tenant-a", roleA, extA)
		e.front.setMode("deny")
		_, err := q.Resolve(ctx, arn)
		if !errors.Is(err, secrets.ErrAccessDenied) {
			t.Fatalf("%v", err)
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Op != OpGetSecretValue || ae.Code != "AccessDeniedException" {
			t.Fatalf("%#v", err)
		}
		noCanary(t, err)
		e.front.setMode("sts-deny")
		r := e.provider(t, "tenant-a", roleA, extA)
		_, err = r.Resolve(ctx, arn)
		if !errors.Is(err, secrets.ErrAccessDenied) || !errors.As(err, &ae) || ae.Op != OpAssumeRole {
			t.Fatalf("AssumeRole refused: %v", err)
		}
		noCanary(t, err)
		e.front.setMode("")
	})

	t.Run("not found", func(t *testing.T) {
		missing := arn[:strings.LastIndexByte(arn, ':')+1] + "ferry/none-AbCdEf"
		_, err := p.Resolve(ctx, missing)
		if !errors.Is(err, secrets.ErrNotFound) {
			t.Fatalf("%v", err)
		}
	})

	t.Run("moto stopped", func(t *testing.T) {
		mustResolve(t, p, arn, canary)
		e.moto.Stop()
		e.clock.Advance(DefaultTTL - time.Second)
		mustResolve(t, p, arn, canary) // cached, background fetch fails
		e.clock.Advance(2 * time.Second)
		_, err := p.Resolve(ctx, arn)
		if !errors.Is(err, secrets.ErrUnavailable) {
			t.Fatalf("moto stopped, after TTL: %v", err)
		}
		noCanary(t, err)
	})
}
