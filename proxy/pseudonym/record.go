package pseudonym

import (
	"encoding/json"
)

// Identifiers says what becomes of identifier values (MRNs, SSNs…) in
// records: dropped, or replaced by pseudonyms.
type Identifiers uint8

// The identifier modes.
const (
	DropIdentifiers Identifiers = iota
	TokenizeIdentifiers
)

// IDKind is the kind of a resource's ids: the unified resource name.
// IdentifierKind is the kind of an identifier system's values.
func IdentifierKind(system string) string { return "identifier|" + system }

// Record pseudonymizes a unified record of resource on connection: its
// id and source id, the id of every reference ({"resource", "id"}), and
// its identifiers (dropped or sealed). It decodes and re-encodes the
// record, so members come out in sorted order.
func (s *Sealer) Record(connection, resource string, rec []byte, mode Identifiers) ([]byte, error) {
	var v map[string]any
	if err := json.Unmarshal(rec, &v); err != nil {
		return nil, err
	}
	if id, ok := v["id"].(string); ok {
		v["id"] = s.Seal(connection, resource, id)
	}
	if src, ok := v["source"].(map[string]any); ok {
		if id, ok := src["source_id"].(string); ok {
			src["source_id"] = s.Seal(connection, resource, id)
		}
	}
	s.walk(connection, v, mode)
	return json.Marshal(v)
}

// identifierFields are the unified fields, beside identifiers, whose value
// is an identifier of a person (a coverage's member id).
var identifierFields = map[string]bool{"subscriber_id": true}

// walk seals references and identifiers at any depth.
func (s *Sealer) walk(connection string, v any, mode Identifiers) {
	switch t := v.(type) {
	case map[string]any:
		if res, ok := t["resource"].(string); ok {
			if id, ok := t["id"].(string); ok {
				t["id"] = s.Seal(connection, res, id)
			}
		}
		if ids, ok := t["identifiers"].([]any); ok {
			if mode == DropIdentifiers {
				delete(t, "identifiers")
			} else {
				for _, x := range ids {
					if m, ok := x.(map[string]any); ok {
						sys, _ := m["system"].(string)
						if val, ok := m["value"].(string); ok {
							m["value"] = s.Seal(connection, IdentifierKind(sys), val)
						}
					}
				}
			}
		}
		for k := range identifierFields {
			if val, ok := t[k].(string); ok {
				if mode == DropIdentifiers {
					delete(t, k)
				} else {
					t[k] = s.Seal(connection, IdentifierKind(k), val)
				}
			}
		}
		for k, x := range t {
			if k != "identifiers" {
				s.walk(connection, x, mode)
			}
		}
	case []any:
		for _, x := range t {
			s.walk(connection, x, mode)
		}
	}
}
