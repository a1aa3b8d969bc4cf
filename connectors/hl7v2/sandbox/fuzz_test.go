package sandbox

import (
	"testing"

	"github.com/ferryhealth/ferry/connectors/hl7v2"
)

// FuzzAnswer: whatever arrives in a frame, the sandbox answers with a
// message that parses and acknowledges (MSA), and does not panic.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{
		"",
		"MSH|^~\\&|FERRY||PDQ||20240101||QBP^Q22^QBP_Q21|C1|P|2.5\rQPD|IHE PDQ Query|T1|@PID.5.1.1^okafor\rRCP|I|1^RD",
		"MSH|^~\\&|FERRY||PDQ||20240101||QBP^Q22^QBP_Q21|C1|P|2.5\rQPD|IHE PDQ Query|T1|@PID.3.1^SBX-1001~@PID.3.4.1^NOPE\rRCP|I",
		"MSH|^~\\&|FERRY||PDQ||20240101||QBP^Q22^QBP_Q21|C1|P|2.5\rQPD|IHE PDQ Query|T1|@PID.5.1.1^*\rRCP|I|2^RD\rDSC|SBX4|I",
		"MSH|^~\\&|FERRY||PDQ||20240101||QBP^Q22^QBP_Q21|C1|P|2.5\rQPD|IHE PDQ Query|T1|@PID.5.1.1^*\rRCP|I|-5^RD\rDSC|SBX-9|I",
		"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5",
	} {
		f.Add([]byte(s))
	}
	s := New()
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := hl7v2.Parse(s.Answer(msg))
		if err != nil {
			t.Fatalf("the answer does not parse: %v", err)
		}
		if m.Segment("MSA") == nil {
			t.Fatal("the answer has no MSA")
		}
	})
}
