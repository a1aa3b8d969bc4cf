package proxy

import "github.com/prometheus/client_golang/prometheus"

// authzMetrics count inbound authorization outcomes. Labels are
// operator-chosen client ids and a closed set of reasons, never a token,
// a scope a client wrote, or a patient.
type authzMetrics struct {
	tokens     *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	breakGlass *prometheus.CounterVec
}

// Why an authenticated request was refused by authorization.
const (
	refusedScope       = "scope"
	refusedCompartment = "compartment"
	refusedPolicy      = "policy"
	refusedPurpose     = "purpose_of_use"
)

func (m *metrics) newAuthzMetrics() []prometheus.Collector {
	m.authz.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_access_tokens_total", Help: "Bearer access tokens presented, by outcome: accepted or refused (401).",
	}, []string{"outcome"})
	m.authz.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_authorization_refusals_total", Help: "Requests refused by inbound authorization, by client and reason: scope, compartment, policy, purpose_of_use.",
	}, []string{"client", "reason"})
	m.authz.breakGlass = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_break_glass_total", Help: "Requests made under break-glass (purpose of use BTG), by client.",
	}, []string{"client"})
	return []prometheus.Collector{m.authz.tokens, m.authz.refusals, m.authz.breakGlass}
}

func (m *metrics) tokenAccepted() { m.authz.tokens.WithLabelValues("accepted").Inc() }
func (m *metrics) tokenRefused()  { m.authz.tokens.WithLabelValues("refused").Inc() }
func (m *metrics) authzRefused(client, reason string) {
	m.authz.refusals.WithLabelValues(client, reason).Inc()
}
func (m *metrics) breakGlassUsed(client string) { m.authz.breakGlass.WithLabelValues(client).Inc() }
