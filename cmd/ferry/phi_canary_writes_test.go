package main

import (
	"encoding/base64"
	"strings"
)

// canaryWrites is the PHI canary's part for writes: every create and update
// carries markers (a note's text, a description, a participant's name, the
// idempotency key), and refused bodies carry them in values and keys. The
// canary's checks then find none of them in the audit trail, the logs, the
// metrics, a problem or a response header.
func canaryWrites(c *canaryClient, pid string) {
	t := c.t
	note := base64.StdEncoding.EncodeToString([]byte("ZQXCANARY-WNOTE-7731: the patient ZQXCANARY-WNAME-7731 reports pain 7/10."))
	patient := `{"resource":"patients","id":"` + pid + `","display":"ZQXCANARY-WNAME-7731"}`
	appt := `{"status":"booked","start":"2027-04-01T09:00:00Z","end":"2027-04-01T09:30:00Z","description":"ZQXCANARY-WDESC-7731","patient":` + patient + `}`
	doc := `{"status":"current","type":{"text":"Progress note"},"description":"ZQXCANARY-WDESC-7731","patient":` + patient +
		`,"contents":[{"attachment":{"content_type":"text/plain","title":"ZQXCANARY-WTITLE-7731","data":"` + note + `"}}]}`
	obs := `{"status":"final","code":{"text":"Pain score ZQXCANARY-WDESC-7731"},"patient":` + patient +
		`,"effective_at":"2027-04-01T09:00:00Z","value":{"type":"string","string":"ZQXCANARY-WVALUE-7731"}}`
	key := map[string]string{"Idempotency-Key": "ZQXCANARY-IDEMKEY-7731", "Content-Type": "application/json"}

	for resource, body := range map[string]string{"appointments": appt, "documents": doc, "observations": obs} {
		for _, want := range []int{201, 200} { // created, then replayed
			r := c.do("POST", c.conn+"/"+resource, key, body)
			if r.status != want {
				t.Errorf("canary create of %s: %d, want %d: %s", resource, r.status, want, r.body)
			}
		}
		r := c.do("POST", c.conn+"/"+resource, key, strings.Replace(body, "WDESC", "WOTHER", 1))
		if r.status != 422 {
			t.Errorf("canary key reused on %s: %d %s", resource, r.status, r.body)
		}
	}

	// An update, then a stale one: the conflict's ETag is a version only.
	first := c.do("POST", c.conn+"/appointments", map[string]string{"Idempotency-Key": "ZQXCANARY-IDEMKEY2-7731"}, appt)
	id := recordID(first.body)
	etag := first.header.Get("ETag")
	if r := c.do("PATCH", c.conn+"/appointments/"+id, map[string]string{"If-Match": etag}, `{"description":"ZQXCANARY-WDESC2-7731","status":"cancelled"}`); r.status != 200 {
		t.Errorf("canary update: %d %s", r.status, r.body)
	}
	if r := c.do("PATCH", c.conn+"/appointments/"+id, map[string]string{"If-Match": etag}, `{"description":"ZQXCANARY-WDESC3-7731"}`); r.status != 412 {
		t.Errorf("canary stale update: %d %s", r.status, r.body)
	}

	// Refused bodies: markers in values, in keys, in headers.
	for _, b := range []struct {
		path, body string
		hdr        map[string]string
	}{
		{"/appointments", `{"status":"ZQXCANARY-WCODE-7731","start":"ZQXCANARY-WDATE-7731","end":"x","patient":` + patient + `}`, key},
		{"/appointments", `{"minutes_duration":"ZQXCANARY-WTYPE-7731","ZQXCANARY-WKEY-7731":1,"zqxcanary-wkey2-7731":{"a":1}}`, key},
		{"/appointments", `{"participants":[{"ZQXCANARY_WKEY3_7731":"x","status":"ZQXCANARY-WCODE-7731"}]}`, key},
		{"/observations", `{"value":{"type":"ZQXCANARY-WVTYPE-7731"},"id":"ZQXCANARY-WID-7731"}`, key},
		{"/documents", `{"contents":[{"attachment":{"data":"ZQXCANARY-WDATA-7731"}}]}`, key},
		{"/appointments", appt, map[string]string{"Idempotency-Key": "ZQXCANARY WKEY 7731 with spaces"}},
		{"/appointments/" + id, `{"status":"cancelled"}`, map[string]string{"If-Match": "ZQXCANARY-WETAG-7731!"}},
		{"/appointments", `{"description":"ZQXCANARY-WDESC-7731"`, key},
	} {
		method := "POST"
		if strings.Count(b.path, "/") > 1 {
			method = "PATCH"
		}
		if r := c.do(method, c.conn+b.path, b.hdr, b.body); r.status < 400 || r.status >= 500 {
			t.Errorf("canary bad write %s %.60s: %d", b.path, b.body, r.status)
		}
	}
}

// recordID is the "id" member of a record.
func recordID(body []byte) string {
	s := string(body)
	i := strings.Index(s, `"id":"`)
	if i < 0 {
		return ""
	}
	s = s[i+6:]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}
