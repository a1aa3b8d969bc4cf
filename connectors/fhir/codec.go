package fhir

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"

	gojson "github.com/goccy/go-json"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// fhirResource is implemented by a pointer to each mapping's decoding
// struct: the struct holds only the elements the mapping uses, so decoding
// skips the rest (narrative, extensions) without building it.
type fhirResource[U any] interface {
	head() *resourceHead
	// reset empties the struct for the next record (see reset.go).
	resetter
	// unified maps the resource, taking the record's parts from m.
	// src.SourceID is already the resource's id; raw is the untouched
	// resource, or nil.
	unified(m *mapper, src unified.Source, raw json.RawMessage) U
}

// errOtherType marks a searchset entry of another resource type, which a
// search skips. It never leaves the package.
var errOtherType = errors.New("fhir: entry of another resource type")

// codec reads the records of one mapping, whose decoding struct is F and
// whose unified type is U: it decodes the source's answer, maps it, and
// encodes the records. Each call takes its decoding structs, the record it
// encodes and the mapper's slabs from a pool, and empties them before it
// gives them back, so a call allocates little more than the records it
// returns, and nothing of a call stays reachable from the pool after it:
// the decoded strings refer to the source's answer, which the caller owns,
// and are dropped with the rest.
type codec[F any, U any, PF interface {
	*F
	fhirResource[U]
}] struct {
	fhirType string
	pool     sync.Pool // of *codecState[F, U]
}

// codecState is what one call of a codec works in.
type codecState[F any, U any] struct {
	one  F                          // a read's resource, or an entry decoded alone
	page searchset[F]               // a searchset decoded in one pass
	raws searchset[json.RawMessage] // a searchset whose entries are decoded alone
	rec  U                          // the record being encoded
	m    mapper                     // what rec's fields point to
	w    recordWriter
	// pageUsed and rawsUsed say whether page and raws need emptying.
	pageUsed, rawsUsed bool
	// out holds the records of the call, one after the other; ends has
	// where each ends.
	out  []byte
	ends []int
}

func newCodec[F any, U any, PF interface {
	*F
	fhirResource[U]
}](fhirType string) *codec[F, U, PF] {
	return &codec[F, U, PF]{fhirType: fhirType}
}

func (c *codec[F, U, PF]) get() *codecState[F, U] {
	if st, ok := c.pool.Get().(*codecState[F, U]); ok {
		return st
	}
	st := &codecState[F, U]{}
	st.w.enc = gojson.NewEncoder(&st.w)
	return st
}

// put empties what the call used and gives the state back to the pool.
func (c *codec[F, U, PF]) put(st *codecState[F, U]) {
	PF(&st.one).reset()
	if st.pageUsed {
		st.page.reset(func(f *F) { PF(f).reset() })
		st.pageUsed = false
	}
	if st.rawsUsed {
		st.raws.reset(resetRaw)
		st.rawsUsed = false
	}
	var zero U
	st.rec = zero
	st.m.clear()
	st.out = clearBytes(st.out)
	st.ends = st.ends[:0]
	c.pool.Put(st)
}

// record maps one resource; see resourceMap.record.
func (c *codec[F, U, PF]) record(body []byte, src unified.Source, raw, inBundle bool) (json.RawMessage, error) {
	st := c.get()
	defer c.put(st)
	p, err := c.decode(st, body, inBundle)
	if err != nil {
		return nil, err
	}
	if !raw {
		body = nil
	}
	if err := c.encode(st, p, src, body); err != nil {
		return nil, err
	}
	return slices.Clone(st.out), nil
}

// page maps the matches of a searchset Bundle; see resourceMap.page.
// Without raw, the page is decoded in one pass, each resource straight into
// F. That fails when an entry of another type does not fit F's fields;
// then, and with raw, each resource is kept as its bytes and decoded on its
// own.
func (c *codec[F, U, PF]) page(body []byte, src unified.Source, raw bool) ([]json.RawMessage, pageInfo, error) {
	st := c.get()
	defer c.put(st)
	if !raw {
		b := &st.page
		st.pageUsed = true
		if err := decodeSearchset(body, b); err == nil {
			for i := range b.Entry {
				e := &b.Entry[i]
				p := PF(&e.Resource)
				if !e.match() || p.head().ResourceType != c.fhirType {
					continue
				}
				if err := c.encode(st, p, src, nil); err != nil {
					return nil, pageInfo{}, err
				}
			}
			return st.records(), b.page(len(st.ends)), nil
		}
	}
	b := &st.raws
	st.rawsUsed = true
	if err := decodeSearchset(body, b); err != nil {
		return nil, pageInfo{}, err
	}
	for i := range b.Entry {
		e := &b.Entry[i]
		if !e.match() {
			continue
		}
		p, err := c.decode(st, e.Resource, true)
		if errors.Is(err, errOtherType) {
			continue
		}
		if err != nil {
			return nil, pageInfo{}, err
		}
		var rawBody []byte
		if raw {
			rawBody = e.Resource
		}
		if err := c.encode(st, p, src, rawBody); err != nil {
			return nil, pageInfo{}, err
		}
	}
	return st.records(), b.page(len(st.ends)), nil
}

