package openapi

// eventWebhook describes the request Ferry makes to a client's webhook for
// each event (docs/events.md): a Standard Webhooks POST.
func eventWebhook() *pathItem {
	hdr := func(name, desc string) *parameter {
		return &parameter{Name: name, In: "header", Required: true, Description: desc, Schema: &schema{Type: "string"}}
	}
	return &pathItem{Post: &operation{
		OperationID: "event",
		Summary:     "An event from a connection's feed",
		Description: "Ferry POSTs each event to every webhook subscribed to its type and connection, signed as the Standard Webhooks specification says. " +
			"Ferry acknowledges the source's message only once every subscribed webhook answered 2xx, so an event can arrive more than once: deduplicate by `webhook-id`, which is also the event's `id` and is the same on every resend. " +
			"Events of one feed arrive in the order the source sent them. With the subscription's payload `ids` (the default) the event carries `records` (references) and no `data`; with `full`, `data` holds the records.",
		Tags: []string{"events"},
		Parameters: []*parameter{
			hdr("webhook-id", "The event's stable id (`msg_` and 26 base32 characters): derived from the tenant, the connection, the source's message id and the event's place in the message, so a resent message gives the same id."),
			hdr("webhook-timestamp", "When this attempt was sent, in Unix seconds. Reject deliveries too far from your clock (Standard Webhooks libraries allow five minutes)."),
			hdr("webhook-signature", "Space-separated signatures `v1,<base64>`: the HMAC-SHA256, under each of the subscription's signing secrets (the base64 after `whsec_`, decoded), of `{webhook-id}.{webhook-timestamp}.{body}`. Several during a rotation: accept the delivery if one verifies."),
		},
		RequestBody: &requestBody{Required: true, Content: map[string]*mediaType{
			"application/json": {Schema: &schema{Ref: ref("schemas", "Event")}},
		}},
		Responses: map[string]*response{
			"2XX":     {Description: "Accepted: the event is yours. Answer only once it is safely stored or processed: this answer is what lets Ferry acknowledge the source's message."},
			"default": {Description: "Not accepted (any other status, a redirect, or no answer within the feed's budget): Ferry answers the source AE, and the source resends the message."},
		},
		Security: &[]securityReq{},
	}}
}
