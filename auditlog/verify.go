package auditlog

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// The kinds of Finding. Every kind but FindingDuplicate makes a stream fail
// verification.
const (
	// FindingMalformed: the line is not an audit event (not JSON, unknown
	// keys, wrong types, longer than MaxLineBytes).
	FindingMalformed = "malformed"
	// FindingUnchained: an event with no chain id or seq 0, which no
	// chained Emitter writes; it cannot be vouched for.
	FindingUnchained = "unchained"
	// FindingEdited: the line is not in canonical form, or its hash does
	// not match the next event's prev_hash, or two different events claim
	// the same seq.
	FindingEdited = "edited"
	// FindingDeleted: seqs missing from a chain.
	FindingDeleted = "deleted"
	// FindingReordered: an event out of seq order within its chain.
	FindingReordered = "reordered"
	// FindingForged: a checkpoint whose signature does not verify, or an
	// event other than a checkpoint carrying a signature.
	FindingForged = "forged"
	// FindingUnverified: a checkpoint signed by a key the verifier was not
	// given, so it proves nothing.
	FindingUnverified = "unverified"
	// FindingDuplicate: the same event twice (a sink redelivered a batch
	// after a timeout). Reported, but not a failure.
	FindingDuplicate = "duplicate"
)

// MaxLineBytes is the longest line Verify reads as an event; events are
// well under 2 KiB.
const MaxLineBytes = 1 << 20

// Finding is one thing wrong with a stream.
type Finding struct {
	Kind string
	// Line is the 1-based line of the input where it shows.
	Line int
	// ChainID and Seq (and LastSeq for a range of deleted seqs) locate it
	// in its chain; empty and 0 for a line that is not an event.
	ChainID string
	Seq     uint64
	LastSeq uint64
	// Message says what is wrong, naming lines and seqs, never event
	// content.
	Message string
}

func (f Finding) String() string {
	return fmt.Sprintf("line %d: %s: %s", f.Line, f.Kind, f.Message)
}

// ChainSummary describes one chain found in the stream.
type ChainSummary struct {
	ChainID string
	Tenant  string
	// Events counts the chain's lines, duplicates included.
	Events            int
	FirstSeq, LastSeq uint64
	FirstLine         int
	// Checkpoints counts checkpoints; Verified those whose signature
	// verified.
	Checkpoints, Verified int
	// SignedThrough is the seq of the last verified checkpoint: with no
	// finding, events 1..SignedThrough are exactly as Ferry wrote them.
	// Events after it are chained but not yet signed (a checkpoint comes
	// every checkpoint_every events or checkpoint_interval, and at close).
	SignedThrough uint64
}

// Report is the result of Verify.
type Report struct {
	// Lines counts the non-blank lines read; Events those that were events.
	Lines, Events int
	Chains        []ChainSummary
	// Findings are sorted by line.
	Findings []Finding
}

// OK reports whether the stream is intact: no finding other than
// duplicates.
func (r *Report) OK() bool {
	for _, f := range r.Findings {
		if f.Kind != FindingDuplicate {
			return false
		}
	}
	return true
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Keys are the public keys that may sign checkpoints, per tenant (""
	// for the default stream). A checkpoint of a tenant without a key here
	// is reported as unverified.
	Keys map[string][]ed25519.PublicKey
	// Partial accepts chains that start after seq 1, for checking a window
	// of a longer trail (one S3 object, one day's export). The first event
	// of each chain is then taken on trust, and events missing before it
	// are not reported.
	Partial bool
	// AnyOrder skips the order check, for copies of a trail whose store
	// does not keep order (objects Firehose wrote, an export sorted by
	// time): deletions, edits and signatures are still checked by seq.
	AnyOrder bool
}

// Verify reads a stream of audit events, one JSON line each (several chains
// may be interleaved, in any order between chains), and reports every line
// that was edited, deleted, reordered or forged, with its position. It
// returns an error only when reading r fails.
//
// It holds about 100 bytes per event in memory, so a million events take
// about 100 MB.
func Verify(r io.Reader, opts VerifyOptions) (*Report, error) {
	v := &verifier{opts: opts, chains: map[string]*vchain{}}
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	for {
		line, tooLong, err := readLine(br)
		if len(line) > 0 || tooLong || err == nil {
			lineNo++
			v.add(lineNo, line, tooLong)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return v.finish(), nil
}

// readLine returns the next line without its "\n" (and a "\r" before it),
// at most MaxLineBytes of it, and whether it was longer.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, e := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxLineBytes+1 {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		if e == nil {
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
		}
		if tooLong {
			line = nil
		}
		return line, tooLong, e
	}
}

