package plugins

import (
	"slices"
	"strings"

	"github.com/ferryhealth/ferry/plugins/sandbox"
)

// SandboxStatus is the kernel sandbox of one plugin kind: what its catalog
// entry's mode gives on this kernel, which is exactly what every (re)start
// applies (the launcher fails the start rather than apply less).
type SandboxStatus struct {
	Kind   string
	Status sandbox.Status
	// Err is set when the mode cannot be honoured on this kernel: every
	// start of the plugin is refused.
	Err error
}

// Sandboxes reports the sandbox of every plugin, sorted by kind, for
// /readyz, the ferry_plugin_sandbox metric and the startup log.
func (h *Host) Sandboxes() []SandboxStatus {
	out := make([]SandboxStatus, 0, len(h.instances))
	for kind, i := range h.instances {
		st, err := sandbox.Probe().Plan(i.currentSpec().Sandbox)
		out = append(out, SandboxStatus{Kind: kind, Status: st, Err: err})
	}
	slices.SortFunc(out, func(a, b SandboxStatus) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}
