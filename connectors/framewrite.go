package connectors

import "google.golang.org/protobuf/encoding/protowire"

// The write operations of a Call (CreateRequest, UpdateRequest), encoded as
// framecodec.go encodes every message. A write's record is a slice of the
// Call frame on the plugin's side, like a source body.

func sizeCreateRequest(r *CreateRequest) int {
	return sizeString(fCreateConn, len(r.ConnectionID)) + sizeString(fCreateResource, len(r.Resource)) +
		sizeString(fCreateRecord, len(r.Record)) + sizeString(fCreateIdem, len(r.IdempotencyID)) +
		sizeString(fCreateDigest, len(r.BodyDigest))
}

func sizeUpdateRequest(r *UpdateRequest) int {
	return sizeString(fUpdateConn, len(r.ConnectionID)) + sizeString(fUpdateResource, len(r.Resource)) +
		sizeString(fUpdateID, len(r.ID)) + sizeString(fUpdateRecord, len(r.Record)) +
		sizeString(fUpdateIfMatch, len(r.IfMatch))
}

// encodeWriteCall writes a Call frame for a create or an update (one of
// the two is nil). Writes are never prefetched: their source request
// depends on the body.
func encodeWriteCall(id uint64, deadline int64, create *CreateRequest, update *UpdateRequest) *frameBuf {
	n := sizeVarint(fCallID, id) + sizeVarint(fCallDeadline, uint64(max(deadline, 0)))
	var opSize int
	if create != nil {
		opSize = sizeCreateRequest(create)
		n += sizeMessage(fCallCreate, opSize)
	} else {
		opSize = sizeUpdateRequest(update)
		n += sizeMessage(fCallUpdate, opSize)
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fCallID, id)
	b = putVarint(b, fCallDeadline, uint64(max(deadline, 0)))
	if create != nil {
		b = putMessageHeader(b, fCallCreate, opSize)
		b = putString(b, fCreateConn, create.ConnectionID)
		b = putString(b, fCreateResource, string(create.Resource))
		b = putBytes(b, fCreateRecord, create.Record)
		b = putString(b, fCreateIdem, create.IdempotencyID)
		b = putString(b, fCreateDigest, create.BodyDigest)
	} else {
		b = putMessageHeader(b, fCallUpdate, opSize)
		b = putString(b, fUpdateConn, update.ConnectionID)
		b = putString(b, fUpdateResource, string(update.Resource))
		b = putString(b, fUpdateID, update.ID)
		b = putBytes(b, fUpdateRecord, update.Record)
		b = putString(b, fUpdateIfMatch, update.IfMatch)
	}
	fb.b = b
	return fb
}

func decodeCreate(msg []byte) (*CreateRequest, error) {
	r := &CreateRequest{}
	err := eachField(msg, func(num protowire.Number, _ uint64, data []byte) error {
		switch num {
		case fCreateConn:
			r.ConnectionID = connectionIDs.intern(data)
		case fCreateResource:
			r.Resource = resourceOf(data)
		case fCreateRecord:
			r.Record = data
		case fCreateIdem:
			r.IdempotencyID = string(data)
		case fCreateDigest:
			r.BodyDigest = string(data)
		}
		return nil
	})
	return r, err
}

func decodeUpdate(msg []byte) (*UpdateRequest, error) {
	r := &UpdateRequest{}
	err := eachField(msg, func(num protowire.Number, _ uint64, data []byte) error {
		switch num {
		case fUpdateConn:
			r.ConnectionID = connectionIDs.intern(data)
		case fUpdateResource:
			r.Resource = resourceOf(data)
		case fUpdateID:
			r.ID = string(data)
		case fUpdateRecord:
			r.Record = data
		case fUpdateIfMatch:
			r.IfMatch = string(data)
		}
		return nil
	})
	return r, err
}
