package proxy

import (
	"context"
	"fmt"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
)

// InProcess serves connectors linked into the Ferry binary instead of
// plugin processes: the same contract, without the process boundary. Tests
// use it to exercise the proxy alone, and benchmarks to price the plugin hop.
type InProcess struct {
	byKind map[string]connectors.Connector
	meta   map[string]*connectors.MetadataResponse
}

var _ Connectors = (*InProcess)(nil)

// NewInProcess reads each connector's manifest and configures every
// connection of cfg that uses it, as the plugin host does at start.
func NewInProcess(ctx context.Context, cfg *config.Config, byKind map[string]connectors.Connector) (*InProcess, error) {
	p := &InProcess{byKind: byKind, meta: map[string]*connectors.MetadataResponse{}}
	for kind, c := range byKind {
		m, err := c.Metadata(ctx, &connectors.MetadataRequest{})
		if err != nil {
			return nil, fmt.Errorf("connector %q: metadata: %w", kind, err)
		}
		p.meta[kind] = m
	}
	for _, cn := range cfg.Connections {
		c, ok := byKind[cn.Connector]
		if !ok {
			return nil, fmt.Errorf("connection %q: no in-process connector %q", cn.ID, cn.Connector)
		}
		if _, err := c.Configure(ctx, &connectors.ConfigureRequest{ConnectionID: cn.ID, Settings: cn.Settings}); err != nil {
			return nil, fmt.Errorf("connection %q: configure: %w", cn.ID, err)
		}
	}
	return p, nil
}

// Connector implements Connectors.
func (p *InProcess) Connector(kind string) (connectors.Connector, bool) {
	c, ok := p.byKind[kind]
	return c, ok
}

// Metadata implements Connectors.
func (p *InProcess) Metadata(kind string) (*connectors.MetadataResponse, bool) {
	m, ok := p.meta[kind]
	return m, ok
}

// Ready implements Connectors: in-process connectors are always up.
func (p *InProcess) Ready() bool { return true }
