package proxy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

var reasons = []string{
	unified.ReasonUnknownField, unified.ReasonReadOnly, unified.ReasonRequired, unified.ReasonNotUpdatable,
	unified.ReasonWrongType, unified.ReasonInvalidCode, unified.ReasonInvalidDate, unified.ReasonInvalid,
}

// FuzzWriteBody: the strict decoder of write bodies never panics; what it
// accepts becomes valid JSON, decoded the same way twice (the digest of a
// retry depends on it); what it refuses is refused with paths and reasons
// of the closed set, never a quoted key.
func FuzzWriteBody(f *testing.F) {
	for _, s := range []string{
		`{"status":"booked","start":"2027-02-01T09:00:00Z","end":"2027-02-01T09:20:00Z","patient":{"resource":"patients","id":"p"}}`,
		`{"status":"final","code":{"text":"Pain"},"patient":{"resource":"patients","id":"p"},"effective_at":"2027","value":{"type":"integer","integer":7}}`,
		`{"status":"current","type":{"text":"Note"},"patient":{"resource":"patients","id":"p"},"contents":[{"attachment":{"content_type":"text/plain","data":"aGk="}}]}`,
		`{"id":"x","Jane Doe":1,"participants":[{"status":"?"}]}`, `[]`, `{`, `null`, `{"value":{"type":"quantity"}}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	resources := unified.WritableResources()
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		r := resources[int(which)%len(resources)]
		partial := which&0x80 != 0
		spec, _ := unified.Writable(r)
		out, problems := decodeWriteBody(r, spec, body, partial)
		if len(problems) == 0 {
			if !json.Valid(out) {
				t.Fatalf("accepted %q as %q, not JSON", body, out)
			}
			again, _ := decodeWriteBody(r, spec, body, partial)
			if string(again) != string(out) {
				t.Fatalf("two decodings differ: %q, %q", out, again)
			}
			return
		}
		if out != nil {
			t.Fatalf("refused, yet a record: %q", out)
		}
		for _, p := range problems {
			if safePath(p.Path) != p.Path || strings.Contains(p.Path, `"`) || !slices.Contains(reasons, p.Reason) {
				t.Fatalf("problem %+v for %q", p, body)
			}
		}
	})
}