type vrec struct {
	line       int
	seq        uint64
	hash       [sha256.Size]byte
	prev       [sha256.Size]byte
	hasPrev    bool // prev_hash was non-empty and well-formed
	badPrev    bool // prev_hash was neither "" nor sha256:<64 hex>
	checkpoint bool
	edited     bool   // already reported as edited (not canonical)
	raw        []byte // kept for checkpoints only, to check the signature
	sig        string
}

type vchain struct {
	id        string
	tenant    string
	firstLine int
	recs      []vrec
}

type verifier struct {
	opts     VerifyOptions
	chains   map[string]*vchain
	order    []*vchain
	lines    int
	events   int
	findings []Finding
}

func (v *verifier) report(f Finding) { v.findings = append(v.findings, f) }

func (v *verifier) add(lineNo int, line []byte, tooLong bool) {
	if !tooLong && len(bytes.TrimSpace(line)) == 0 {
		return
	}
	v.lines++
	if tooLong {
		v.report(Finding{Kind: FindingMalformed, Line: lineNo, Message: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)})
		return
	}
	e, err := decodeEvent(line)
	if err != nil {
		v.report(Finding{Kind: FindingMalformed, Line: lineNo, Message: "not an audit event: " + err.Error()})
		return
	}
	v.events++
	if e.ChainID == "" || e.Seq == 0 {
		v.report(Finding{Kind: FindingUnchained, Line: lineNo, ChainID: e.ChainID, Seq: e.Seq,
			Message: "event has no chain id or seq 0: not written by a chained Emitter"})
		return
	}
	c := v.chains[e.ChainID]
	if c == nil {
		c = &vchain{id: e.ChainID, tenant: e.Tenant, firstLine: lineNo}
		v.chains[e.ChainID] = c
		v.order = append(v.order, c)
	}
	r := vrec{line: lineNo, seq: e.Seq, hash: sha256.Sum256(line), checkpoint: e.Action == ActionCheckpoint, sig: e.Sig}
	if canon := e.AppendJSON(nil); !bytes.Equal(canon, line) {
		r.edited = true
		v.report(Finding{Kind: FindingEdited, Line: lineNo, ChainID: e.ChainID, Seq: e.Seq,
			Message: fmt.Sprintf("seq %d is not in the canonical form Ferry writes: the line was rewritten", e.Seq)})
	}
	switch h, ok := strings.CutPrefix(e.PrevHash, HashPrefix); {
	case e.PrevHash == "":
	case ok && len(h) == 2*sha256.Size && strings.ToLower(h) == h:
		if _, err := hex.Decode(r.prev[:], []byte(h)); err == nil {
			r.hasPrev = true
		} else {
			r.badPrev = true
		}
	default:
		r.badPrev = true
	}
	if r.checkpoint {
		r.raw = bytes.Clone(line)
	}
	if e.Tenant != c.tenant && !r.edited {
		r.edited = true
		v.report(Finding{Kind: FindingEdited, Line: lineNo, ChainID: e.ChainID, Seq: e.Seq,
			Message: fmt.Sprintf("seq %d names tenant %q but its chain began (line %d) with tenant %q", e.Seq, e.Tenant, c.firstLine, c.tenant)})
	}
	c.recs = append(c.recs, r)
}

// decodeEvent decodes one line strictly: one JSON object with only Event's
// keys.
func decodeEvent(line []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, shortJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return e, errors.New("trailing data after the object")
	}
	return e, nil
}

