package fhir

// The decoding structs are reused from one record to the next, and from one
// call to the next (see codec.go), so that decoding a record allocates
// nothing but what no earlier record made room for. What one record leaves
// in them must never show in the next one, which may belong to another
// tenant: every decoding struct has a reset method that empties it.
//
// A reset method assigns a composite literal that names only what it keeps
// room in, each emptied by reuse, clearList or emptied:
//
//	func (o *fhirObservation) reset() {
//		*o = fhirObservation{Category: reuse(o.Category), Code: emptied(&o.Code), …}
//	}
//
// so every other field is zeroed by the assignment itself, and a field
// added later and forgotten in reset is dropped, never kept (fhirQuantity's
// reset, which points Value to a slot of its own, is the one exception).
// The decoder fills a list's elements in place, those after its length too
// (as encoding/json does), so reuse and clearList empty every element of
// the array, not only the ones up to the length: a record whose JSON names
// a list twice leaves elements past the length. TestResetEmptiesEveryField
// and TestNoValueCrossesRecords check all of this.

// maxKept bounds the lists kept from one record to the next: a record with
// an unusually long one does not make every later record keep its memory.
const maxKept = 1024

// resetter is a decoding struct.
type resetter interface{ reset() }

// reuse returns s empty, with every element of its array reset, keeping the
// array and the lists of the elements for the next record.
func reuse[T any, PT interface {
	*T
	resetter
}](s []T) []T {
	if cap(s) > maxKept {
		return nil
	}
	s = s[:cap(s)]
	for i := range s {
		PT(&s[i]).reset()
	}
	return s[:0]
}

// clearList returns s empty, with its array zeroed and kept, for lists of
// elements that hold no list (strings, codings, references).
func clearList[T any](s []T) []T {
	if cap(s) > maxKept {
		return nil
	}
	clear(s[:cap(s)])
	return s[:0]
}

// emptied resets *v and returns it, for a reset method's composite literal:
// Code: emptied(&o.Code).
func emptied[T any, PT interface {
	*T
	resetter
}](v *T) T {
	PT(v).reset()
	return *v
}
