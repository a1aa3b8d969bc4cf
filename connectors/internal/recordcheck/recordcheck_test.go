package recordcheck

import (
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

func TestRecord(t *testing.T) {
	const ok = `{"id":"p1","names":[{"family":"Doe"}],"source":{"connection_id":"c","system":"acme","source_id":"p1","fetched_at":"2026-01-02T03:04:05Z"}}`
	if err := Record(unified.Patients, "c", false, []byte(ok)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ rec, want string }{
		{`[]`, "not a JSON object"},
		{`{"id":"p1","nme":"x","source":{}}`, "unknown field"},
		{`{"id":1}`, "field id: a JSON number"},
		{`{"id":"p1"} {}`, "data after"},
		{`{"source":{"connection_id":"c","system":"s","fetched_at":"2026-01-02T03:04:05Z"}}`, "no id"},
		{`{"id":"a/b","source":{"connection_id":"c","system":"s","fetched_at":"2026-01-02T03:04:05Z"}}`, "read back"},
		{`{"id":"p1","source":{"connection_id":"other","system":"s","fetched_at":"2026-01-02T03:04:05Z"}}`, "connection_id"},
		{`{"id":"p1","source":{"connection_id":"c","fetched_at":"2026-01-02T03:04:05Z"}}`, "system"},
		{`{"id":"p1","source":{"connection_id":"c","system":"s"}}`, "fetched_at"},
		{`{"id":"p1","raw":{"x":1},"source":{"connection_id":"c","system":"s","fetched_at":"2026-01-02T03:04:05Z"}}`, "raw"},
	} {
		err := Record(unified.Patients, "c", false, []byte(c.rec))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.rec, err, c.want)
		}
	}
}
