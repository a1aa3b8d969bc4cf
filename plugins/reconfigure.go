package plugins

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ferryhealth/ferry/connectors"
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
