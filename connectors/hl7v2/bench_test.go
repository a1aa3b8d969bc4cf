package hl7v2

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// benchAnswer is an RSP^K22 with n full PID segments.
func benchAnswer(n int) []byte {
	var b strings.Builder
	b.WriteString("MSH|^~\\&|PDQ|GOODHEALTH|FERRY|FERRY|20240315103000-0500||RSP^K22^RSP_K21|R1|P|2.5\r")
	b.WriteString("MSA|AA|MSG00001\rQAK|TAG00001|OK|IHE PDQ Query|" + strconv.Itoa(n) + "|" + strconv.Itoa(n) + "|0\r")
	b.WriteString("QPD|IHE PDQ Query|TAG00001|@PID.5.1.1^EVERY*\r")
	for i := range n {
		b.WriteString("PID|" + strconv.Itoa(i+1) + "||MRN-" + strconv.Itoa(i) + "^^^GOODHEALTH&1.2.840.113619.6.197&ISO^MR~999-00-1234^^^SSA&2.16.840.1.113883.4.1&ISO^SS||")
		b.WriteString("EVERYWOMAN^EVE^ELIZABETH^JR^DR^PHD^L~BRIGHT^EVE^^^^^M||19620320|F|||2222 HOME STREET^APT 4B^ANN ARBOR^MI^99999^USA^H^^WASHTENAW||")
		b.WriteString("^PRN^PH^^1^555^5552004~^NET^Internet^eve@example.org|(555)555-2005^WPN^PH|||||||||||||||||||20240301083000-0500\r")
	}
	return []byte(b.String())
}

// BenchmarkParsePDQResponse is the connector's per-page work: parse and
// check an answer of 50 patients, map each and encode it as JSON.
func BenchmarkParsePDQResponse(b *testing.B) {
	data := benchAnswer(50)
	pm := &PatientMapping{IDAuthority: HD{Namespace: "GOODHEALTH"}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := ParsePDQResponse(data, "MSG00001", "TAG00001")
		if err != nil {
			b.Fatal(err)
		}
		for _, pid := range resp.Patients {
			if _, err := json.Marshal(pm.Patient(pid, goldenSource, false)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data := benchAnswer(50)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m, err := Parse(benchAnswer(50))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		if buf, err = m.AppendEncode(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
