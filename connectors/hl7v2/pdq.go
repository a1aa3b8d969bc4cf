package hl7v2

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/connectors"
)

// PDQQueryName is QPD-1 of an IHE Patient Demographics Query (ITI-21).
const PDQQueryName = "IHE PDQ Query"

// Limits of the HL7 v2.5 fields a query fills in.
const (
	maxControlID = 20  // MSH-10
	maxQueryTag  = 32  // QPD-2
	maxPointer   = 180 // DSC-1
	maxParam     = 256 // a QIP value, as QPD-3 bounds its repetitions
)

// HD is an HL7 hierarchic designator: an application, a facility or an
// assigning authority, named by a local namespace id, a universal id (an
// OID, a URI) and the universal id's type ("ISO", "URI", "DNS" …), any of
// which may be empty.
type HD struct {
	Namespace       string `json:"namespace,omitempty"`
	UniversalID     string `json:"universal_id,omitempty"`
	UniversalIDType string `json:"universal_id_type,omitempty"`
}

// IsZero reports whether h names nothing.
func (h HD) IsZero() bool { return h == HD{} }

// component returns h as one component of a field (subcomponents).
func (h HD) component() Component { return Subs(h.Namespace, h.UniversalID, h.UniversalIDType) }

// field returns h as a whole field (components).
func (h HD) field() Field { return Components(h.Namespace, h.UniversalID, h.UniversalIDType) }

// readHD reads an HD held as the subcomponents of one component.
func readHD(c Component) HD {
	return HD{Namespace: nullable(c.Sub(1)), UniversalID: nullable(c.Sub(2)), UniversalIDType: nullable(c.Sub(3))}
}

// Matches reports whether h and o name the same authority: the same
// universal id (compared case-insensitively for its type) when both give
// one, the same namespace otherwise.
func (h HD) Matches(o HD) bool {
	if h.UniversalID != "" && o.UniversalID != "" {
		return h.UniversalID == o.UniversalID && strings.EqualFold(h.UniversalIDType, o.UniversalIDType)
	}
	return h.Namespace != "" && h.Namespace == o.Namespace
}

// PDQParams are the demographics an ITI-21 query matches on (QPD-3). At
// least one must be given; the supplier decides how each is matched
// (exactly, by prefix, phonetically, with "*" wildcards …).
type PDQParams struct {
	// Family is the family name (@PID.5.1.1).
	Family string
	// Given is the first given name (@PID.5.2).
	Given string
	// BirthDate is YYYY, YYYY-MM or YYYY-MM-DD (or an RFC 3339 date-time,
	// whose date is used), sent as an HL7 date of that precision (@PID.7).
	BirthDate string
	// Gender is male, female, other or unknown (@PID.8 M, F, O, U).
	Gender string
	// Identifier is a patient identifier (@PID.3.1), with the authority that
	// assigned it (@PID.3.4.1, .2, .3) when Authority is not zero.
	Identifier string
	Authority  HD
}

// PDQQuery is one QBP^Q22 message: an IHE Patient Demographics Query, or
// its continuation when Continuation is set.
type PDQQuery struct {
	// SendingApplication … ReceivingFacility are MSH-3 to MSH-6. The
	// supplier answers in MSH-3 of its response with what MSH-5 names.
	SendingApplication, SendingFacility     HD
	ReceivingApplication, ReceivingFacility HD
	// ControlID is MSH-10, which the answer's MSA-2 must echo: 1–20
	// printable ASCII characters, unique per message.
	ControlID string
	// Time is MSH-7.
	Time time.Time
	// ProcessingID is MSH-11: "P" (production, the default), "D"
	// (debugging) or "T" (training).
	ProcessingID string
	// Version is MSH-12, "2.5" by default.
	Version string

	// QueryTag is QPD-2, which the answer's QAK-1 must echo: 1–32
	// printable ASCII characters. A continuation repeats the tag of the
	// query it continues.
	QueryTag string
	// Params are the demographics to match (QPD-3).
	Params PDQParams
	// DomainsReturned are the assigning authorities whose identifiers the
	// supplier should return in PID-3 (QPD-8); empty asks for all.
	DomainsReturned []HD

	// Limit is the most patients the supplier should return in one answer
	// (RCP-2, in records); 0 leaves it to the supplier.
	Limit int
	// Continuation is the pointer (DSC-1) of the previous answer, asking
	// for the next increment of the same query; "" for a first query.
	Continuation string
}