// shortJSONError keeps a decode error's kind without quoting the input.
func shortJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("wrong type for %q", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return errors.New("truncated JSON")
	}
	return errors.New("invalid event")
}

func (v *verifier) finish() *Report {
	rep := &Report{Lines: v.lines, Events: v.events}
	for _, c := range v.order {
		rep.Chains = append(rep.Chains, v.checkChain(c))
	}
	rep.Findings = v.findings
	sort.SliceStable(rep.Findings, func(i, j int) bool { return rep.Findings[i].Line < rep.Findings[j].Line })
	return rep
}

func (v *verifier) checkChain(c *vchain) ChainSummary {
	sum := ChainSummary{ChainID: c.id, Tenant: c.tenant, Events: len(c.recs), FirstLine: c.firstLine}
	// bySeq holds one record per seq (the representative), in seq order.
	idx := make([]int, len(c.recs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(c.recs[a].seq, c.recs[b].seq) })
	var bySeq []*vrec
	var dups [][]*vrec // same-seq records other than the representative
	for _, i := range idx {
		r := &c.recs[i]
		if n := len(bySeq); n > 0 && bySeq[n-1].seq == r.seq {
			dups[n-1] = append(dups[n-1], r)
			continue
		}
		bySeq = append(bySeq, r)
		dups = append(dups, nil)
	}
	if len(bySeq) == 0 {
		return sum
	}
	// Same seq twice: a redelivery when the lines are equal, otherwise an
	// edit. The representative is the copy the next event links to.
	for k, others := range dups {
		if len(others) == 0 {
			continue
		}
		if k+1 < len(bySeq) && bySeq[k+1].hasPrev {
			for j, o := range others {
				if o.hash == bySeq[k+1].prev && bySeq[k].hash != bySeq[k+1].prev {
					others[j], bySeq[k] = bySeq[k], o
				}
			}
		}
		rep := bySeq[k]
		for _, o := range others {
			if o.hash == rep.hash {
				v.report(Finding{Kind: FindingDuplicate, Line: o.line, ChainID: c.id, Seq: o.seq,
					Message: fmt.Sprintf("seq %d repeats line %d exactly (a redelivered batch)", o.seq, rep.line)})
			} else if !o.edited {
				o.edited = true
				v.report(Finding{Kind: FindingEdited, Line: o.line, ChainID: c.id, Seq: o.seq,
					Message: fmt.Sprintf("seq %d differs from seq %d at line %d: one of them was altered", o.seq, rep.seq, rep.line)})
			}
		}
	}
	sum.FirstSeq, sum.LastSeq = bySeq[0].seq, bySeq[len(bySeq)-1].seq

	// Deletions and broken links, in seq order.
	first := bySeq[0]
	switch {
	case first.seq > 1 && !v.opts.Partial:
		v.report(Finding{Kind: FindingDeleted, Line: first.line, ChainID: c.id, Seq: 1, LastSeq: first.seq - 1,
			Message: fmt.Sprintf("%s missing before line %d: the chain starts at seq %d", seqRange(1, first.seq-1), first.line, first.seq)})
	case first.seq == 1 && (first.hasPrev || first.badPrev) && !first.edited:
		first.edited = true
		v.report(Finding{Kind: FindingEdited, Line: first.line, ChainID: c.id, Seq: 1,
			Message: "seq 1 has a prev_hash: the first event of a chain has none"})
	}
	for k := 1; k < len(bySeq); k++ {
		a, b := bySeq[k-1], bySeq[k]
		if b.seq > a.seq+1 {
			v.report(Finding{Kind: FindingDeleted, Line: b.line, ChainID: c.id, Seq: a.seq + 1, LastSeq: b.seq - 1,
				Message: fmt.Sprintf("%s missing between line %d (seq %d) and line %d (seq %d)", seqRange(a.seq+1, b.seq-1), a.line, a.seq, b.line, b.seq)})
			continue
		}
		if a.edited || b.edited {
			continue
		}
		if !b.hasPrev || b.prev != a.hash {
			v.report(Finding{Kind: FindingEdited, Line: a.line, ChainID: c.id, Seq: a.seq,
				Message: fmt.Sprintf("seq %d (line %d) does not hash to the prev_hash of seq %d (line %d): one of them was altered", a.seq, a.line, b.seq, b.line)})
		}
	}

	if !v.opts.AnyOrder {
		v.checkOrder(c, bySeq)
	}

	// Checkpoints.
	keys := v.opts.Keys[c.tenant]
	for _, r := range bySeq {
		if !r.checkpoint {
			if r.sig != "" && !r.edited {
				v.report(Finding{Kind: FindingForged, Line: r.line, ChainID: c.id, Seq: r.seq,
					Message: fmt.Sprintf("seq %d carries a signature but is not a checkpoint", r.seq)})
			}
			continue
		}
		sum.Checkpoints++
		if r.edited {
			continue
		}
		switch err := VerifyCheckpoint(r.raw, r.sig, keys); {
		case err == nil:
			sum.Verified++
			sum.SignedThrough = max(sum.SignedThrough, r.seq)
		case errors.Is(err, ErrUnknownKey):
			who := fmt.Sprintf("tenant %q", c.tenant)
			if c.tenant == "" {
				who = "the default stream"
			}
			v.report(Finding{Kind: FindingUnverified, Line: r.line, ChainID: c.id, Seq: r.seq,
				Message: fmt.Sprintf("checkpoint seq %d is signed by a key not given for %s (%v)", r.seq, who, err)})
		default:
			v.report(Finding{Kind: FindingForged, Line: r.line, ChainID: c.id, Seq: r.seq,
				Message: fmt.Sprintf("checkpoint seq %d: %v", r.seq, err)})
		}
	}
	return sum
}

