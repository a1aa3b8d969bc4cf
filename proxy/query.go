package proxy

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// Reserved query parameters, accepted on every search and handled by the
// host itself (unified.ReservedParams).
const (
	paramLimit  = "limit"
	paramCursor = "cursor"
	paramFields = "fields"
	paramRaw    = "raw"
)

// maxFilterLen bounds a connector-specific filter value.
const maxFilterLen = 256

// query is what parse_query made of a unified route's query: the search
// (or read) the connector is asked for.
type query struct {
	params map[string]string
	limit  int
	raw    bool
	// fields is the client's field mask, nil for whole records.
	fields []string
	// pageToken is the connector's token for the page asked for, from the
	// client's cursor; empty for a first page.
	pageToken string
	// resumed says the search continues a cursor's.
	resumed bool
	// capab is the manifest entry of the resource: its search parameters are
	// the only names a problem detail may echo when a connector complains.
	capab connectors.ResourceCapability
	// changes is a change poll's starting position; nil for other routes.
	changes *cursor.Changes
}

// parseQuery checks the query of a unified route against the connector's
// manifest: every parameter is known, every standard filter well-formed,
// every required filter present. With a cursor, the search is the one the
// cursor sealed; parameters sent along with it must repeat it exactly.
func (s *Server) parseQuery(x *exchange) *verdict.Problem {
	switch x.route.template {
	case routeRead, routeSearch, routeChanges:
	case routeCapabilities, routeOpenAPI:
		if x.rc.QueryArgs().Len() > 0 {
			return verdict.Fail(unified.CodeInvalidParameter, "")
		}
		return nil
	default:
		return nil
	}
	if !x.route.resource.Known() {
		return verdict.Fail(unified.CodeNotFound, "")
	}
	meta, ok := s.conns.Metadata(x.conn.kind)
	if !ok {
		return verdict.Fail(unified.CodeConnectorUnavailable, "")
	}
	capab, ok := meta.Resource(x.route.resource)
	if x.route.template == routeChanges {
		return s.parseChanges(x, capab)
	}
	isRead := x.route.template == routeRead
	if !ok || (isRead && !capab.Read) || (!isRead && !capab.Search) {
		return verdict.Fail(unified.CodeUnsupported, string(x.route.resource))
	}
	if isRead && !validSourceID(x.route.id) {
		return verdict.Fail(unified.CodeInvalidID, "")
	}
	x.q.capab = capab
	x.q.limit = unified.DefaultLimit

	var (
		bad      *verdict.Problem
		seen     = map[string]bool{}
		cur      string
		limitSet bool
	)
	x.rc.QueryArgs().VisitAll(func(k, v []byte) {
		if bad != nil {
			return
		}
		name := string(k)
		if seen[name] {
			// A repeated parameter is ambiguous: refused, not guessed.
			bad = verdict.Fail(unified.CodeInvalidParameter, verdict.Detail(x.q.capab, name))
			return
		}
		seen[name] = true
		val := string(v)
		switch {
		case name == paramRaw:
			switch val {
			case "true":
				x.q.raw = true
			case "false", "":
			default:
				bad = verdict.Fail(unified.CodeInvalidParameter, paramRaw)
			}
		case name == paramFields:
			f, ok := parseFields(x.route.resource, val)
			if !ok {
				bad = verdict.Fail(unified.CodeInvalidParameter, paramFields)
				return
			}
			x.q.fields = f
		case isRead:
			bad = verdict.Fail(unified.CodeInvalidParameter, verdict.Detail(x.q.capab, name))
		case name == paramLimit:
			n, ok := parseLimit(val)
			if !ok {
				bad = verdict.Fail(unified.CodeInvalidParameter, paramLimit)
				return
			}
			x.q.limit, limitSet = n, true
		case name == paramCursor:
			cur = val
		case capab.Accepts(name):
			nv, ok := normalizeFilter(name, val)
			if !ok {
				bad = verdict.Fail(unified.CodeInvalidParameter, name)
				return
			}
			if x.q.params == nil {
				x.q.params = map[string]string{}
			}
			x.q.params[name] = nv
		default:
			bad = verdict.Fail(unified.CodeInvalidParameter, verdict.Detail(x.q.capab, name))
		}
	})
	if bad != nil {
		return bad
	}
	if isRead {
		return nil
	}
	if cur != "" {
		x.q.resumed = true
		return s.resumeSearch(x, cur, limitSet)
	}
	return nil
}

