package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors/hl7v2"
)

// MLLP framing bytes.
const (
	startBlock = 0x0b
	endBlock   = 0x1c
	cr         = 0x0d
)

// MaxFrame bounds one incoming message; a query is a few hundred bytes.
const MaxFrame = 64 << 10

// defaultLimit is the increment size when a query has no RCP-2.
const defaultLimit = 10

// idleTimeout closes a connection that sends nothing for this long.
const idleTimeout = 2 * time.Minute

// Server is a sandbox PDQ supplier. It is safe for concurrent use; each
// connection is served one message at a time, as MLLP requires.
type Server struct {
	now func() time.Time

	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns a sandbox supplier over the built-in patients.
func New() *Server {
	return &Server{now: time.Now, conns: map[net.Conn]struct{}{}}
}

// MRNs returns the sandbox patients' medical record numbers (identifiers
// in the Namespace domain), in the order a search returns them.
func (s *Server) MRNs() []string {
	out := make([]string, len(patients))
	for i, p := range patients {
		out[i] = p.mrn
	}
	return out
}

// Serve accepts MLLP connections on ln until Close; it returns nil after
// Close, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("sandbox: closed")
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops every listener and connection and waits for them to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		msg, err := readFrame(r)
		if err != nil {
			return
		}
		out := make([]byte, 0, 1024)
		out = append(out, startBlock)
		out = append(out, s.Answer(msg)...)
		out = append(out, endBlock, cr)
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

var errFraming = errors.New("sandbox: bad MLLP framing")

// readFrame reads one MLLP frame and returns its content.
func readFrame(r *bufio.Reader) ([]byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if b != startBlock {
		return nil, errFraming
	}
	var buf bytes.Buffer
	for {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch b {
		case startBlock:
			return nil, errFraming
		case endBlock:
			if next, err := r.ReadByte(); err != nil || next != cr {
				return nil, errFraming
			}
			return buf.Bytes(), nil
		}
		if buf.Len() >= MaxFrame {
			return nil, errFraming
		}
		buf.WriteByte(b)
	}
}

// Answer returns the sandbox's answer to one message (unframed): an
// RSP^K22 for a QBP^Q22, else an ACK AR. It is what the server sends, and
// lets tests check answers without a socket.
func (s *Server) Answer(msg []byte) []byte {
	q, err := hl7v2.Parse(msg)
	if err != nil || q.Header() == nil {
		return s.ack(nil, "AR", "100", "MSH^1")
	}
	msh := q.Header()
	if msh.Get(9, 1, 1, 1) != "QBP" || msh.Get(9, 1, 2, 1) != "Q22" || q.Segment("QPD") == nil {
		return s.ack(msh, "AR", "200", "MSH^1^9")
	}
	return s.query(q)
}

// header starts an answer to msh (nil for an unreadable message).
func (s *Server) header(msh *hl7v2.Segment, typ hl7v2.Field) *hl7v2.Message {
	m := hl7v2.NewMessage(hl7v2.DefaultDelimiters)
	var sendApp, sendFac, recvApp, recvFac hl7v2.Field
	ctrl, version := "", "2.5"
	if msh != nil {
		// The answer's sender is who the query was sent to, and the other
		// way round.
		sendApp, sendFac, recvApp, recvFac = msh.Field(5), msh.Field(6), msh.Field(3), msh.Field(4)
		ctrl = msh.Value(10)
		if v := msh.Value(12); v != "" {
			version = v
		}
	}
	if sendApp == nil {
		sendApp = hl7v2.Value("FERRY-SANDBOX")
	}
	m.Add("MSH", sendApp, sendFac, recvApp, recvFac,
		hl7v2.Value(s.now().Format("20060102150405-0700")), nil, typ,
		hl7v2.Value(answerControlID(ctrl)), hl7v2.Value("P"), hl7v2.Value(version))
	return m
}

// answerControlID is a control id of the answer's own (MSH-10), at most
// 20 characters as HL7 v2.5 allows.
func answerControlID(ctrl string) string {
	id := "R" + ctrl
	if len(id) > 20 {
		id = id[:20]
	}
	return id
}

func (s *Server) ack(msh *hl7v2.Segment, code, errCode, location string) []byte {
	m := s.header(msh, hl7v2.Components("ACK", "Q22", "ACK"))
	ctrl := ""
	if msh != nil {
		ctrl = msh.Value(10)
	}
	m.Add("MSA", hl7v2.Value(code), hl7v2.Value(ctrl))
	m.Add("ERR", nil, hl7v2.Components(strings.Split(location, "^")...), hl7v2.Components(errCode, errorText[errCode], "HL70357"), hl7v2.Value("E"))
	return encode(m)
}

var errorText = map[string]string{
	"100": "Segment sequence error",
	"200": "Unsupported message type",
	"204": "Unknown key identifier",
}

func encode(m *hl7v2.Message) []byte {
	b, err := m.Encode()
	if err != nil {
		// Only a bad delimiter set fails to encode; the sandbox's are the
		// defaults.
		panic("sandbox: " + err.Error())
	}
	return b
}

// query answers a QBP^Q22.
func (s *Server) query(q *hl7v2.Message) []byte {
	msh, qpd := q.Header(), q.Segment("QPD")
	ctrl, tag := msh.Value(10), qpd.Value(2)
	params := map[string]string{}
	for _, rep := range qpd.Field(3) {
		if name := rep.Value(1); name != "" {
			params[name] = rep.Value(2)
		}
	}
	var domains []string
	for _, rep := range qpd.Field(8) {
		if ns := rep.Comp(4).Sub(1); ns != "" {
			domains = append(domains, ns)
		}
	}
	if ns, ok := params["@PID.3.4.1"]; ok {
		domains = append(domains, ns)
	}
	for _, d := range domains {
		if d != Namespace && d != SSA {
			m := s.header(msh, hl7v2.Components("RSP", "K22", "RSP_K21"))
			m.Add("MSA", hl7v2.Value("AE"), hl7v2.Value(ctrl))
			m.Add("QAK", hl7v2.Value(tag), hl7v2.Value("AE"), hl7v2.Value(hl7v2.PDQQueryName))
			m.Segments = append(m.Segments, qpd)
			m.Add("ERR", nil, hl7v2.Components("QPD", "1", "3", "1", "4"), hl7v2.Components("204", errorText["204"], "HL70357"), hl7v2.Value("E"))
			return encode(m)
		}
	}
	var found []*patient
	for i := range patients {
		if matches(&patients[i], params) {
			found = append(found, &patients[i])
		}
	}
	limit := defaultLimit
	if n, err := strconv.Atoi(q.Segment("RCP").Get(2, 1, 1, 1)); err == nil && n > 0 {
		limit = n
	}
	start := 0
	if dsc := q.Segment("DSC"); dsc != nil {
		if n, ok := parsePointer(dsc.Value(1)); ok {
			start = min(n, len(found))
		}
	}
	end := min(start+limit, len(found))
	page := found[start:end]
	remaining := len(found) - end

	m := s.header(msh, hl7v2.Components("RSP", "K22", "RSP_K21"))
	m.Add("MSA", hl7v2.Value("AA"), hl7v2.Value(ctrl))
	status := "OK"
	if len(page) == 0 {
		status = "NF"
	}
	m.Add("QAK", hl7v2.Value(tag), hl7v2.Value(status), hl7v2.Value(hl7v2.PDQQueryName),
		hl7v2.Value(strconv.Itoa(len(found))), hl7v2.Value(strconv.Itoa(len(page))), hl7v2.Value(strconv.Itoa(remaining)))
	m.Segments = append(m.Segments, qpd)
	for i, p := range page {
		p.addPID(m, i+1)
	}
	if remaining > 0 {
		m.Add("DSC", hl7v2.Value(pointer(end)), hl7v2.Value("I"))
	}
	return encode(m)
}

// A continuation pointer is "SBX" and the offset of the next increment.
func pointer(offset int) string { return "SBX" + strconv.Itoa(offset) }

func parsePointer(p string) (int, bool) {
	rest, ok := strings.CutPrefix(p, "SBX")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

func matches(p *patient, params map[string]string) bool {
	for name, want := range params {
		switch name {
		case "@PID.5.1.1":
			if !matchName(want, p.family) {
				return false
			}
		case "@PID.5.2":
			if len(p.given) == 0 || !matchName(want, p.given[0]) {
				return false
			}
		case "@PID.7":
			if want == "" || !strings.HasPrefix(p.birth, want) {
				return false
			}
		case "@PID.8":
			if p.sex != want {
				return false
			}
		case "@PID.3.1":
			if !p.hasID(want, params["@PID.3.4.1"]) {
				return false
			}
		}
	}
	return true
}

func matchName(pattern, v string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return len(v) >= len(prefix) && strings.EqualFold(v[:len(prefix)], prefix)
	}
	return strings.EqualFold(pattern, v)
}

func (p *patient) hasID(id, ns string) bool {
	switch {
	case (ns == "" || ns == Namespace) && id == p.mrn:
		return true
	case (ns == "" || ns == SSA) && p.ssn != "" && id == p.ssn:
		return true
	}
	return false
}

// addPID writes the patient as PID segment n.
func (p *patient) addPID(m *hl7v2.Message, n int) {
	ids := hl7v2.Field{{nil, nil, nil, hl7v2.Subs(Namespace, OID, "ISO"), hl7v2.Component{"MR"}}}
	ids[0][0] = hl7v2.Component{p.mrn}
	if p.ssn != "" {
		ids = append(ids, hl7v2.Repetition{hl7v2.Component{p.ssn}, nil, nil, hl7v2.Subs(SSA, ssaOID, "ISO"), hl7v2.Component{"SS"}})
	}
	given, middle := "", ""
	if len(p.given) > 0 {
		given = p.given[0]
		middle = strings.Join(p.given[1:], " ")
	}
	fields := make([]hl7v2.Field, 30)
	fields[0] = hl7v2.Value(strconv.Itoa(n))
	fields[2] = ids
	fields[4] = hl7v2.Components(p.family, given, middle, "", "", "", "L")
	fields[6] = hl7v2.Value(p.birth)
	fields[7] = hl7v2.Value(p.sex)
	fields[10] = hl7v2.Components(p.street, "", p.city, p.state, p.zip, "USA", "H")
	if p.phone != "" {
		fields[12] = hl7v2.Components(p.phone, "PRN", "PH")
	}
	if p.deceased != "" {
		fields[28] = hl7v2.Value(p.deceased)
		fields[29] = hl7v2.Value("Y")
	}
	m.Add("PID", fields...)
}
