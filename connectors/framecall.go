package connectors

import (
	"encoding/json"
	"math"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ferryhealth/ferry/unified"
)

// The frames of a call: the plugin's Hello, the host's Call and Cancel,
// the plugin's Result, encoded as framecodec.go encodes every message.

// Hello.

// helloMsg is the plugin's first frame.
type helloMsg struct {
	protocol   uint32
	maxFrame   uint64
	operations []string
}

func encodeHello(h *helloMsg) *frameBuf {
	n := sizeVarint(fHelloProtocol, uint64(h.protocol)) + sizeVarint(fHelloMaxFrame, h.maxFrame)
	for _, op := range h.operations {
		n += sizeString(fHelloOperations, len(op))
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fHelloProtocol, uint64(h.protocol))
	b = putVarint(b, fHelloMaxFrame, h.maxFrame)
	for _, op := range h.operations {
		b = putString(b, fHelloOperations, op)
	}
	fb.b = b
	return fb
}

func decodeHello(msg []byte) (*helloMsg, error) {
	h := &helloMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fHelloProtocol:
			if v > math.MaxUint32 {
				return errMalformed
			}
			h.protocol = uint32(v)
		case fHelloMaxFrame:
			h.maxFrame = v
		case fHelloOperations:
			h.operations = append(h.operations, string(data))
		}
		return nil
	})
	return h, err
}

// Call.

// callMsg is one Call frame, decoded. Exactly one of read, search and
// mapEvent is set for the operations this SDK knows; none, for a newer
// host's operation.
type callMsg struct {
	id       uint64
	deadline int64
	read     *ReadRequest
	search   *SearchRequest
	mapEvent *MapEventRequest
	create   *CreateRequest // framewrite.go
	update   *UpdateRequest
	// prefetch is the host's answer to the request it made before the call,
	// or nil; prefetchRequest is that request as encoded, which the plugin
	// compares with the connector's own request encoded the same way (so it
	// is never decoded: the plugin has no other use for it).
	prefetch        *HTTPResponse
	prefetchRequest []byte

	readReq ReadRequest // read points here: one allocation less
	// transport is the call's Transport on the plugin's side, here for
	// the same reason.
	transport planeTransport
}

func sizeReadRequest(r *ReadRequest) int {
	return sizeString(fReadConn, len(r.ConnectionID)) + sizeString(fReadResource, len(r.Resource)) +
		sizeString(fReadID, len(r.ID)) + sizeBool(fReadRaw, r.Raw)
}

func sizeSearchRequest(r *SearchRequest) int {
	n := sizeString(fSearchConn, len(r.ConnectionID)) + sizeString(fSearchResource, len(r.Resource)) +
		sizeVarint(fSearchLimit, uint64(max(r.Limit, 0))) + sizeString(fSearchToken, len(r.PageToken)) +
		sizeBool(fSearchRaw, r.Raw)
	for k, v := range r.Params {
		n += sizeMessage(fSearchParams, sizeParam(Param{k, v}))
	}
	return n
}

func sizePrefetch(p *Prefetched) int {
	return sizeMessage(fPrefetchRequest, sizeHTTPRequest(p.Request)) +
		sizeMessage(fPrefetchResponse, sizeHTTPResponse(p.Response, nil))
}

// encodeCall writes a Call frame for a read or a search (one of the two is
// nil), with the host's prefetched exchange or none.
func encodeCall(id uint64, deadline int64, read *ReadRequest, search *SearchRequest, pre *Prefetched) *frameBuf {
	n := sizeVarint(fCallID, id) + sizeVarint(fCallDeadline, uint64(max(deadline, 0)))
	var opSize int
	if read != nil {
		opSize = sizeReadRequest(read)
		n += sizeMessage(fCallRead, opSize)
	} else {
		opSize = sizeSearchRequest(search)
		n += sizeMessage(fCallSearch, opSize)
	}
	if pre != nil {
		n += sizeMessage(fCallPrefetch, sizePrefetch(pre))
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fCallID, id)
	b = putVarint(b, fCallDeadline, uint64(max(deadline, 0)))
	if read != nil {
		b = putMessageHeader(b, fCallRead, opSize)
		b = putString(b, fReadConn, read.ConnectionID)
		b = putString(b, fReadResource, string(read.Resource))
		b = putString(b, fReadID, read.ID)
		b = putBool(b, fReadRaw, read.Raw)
	} else {
		b = putMessageHeader(b, fCallSearch, opSize)
		b = putString(b, fSearchConn, search.ConnectionID)
		b = putString(b, fSearchResource, string(search.Resource))
		for k, v := range search.Params {
			b = putMessageHeader(b, fSearchParams, sizeParam(Param{k, v}))
			b = putString(b, fHeaderName, k)
			b = putString(b, fHeaderValue, v)
		}
		b = putVarint(b, fSearchLimit, uint64(max(search.Limit, 0)))
		b = putString(b, fSearchToken, search.PageToken)
		b = putBool(b, fSearchRaw, search.Raw)
	}
	if pre != nil {
		b = putMessageHeader(b, fCallPrefetch, sizePrefetch(pre))
		b = putHTTPRequest(b, fPrefetchRequest, pre.Request)
		b = putHTTPResponse(b, fPrefetchResponse, pre.Response, nil)
	}
	fb.b = b
	return fb
}

