package source

import "testing"

func TestAckStatus(t *testing.T) {
	for msg, want := range map[string]int{
		"MSH|^~\\&|A\rMSA|AA|1":       200,
		"MSH|^~\\&|A\rMSA|AE|1\rERR|": 400,
		"MSH|^~\\&|A\rMSA|CE":         400,
		"MSH|^~\\&|A\rMSA|AR|1":       503,
		"MSH#^~\\&#A\rMSA#CR#1":       503,
		"MSH|^~\\&|A\rMSA|ARX|1":      200,
		"MSH|^~\\&|A\rQAK|AE":         200,
		"":                            200,
		"garbage":                     200,
	} {
		if got := ackStatus([]byte(msg)); got != want {
			t.Errorf("%q: %d, want %d", msg, got, want)
		}
	}
}
