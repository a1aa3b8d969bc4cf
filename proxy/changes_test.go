package proxy

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/goccy/go-json"

	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/unified"
)

func recs(pairs ...string) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, json.RawMessage(fmt.Sprintf(`{"id":%q,"updated_at":%q}`, pairs[i], pairs[i+1])))
	}
	return out
}

func seenOf(ids ...string) []byte {
	var out []byte
	for _, id := range ids {
		h := seenHash(id)
		out = append(out, h[:]...)
	}
	return out
}

func ids(p changePoll) []string {
	var out []string
	for _, r := range p.records {
		var cr changedRecord
		_ = json.Unmarshal(r, &cr)
		out = append(out, cr.ID)
	}
	return out
}

const (
	t0 = "2026-01-01T00:00:00.000Z"
	t1 = "2026-01-01T00:00:00.001Z"
	t2 = "2026-01-01T00:00:00.002Z"
)

func TestTakeChanges(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pos       cursor.Changes
		recs      []json.RawMessage
		limit     int
		want      []string
		wantW     string
		wantSeen  []byte
		wantMore  bool
		wantProbl unified.Code
	}{
		{name: "first poll", pos: cursor.Changes{Watermark: t0}, recs: recs("a", t1, "b", t1, "c", t2), limit: 10,
			want: []string{"a", "b", "c"}, wantW: t2, wantSeen: seenOf("c")},
		{name: "page ends inside an instant", pos: cursor.Changes{Watermark: t0}, recs: recs("a", t1, "b", t1, "c", t1), limit: 2,
			want: []string{"a", "b"}, wantW: t1, wantSeen: seenOf("a", "b"), wantMore: true},
		{name: "seen records at the watermark are skipped", pos: cursor.Changes{Watermark: t1, Seen: seenOf("b", "a")},
			recs: recs("a", t1, "b", t1, "c", t1, "d", t2), limit: 10,
			want: []string{"c", "d"}, wantW: t2, wantSeen: seenOf("d")},
		{name: "seen set grows while the instant lasts", pos: cursor.Changes{Watermark: t1, Seen: seenOf("a")},
			recs: recs("a", t1, "b", t1), limit: 10, want: []string{"b"}, wantW: t1, wantSeen: seenOf("a", "b")},
		{name: "a seen id updated again is a new change", pos: cursor.Changes{Watermark: t1, Seen: seenOf("a")},
			recs: recs("a", t2), limit: 10, want: []string{"a"}, wantW: t2, wantSeen: seenOf("a")},
		{name: "nothing new", pos: cursor.Changes{Watermark: t1, Seen: seenOf("a")}, recs: recs("a", t1), limit: 10,
			wantW: t1, wantSeen: seenOf("a")},
		{name: "same instant written another way", pos: cursor.Changes{Watermark: "2026-01-01T01:00:00.001+01:00", Seen: seenOf("a")},
			recs: recs("a", t1, "b", t1), limit: 10, want: []string{"b"}, wantW: "2026-01-01T01:00:00.001+01:00", wantSeen: seenOf("a", "b")},
		{name: "out of order", pos: cursor.Changes{Watermark: t0}, recs: recs("a", t2, "b", t1), limit: 10, wantProbl: unified.CodeConnectorError},
		{name: "older than the watermark", pos: cursor.Changes{Watermark: t1}, recs: recs("a", t0), limit: 10, wantProbl: unified.CodeConnectorError},
		{name: "no updated_at", pos: cursor.Changes{Watermark: t0}, recs: []json.RawMessage{json.RawMessage(`{"id":"a"}`)}, limit: 10, wantProbl: unified.CodeConnectorError},
		{name: "no id", pos: cursor.Changes{Watermark: t0}, recs: recs("", t1), limit: 10, wantProbl: unified.CodeConnectorError},
		{name: "not an object", pos: cursor.Changes{Watermark: t0}, recs: []json.RawMessage{json.RawMessage(`[1]`)}, limit: 10, wantProbl: unified.CodeConnectorError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pos := tc.pos
			p, prob := takeChanges(tc.recs, &pos, tc.limit)
			if tc.wantProbl != "" {
				if prob == nil || prob.Code != tc.wantProbl {
					t.Fatalf("problem %v, want %s", prob, tc.wantProbl)
				}
				return
			}
			if prob != nil {
				t.Fatalf("problem %v", prob)
			}
			if fmt.Sprint(ids(p)) != fmt.Sprint(tc.want) || p.next.Watermark != tc.wantW ||
				string(p.next.Seen) != string(tc.wantSeen) || p.more != tc.wantMore {
				t.Errorf("got %v w=%s seen=%x more=%v, want %v w=%s seen=%x more=%v",
					ids(p), p.next.Watermark, p.next.Seen, p.more, tc.want, tc.wantW, tc.wantSeen, tc.wantMore)
			}
			if string(pos.Seen) != string(tc.pos.Seen) {
				t.Error("the cursor's seen set was changed in place")
			}
		})
	}
}