// resources maps resource names to their values, so that decoding a
// resource type does not allocate.
var resources = func() map[string]unified.ResourceType {
	m := map[string]unified.ResourceType{}
	for _, r := range unified.ResourceTypes() {
		m[string(r)] = r
	}
	return m
}()

// connectionIDs interns the connection ids a plugin sees on every call:
// there are a few per plugin (one per configured connection).
var connectionIDs = internTable{m: map[string]string{}}

type internTable struct {
	mu sync.RWMutex
	m  map[string]string
}

// maxInterned bounds the table: past it, ids are allocated each time.
const maxInterned = 1 << 14

func (t *internTable) intern(b []byte) string {
	t.mu.RLock()
	s, ok := t.m[string(b)]
	t.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	t.mu.Lock()
	if len(t.m) < maxInterned {
		t.m[s] = s
	}
	t.mu.Unlock()
	return s
}

func resourceOf(b []byte) unified.ResourceType {
	if r, ok := resources[string(b)]; ok {
		return r
	}
	return unified.ResourceType(b)
}

func decodeCall(msg []byte) (*callMsg, error) {
	c := &callMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fCallID:
			c.id = v
		case fCallDeadline:
			if v > math.MaxInt64 {
				return errMalformed
			}
			c.deadline = int64(v)
		case fCallRead:
			c.readReq = ReadRequest{}
			r := &c.readReq
			if err := eachField(data, func(num protowire.Number, v uint64, data []byte) error {
				switch num {
				case fReadConn:
					r.ConnectionID = connectionIDs.intern(data)
				case fReadResource:
					r.Resource = resourceOf(data)
				case fReadID:
					r.ID = string(data)
				case fReadRaw:
					r.Raw = v != 0
				}
				return nil
			}); err != nil {
				return err
			}
			c.read, c.search, c.create, c.update, c.mapEvent = r, nil, nil, nil, nil
		case fCallCreate:
			r, err := decodeCreate(data)
			if err != nil {
				return err
			}
			c.read, c.search, c.create, c.update, c.mapEvent = nil, nil, r, nil, nil
		case fCallUpdate:
			r, err := decodeUpdate(data)
			if err != nil {
				return err
			}
			c.read, c.search, c.create, c.update, c.mapEvent = nil, nil, nil, r, nil
		case fCallSearch:
			r := &SearchRequest{}
			if err := eachField(data, func(num protowire.Number, v uint64, data []byte) error {
				switch num {
				case fSearchConn:
					r.ConnectionID = connectionIDs.intern(data)
				case fSearchResource:
					r.Resource = resourceOf(data)
				case fSearchParams:
					p, err := decodeParam(data)
					if err != nil {
						return err
					}
					if r.Params == nil {
						r.Params = map[string]string{}
					}
					r.Params[p.Name] = p.Value
				case fSearchLimit:
					if v > math.MaxInt32 {
						return errMalformed
					}
					r.Limit = int(v)
				case fSearchToken:
					r.PageToken = string(data)
				case fSearchRaw:
					r.Raw = v != 0
				}
				return nil
			}); err != nil {
				return err
			}
			c.read, c.search, c.create, c.update, c.mapEvent = nil, r, nil, nil, nil
		case fCallMapEvent:
			r, err := decodeMapEvent(data)
			if err != nil {
				return err
			}
			c.read, c.search, c.create, c.update, c.mapEvent = nil, nil, nil, nil, r
		case fCallPrefetch:
			var request bool
			if err := eachField(data, func(num protowire.Number, _ uint64, data []byte) error {
				var err error
				switch num {
				case fPrefetchRequest:
					c.prefetchRequest, request = data, true
				case fPrefetchResponse:
					var failed error
					c.prefetch, failed, err = decodeHTTPResponse(data)
					if err == nil && failed != nil {
						err = errMalformed // the host sends only answers it got
					}
				}
				return err
			}); err != nil {
				return err
			}
			if !request || c.prefetch == nil {
				return errMalformed
			}
		}
		return nil
	})
	return c, err
}

