package auditlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
	mac := hmac.New(sha256.New, key)
	var n [8]byte
	for _, part := range [...]string{patientRefDomain, tenant, connectionID, patientID} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		mac.Write(n[:])
		mac.Write([]byte(part))
	}
	var sum [sha256.Size]byte
	out := make([]byte, len(PatientRefPrefix), len(PatientRefPrefix)+hex.EncodedLen(sha256.Size))
	copy(out, PatientRefPrefix)
	out = hex.AppendEncode(out, mac.Sum(sum[:0]))
	return string(out)
}
