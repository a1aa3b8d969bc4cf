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

// clear empties the slabs for the next record. TestMapperClearEmptiesEverySlab
// checks that it names every one.
func (m *mapper) clear() {
	m.codings.clear()
	m.concepts.clear()
	m.references.clear()
	m.identifiers.clear()
	m.periods.clear()
	m.quantities.clear()
	m.ranges.clear()
	m.ratios.clear()
	m.values.clear()
	m.names.clear()
	m.contactPoints.clear()
	m.addresses.clear()
	m.referenceRanges.clear()
	m.components.clear()
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

// clear empties the slab, its array zeroed and kept unless a record of
// unusual size made it large.
func (s *slab[T]) clear() {
	if len(s.items) == 0 {
		return
	}
	if cap(s.items) > maxKept {
		s.items = nil
		return
	}
	clear(s.items)
	s.items = s.items[:0]
}