// PDQ parameter positions, as QPD-3 names them.
const (
	qipFamily        = "@PID.5.1.1"
	qipGiven         = "@PID.5.2"
	qipBirthDate     = "@PID.7"
	qipGender        = "@PID.8"
	qipIdentifier    = "@PID.3.1"
	qipAuthorityNS   = "@PID.3.4.1"
	qipAuthorityUID  = "@PID.3.4.2"
	qipAuthorityType = "@PID.3.4.3"
)

var genderCodes = map[string]string{"male": "M", "female": "F", "other": "O", "unknown": "U"}

// Message builds the QBP^Q22 message. The error names the offending part
// (never its value) when the query is incomplete or a value cannot be sent.
func (q *PDQQuery) Message() (*Message, error) {
	if !printableASCII(q.ControlID, maxControlID) {
		return nil, errors.New("hl7v2: the control id must be 1-20 printable ASCII characters")
	}
	if !printableASCII(q.QueryTag, maxQueryTag) {
		return nil, errors.New("hl7v2: the query tag must be 1-32 printable ASCII characters")
	}
	if q.Limit < 0 {
		return nil, errors.New("hl7v2: negative limit")
	}
	if len(q.Continuation) > maxPointer || hasControl(q.Continuation) {
		return nil, errors.New("hl7v2: the continuation pointer is too long or holds control characters")
	}
	qip, err := q.Params.qip()
	if err != nil {
		return nil, err
	}
	processing := q.ProcessingID
	if processing == "" {
		processing = "P"
	}
	version := q.Version
	if version == "" {
		version = "2.5"
	}
	ts := q.Time
	if ts.IsZero() {
		return nil, errors.New("hl7v2: the message time is not set")
	}

	m := NewMessage(DefaultDelimiters)
	m.Add("MSH",
		q.SendingApplication.field(), q.SendingFacility.field(),
		q.ReceivingApplication.field(), q.ReceivingFacility.field(),
		Value(ts.Format("20060102150405-0700")),
		nil,
		Components("QBP", "Q22", "QBP_Q21"),
		Value(q.ControlID),
		Value(processing),
		Value(version),
	)
	var domains Field
	for _, d := range q.DomainsReturned {
		if !d.IsZero() {
			domains = append(domains, Repetition{nil, nil, nil, d.component()})
		}
	}
	m.Add("QPD", Value(PDQQueryName), Value(q.QueryTag), qip, nil, nil, nil, nil, domains)
	rcp := Field(nil)
	if q.Limit > 0 {
		rcp = Components(strconv.Itoa(q.Limit), "RD")
	}
	m.Add("RCP", Value("I"), rcp)
	if q.Continuation != "" {
		m.Add("DSC", Value(q.Continuation), Value("I"))
	}
	return m, nil
}

// Encode builds the QBP^Q22 message and encodes it.
func (q *PDQQuery) Encode() ([]byte, error) {
	m, err := q.Message()
	if err != nil {
		return nil, err
	}
	return m.Encode()
}