// TestTakeChangesOverflow: once the cursor holds as many ids of its
// watermark's instant as it can, a poll that could only return more of that
// instant answers changes_overflow instead of skipping or repeating them;
// one that reaches a later instant still progresses.
func TestTakeChangesOverflow(t *testing.T) {
	var seen []string
	var all []string
	for i := range maxSeen + 3 {
		id := fmt.Sprintf("r%d", i)
		all = append(all, id, t1)
		if i < maxSeen {
			seen = append(seen, id)
		}
	}
	pos := cursor.Changes{Watermark: t1, Seen: seenOf(seen...)}
	if _, prob := takeChanges(recs(all...), &pos, 10); prob == nil || prob.Code != unified.CodeChangesOverflow {
		t.Fatalf("problem %v, want changes_overflow", prob)
	}
	p, prob := takeChanges(recs(append(slices.Clone(all[:2*maxSeen]), "later", t2)...), &pos, 10)
	if prob != nil || fmt.Sprint(ids(p)) != "[later]" || p.next.Watermark != t2 {
		t.Fatalf("got %v %v, want the later record", ids(p), prob)
	}
	// A poll that fills the set part way stops there and says more waits.
	pos = cursor.Changes{Watermark: t1, Seen: seenOf(seen[:maxSeen-1]...)}
	p, prob = takeChanges(recs(all...), &pos, 10)
	if prob != nil || len(p.records) != 1 || !p.more || len(p.next.Seen) != maxSeen*cursor.SeenHashLen {
		t.Fatalf("got %d records more=%v seen=%d, %v", len(p.records), p.more, len(p.next.Seen), prob)
	}
}

// FuzzTakeChanges: whatever a connector answers, a poll returns at most its
// limit, never moves the watermark back, and never panics.
func FuzzTakeChanges(f *testing.F) {
	f.Add([]byte(`{"id":"a","updated_at":"2026-01-01T00:00:00.001Z"}`), uint8(2))
	f.Add([]byte(`{"id":"a","updated_at":"2025-01-01T00:00:00Z"}`), uint8(1))
	f.Add([]byte(`{"id":1}`), uint8(0))
	f.Fuzz(func(t *testing.T, rec []byte, n uint8) {
		in := make([]json.RawMessage, int(n%5)+1)
		for i := range in {
			in[i] = rec
		}
		pos := cursor.Changes{Watermark: t0, Seen: seenOf("a")}
		p, prob := takeChanges(in, &pos, 2)
		if prob != nil {
			return
		}
		if len(p.records) > 2 {
			t.Fatalf("%d records, limit 2", len(p.records))
		}
		w0, _ := time.Parse(time.RFC3339Nano, t0)
		w, err := time.Parse(time.RFC3339Nano, p.next.Watermark)
		if err != nil || w.Before(w0) {
			t.Fatalf("watermark %q", p.next.Watermark)
		}
	})
}
