package authz

import (
	"slices"

	"github.com/ferryhealth/ferry/unified"
)

// Policy is a client's minimum-necessary policy, compiled from its
// config: the resources and operations it may use, and the fields of each
// resource it may see. The zero Policy allows everything.
type Policy struct {
	// resources nil: every resource.
	resources map[unified.ResourceType]bool
	// ops 0: every operation.
	ops Op
	// fields are each restricted resource's allowed top-level fields,
	// sorted, "id" among them.
	fields map[unified.ResourceType][]string
}

// FieldRule is one resource's allowlist or denylist.
type FieldRule struct{ Allow, Deny []string }

// NewPolicy compiles a policy. Names were checked by the config.
func NewPolicy(resources, operations []string, fields map[string]FieldRule) *Policy {
	p := &Policy{}
	if len(resources) > 0 {
		p.resources = map[unified.ResourceType]bool{}
		for _, r := range resources {
			p.resources[unified.ResourceType(r)] = true
		}
	}
	for _, o := range operations {
		p.ops |= OpNames[o]
	}
	for r, rule := range fields {
		rt := unified.ResourceType(r)
		keep := []string{"id"}
		for _, f := range rt.Fields() {
			allowed := slices.Contains(rule.Allow, f) || (len(rule.Allow) == 0 && !slices.Contains(rule.Deny, f))
			if allowed && f != "id" {
				keep = append(keep, f)
			}
		}
		slices.Sort(keep)
		if p.fields == nil {
			p.fields = map[unified.ResourceType][]string{}
		}
		p.fields[rt] = keep
	}
	return p
}

// Allows reports whether the policy lets the client do op on r.
func (p *Policy) Allows(r unified.ResourceType, op Op) bool {
	if p.resources != nil && !p.resources[r] {
		return false
	}
	return p.ops == 0 || p.ops&op != 0
}

// Restricts reports whether the policy narrows anything a raw request
// would bypass: resources or fields.
func (p *Policy) Restricts() bool { return p.resources != nil || len(p.fields) > 0 }

// Mask narrows a field mask (nil: whole records) to what the policy lets
// the client see of r, and says whether the policy restricts r's fields
// at all. The result is sorted, like a parsed fields= mask.
func (p *Policy) Mask(r unified.ResourceType, asked []string) ([]string, bool) {
	allowed, ok := p.fields[r]
	if !ok {
		return asked, false
	}
	if asked == nil {
		return allowed, true
	}
	out := make([]string, 0, len(asked))
	for _, f := range asked {
		if slices.Contains(allowed, f) {
			out = append(out, f)
		}
	}
	return out, true
}