// qip returns QPD-3: one repetition per parameter, "@PID.x^value".
func (p *PDQParams) qip() (Field, error) {
	var f Field
	add := func(name, v string) error {
		if v == "" {
			return nil
		}
		if len(v) > maxParam || hasControl(v) {
			return errors.New("hl7v2: the " + name + " parameter is too long or holds control characters")
		}
		f = append(f, Comps(name, v))
		return nil
	}
	if err := add(qipFamily, p.Family); err != nil {
		return nil, err
	}
	if err := add(qipGiven, p.Given); err != nil {
		return nil, err
	}
	if p.BirthDate != "" {
		d, ok := dtmDate(p.BirthDate)
		if !ok {
			return nil, errors.New("hl7v2: the birth date parameter is not a date")
		}
		f = append(f, Comps(qipBirthDate, d))
	}
	if p.Gender != "" {
		g, ok := genderCodes[p.Gender]
		if !ok {
			return nil, errors.New("hl7v2: the gender parameter is not male, female, other or unknown")
		}
		f = append(f, Comps(qipGender, g))
	}
	if err := add(qipIdentifier, p.Identifier); err != nil {
		return nil, err
	}
	if p.Identifier != "" {
		for _, a := range []struct{ name, v string }{
			{qipAuthorityNS, p.Authority.Namespace},
			{qipAuthorityUID, p.Authority.UniversalID},
			{qipAuthorityType, p.Authority.UniversalIDType},
		} {
			if err := add(a.name, a.v); err != nil {
				return nil, err
			}
		}
	} else if !p.Authority.IsZero() {
		return nil, errors.New("hl7v2: an assigning authority without an identifier")
	}
	if len(f) == 0 {
		return nil, errors.New("hl7v2: a PDQ query needs at least one parameter")
	}
	return f, nil
}

// PDQResponse is a checked RSP^K22 answer.
type PDQResponse struct {
	// Message is the whole answer.
	Message *Message
	// Patients are the PID segments, in the order the supplier sent them.
	Patients []*Segment
	// Continuation is DSC-1: the pointer that asks for the next increment;
	// "" when the supplier has no more.
	Continuation string
	// Total, Payload and Remaining are QAK-4 to QAK-6, the hit counts; -1
	// when the supplier does not say.
	Total, Payload, Remaining int
}

// AckError is a negative acknowledgement: the supplier's MSA-1 (or QAK-2)
// and the HL7 error codes of its ERR segments (table 0357: 204 unknown key
// identifier, 207 application internal error …). It holds codes only:
// an ERR segment's text may quote the query, which is PHI, and is never
// copied.
type AckError struct {
	// Segment is "MSA" or "QAK": which segment said no.
	Segment string `json:"segment"`
	// Code is the acknowledgement (AE, AR, CE, CR) or query response
	// status (AE, AR, TM …), only ever one of the codes HL7 defines.
	Code string `json:"code"`
	// ErrorCodes are the numeric ERR-3 codes (ERR-1.4 before v2.5), at
	// most ten.
	ErrorCodes []string `json:"error_codes,omitempty"`
}

func (e *AckError) Error() string {
	s := "hl7v2: the source answered " + e.Segment + " " + e.Code
	if len(e.ErrorCodes) > 0 {
		s += " (HL7 error " + strings.Join(e.ErrorCodes, ", ") + ")"
	}
	return s
}

// Has reports whether the supplier gave the HL7 error code c.
func (e *AckError) Has(c string) bool {
	for _, x := range e.ErrorCodes {
		if x == c {
			return true
		}
	}
	return false
}

// Error codes of HL7 table 0357 the mapping tells apart.
const (
	ErrUnknownKey = "204" // unknown key identifier: an identifier or domain the supplier does not know
)

