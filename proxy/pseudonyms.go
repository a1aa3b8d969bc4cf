package proxy

import (
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// Stateless pseudonyms (proxy/pseudonym): a client configured for them
// never sees a source's ids. open_pseudonyms, before the query is parsed,
// opens the pseudonyms it sends (a read's id, patient_id) into the
// source's ids; dispatch seals every id of every record it answers.

// openPseudonyms opens the client's pseudonyms in the request. A value
// that does not open (made up, or another client's) is answered like a
// missing record. Raw source data and passthrough would carry real ids,
// so both are refused.
func (s *Server) openPseudonyms(x *exchange) *verdict.Problem {
	if x.client == nil || x.client.pseudo == nil || x.conn == nil {
		return nil // the public OpenAPI route has no client
	}
	ps := x.client.pseudo
	conn := x.conn.cfg.ID
	switch x.route.template {
	case routePassthrough, routeCreate, routeUpdate:
		// A write's body would carry pseudonyms into the source's
		// record: pseudonymized clients read, they do not write.
		return s.refuse(x, refusedPolicy, unified.CodeInsufficientScope)
	case routeRead:
		real, ok := ps.Open(conn, string(x.route.resource), x.route.id)
		if !ok {
			return s.refuse(x, refusedPolicy, unified.CodeNotFound)
		}
		x.route.id = real
	case routeSearch, routeChanges:
	default:
		return nil
	}
	args := x.rc.QueryArgs()
	if v := args.Peek(paramRaw); len(v) > 0 && string(v) != "false" {
		return s.refuse(x, refusedPolicy, unified.CodeInsufficientScope)
	}
	if v := args.Peek(unified.FilterPatientID); len(v) > 0 {
		real, ok := ps.Open(conn, string(unified.Patients), string(v))
		if !ok {
			return s.refuse(x, refusedPolicy, unified.CodeNotFound)
		}
		args.Set(unified.FilterPatientID, real)
	}
	return nil
}

// sealRecord replaces the ids of a record answered to a pseudonymized
// client; any other client's record passes unchanged.
func (s *Server) sealRecord(x *exchange, rec []byte) ([]byte, bool) {
	ps := x.client.pseudo
	if ps == nil {
		return rec, true
	}
	out, err := ps.Record(x.conn.cfg.ID, string(x.route.resource), rec, x.client.pseudoIDs)
	return out, err == nil
}