// checkRequired refuses a first search without a filter its connector
// requires. It runs once authorization has forced its own filters (a
// compartment's patient_id among them), in restrict_query.
func (x *exchange) checkRequired() *verdict.Problem {
	if x.route.template != routeSearch && x.route.template != routeChanges || x.q.resumed {
		return nil
	}
	for _, r := range x.q.capab.RequiredParams {
		if _, ok := x.q.params[r]; !ok {
			return verdict.Fail(unified.CodeMissingParameter, r)
		}
	}
	return nil
}

// parseLimit reads a page size: 1..unified.MaxLimit.
func parseLimit(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1 && n <= unified.MaxLimit
}

// normalizeFilter checks a filter's value: a standard filter against its
// kind (so every connector gets the same grammar), a connector's own filter
// only for length and control bytes (the connector checks the rest).
func normalizeFilter(name, v string) (string, bool) {
	if f, ok := unified.StandardFilter(name); ok {
		return unified.NormalizeFilter(f.Kind, v)
	}
	if len(v) > maxFilterLen {
		return "", false
	}
	return unified.NormalizeFilter(unified.FilterString, v)
}

// resumeSearch restores the search a cursor sealed. Parameters the client
// sent again must equal the sealed ones: a cursor continues one search, and
// silently answering another would be wrong either way round.
func (s *Server) resumeSearch(x *exchange, token string, limitSet bool) *verdict.Problem {
	st, err := s.cursors.Open(x.cursorBinding(), token)
	if err != nil {
		return verdict.Fail(unified.CodeInvalidCursor, "")
	}
	for name, v := range x.q.params {
		if st.Params[name] != v {
			return verdict.Fail(unified.CodeInvalidCursor, name)
		}
	}
	if limitSet && x.q.limit != st.Limit {
		return verdict.Fail(unified.CodeInvalidCursor, paramLimit)
	}
	if x.q.fields != nil && !slices.Equal(x.q.fields, st.Fields) {
		return verdict.Fail(unified.CodeInvalidCursor, paramFields)
	}
	if x.rc.QueryArgs().Has(paramRaw) && x.q.raw != st.Raw {
		return verdict.Fail(unified.CodeInvalidCursor, paramRaw)
	}
	x.q.params, x.q.limit, x.q.fields, x.q.raw, x.q.pageToken = st.Params, st.Limit, st.Fields, st.Raw, st.PageToken
	return nil
}

// cursorBinding is what a cursor of this exchange is bound to.
func (x *exchange) cursorBinding() cursor.Binding {
	return cursor.Binding{Client: x.client.id, Connection: x.conn.cfg.ID, Resource: string(x.route.resource), Compartment: x.authz.compartment}
}

// nextCursor seals the state of the page after this one.
func (s *Server) nextCursor(x *exchange, pageToken string) (string, error) {
	if pageToken == "" {
		return "", nil
	}
	tok, err := s.cursors.Seal(x.cursorBinding(), cursor.State{
		PageToken: pageToken, Params: x.q.params, Limit: x.q.limit, Raw: x.q.raw, Fields: x.q.fields,
	})
	if errors.Is(err, cursor.ErrTooLong) {
		// The source's next link is too long to carry; the connector
		// answered something no client could page with.
		return "", err
	}
	return tok, err
}

// parseFields reads a field mask: comma-separated top-level fields of the
// resource. "id" is always kept, so every record stays addressable. The
// result is sorted and without duplicates, so equal masks compare equal.
func parseFields(r unified.ResourceType, v string) ([]string, bool) {
	if v == "" {
		return nil, false
	}
	known := r.Fields()
	out := []string{"id"}
	for _, f := range strings.Split(v, ",") {
		if !slices.Contains(known, f) {
			return nil, false
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, true
}
