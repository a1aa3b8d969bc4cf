package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The sandbox accepts writes, in memory only: a resource created or updated
// lives in its Server until the process ends (the demo's sandbox is gone
// when the demo stops), and never in the shared embedded store. It does
// what the FHIR connector's writes need of a real server: a create, also
// conditional (If-None-Exist: answered with the match, 200, when one
// exists), and an update by id with If-Match, each resource versioned
// (meta.versionId and ETag). A conditional create holds the overlay's lock
// from its check to its write, so it is atomic.

// maxWriteBody bounds a written resource.
const maxWriteBody = 16 << 20

// overlay holds a Server's written resources.
type overlay struct {
	mu sync.RWMutex
	// byRef are the written resources, "Type/id" → resource; a written
	// version of an embedded resource replaces it.
	byRef map[string]*resource
	// added are the created resources of each type, in creation order,
	// which searches return after the embedded ones.
	added    map[string][]*resource
	versions map[string]int
}

// resources are the resources of a type a search sees.
func (s *Server) resources(typ string) []*resource {
	s.writes.mu.RLock()
	defer s.writes.mu.RUnlock()
	if len(s.writes.byRef) == 0 {
		return s.store.byType[typ]
	}
	return s.resourcesLocked(typ)
}

// lookup finds a resource by "Type/id", written or embedded.
func (s *Server) lookup(ref string) *resource {
	s.writes.mu.RLock()
	w := s.writes.byRef[ref]
	s.writes.mu.RUnlock()
	if w != nil {
		return w
	}
	return s.store.byRef[ref]
}

// version is a resource's current version: 1 for an embedded one never
// written.
func (s *Server) version(ref string) int {
	if v := s.writes.versions[ref]; v > 0 {
		return v
	}
	return 1
}

func (s *Server) read(w http.ResponseWriter, typ, id string) {
	res := s.lookup(typ + "/" + id)
	if res == nil {
		// Real servers name the id in the diagnostics; the sandbox does not,
		// so that nothing a client sent is echoed back.
		writeOutcome(w, http.StatusNotFound, "not-found", "No such "+typ+".")
		return
	}
	s.writes.mu.RLock()
	v := s.version(typ + "/" + id)
	s.writes.mu.RUnlock()
	w.Header().Set("ETag", `W/"`+strconv.Itoa(v)+`"`)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(res.raw)
}

// unauthorized answers a request without the sandbox's bearer token.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ferry-sandbox"`)
	writeOutcome(w, http.StatusUnauthorized, "login", "A valid bearer token is required.")
}

// write serves POST {type} and PUT {type}/{id}.
func (s *Server) write(w http.ResponseWriter, r *http.Request, rest string) {
	if !s.authorized(r) {
		unauthorized(w)
		return
	}
	typ, id, byID := strings.Cut(rest, "/")
	rt := resourceTypes[typ]
	if rt == nil || (r.Method == http.MethodPost) == byID || (byID && !validID(id)) {
		writeOutcome(w, http.StatusNotFound, "not-found", "No such endpoint.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWriteBody+1))
	var tree map[string]any
	if err != nil || len(body) > maxWriteBody || json.Unmarshal(body, &tree) != nil || tree["resourceType"] != typ {
		writeOutcome(w, http.StatusBadRequest, "invalid", "The body is not a "+typ+" resource.")
		return
	}
	var cond *identifierCond
	if c := r.Header.Get("If-None-Exist"); r.Method == http.MethodPost && c != "" {
		if cond = parseCondition(c); cond == nil {
			writeOutcome(w, http.StatusBadRequest, "invalid", "If-None-Exist: only identifier=system|value is supported.")
			return
		}
	}

	s.writes.mu.Lock()
	defer s.writes.mu.Unlock()
	status := http.StatusCreated
	if r.Method == http.MethodPost {
		if cond != nil {
			var found []*resource
			for _, res := range s.resourcesLocked(typ) {
				if cond.matches(res.raw) {
					found = append(found, res)
				}
			}
			switch {
			case len(found) > 1:
				writeOutcome(w, http.StatusPreconditionFailed, "duplicate", "Several resources match.")
				return
			case len(found) == 1:
				s.answer(w, http.StatusOK, found[0], s.version(typ+"/"+found[0].id))
				return
			}
		}
		id = newID()
	} else {
		ref := typ + "/" + id
		exists := s.writes.byRef[ref] != nil || s.store.byRef[ref] != nil
		if m := r.Header.Get("If-Match"); m != "" && (!exists || m != `W/"`+strconv.Itoa(s.version(ref))+`"`) {
			writeOutcome(w, http.StatusPreconditionFailed, "conflict", "The version is not the current one.")
			return
		}
		if exists {
			status = http.StatusOK
		}
	}
	ref := typ + "/" + id
	v := 1
	if status == http.StatusOK {
		v = s.version(ref) + 1
	}
	tree["id"] = id
	meta, _ := tree["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["versionId"] = strconv.Itoa(v)
	meta["lastUpdated"] = time.Now().UTC().Format(time.RFC3339Nano)
	tree["meta"] = meta
	raw, err := json.Marshal(tree)
	if err != nil {
		writeOutcome(w, http.StatusBadRequest, "invalid", "The body is not a "+typ+" resource.")
		return
	}
	res := &resource{typ: typ, id: id, raw: raw, values: index(typ, tree, nil)}
	if s.writes.byRef == nil {
		s.writes.byRef, s.writes.added, s.writes.versions = map[string]*resource{}, map[string][]*resource{}, map[string]int{}
	}
	if s.writes.byRef[ref] == nil && s.store.byRef[ref] == nil {
		s.writes.added[typ] = append(s.writes.added[typ], res)
	}
	s.writes.byRef[ref] = res
	s.writes.versions[ref] = v
	s.answer(w, status, res, v)
}

// resourcesLocked is resources with the overlay's lock held.
func (s *Server) resourcesLocked(typ string) []*resource {
	out := append([]*resource(nil), s.store.byType[typ]...)
	for i, r := range out {
		if w := s.writes.byRef[typ+"/"+r.id]; w != nil {
			out[i] = w
		}
	}
	for _, r := range s.writes.added[typ] {
		out = append(out, s.writes.byRef[typ+"/"+r.id])
	}
	return out
}

func (s *Server) answer(w http.ResponseWriter, status int, res *resource, version int) {
	w.Header().Set("ETag", `W/"`+strconv.Itoa(version)+`"`)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(res.raw)
}

// identifierCond is the one condition of a conditional create the sandbox
// understands: identifier=system|value (FHIR token escapes undone).
type identifierCond struct{ system, value string }

func parseCondition(c string) *identifierCond {
	v, ok := strings.CutPrefix(c, "identifier=")
	if !ok {
		return nil
	}
	parts := splitEscaped(v, '|')
	if len(parts) != 2 || parts[1] == "" {
		return nil
	}
	return &identifierCond{system: unescape(parts[0]), value: unescape(parts[1])}
}

func (c *identifierCond) matches(raw []byte) bool {
	var r struct {
		Identifier []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return false
	}
	for _, id := range r.Identifier {
		if id.System == c.system && id.Value == c.value {
			return true
		}
	}
	return false
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "w-" + hex.EncodeToString(b[:])
}
