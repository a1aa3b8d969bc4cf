package verdict

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/unified"
)

func TestJudge(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	capab := connectors.ResourceCapability{Search: true, SearchParams: []string{"name"}}
	answered := func(status int) source.Snapshot {
		return source.Snapshot{LastCall: guard.LastCall{Calls: 1, Status: status}}
	}
	throttled := func(status int, ra time.Duration) source.Snapshot {
		s := answered(status)
		s.Throttled, s.RetryAfter = status, ra
		return s
	}
	rejected := &guard.Rejection{Code: unified.CodeSourceRateLimited, RetryAfter: 3 * time.Second, Reason: guard.ReasonRate}
	coded := func(code connectors.ErrorCode, param string) error {
		return &connectors.Error{Code: code, Param: param}
	}
	for _, c := range []struct {
		name     string
		err      error
		up       source.Snapshot
		deadline time.Time
		want     Problem
	}{
		{"the guard's refusal, through the connector", &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: rejected}, source.Snapshot{}, now,
			Problem{Code: unified.CodeSourceRateLimited, RetryAfter: 3 * time.Second, Cause: CauseGuard}},
		{"the guard's refusal wins over a throttled source", fmt.Errorf("wrapped: %w", rejected), throttled(429, time.Second), now,
			Problem{Code: unified.CodeSourceRateLimited, RetryAfter: 3 * time.Second, Cause: CauseGuard}},
		{"a plugin refused before the deadline is down", connectors.ErrPluginUnavailable, source.Snapshot{}, now.Add(time.Second),
			Problem{Code: unified.CodeConnectorUnavailable, Cause: CausePluginDown}},
		{"a plugin that did not come up in time is not", connectors.ErrPluginUnavailable, source.Snapshot{}, now,
			Problem{Code: unified.CodeConnectorUnavailable}},
		{"not a connector error", errors.New("plugin crashed: stack trace with PHI"), answered(200), now,
			Problem{Code: unified.CodeConnectorError}},
		{"not found", coded(connectors.CodeNotFound, ""), answered(404), now, Problem{Code: unified.CodeNotFound}},
		{"invalid argument, a declared filter", coded(connectors.CodeInvalidArgument, "name"), answered(400), now,
			Problem{Code: unified.CodeInvalidParameter, Detail: "name"}},
		{"invalid argument, a reserved parameter", coded(connectors.CodeInvalidArgument, "limit"), answered(400), now,
			Problem{Code: unified.CodeInvalidParameter, Detail: "limit"}},
		{"invalid argument, a name the connector made up", coded(connectors.CodeInvalidArgument, "John Smith"), answered(400), now,
			Problem{Code: unified.CodeInvalidParameter}},
		{"unsupported", coded(connectors.CodeUnsupported, "colour"), source.Snapshot{}, now, Problem{Code: unified.CodeUnsupported}},
		{"upstream", coded(connectors.CodeUpstream, ""), answered(500), now, Problem{Code: unified.CodeUpstreamError}},
		{"timeout", coded(connectors.CodeUpstreamTimeout, ""), source.Snapshot{}, now, Problem{Code: unified.CodeUpstreamTimeout}},
		{"source unavailable", coded(connectors.CodeSourceUnavailable, ""), source.Snapshot{}, now, Problem{Code: unified.CodeSourceUnavailable}},
		{"credentials", coded(connectors.CodeCredentialsUnavailable, ""), source.Snapshot{}, now, Problem{Code: unified.CodeCredentialsUnavailable}},
		{"the connector's own bug", coded(connectors.CodeInternal, ""), answered(200), now, Problem{Code: unified.CodeConnectorError}},
		{"a source 429 is the source's rate limit", coded(connectors.CodeUpstream, ""), throttled(429, 7*time.Second), now,
			Problem{Code: unified.CodeSourceRateLimited, RetryAfter: 7 * time.Second}},
		{"a source 503 is the source being unavailable, for at least 1 s", coded(connectors.CodeInternal, ""), throttled(503, 0), now,
			Problem{Code: unified.CodeSourceUnavailable, RetryAfter: time.Second}},
		{"a throttled answer before a failed call is not the answer", coded(connectors.CodeSourceUnavailable, ""),
			source.Snapshot{LastCall: guard.LastCall{Calls: 2, Fault: guard.FaultConnect}, Throttled: 503}, now,
			Problem{Code: unified.CodeSourceUnavailable}},
		{"a timeout stays a timeout, throttled or not", coded(connectors.CodeUpstreamTimeout, ""), throttled(429, time.Second), now,
			Problem{Code: unified.CodeUpstreamTimeout}},
		{"a version conflict carries the current version as ETag", connectors.VersionConflict("7"), answered(412), now,
			Problem{Code: unified.CodeVersionConflict, ETag: `W/"7"`}},
		{"a version a plugin made up is not shown", connectors.VersionConflict(`7" x`), answered(412), now,
			Problem{Code: unified.CodeVersionConflict}},
		{"a reused idempotency key", coded(connectors.CodeIdempotencyKeyReused, ""), answered(200), now,
			Problem{Code: unified.CodeIdempotencyKeyReused}},
		{"the source refused the record", coded(connectors.CodeRejected, ""), answered(422), now,
			Problem{Code: unified.CodeWriteRejected}},
	} {
		got := Judge(c.err, Facts{Source: c.up, Capability: capab, Now: now, Deadline: c.deadline})
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, *got, c.want)
		}
	}
}

func TestDetail(t *testing.T) {
	capab := connectors.ResourceCapability{Search: true, SearchParams: []string{"mrn"}}
	for name, want := range map[string]string{
		"mrn": "mrn", "limit": "limit", "cursor": "cursor",
		"code": "code", "patient_id": "patient_id", "colour": "", "John Smith": "", "": "",
	} {
		if got := Detail(capab, name); got != want {
			t.Errorf("Detail(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestWrite(t *testing.T) {
	for _, c := range []struct {
		p          Problem
		status     int
		retryAfter string
	}{
		{Problem{Code: unified.CodeNotFound}, 404, ""},
		{Problem{Code: unified.CodeSourceUnavailable}, 503, "1"},
		{Problem{Code: unified.CodeSourceRateLimited, RetryAfter: 2500 * time.Millisecond}, 503, "3"},
		{Problem{Code: unified.CodeRateLimited, RetryAfter: 10 * time.Millisecond}, 429, "1"},
	} {
		var rc fasthttp.RequestCtx
		c.p.Write(&rc, "req-1")
		if rc.Response.StatusCode() != c.status || string(rc.Response.Header.Peek("Retry-After")) != c.retryAfter ||
			string(rc.Response.Header.ContentType()) != "application/problem+json" {
			t.Errorf("%s: %d, Retry-After %q", c.p.Code, rc.Response.StatusCode(), rc.Response.Header.Peek("Retry-After"))
		}
	}
}
