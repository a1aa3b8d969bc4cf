package auditlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"
)

// PatientRefPrefix starts every patient reference, naming the algorithm so
// a future change of algorithm can be told apart from the old one.
const PatientRefPrefix = "hmac-sha256:"

// MinAuditKeyLen is the shortest tenant audit key configuration should
// accept: 32 random bytes, the output size of SHA-256.
const MinAuditKeyLen = 32

// patientRefDomain separates this use of the audit key from any other use
// (for example, a future key for checkpoints derived from it), so a MAC made
// for one purpose can never be presented as the other.
const patientRefDomain = "ferry/audit/patient_ref/v1"

// PatientRef returns a pseudonymous reference to a patient, safe to store in
// an audit event: "hmac-sha256:" followed by the lowercase hex HMAC-SHA256,
// under the tenant's audit key, of an unambiguous encoding of the tenant,
// the connection id and the patient id in that source.
//
// It is keyed because patient identifiers have little entropy: an MRN is a
// handful of digits, so an unkeyed hash of it can be reversed by hashing
// every candidate. Without the key the reference reveals nothing; with the
// key an investigator can recompute it for a known patient (`ferry audit
// hash`) and find every access to that patient. Tenant and connection are
// bound in so the same id in two sources, or in two tenants, never links.
//
// The MAC input, so it can be recomputed outside Ferry, is the
// concatenation of four parts, each an 8-byte big-endian length followed by
// that many bytes: "ferry/audit/patient_ref/v1", tenant, connectionID,
// patientID. The length prefixes make ("ab", "c") and ("a", "bc") different
// inputs.
//
// It returns "" when patientID is "" (the request named no patient) and
// when key is empty, because an unkeyed reference would be exactly the
// brute-forceable hash the key exists to prevent; configuration validation
// rejects keys shorter than MinAuditKeyLen.
func PatientRef(key []byte, tenant, connectionID, patientID string) string {
	if len(key) == 0 || patientID == "" {
		return ""
	}
	return newRefState(key).ref(tenant, connectionID, patientID)
}

// PatientRefs computes PatientRef under one tenant's key, reusing the HMAC
// state and its buffers between requests: a fresh HMAC costs several
// allocations, and the gateway computes a reference on most requests.
type PatientRefs struct {
	states sync.Pool // *refState keyed with the key
}

// NewPatientRefs returns the references of one key (nil for an empty key,
// whose Ref is always "").
func NewPatientRefs(key []byte) *PatientRefs {
	if len(key) == 0 {
		return nil
	}
	p := &PatientRefs{}
	p.states.New = func() any { return newRefState(key) }
	return p
}

// Ref is PatientRef(key, tenant, connectionID, patientID).
func (p *PatientRefs) Ref(tenant, connectionID, patientID string) string {
	if p == nil || patientID == "" {
		return ""
	}
	st := p.states.Get().(*refState)
	ref := st.ref(tenant, connectionID, patientID)
	p.states.Put(st)
	return ref
}

// refState is a keyed HMAC and the buffers one reference needs, kept
// together so that none of them escapes on its own.
type refState struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
	out [len(PatientRefPrefix) + 2*sha256.Size]byte
}

func newRefState(key []byte) *refState {
	st := &refState{mac: hmac.New(sha256.New, key), in: make([]byte, 0, 256)}
	// The first Reset saves the keyed state that every later Reset
	// restores, the hash's block buffer included: taken now, before any
	// patient id went through, that buffer is clean, so each reference's
	// Reset wipes the id's tail from it.
	st.mac.Reset()
	copy(st.out[:], PatientRefPrefix)
	return st
}

// ref writes the MAC input in one Write and formats the reference; the
// state is reset for the next.
func (st *refState) ref(tenant, connectionID, patientID string) string {
	b := st.in[:0]
	for _, part := range [...]string{patientRefDomain, tenant, connectionID, patientID} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(part)))
		b = append(b, part...)
	}
	st.mac.Write(b)
	hex.Encode(st.out[len(PatientRefPrefix):], st.mac.Sum(st.sum[:0]))
	ref := string(st.out[:])
	// Nothing of the patient id stays in pooled memory: not the input,
	// not the hash's buffered tail (Reset restores the clean state saved
	// in newRefState), not the output.
	clear(b)
	st.in = b[:0]
	st.mac.Reset()
	clear(st.sum[:])
	clear(st.out[len(PatientRefPrefix):])
	return ref
}
