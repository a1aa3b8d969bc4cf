package proxy

import (
	"crypto/sha256"
	"time"

	"github.com/goccy/go-json"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// The change feed (GET /v1/{connection_id}/{resource}/_changes) returns the
// records a source created or updated since a point, oldest change first,
// with nothing kept in Ferry: the position lives in the client's cursor.
//
// A poll is one ordered search: updated_gte the watermark, sort=updated_at.
// Sources stamp changes with a finite precision (Medplum, milliseconds), so
// many records can share the watermark's instant, some returned by the last
// poll and some not yet. The cursor therefore also carries a short hash of
// each record already returned at exactly the watermark; the poll asks the
// connector for its page plus that many records and skips those. A record
// updated again gets a later instant and is returned again, as it should
// be. See docs/changes.md for what this guarantees and what it assumes of
// the source.

// paramSince starts a change feed: an RFC 3339 date-time.
const paramSince = "since"

// maxSeen bounds the ids a change cursor carries for its watermark's
// instant: with the largest page it keeps a poll within the connector's
// largest search (connectors.MaxSearchLimit), and the cursor near 3 KB.
const maxSeen = connectors.MaxSearchLimit - unified.MaxLimit

// changeBinding is what a change cursor is bound to: distinct from the
// same resource's paging cursors, so neither passes for the other.
func (x *exchange) changeBinding() cursor.Binding {
	b := x.cursorBinding()
	b.Resource += "/_changes"
	return b
}

// parseChanges checks a change poll's query: since or cursor, limit, fields
// and the resource's own filters. updated_gte and sort belong to the feed;
// raw records carry no updated_at for it to order by.
func (s *Server) parseChanges(x *exchange, capab connectors.ResourceCapability) *verdict.Problem {
	if !capab.Search || !capab.Accepts(unified.FilterUpdatedGTE) || !capab.Accepts(unified.FilterSort) {
		return verdict.Fail(unified.CodeUnsupported, string(x.route.resource))
	}
	x.q.capab, x.q.limit = capab, unified.DefaultLimit
	var (
		bad            *verdict.Problem
		seen           = map[string]bool{}
		since, cur     string
		limitSet, fset bool
	)
	x.rc.QueryArgs().VisitAll(func(k, v []byte) {
		if bad != nil {
			return
		}
		name, val := string(k), string(v)
		if seen[name] {
			bad = verdict.Fail(unified.CodeInvalidParameter, verdict.Detail(capab, name))
			return
		}
		seen[name] = true
		switch name {
		case paramSince:
			if _, err := time.Parse(time.RFC3339Nano, val); err != nil || len(val) > 64 {
				bad = verdict.Fail(unified.CodeInvalidParameter, paramSince)
				return
			}
			since = val
		case paramCursor:
			cur = val
		case paramLimit:
			n, ok := parseLimit(val)
			if !ok {
				bad = verdict.Fail(unified.CodeInvalidParameter, paramLimit)
				return
			}
			x.q.limit, limitSet = n, true
		case paramFields:
			f, ok := parseFields(x.route.resource, val)
			if !ok {
				bad = verdict.Fail(unified.CodeInvalidParameter, paramFields)
				return
			}
			x.q.fields, fset = f, true
		case paramRaw, unified.FilterUpdatedGTE, unified.FilterSort:
			bad = verdict.Fail(unified.CodeInvalidParameter, name)
		default:
			if !capab.Accepts(name) {
				bad = verdict.Fail(unified.CodeInvalidParameter, verdict.Detail(capab, name))
				return
			}
			nv, ok := normalizeFilter(name, val)
			if !ok {
				bad = verdict.Fail(unified.CodeInvalidParameter, name)
				return
			}
			if x.q.params == nil {
				x.q.params = map[string]string{}
			}
			x.q.params[name] = nv
		}
	})
	switch {
	case bad != nil:
		return bad
	case cur != "" && since != "":
		// Two starting points: the cursor's is the feed's, and a since
		// beside it would be silently ignored or silently obeyed.
		return verdict.Fail(unified.CodeInvalidParameter, paramSince)
	case cur != "":
		return s.resumeChanges(x, cur, limitSet, fset)
	case since == "":
		return verdict.Fail(unified.CodeMissingParameter, paramSince)
	}
	// Required filters are checked in restrict_query, once authorization
	// has forced its own (a compartment's patient_id).
	x.q.changes = &cursor.Changes{Watermark: since}
	return nil
}

// resumeChanges restores a feed from its cursor. As with paging, filters
// sent again must equal the sealed ones; limit and fields may change from
// poll to poll, since a feed's polls are separate answers, not pages of one.
func (s *Server) resumeChanges(x *exchange, token string, limitSet, fieldsSet bool) *verdict.Problem {
	st, err := s.cursors.Open(x.changeBinding(), token)
	if err != nil || st.Changes == nil || len(st.Changes.Seen)%cursor.SeenHashLen != 0 {
		return verdict.Fail(unified.CodeInvalidCursor, "")
	}
	for name, v := range x.q.params {
		if st.Params[name] != v {
			return verdict.Fail(unified.CodeInvalidCursor, name)
		}
	}
	x.q.params, x.q.resumed = st.Params, true
	if !limitSet {
		x.q.limit = st.Limit
	}
	if !fieldsSet {
		x.q.fields = st.Fields
	}
	x.q.changes = st.Changes
	return nil
}

// changedRecord is what the feed reads of each record.
type changedRecord struct {
	ID        string `json:"id"`
	UpdatedAt string `json:"updated_at"`
}

// serveChanges makes one poll: an ordered search from the watermark, less
// the records the cursor says were returned.
func (s *Server) serveChanges(x *exchange, c connectors.Connector) *verdict.Problem {
	pos := x.q.changes
	seenN := len(pos.Seen) / cursor.SeenHashLen
	fetch := min(x.q.limit+seenN, connectors.MaxSearchLimit)
	params := make(map[string]string, len(x.q.params)+2)
	for k, v := range x.q.params {
		params[k] = v
	}
	params[unified.FilterUpdatedGTE] = pos.Watermark
	params[unified.FilterSort] = unified.SortUpdated

	ctx, end := s.callContext(x, "search")
	defer end()
	resp, err := c.Search(ctx, &connectors.SearchRequest{
		ConnectionID: x.conn.cfg.ID, Resource: x.route.resource, Params: params, Limit: fetch,
		Transport: s.lendTransport(x, true),
	})
	if err != nil {
		return s.judge(x, err)
	}
	defer resp.Release()
	if len(resp.Records) > fetch {
		return verdict.Fail(unified.CodeConnectorError, "")
	}
	poll, prob := takeChanges(resp.Records, pos, x.q.limit)
	if prob != nil {
		return prob
	}
	poll.more = poll.more || resp.NextPageToken != "" || len(resp.Records) == fetch
	return s.writeChanges(x, poll)
}

// writeChanges answers a poll: the records authorization admits, sealed for
// a pseudonymized client, and the cursor of the next poll. A record
// dropped here still moves the watermark: the client may not see it, and
// must not be shown it again.
func (s *Server) writeChanges(x *exchange, poll changePoll) *verdict.Problem {
	next, err := s.cursors.SealFor(x.changeBinding(), cursor.State{
		Params: x.q.params, Limit: x.q.limit, Fields: x.q.fields, Changes: &poll.next,
	}, s.changesTTL)
	if err != nil {
		return verdict.Fail(unified.CodeInternal, "")
	}
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	buf.WriteString(`{"data":[`)
	n := 0
	for _, r := range poll.records {
		if !x.authz.admits(x.route.resource, r) {
			continue
		}
		rec, ok := checkRecord(r, "", x.q.fields)
		if ok {
			rec, ok = s.sealRecord(x, rec)
		}
		if !ok {
			return verdict.Fail(unified.CodeConnectorError, "")
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		buf.Write(rec)
	}
	// Cursors are base64url: nothing in them needs JSON escaping.
	buf.WriteString(`],"next_cursor":"`)
	buf.WriteString(next)
	if poll.more {
		buf.WriteString(`","has_more":true}`)
	} else {
		buf.WriteString(`","has_more":false}`)
	}
	x.records = n
	x.rc.Response.Header.SetContentType("application/json")
	x.rc.SetStatusCode(fasthttp.StatusOK)
	x.rc.SetBody(buf.B)
	return nil
}

// changePoll is one poll's answer: the records, where the next starts, and
// whether more are already waiting.
type changePoll struct {
	records []json.RawMessage
	next    cursor.Changes
	more    bool
}

// takeChanges picks, from an ordered search starting at pos's watermark,
// the first limit records not already returned, and the position after
// them. A connector that does not order its answer, or answers records
// older than the watermark, would make the feed skip or repeat records: it
// is a connector error, never guessed around.
func takeChanges(recs []json.RawMessage, pos *cursor.Changes, limit int) (changePoll, *verdict.Problem) {
	w, err := time.Parse(time.RFC3339Nano, pos.Watermark)
	if err != nil {
		return changePoll{}, verdict.Fail(unified.CodeInvalidCursor, "")
	}
	already := make(map[[cursor.SeenHashLen]byte]bool, len(pos.Seen)/cursor.SeenHashLen)
	for i := 0; i+cursor.SeenHashLen <= len(pos.Seen); i += cursor.SeenHashLen {
		already[[cursor.SeenHashLen]byte(pos.Seen[i:])] = true
	}
	out := changePoll{next: cursor.Changes{Watermark: pos.Watermark, Seen: pos.Seen}}
	nextW, prev := w, w
	ownSeen := false // out.next.Seen is still pos.Seen, shared with the cursor read
	for _, r := range recs {
		var cr changedRecord
		if json.Unmarshal(r, &cr) != nil || cr.ID == "" {
			return changePoll{}, verdict.Fail(unified.CodeConnectorError, "")
		}
		at, err := time.Parse(time.RFC3339Nano, cr.UpdatedAt)
		if err != nil || at.Before(prev) {
			return changePoll{}, verdict.Fail(unified.CodeConnectorError, "")
		}
		prev = at
		h := seenHash(cr.ID)
		if at.Equal(w) && already[h] {
			continue // returned by an earlier poll
		}
		if len(out.records) == limit {
			out.more = true
			break
		}
		if at.Equal(nextW) {
			if len(out.next.Seen)/cursor.SeenHashLen >= maxSeen {
				if len(out.records) == 0 {
					// Every record this poll could return shares an
					// instant the cursor cannot tell any more of apart.
					return changePoll{}, verdict.Fail(unified.CodeChangesOverflow, "")
				}
				out.more = true
				break
			}
			if !ownSeen {
				out.next.Seen = append([]byte(nil), out.next.Seen...)
				ownSeen = true
			}
			out.next.Seen = append(out.next.Seen, h[:]...)
		} else {
			nextW = at
			out.next.Watermark = cr.UpdatedAt
			out.next.Seen = append(make([]byte, 0, cursor.SeenHashLen*8), h[:]...)
			ownSeen = true
		}
		out.records = append(out.records, r)
	}
	return out, nil
}

func seenHash(id string) [cursor.SeenHashLen]byte {
	sum := sha256.Sum256([]byte(id))
	return [cursor.SeenHashLen]byte(sum[:cursor.SeenHashLen])
}
