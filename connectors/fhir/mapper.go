package fhir

import (
	"slices"

	"github.com/ferryhealth/ferry/unified"
)

// mapper holds the unified values that a record's pointers and lists refer
// to while the record is mapped and encoded: a unified record is encoded as
// soon as it is mapped and then dropped, so its parts are taken from slabs
// that the next record reuses, instead of being allocated one by one. It is
// part of the pooled state of a call (see codec.go) and is cleared after
// every record.
//
// A list type that only one mapping uses may be allocated by that mapping
// instead; a slab is worth it for what every page of a common search holds.
type mapper struct {
	codings         slab[unified.Coding]
	concepts        slab[unified.CodeableConcept]
	references      slab[unified.Reference]
	identifiers     slab[unified.Identifier]
	periods         slab[unified.Period]
	quantities      slab[unified.Quantity]
	ranges          slab[unified.Range]
	ratios          slab[unified.Ratio]
	values          slab[unified.Value]
	names           slab[unified.HumanName]
	contactPoints   slab[unified.ContactPoint]
	addresses       slab[unified.Address]
	referenceRanges slab[unified.ReferenceRange]
	components      slab[unified.ObservationComponent]
}

// clear empties the slabs for the next record. Any slab it does not name is
// dropped whole, so a slab added to mapper and forgotten here costs
// allocations, never a value left for the next record.
func (m *mapper) clear() {
	*m = mapper{
		codings:         m.codings.cleared(),
		concepts:        m.concepts.cleared(),
		references:      m.references.cleared(),
		identifiers:     m.identifiers.cleared(),
		periods:         m.periods.cleared(),
		quantities:      m.quantities.cleared(),
		ranges:          m.ranges.cleared(),
		ratios:          m.ratios.cleared(),
		values:          m.values.cleared(),
		names:           m.names.cleared(),
		contactPoints:   m.contactPoints.cleared(),
		addresses:       m.addresses.cleared(),
		referenceRanges: m.referenceRanges.cleared(),
		components:      m.components.cleared(),
	}
}

// slab is storage for values of one type. Values are only ever appended
// to it until it is cleared, so an address or a list it handed out stays
// valid, and keeps its value, until then: when the slab outgrows its
// array, the values already handed out stay in the old one.
type slab[T any] struct{ items []T }

// one stores v and returns its address.
func (s *slab[T]) one(v T) *T {
	s.items = append(s.items, v)
	return &s.items[len(s.items)-1]
}

// list returns an empty list with room for n values, to append to.
func (s *slab[T]) list(n int) []T {
	start := len(s.items)
	s.items = slices.Grow(s.items, n)[:start+n]
	return s.items[start : start : start+n]
}

// cleared returns the slab empty, its array zeroed and kept unless a
// record of unusual size made it large.
func (s slab[T]) cleared() slab[T] {
	if cap(s.items) > maxKept {
		return slab[T]{}
	}
	clear(s.items)
	return slab[T]{items: s.items[:0]}
}