// decode decodes one resource into st.one, emptied first.
func (c *codec[F, U, PF]) decode(st *codecState[F, U], body []byte, inBundle bool) (PF, error) {
	p := PF(&st.one)
	p.reset()
	if err := decodeJSON(body, p); err != nil {
		// A resource of another type may not fit this type's fields;
		// only a resource of this type that does not fit is the
		// source's fault.
		if inBundle && resourceTypeOf(body) != c.fhirType {
			return nil, errOtherType
		}
		return nil, errNotFHIR
	}
	if p.head().ResourceType != c.fhirType {
		if inBundle {
			return nil, errOtherType
		}
		return nil, connectors.Errorf(connectors.CodeUpstream, "fhir: source answered another resource type than %s", c.fhirType)
	}
	return p, nil
}

// encode maps a decoded resource and appends its record to st.out. On a
// read, src.SourceID names the id that was asked for: answering another
// record under that id would be the worst mistake a gateway can make, so a
// mismatch fails; a missing id (invalid FHIR) is the asked one.
func (c *codec[F, U, PF]) encode(st *codecState[F, U], p PF, src unified.Source, raw []byte) error {
	h := p.head()
	if want := src.SourceID; want != "" && h.ID != want {
		if h.ID != "" {
			return connectors.Errorf(connectors.CodeUpstream, "fhir: source answered another record than the one asked for")
		}
		h.ID = want
	}
	src.SourceID = h.ID
	st.rec = p.unified(&st.m, src, raw)
	out, err := st.w.append(st.out, &st.rec)
	st.out = out
	var zero U
	st.rec = zero
	st.m.clear()
	if err != nil {
		// Only raw can fail to encode, when the decoder accepted bytes that
		// are not strictly JSON; the source is at fault.
		return errNotFHIR
	}
	st.ends = append(st.ends, len(st.out))
	return nil
}

// records returns the records in st.out, in one new array.
func (st *codecState[F, U]) records() []json.RawMessage {
	recs := make([]json.RawMessage, len(st.ends))
	if len(st.ends) == 0 {
		return recs
	}
	out := slices.Clone(st.out)
	start := 0
	for i, end := range st.ends {
		// The capacity ends with the record, so that appending to one
		// cannot write over the next.
		recs[i] = out[start:end:end]
		start = end
	}
	return recs
}

// decodeOptions are the options of every decoding of a source's answer: the
// decoded strings refer to the answer instead of being copied. Nothing
// decoded outlives the call, except through records, which are encoded
// copies.
var decodeOptions = []gojson.DecodeOptionFunc{gojson.DecodeNoCopyString()}

func decodeJSON(body []byte, v any) error {
	return gojson.UnmarshalWithOption(body, v, decodeOptions...)
}

// recordWriter encodes records with goccy/go-json, appending each to the
// records before it.
type recordWriter struct {
	enc *gojson.Encoder // writes to the recordWriter itself
	buf []byte
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// append appends the JSON of v to out, as gojson.Marshal encodes it. On
// an error, out is returned as it was.
func (w *recordWriter) append(out []byte, v any) ([]byte, error) {
	w.buf = out
	err := w.enc.Encode(v)
	out, w.buf = w.buf, nil
	if err != nil {
		return out, err
	}
	// Encode ends a value with a newline.
	return out[:len(out)-1], nil
}

// maxKeptBytes bounds a byte buffer kept from one call to the next.
const maxKeptBytes = 1 << 20

// clearBytes returns b empty, with the bytes it held zeroed.
func clearBytes(b []byte) []byte {
	if cap(b) > maxKeptBytes {
		return nil
	}
	clear(b)
	return b[:0]
}

// resetRaw empties a resource kept as its bytes.
func resetRaw(r *json.RawMessage) {
	*r = clearBytes((*r)[:cap(*r)])
}

// reuseRaw is reuse for a list of resources kept as their bytes.
func reuseRaw(s []json.RawMessage) []json.RawMessage {
	if cap(s) > maxKept {
		return nil
	}
	s = s[:cap(s)]
	for i := range s {
		resetRaw(&s[i])
	}
	return s[:0]
}
