package connectors

import (
	"context"
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

// Writer is implemented by a connector that writes: it creates records and
// updates the fields of existing ones. It is separate from Connector so
// that a connector that only reads keeps compiling; the SDK announces the
// create and update operations to the host only for a connector that
// implements it, and the manifest says which resources it writes
// (ResourceCapability.Create and Update).
//
// The host has already checked the body: Record is the resource's unified
// JSON, decoded strictly and encoded again, with no read-only field (id,
// source, updated_at) and, for a create, every required one. The connector
// maps it to the source.
type Writer interface {
	// Create creates one record, at most once per IdempotencyID: a source
	// record that already carries the identifier is answered instead of
	// writing another (Replayed), or, when its BodyDigest differs, refused
	// with CodeIdempotencyKeyReused.
	Create(ctx context.Context, req *CreateRequest) (*WriteResponse, error)
	// Update changes the fields Record holds on record ID, only if its
	// version at the source is still IfMatch; otherwise it fails with
	// VersionConflict and the current version, and changes nothing.
	Update(ctx context.Context, req *UpdateRequest) (*WriteResponse, error)
}

// CreateRequest asks for one record to be created.
type CreateRequest struct {
	ConnectionID string
	Resource     unified.ResourceType
	// Record is the unified object to create, as JSON.
	Record json.RawMessage
	// IdempotencyID is what the host derived from the client's
	// Idempotency-Key with the tenant's key material, per client (a short
	// base64url string). Stored with the record as an identifier, it is
	// the condition of a conditional create. The key itself never reaches
	// a connector.
	IdempotencyID string
	// BodyDigest is the host's keyed digest of the normalised record
	// (base64url). Stored with the record, it tells a retry of the same
	// create (same digest) from a key reused for another body.
	BodyDigest string
	Transport  Transport
}

// UpdateRequest asks for some fields of one record to be changed.
type UpdateRequest struct {
	ConnectionID string
	Resource     unified.ResourceType
	// ID is the record's source id; the host has checked it as for a read.
	ID string
	// Record is a partial unified object: only the fields to change, each
	// one the host knows to be updatable on this resource.
	Record json.RawMessage
	// IfMatch is the version the client read (its ETag, without quotes or
	// W/): the update happens only if it is still the current one.
	IfMatch   string
	Transport Transport
}

// WriteResponse is the written record as the source now holds it.
type WriteResponse struct {
	// Record is the unified object, encoded as JSON.
	Record json.RawMessage
	// Version is the record's version at the source (FHIR
	// meta.versionId): the client's next If-Match. Empty when the source
	// keeps none.
	Version string
	// Replayed says a create found the record of its IdempotencyID, with
	// the same BodyDigest, and wrote nothing.
	Replayed bool

	frame *frameBuf // the data-plane frame Record is a slice of, or nil
}

// Release is ReadResponse.Release for a written record.
func (r *WriteResponse) Release() {
	if r != nil {
		r.frame.release()
		r.frame = nil
	}
}

// VersionConflict is the error of an update whose IfMatch is not the
// record's current version, which it carries (empty when unknown).
func VersionConflict(current string) *Error {
	return &Error{Code: CodeVersionConflict, Version: current}
}

// ValidVersion reports whether v may travel as a version (an ETag's
// content): 1 to 64 of FHIR id characters. Anything else a source or a
// plugin sends is dropped rather than shown to a client.
func ValidVersion(v string) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
