package proxy

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/proxy/cursor"
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

// parseQuery checks the query of a unified route against the connector's
// manifest: every parameter is known, every standard filter well-formed,
// every required filter present. With a cursor, the search is the one the
// cursor sealed; parameters sent along with it must repeat it exactly.
func (s *Server) parseQuery(x *exchange) *problem {
	switch x.route.template {
	case routeRead, routeSearch:
	case routeCapabilities, routeOpenAPI:
		if x.rc.QueryArgs().Len() > 0 {
			return fail(unified.CodeInvalidParameter, "")
		}
		return nil
	default:
		return nil
	}
	if !x.route.resource.Known() {
		return fail(unified.CodeNotFound, "")
	}
	meta, ok := s.conns.Metadata(x.conn.kind)
	if !ok {
		return fail(unified.CodeConnectorUnavailable, "")
	}
	capab, ok := meta.Resource(x.route.resource)
	isRead := x.route.template == routeRead
	if !ok || (isRead && !capab.Read) || (!isRead && !capab.Search) {
		return fail(unified.CodeUnsupported, string(x.route.resource))
	}
	if isRead && !validSourceID(x.route.id) {
		return fail(unified.CodeInvalidID, "")
	}
	x.capab = capab
	x.limit = unified.DefaultLimit

	var (
		bad      *problem
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
			bad = fail(unified.CodeInvalidParameter, x.paramDetail(name))
			return
		}
		seen[name] = true
		val := string(v)
		switch {
		case name == paramRaw:
			switch val {
			case "true":
				x.raw = true
			case "false", "":
			default:
				bad = fail(unified.CodeInvalidParameter, paramRaw)
			}
		case name == paramFields:
			f, ok := parseFields(x.route.resource, val)
			if !ok {
				bad = fail(unified.CodeInvalidParameter, paramFields)
				return
			}
			x.fields = f
		case isRead:
			bad = fail(unified.CodeInvalidParameter, x.paramDetail(name))
		case name == paramLimit:
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > unified.MaxLimit {
				bad = fail(unified.CodeInvalidParameter, paramLimit)
				return
			}
			x.limit, limitSet = n, true
		case name == paramCursor:
			cur = val
		case capab.Accepts(name):
			nv, ok := normalizeFilter(name, val)
			if !ok {
				bad = fail(unified.CodeInvalidParameter, name)
				return
			}
			if x.params == nil {
				x.params = map[string]string{}
			}
			x.params[name] = nv
		default:
			bad = fail(unified.CodeInvalidParameter, x.paramDetail(name))
		}
	})
	if bad != nil {
		return bad
	}
	if isRead {
		return nil
	}
	if cur != "" {
		return s.resumeSearch(x, cur, limitSet)
	}
	for _, r := range capab.RequiredParams {
		if _, ok := x.params[r]; !ok {
			return fail(unified.CodeMissingParameter, r)
		}
	}
	return nil
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
func (s *Server) resumeSearch(x *exchange, token string, limitSet bool) *problem {
	st, err := s.cursors.Open(x.cursorBinding(), token)
	if err != nil {
		return fail(unified.CodeInvalidCursor, "")
	}
	for name, v := range x.params {
		if st.Params[name] != v {
			return fail(unified.CodeInvalidCursor, name)
		}
	}
	if limitSet && x.limit != st.Limit {
		return fail(unified.CodeInvalidCursor, paramLimit)
	}
	if x.fields != nil && !slices.Equal(x.fields, st.Fields) {
		return fail(unified.CodeInvalidCursor, paramFields)
	}
	if x.rc.QueryArgs().Has(paramRaw) && x.raw != st.Raw {
		return fail(unified.CodeInvalidCursor, paramRaw)
	}
	x.params, x.limit, x.fields, x.raw, x.pageToken = st.Params, st.Limit, st.Fields, st.Raw, st.PageToken
	return nil
}

// cursorBinding is what a cursor of this exchange is bound to.
func (x *exchange) cursorBinding() cursor.Binding {
	return cursor.Binding{Client: x.client.id, Connection: x.conn.cfg.ID, Resource: string(x.route.resource)}
}

// nextCursor seals the state of the page after this one.
func (s *Server) nextCursor(x *exchange, pageToken string) (string, error) {
	if pageToken == "" {
		return "", nil
	}
	tok, err := s.cursors.Seal(x.cursorBinding(), cursor.State{
		PageToken: pageToken, Params: x.params, Limit: x.limit, Raw: x.raw, Fields: x.fields,
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

// paramDetail names a refused parameter in a problem's detail only when
// it is one the API defines (a reserved parameter, a standard filter, or
// one of the resource's declared filters): a name the client made up is
// free text, and may be PHI typed into the wrong place.
func (x *exchange) paramDetail(name string) string {
	if x.capab.Accepts(name) || slices.Contains(unified.ReservedParams, name) {
		return name
	}
	if _, ok := unified.StandardFilter(name); ok {
		return name
	}
	return ""
}
