// Package feed serves inbound HL7 v2 feeds: an MLLP listener per hl7v2
// connection that declares one (config: connections[].feed), to which a
// sender's interface engine pushes messages, delivered as events to the
// webhooks its tenant's clients subscribed (proxy/webhook).
//
// Ferry stores nothing, so the sender's own queue is the only queue: a
// message is acknowledged AA only once every subscription matching its
// events answered 2xx within the feed's ACK budget; otherwise AE (or the
// connection is closed, per the feed's on_failure) and the sender resends
// it. Ferry never answers CA (a commit accept promises safe storage). A
// message matching no subscription is acknowledged at once.
//
// Per TCP connection one message is in flight, as MLLP expects, so order is
// kept per feed. Each connection holds at most one message (max_frame_bytes)
// in memory while it is delivered; nothing is written anywhere.
//
// Senders are authenticated before any content is read as a message: the
// listener's TLS (1.2 or newer; mutual, with a CA and optional certificate
// pins, when configured), its CIDR allowlist, and then MSH-3/MSH-4, which
// must name the connection's sender: another sender gets AR and an audit
// event. The host reads only the MSH segment (ParseHeader, fuzzed); the
// connector maps the message to events in its plugin (map_event), and the
// host checks their shape before they leave.
//
// Each event's webhook-id is derived, keyed with the tenant's audit key,
// from the tenant, the connection, MSH-3, MSH-4, MSH-10 and the event's
// place in the message: a resent message gives the same ids, so receivers
// deduplicate, and any replica or a restarted process derives the same.
//
// One audit event is emitted per message received (action event_receive)
// and one per delivery attempt (event_deliver), with keyed patient
// references and the webhook-id, never message content.
package feed
