package mllp

import (
	"bytes"
	"strings"
	"testing"
)

// BenchmarkReadFrame reads a 64 KiB answer, about a page of 50 patients.
func BenchmarkReadFrame(b *testing.B) {
	f, _ := AppendFrame(nil, []byte(strings.Repeat("PID|1||MRN^^^NS||DOE^JANE\r", 2500)))
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	r := bytes.NewReader(f)
	for b.Loop() {
		r.Reset(f)
		if _, err := NewReader(r, 0).ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
