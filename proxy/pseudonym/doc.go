// Package pseudonym turns a source's ids and identifier values into
// stateless pseudonyms for clients configured for them, and back.
//
// A pseudonym is a deterministic AEAD (AES-SIV, RFC 5297, from Google's
// tink-go) of the real value under a key derived, per client, from the
// operator's cursor keys with HKDF-SHA256: the same value always gives the
// same pseudonym to the same client (so a research export can link
// records), another client's key opens none of them, and nothing is
// stored: no mapping table, the pseudonym is the value, sealed. The
// associated data binds each pseudonym to its connection and to what it
// names (a resource's ids, or an identifier system's values), so a
// pseudonym of one kind cannot be replayed as another.
//
// A pseudonym is the key id, a dot, and the base64url ciphertext: keys
// rotate with the cursor keys, and pseudonyms sealed under an older key
// open while it is listed.
package pseudonym