// ParsePDQResponse parses and checks an answer to a QBP^Q22 whose MSH-10
// was controlID and QPD-2 queryTag (either is not checked when "").
//
// Errors are *connectors.Error values, wrapping a *ParseError or an
// *AckError when there is one:
//   - a message that does not parse, is not an RSP^K22, or answers another
//     message (MSA-2) or query (QAK-1): CodeUpstream;
//   - MSA-1 AE/CE/AR/CR or QAK-2 AE/AR: CodeNotFound when an ERR segment
//     gives code 204 (the supplier knows no such identifier or domain),
//     CodeUpstream otherwise;
//   - QAK-2 TM (too much data): CodeInvalidArgument, as the query must be
//     narrowed.
//
// QAK-2 NF (no data found) is an answer with no patients, not an error.
func ParsePDQResponse(data []byte, controlID, queryTag string) (*PDQResponse, error) {
	m, err := Parse(data)
	if err != nil {
		return nil, &connectors.Error{Code: connectors.CodeUpstream, Err: err}
	}
	msh := m.Segments[0]
	if msh.Name != "MSH" {
		return nil, upstream("the answer is a batch, not a message")
	}
	msa := m.Segment("MSA")
	if msa == nil {
		return nil, upstream("the answer has no MSA segment")
	}
	if controlID != "" && msa.Value(2) != controlID {
		return nil, upstream("the answer acknowledges another message (MSA-2)")
	}
	switch ack := msa.Value(1); ack {
	case "AA", "CA":
	case "AE", "AR", "CE", "CR":
		return nil, ackError(m, "MSA", ack)
	default:
		return nil, upstream("the answer's acknowledgement code (MSA-1) is not one HL7 defines")
	}
	if typ := msh.Field(9).Rep(1); typ.Value(1) != "RSP" || typ.Value(2) != "K22" {
		return nil, upstream("the answer is not an RSP^K22 (MSH-9)")
	}
	qak := m.Segment("QAK")
	if qak == nil {
		return nil, upstream("the answer has no QAK segment")
	}
	if queryTag != "" && qak.Value(1) != queryTag {
		return nil, upstream("the answer is for another query (QAK-1)")
	}
	r := &PDQResponse{
		Message:   m,
		Total:     count(qak.Value(4)),
		Payload:   count(qak.Value(5)),
		Remaining: count(qak.Value(6)),
	}
	pids := m.All("PID")
	switch status := qak.Value(2); status {
	case "OK", "":
		r.Patients = pids
	case "NF":
		// No data found: any PID segment would contradict the status, and
		// is not returned.
	case "AE", "AR":
		return nil, ackError(m, "QAK", status)
	case "TM":
		return nil, &connectors.Error{Code: connectors.CodeInvalidArgument, Err: &AckError{Segment: "QAK", Code: status, ErrorCodes: errorCodes(m)}}
	case "PD":
		return nil, &connectors.Error{Code: connectors.CodeUpstream, Err: &AckError{Segment: "QAK", Code: status, ErrorCodes: errorCodes(m)}}
	default:
		return nil, upstream("the answer's query response status (QAK-2) is not one HL7 defines")
	}
	if dsc := m.Segment("DSC"); dsc != nil && len(r.Patients) > 0 {
		p := nullable(dsc.Value(1))
		if len(p) > maxPointer || hasControl(p) {
			return nil, upstream("the answer's continuation pointer (DSC-1) is too long or holds control characters")
		}
		r.Continuation = p
	}
	return r, nil
}

func upstream(why string) error {
	return connectors.Errorf(connectors.CodeUpstream, "hl7v2: %s", why)
}

// ackError turns a negative acknowledgement into a connector error.
func ackError(m *Message, segment, code string) error {
	e := &AckError{Segment: segment, Code: code, ErrorCodes: errorCodes(m)}
	c := connectors.CodeUpstream
	if e.Has(ErrUnknownKey) {
		c = connectors.CodeNotFound
	}
	return &connectors.Error{Code: c, Err: e}
}

// errorCodes collects the numeric HL7 error codes of the ERR segments:
// ERR-3.1 (v2.5 and later), or ERR-1.4.1 (the v2.4 ELD).
func errorCodes(m *Message) []string {
	var out []string
	for _, e := range m.All("ERR") {
		for _, c := range []string{e.Get(3, 1, 1, 1), e.Get(1, 1, 4, 1)} {
			if c != "" && len(c) <= 5 && digits(c) {
				out = append(out, c)
				break
			}
		}
		if len(out) == 10 {
			break
		}
	}
	return out
}

// count reads a QAK hit count; -1 when absent or not a small number.
func count(s string) int {
	if s == "" || len(s) > 9 || !digits(s) {
		return -1
	}
	n, _ := strconv.Atoi(s)
	return n
}

// nullable reads HL7's explicit null ("", two double quotes) as empty.
func nullable(s string) string {
	if s == `""` {
		return ""
	}
	return s
}

func printableASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