// Cancel.

func encodeCancel(id uint64) *frameBuf {
	fb := newFrame(sizeVarint(fCancelID, id))
	fb.b = putVarint(fb.b[:frameHeaderLen], fCancelID, id)
	return fb
}

func decodeCancel(msg []byte) (uint64, error) {
	var id uint64
	err := eachField(msg, func(num protowire.Number, v uint64, _ []byte) error {
		if num == fCancelID {
			id = v
		}
		return nil
	})
	return id, err
}

// Result.

// maxRecords bounds the records of one Result: a page is at most
// MaxSearchLimit records (the host refuses more than it asked for anyway),
// and a plugin's frame of empty records must not cost the host many times
// its size.
const maxRecords = MaxSearchLimit

// resultMsg is one Result frame, decoded. records are slices of the frame.
type resultMsg struct {
	id           uint64
	err          *Error
	panicked     bool
	records      []json.RawMessage
	next         string
	prefetchUsed bool
	version      string // a read's or a write's, or the current one on a version conflict
	replayed     bool
}

// encodeResult writes a Result: err (with panicked), or the records and
// the next page token.
func encodeResult(id uint64, err error, panicked bool, records []json.RawMessage, next string, prefetchUsed bool) *frameBuf {
	return encodeResultVersion(id, err, panicked, records, next, prefetchUsed, "", false)
}

// encodeResultVersion is encodeResult with the record's version and a
// create's replayed flag; the version is written with an error too (a
// version conflict's current version).
func encodeResultVersion(id uint64, err error, panicked bool, records []json.RawMessage, next string, prefetchUsed bool, version string, replayed bool) *frameBuf {
	n := sizeVarint(fResultID, id) + sizeBool(fResultPrefetchUsed, prefetchUsed) +
		sizeString(fResultVersion, len(version)) + sizeBool(fResultReplayed, replayed)
	if err != nil || panicked {
		n += sizeMessage(fResultError, sizeErrorMsg(err, panicked))
	} else {
		for _, r := range records {
			// Every record is written, an empty one too: the count
			// matters.
			n += protowire.SizeTag(fResultRecords) + protowire.SizeBytes(len(r))
		}
		n += sizeString(fResultNext, len(next))
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fResultID, id)
	if err != nil || panicked {
		b = putErrorMsg(b, fResultError, err, panicked)
	} else {
		for _, r := range records {
			b = protowire.AppendTag(b, fResultRecords, protowire.BytesType)
			b = protowire.AppendBytes(b, r)
		}
		b = putString(b, fResultNext, next)
	}
	b = putBool(b, fResultPrefetchUsed, prefetchUsed)
	b = putString(b, fResultVersion, version)
	b = putBool(b, fResultReplayed, replayed)
	fb.b = b
	return fb
}

// decodeResult reads a Result into r.
func decodeResult(msg []byte, r *resultMsg) error {
	*r = resultMsg{}
	count := 0
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fResultID:
			r.id = v
		case fResultError:
			e, panicked, err := decodeError(data)
			if err != nil {
				return err
			}
			r.err, r.panicked = e, panicked
		case fResultRecords:
			count++
		case fResultNext:
			r.next = string(data)
		case fResultPrefetchUsed:
			r.prefetchUsed = v != 0
		case fResultVersion:
			r.version = string(data)
		case fResultReplayed:
			r.replayed = v != 0
		}
		return nil
	})
	if err != nil || count == 0 {
		return err
	}
	if count > maxRecords {
		return errMalformed
	}
	// A second pass, so that the records' slice is allocated once.
	r.records = make([]json.RawMessage, 0, count)
	return eachField(msg, func(num protowire.Number, _ uint64, data []byte) error {
		if num == fResultRecords {
			r.records = append(r.records, data)
		}
		return nil
	})
}
