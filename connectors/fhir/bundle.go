package fhir

import (
	"github.com/ferryhealth/ferry/connectors"
)

// errNotFHIR is the answer to a source body that is not the FHIR JSON it
// should be. Its wording is fixed: the body may hold PHI.
var errNotFHIR = connectors.Errorf(connectors.CodeUpstream, "fhir: source answered something that is not FHIR JSON")

// searchset holds the fields of a searchset Bundle that a search uses. R is
// what each entry's resource is decoded into: the mapping's own struct, to
// decode a page in one pass, or json.RawMessage, to keep each resource's
// bytes for raw=true or to decode entries of mixed types one by one.
type searchset[R any] struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []searchEntry[R] `json:"entry"`
}

type searchEntry[R any] struct {
	Resource R           `json:"resource"`
	Search   entrySearch `json:"search"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

// match reports whether the entry is one of the search's matches. An
// OperationOutcome entry (mode "outcome") carries the source's warnings, and
// an included resource (mode "include") came along with a match.
func (e *searchEntry[R]) match() bool {
	return e.Search.Mode != "outcome" && e.Search.Mode != "include"
}

// decodeSearchset decodes a search answer, which must be a searchset
// Bundle, into b, which is empty.
func decodeSearchset[R any](body []byte, b *searchset[R]) error {
	if err := decodeJSON(body, b); err != nil {
		return errNotFHIR
	}
	if b.ResourceType != "Bundle" || (b.Type != "" && b.Type != "searchset") {
		return connectors.Errorf(connectors.CodeUpstream, "fhir: source answered a search with something that is not a searchset Bundle")
	}
	return nil
}

// reset empties the searchset for the next call, keeping the array of its
// entries; resetResource empties an entry's resource.
func (b *searchset[R]) reset(resetResource func(*R)) {
	entries := b.Entry[:cap(b.Entry)]
	if len(entries) > maxKept {
		entries = nil
	}
	for i := range entries {
		resetResource(&entries[i].Resource)
		entries[i].Search = entrySearch{}
	}
	*b = searchset[R]{Link: clearList(b.Link), Entry: entries[:0]}
}

// page returns what paging needs to know of the Bundle.
func (b *searchset[R]) page(matches int) pageInfo {
	p := pageInfo{total: b.Total, matches: matches}
	for _, l := range b.Link {
		switch {
		case l.Relation == "next" && p.next == "":
			p.next = l.URL
		case l.Relation == "self" && p.self == "":
			p.self = l.URL
		}
	}
	return p
}

// pageInfo is what the next page token is made from: the Bundle's links and
// total, and how many matches the page held.
type pageInfo struct {
	next, self string
	total      *int
	matches    int
}
