package hl7v2

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// cr turns a message written one segment per line into HL7's carriage
// returns.
func cr(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r")) }

func mustParse(t testing.TB, data []byte) *Message {
	t.Helper()
	m, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestParseStructure(t *testing.T) {
	msg := cr("MSH|^~\\&|APP^1.2.3^ISO|FAC|||20240102||ADT^A01^ADT_A01|CTRL1|P|2.5\n" +
		"PID|1||A1^^^HOSP&1.2.3&ISO^MR~B2^^^OTHER^PI||Doe&van&Doe^Jane^^^Dr~Roe^J||\n" +
		"ZZ1\n" +
		"NTE|")
	m := mustParse(t, msg)
	if m.Delims != DefaultDelimiters {
		t.Errorf("Delims = %+v", m.Delims)
	}
	if got := len(m.Segments); got != 4 {
		t.Fatalf("%d segments, want 4", got)
	}
	msh := m.Header()
	for _, c := range []struct {
		got, want string
	}{
		{msh.Value(1), "|"},
		{msh.Value(2), "^~\\&"},
		{msh.Get(3, 1, 1, 1), "APP"},
		{msh.Get(3, 1, 3, 1), "ISO"},
		{msh.Get(9, 1, 1, 1), "ADT"},
		{msh.Get(9, 1, 2, 1), "A01"},
		{msh.Value(10), "CTRL1"},
		{msh.Value(12), "2.5"},
		{msh.Value(13), ""},
	} {
		if c.got != c.want {
			t.Errorf("MSH value %q, want %q", c.got, c.want)
		}
	}
	pid := m.Segment("PID")
	if got := len(pid.Field(3)); got != 2 {
		t.Errorf("PID-3 has %d repetitions, want 2", got)
	}
	if got := pid.Get(3, 2, 1, 1); got != "B2" {
		t.Errorf("PID-3[2].1 = %q", got)
	}
	if got := pid.Get(3, 1, 4, 2); got != "1.2.3" {
		t.Errorf("PID-3[1].4.2 = %q", got)
	}
	if got := pid.Get(5, 1, 1, 2); got != "van" {
		t.Errorf("PID-5.1.2 = %q", got)
	}
	if got := pid.Get(5, 2, 2, 1); got != "J" {
		t.Errorf("PID-5[2].2 = %q", got)
	}
	// Past the end of anything reads as empty, never panics.
	if pid.Get(99, 9, 9, 9) != "" || pid.Get(0, 0, 0, 0) != "" || (*Segment)(nil).Value(1) != "" {
		t.Error("absent positions must read as empty")
	}
	if len(pid.Fields) != 7 {
		t.Errorf("PID has %d fields, want 7 (trailing empty fields kept)", len(pid.Fields))
	}
	if z := m.Segment("ZZ1"); z == nil || len(z.Fields) != 0 {
		t.Errorf("ZZ1 = %+v", z)
	}
	if n := m.Segment("NTE"); n == nil || len(n.Fields) != 1 || n.Fields[0] != nil {
		t.Errorf("NTE = %+v", n)
	}
	if got := pid.Raw(); !strings.HasPrefix(got, "PID|1||A1") {
		t.Errorf("Raw = %q", got)
	}
}

func TestParseLineEndings(t *testing.T) {
	want := []string{"MSH", "PID", "OBX"}
	for name, in := range map[string]string{
		"cr":           "MSH|^~\\&|A\rPID|1\rOBX|1\r",
		"lf":           "MSH|^~\\&|A\nPID|1\nOBX|1\n",
		"crlf":         "MSH|^~\\&|A\r\nPID|1\r\nOBX|1\r\n",
		"mixed":        "MSH|^~\\&|A\r\n\nPID|1\rOBX|1",
		"blank lines":  "\n\r\n  \nMSH|^~\\&|A\n\n \t\nPID|1\n\nOBX|1\n\n",
		"byte order":   "\xef\xbb\xbfMSH|^~\\&|A\rPID|1\rOBX|1",
		"no final eol": "MSH|^~\\&|A\rPID|1\rOBX|1",
	} {
		t.Run(name, func(t *testing.T) {
			m := mustParse(t, []byte(in))
			var got []string
			for _, s := range m.Segments {
				got = append(got, s.Name)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("segments %v, want %v", got, want)
			}
			if m.Header().Value(3) != "A" {
				t.Errorf("MSH-3 = %q", m.Header().Value(3))
			}
		})
	}
}

func TestParseCustomDelimiters(t *testing.T) {
	// Unusual but legal encoding characters: every structural character is
	// whatever MSH-1 and MSH-2 say, and the usual ones are plain text.
	m := mustParse(t, cr("MSH#:*!$#APP#FAC\nPID#1##ID1:::NS$1.2$ISO*ID2##Smith:John|Jr^x&y~z\\q\\!F!"))
	if m.Delims != (Delimiters{Field: '#', Component: ':', Repetition: '*', Escape: '!', Subcomponent: '$'}) {
		t.Fatalf("Delims = %+v", m.Delims)
	}
	pid := m.Segment("PID")
	if got := pid.Get(3, 1, 4, 2); got != "1.2" {
		t.Errorf("PID-3.4.2 = %q", got)
	}
	if got := pid.Get(3, 2, 1, 1); got != "ID2" {
		t.Errorf("PID-3[2] = %q", got)
	}
	if got := pid.Get(5, 1, 2, 1); got != "John|Jr^x&y~z\\q\\#" {
		t.Errorf("PID-5.2 = %q", got)
	}
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := "MSH#:*!$#APP#FAC\rPID#1##ID1:::NS$1.2$ISO*ID2##Smith:John|Jr^x&y~z\\q\\!F!\r"; string(out) != want {
		t.Errorf("Encode = %q, want %q", out, want)
	}
}

func TestParseTruncationCharacter(t *testing.T) {
	m := mustParse(t, cr("MSH|^~\\&#|A\nNTE|1||ab\\P\\c#d"))
	if m.Delims.Truncation != '#' {
		t.Fatalf("Truncation = %q", m.Delims.Truncation)
	}
	if got := m.Segment("NTE").Value(3); got != "ab#c#d" {
		t.Errorf("NTE-3 = %q", got)
	}
	out, _ := m.Encode()
	if want := "MSH|^~\\&#|A\rNTE|1||ab\\P\\c\\P\\d\r"; string(out) != want {
		t.Errorf("Encode = %q, want %q", out, want)
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":                    "",
		"whitespace":               " \r\n\t",
		"no header":                "PID|1|2",
		"short header":             "MSH",
		"missing MSH-2":            "MSH||APP|FAC",
		"MSH-2 too short":          "MSH|^~\\|APP",
		"MSH-2 too long":           "MSH|^~\\&#$|APP",
		"repeated delimiter":       "MSH|^^\\&|APP",
		"letter delimiter":         "MSH|^~\\A|APP",
		"field separator in enc":   "MSH|^~|&|APP",
		"free text line":           "MSH|^~\\&|A\rRemap OBR with OBR-4\r",
		"wrapped line":             "MSH|^~\\&|A\rOBR|1|x^Newborn\rpanel AHIC^LN|||2019\r",
		"lower-case name":          "MSH|^~\\&|A\rpid|1",
		"long name":                "MSH|^~\\&|A\rPIDX|1",
		"other delimiters later":   "MSH|^~\\&|A\rMSH|^~\\#|B",
		"header without delimiter": "MSH|^~\\&|A\rMSH",
		"space delimiter":          "MSH ^~\\&|A",
	} {
		t.Run(name, func(t *testing.T) {
			m, err := Parse([]byte(in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, %v; want a *ParseError", m, err)
			}
			// The error never quotes the message.
			for _, word := range []string{"Remap", "APP", "AHIC", "pid"} {
				if strings.Contains(in, word) && strings.Contains(err.Error(), word) {
					t.Errorf("error %q quotes the message", err)
				}
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	d := DefaultDelimiters
	for _, c := range []struct{ in, want string }{
		{`plain`, "plain"},
		{`a\F\b\S\c\T\d\R\e\E\f`, "a|b^c&d~e\\f"},
		{`line1\.br\line2`, "line1\nline2"},
		{`x\.sp2\y\.ce\z\.sk3\w`, "x\ny\nz w"},
		{`\H\bold\N\ text\.fi\\.nf\\.in+4\\.ti-2\`, "bold text"},
		{`caf\XC3A9\`, "café"},           // hex UTF-8
		{`caf\XE9\`, "café"},             // hex ISO 8859-1, not valid UTF-8
		{`\X0D0A\`, "\r\n"},              // control characters survive
		{`\X a\`, "\n"},                  // python-hl7's space-padded hex
		{`\X\`, ""},                      // empty hex
		{`\C2842\x\M2442\`, "x"},         // character set switches dropped
		{`\Zlocal\x`, "x"},               // locally defined, dropped
		{`C:\temp\file`, `C:\temp\file`}, // unknown sequence kept as sent
		{`ends in \`, `ends in \`},       // unterminated
		{`\\`, `\\`},                     // empty sequence
		{`\XZZ\`, `\XZZ\`},               // bad hex
		{`\XABC\`, `\XABC\`},             // odd hex
		{`\P\`, `\P\`},                   // no truncation character declared
		{"Stra\xdfe", "Straße"},          // raw ISO 8859-1
		{"M\xfcller \\F\\", "Müller |"},  // raw ISO 8859-1 and a sequence
	} {
		if got := Unescape(c.in, d); got != c.want {
			t.Errorf("Unescape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	d := DefaultDelimiters
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a|b^c&d~e\\f", `a\F\b\S\c\T\d\R\e\E\f`},
		{"line1\nline2\r\x01\x7f", `line1\.br\line2\X0D\\X01\\X7F\`},
		{"Ωμέγα", "Ωμέγα"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	} {
		got := Escape(c.in, d)
		if got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
		back := Unescape(got, d)
		if want := strings.ToValidUTF8(c.in, "\uFFFD"); back != want {
			t.Errorf("Unescape(Escape(%q)) = %q", c.in, back)
		}
	}
}

func TestBuildAndEncode(t *testing.T) {
	m := NewMessage(DefaultDelimiters)
	m.Add("MSH", Components("APP", "1.2.3", "ISO"), nil, nil, nil, Value("20240102"), nil, Components("ADT", "A01"), Value("C1"), Value("P"), Value("2.5"))
	pid := m.Add("PID", Value("1"))
	pid.Set(3, Field{Comps("A|1", "", "", ""), Repetition{Component{"B"}, nil, nil, Subs("NS", "1.2", "ISO")}})
	pid.Set(5, Components("O'Brien^Smith", "Mary & Jo"))
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := "MSH|^~\\&|APP^1.2.3^ISO||||20240102||ADT^A01|C1|P|2.5\r" +
		"PID|1||A\\F\\1~B^^^NS&1.2&ISO||O'Brien\\S\\Smith^Mary \\T\\ Jo\r"
	if string(out) != want {
		t.Errorf("Encode =\n%q\nwant\n%q", out, want)
	}
	back := mustParse(t, out)
	if got := back.Segment("PID").Get(5, 1, 1, 1); got != "O'Brien^Smith" {
		t.Errorf("family back = %q", got)
	}

	bad := NewMessage(DefaultDelimiters)
	bad.Add("pid")
	if _, err := bad.Encode(); err == nil {
		t.Error("a lower-case segment name must not encode")
	}
	if _, err := NewMessage(Delimiters{Field: '|', Component: '|'}).Encode(); err == nil {
		t.Error("repeated delimiters must not encode")
	}
}

func TestDTM(t *testing.T) {
	for _, c := range []struct {
		in, date, dateTime string
		ok                 bool
	}{
		{"1970", "1970", "1970", true},
		{"197004", "1970-04", "1970-04", true},
		{"19700412", "1970-04-12", "1970-04-12", true},
		{"1970041213", "1970-04-12", "1970-04-12", true},
		{"197004121330", "1970-04-12", "1970-04-12", true},
		{"197004121330-0500", "1970-04-12", "1970-04-12T13:30:00-05:00", true},
		{"19700412133015.25+0100", "1970-04-12", "1970-04-12T13:30:15.25+01:00", true},
		{"20240229", "2024-02-29", "2024-02-29", true},
		{"20230229", "", "", false},
		{"19701301", "", "", false},
		{"197", "", "", false},
		{"1970041", "", "", false},
		{"19700412.5", "", "", false},
		{"19700412133015.12345", "", "", false},
		{"197004121330-05", "", "", false},
		{"197004121330-2400", "", "", false},
		{"19700412246000", "", "", false},
		{"abcd", "", "", false},
		{"", "", "", false},
	} {
		d, ok := parseDTM(c.in)
		if ok != c.ok {
			t.Errorf("parseDTM(%q) ok = %v", c.in, ok)
			continue
		}
		if ok && (d.date() != c.date || d.dateTime() != c.dateTime) {
			t.Errorf("parseDTM(%q) = %q, %q; want %q, %q", c.in, d.date(), d.dateTime(), c.date, c.dateTime)
		}
	}
	for in, want := range map[string]string{
		"1970": "1970", "1970-04": "197004", "1970-04-12": "19700412", "1970-04-12T23:30:00-05:00": "19700412",
		"1970-13": "", "1970-02-30": "", "70": "", "1970-04-12T25:00:00Z": "",
	} {
		got, ok := dtmDate(in)
		if got != want || ok != (want != "") {
			t.Errorf("dtmDate(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
