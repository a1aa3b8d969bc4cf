// Package webhook delivers events to the webhooks clients subscribe to
// (config: clients[].webhooks), following the Standard Webhooks
// specification: a POST of the event as JSON with the headers webhook-id
// (the event's stable id), webhook-timestamp (Unix seconds) and
// webhook-signature ("v1," and the base64 HMAC-SHA256 of
// "{id}.{timestamp}.{body}", once per signing secret, space-separated, so
// a receiver can rotate).
//
// Every URL goes through the host's egress policy (proxy/source's dialer:
// no loopback, private or reserved address unless the subscription allows
// it, checked after DNS resolution), https only outside dev_mode, and no
// redirect is followed. Each subscription's endpoint has a breaker
// (sony/gobreaker): after consecutive failures it refuses deliveries at
// once for a while, so a feed whose endpoint is known dead answers its
// sender AE without waiting on it.
//
// Nothing is queued or kept: a delivery is attempted once, within the
// caller's deadline, and its outcome returned. The caller (the feed)
// decides what a failure means for the sender, who resends.
package webhook