// checkOrder reports events out of seq order in the input. The events
// that stay in place are a longest increasing run of seqs (in input order);
// every other event is reported once, so one moved event is one finding.
func (v *verifier) checkOrder(c *vchain, bySeq []*vrec) {
	if len(bySeq) < 2 {
		return
	}
	inFile := slices.Clone(bySeq)
	slices.SortFunc(inFile, func(a, b *vrec) int { return cmp.Compare(a.line, b.line) })
	// Longest strictly increasing subsequence of seqs, O(n log n).
	tails := []int{}                   // tails[l]: index in inFile of the smallest tail of a run of length l+1
	parent := make([]int, len(inFile)) // previous element in the best run ending here
	for i, r := range inFile {
		l := sort.Search(len(tails), func(j int) bool { return inFile[tails[j]].seq >= r.seq })
		parent[i] = -1
		if l > 0 {
			parent[i] = tails[l-1]
		}
		if l == len(tails) {
			tails = append(tails, i)
		} else {
			tails[l] = i
		}
	}
	if len(tails) == len(inFile) {
		return
	}
	keep := make([]bool, len(inFile))
	for i := tails[len(tails)-1]; i >= 0; i = parent[i] {
		keep[i] = true
	}
	pos := make(map[*vrec]int, len(bySeq))
	for k, r := range bySeq {
		pos[r] = k
	}
	for i, r := range inFile {
		if keep[i] {
			continue
		}
		msg := fmt.Sprintf("seq %d at line %d is out of order", r.seq, r.line)
		if k := pos[r]; k > 0 && k+1 < len(bySeq) {
			msg += fmt.Sprintf(": it belongs between seq %d (line %d) and seq %d (line %d)", bySeq[k-1].seq, bySeq[k-1].line, bySeq[k+1].seq, bySeq[k+1].line)
		} else if k == 0 {
			msg += fmt.Sprintf(": it belongs before seq %d (line %d)", bySeq[1].seq, bySeq[1].line)
		} else {
			msg += fmt.Sprintf(": it belongs after seq %d (line %d)", bySeq[k-1].seq, bySeq[k-1].line)
		}
		v.report(Finding{Kind: FindingReordered, Line: r.line, ChainID: c.id, Seq: r.seq, Message: msg})
	}
}

func seqRange(a, b uint64) string {
	if a == b {
		return fmt.Sprintf("seq %d", a)
	}
	return fmt.Sprintf("seq %d..%d (%d events)", a, b, b-a+1)
}
