package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/authz"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// restrictQuery forces what the client's grants allow onto the parsed
// query: a scope's restriction (category, code, status) and the patient
// compartment (patient_id). Records are checked again after the plugin
// (admits), so a connector that ignores a filter cannot widen either.
//
// Escapes from a compartment are answered as a missing record would be:
// another patient by id is 404 not_found, a search for another patient is
// an empty page, and neither reaches the source.
func (s *Server) restrictQuery(x *exchange) *verdict.Problem {
	if p := x.applyGrants(s); p != nil {
		return p
	}
	if p := x.applyFieldPolicy(s); p != nil {
		return p
	}
	return x.checkRequired()
}

// applyFieldPolicy narrows the field mask to the client's field policy;
// raw source data would bypass it, so raw is refused where it applies.
func (x *exchange) applyFieldPolicy(s *Server) *verdict.Problem {
	pol := x.client.policy
	if pol == nil || !x.route.unified() {
		return nil
	}
	mask, restricted := pol.Mask(x.route.resource, x.q.fields)
	if !restricted {
		return nil
	}
	if x.q.raw {
		return s.refuse(x, refusedPolicy, unified.CodeInsufficientScope)
	}
	x.q.fields = mask
	return nil
}

func (x *exchange) applyGrants(s *Server) *verdict.Problem {
	a := &x.authz
	if a.ngrants == 0 || !x.route.unified() && !x.route.write() {
		return nil
	}
	r := x.route.resource
	for _, g := range a.grants[:a.ngrants] {
		acc, ok := g.Allow(r, x.op(), x.q.params)
		if !ok {
			return s.refuse(x, refusedScope, unified.CodeInsufficientScope)
		}
		a.filters = append(a.filters, acc.Filters...)
		if acc.Compartment && authz.InCompartment(r) {
			if x.token == nil || x.token.Patient == "" {
				// A patient/ scope with no patient to confine it to.
				return s.refuse(x, refusedCompartment, unified.CodeInsufficientScope)
			}
			a.patient = x.token.Patient
		}
	}
	if x.route.write() {
		return x.restrictWrite(s)
	}
	searches := x.route.template == routeSearch || x.route.template == routeChanges
	if searches {
		for _, f := range a.filters {
			if x.q.capab.Accepts(f.Name) {
				x.q.setParam(f.Name, f.Value)
			}
		}
	}
	if a.patient == "" {
		return nil
	}
	switch {
	case r == unified.Patients && x.route.template == routeChanges:
		// Following every patient's changes to keep its own would tell
		// the client how many patients the source has and when they
		// change; a patient app reads its patient instead.
		return s.refuse(x, refusedCompartment, unified.CodeInsufficientScope)
	case r == unified.Patients && x.route.template == routeRead:
		if x.route.id != a.patient {
			return s.refuse(x, refusedCompartment, unified.CodeNotFound)
		}
	case r == unified.Patients && x.q.capab.Read:
		// No filter names a patient's own id, and paging through the
		// source's patients to find one would tell the client how many
		// there are: the search is answered by reading the patient.
		a.ownPatient = true
	case r == unified.Patients:
		// A connector without reads: other patients are dropped by admits.
	default:
		if v, ok := x.q.params[unified.FilterPatientID]; ok && v != a.patient && searches {
			a.refusal, a.empty = refusedCompartment, true
			s.metrics.authzRefused(x.client.id, refusedCompartment)
			return nil
		}
		if searches {
			if !x.q.capab.Accepts(unified.FilterPatientID) {
				return s.refuse(x, refusedCompartment, unified.CodeInsufficientScope)
			}
			x.q.setParam(unified.FilterPatientID, a.patient)
		}
	}
	return nil
}

// restrictWrite holds a write to what the grants allow: a created record
// must satisfy a scope's restriction and belong to the compartment's
// patient, as a read of it would have to. An update sends only the
// fields it changes, so whether the record it changes is the patient's,
// or within the restriction, is not known before the source is written:
// a restricted or compartment grant may create, not update.
func (x *exchange) restrictWrite(s *Server) *verdict.Problem {
	a := &x.authz
	if len(a.filters) == 0 && a.patient == "" {
		return nil
	}
	if x.route.template == routeUpdate || !a.admits(x.route.resource, x.w.record) {
		return s.refuse(x, a.recordRefusal(), unified.CodeInsufficientScope)
	}
	return nil
}

func (q *query) setParam(name, value string) {
	if q.params == nil {
		q.params = map[string]string{}
	}
	q.params[name] = value
}

// admits reports whether a plugin's record may be answered: it satisfies
// every forced filter and belongs to the compartment's patient.
func (a *authzState) admits(r unified.ResourceType, rec []byte) bool {
	if len(a.filters) == 0 && a.patient == "" {
		return true
	}
	return authz.Admits(r, rec, a.filters, a.patient)
}

// recordRefusal is why a record was not admitted.
func (a *authzState) recordRefusal() string {
	if a.patient != "" {
		return refusedCompartment
	}
	return refusedScope
}

// writeOwnPatient answers a compartment's patients search: the patient's
// record alone (nil: none), with no cursor.
func (s *Server) writeOwnPatient(x *exchange, rec []byte) *verdict.Problem {
	body := make([]byte, 0, len(rec)+12)
	body = append(body, `{"data":[`...)
	body = append(body, rec...)
	body = append(body, "]}"...)
	if rec != nil {
		x.records = 1
	}
	x.rc.Response.Header.SetContentType("application/json")
	x.rc.SetStatusCode(fasthttp.StatusOK)
	x.rc.SetBody(body)
	return nil
}
