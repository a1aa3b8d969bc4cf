package authz

import (
	"encoding/json"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// A connector is untrusted: the host forces a scope's restriction and the
// compartment on the search, and then checks every record it answers, so
// that a connector which ignores a filter cannot widen what the client
// sees.

// recordFacts are the members of a unified record that restrictions and
// compartments look at.
type recordFacts struct {
	ID             string          `json:"id"`
	Status         string          `json:"status"`
	ClinicalStatus string          `json:"clinical_status"`
	Code           *concept        `json:"code"`
	Categories     json.RawMessage `json:"categories"`
	Category       *concept        `json:"category"`
	Patient        *struct {
		ID string `json:"id"`
	} `json:"patient"`
}

type concept struct {
	Codings []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"codings"`
}

// Admits reports whether a record of resource r satisfies every filter
// and, when patient is not "", belongs to that patient. A record that
// cannot be read says no.
func Admits(r unified.ResourceType, rec []byte, filters []Filter, patient string) bool {
	var f recordFacts
	if json.Unmarshal(rec, &f) != nil {
		return false
	}
	if patient != "" && InCompartment(r) {
		if r == unified.Patients {
			if f.ID != patient {
				return false
			}
		} else if f.Patient == nil || f.Patient.ID != patient {
			return false
		}
	}
	for _, flt := range filters {
		if !f.satisfies(flt) {
			return false
		}
	}
	return true
}

func (f *recordFacts) satisfies(flt Filter) bool {
	switch flt.Name {
	case unified.FilterStatus:
		return flt.Value == f.Status || flt.Value == f.ClinicalStatus
	case unified.FilterCode:
		return f.Code.has(flt.Value)
	case unified.FilterCategory:
		if f.Category.has(flt.Value) {
			return true
		}
		var cs []concept
		if json.Unmarshal(f.Categories, &cs) == nil {
			for i := range cs {
				if cs[i].has(flt.Value) {
					return true
				}
			}
			return false
		}
		// Allergies' categories are plain codes.
		var plain []string
		if json.Unmarshal(f.Categories, &plain) == nil {
			for _, p := range plain {
				if p == flt.Value {
					return true
				}
			}
		}
	}
	return false
}

// has reports whether a concept has a coding matching a token filter's
// value: "code", "|code" (no system) or "system|code".
func (c *concept) has(token string) bool {
	if c == nil {
		return false
	}
	system, code, qualified := strings.Cut(token, "|")
	for _, cd := range c.Codings {
		switch {
		case !qualified && cd.Code == token:
			return true
		case qualified && cd.Code == code && cd.System == system:
			return true
		}
	}
	return false
}
