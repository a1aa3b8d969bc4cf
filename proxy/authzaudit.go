package proxy

import (
	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/proxy/authz"
)

// auditIdentity writes what authorization knew into the request's audit
// event: the token's issuer, subject and scopes, the purpose of use,
// break-glass, why authorization refused, and the compartment's patient
// as a keyed reference. Nothing here is PHI in clear: a subject that is
// not the client itself and the patient are keyed like patient_ref.
func (s *Server) auditIdentity(x *exchange, ev *auditlog.Event) {
	ev.AuthzRefusal = x.authz.refusal
	ev.BreakGlass, ev.SecurityAlert = x.authz.breakGlass, x.authz.alert
	t := x.tab.tenants[ev.Tenant]
	keyed := func(kind, v string) string {
		if t == nil || !t.served || v == "" {
			return ""
		}
		refs := t.refs.Load()
		if refs == nil {
			return ""
		}
		return refs.Ref(t.id, kind, v)
	}
	if tok := x.token; tok != nil {
		ev.TokenIssuer = tok.Issuer
		if tok.Subject == tok.ClientID {
			ev.TokenSubject = tok.Subject
		} else {
			ev.TokenSubject = keyed("token_subject", tok.Subject)
		}
		if g, ok := tok.Grant.(*authz.Grant); ok {
			ev.Scopes = g.Text()
		}
	}
	if x.authz.patient != "" && ev.PatientRef == "" && x.conn != nil && validSourceID(x.authz.patient) {
		ev.PatientRef = keyed(x.conn.cfg.ID, x.authz.patient)
	}
}
