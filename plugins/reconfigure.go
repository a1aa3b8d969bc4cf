package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/plugins/sandbox"
)

// SetConnections makes conns the connections plugin kind serves, for a
// configuration reload: those that are new, or whose settings changed, are
// configured in the running process now, and all of them at every later
// restart. The process is not restarted. A connection dropped from conns
// stays configured in the process until it restarts, unused: the proxy no
// longer routes to it. When the plugin is not running (starting, backing
// off), the new list takes effect at its next start.
func (h *Host) SetConnections(ctx context.Context, kind string, conns []Connection) error {
	i := h.instances[kind]
	if i == nil {
		return fmt.Errorf("plugins: no plugin of kind %q", kind)
	}
	i.mu.Lock()
	prev := map[string]Connection{}
	for _, c := range i.spec.Connections {
		prev[c.ID] = c
	}
	i.spec.Connections = conns
	st, l := i.state, i.cur
	i.mu.Unlock()
	if st != stateRunning || l == nil {
		return nil
	}
	for _, c := range conns {
		if p, ok := prev[c.ID]; ok && bytes.Equal(p.Settings, c.Settings) {
			continue
		}
		resp, err := l.wire.Configure(ctx, &connectors.ConfigureRequest{ConnectionID: c.ID, Settings: c.Settings})
		if err != nil {
			return fmt.Errorf("plugins: %s: configure connection %q: %s", kind, c.ID, connectors.CodeOf(err))
		}
		l.wire.addTemplates(c.ID, resp.Templates)
	}
	return nil
}

// Replace makes kind's plugin the binary at path with digest sum, run in
// the sandbox mode: for a reload whose catalog entry changed. The new
// process starts beside the running one and takes over once it is up;
// the old one finishes its calls first. If the new one fails to start,
// the old one keeps serving and the error is logged (and every later
// restart tries the new spec).
func (h *Host) Replace(kind, path string, sum []byte, mode sandbox.Mode) error {
	i := h.instances[kind]
	if i == nil {
		return fmt.Errorf("plugins: no plugin of kind %q", kind)
	}
	if len(sum) != sha256.Size {
		return fmt.Errorf("plugins: kind %q: sha256 must be %d bytes", kind, sha256.Size)
	}
	i.mu.Lock()
	i.spec.Path, i.spec.SHA256, i.spec.Sandbox = path, sum, mode
	i.mu.Unlock()
	select {
	case i.respec <- struct{}{}:
	default: // one is pending: it will read the spec set here
	}
	return nil
}
