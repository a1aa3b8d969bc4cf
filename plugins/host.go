package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/plugins/sandbox"
)

// Spec is one plugin to run: a catalog entry plus the connections it serves.
type Spec struct {
	Kind   string // connector kind; the plugin's manifest must report the same
	Path   string // the binary
	SHA256 []byte // expected digest of the binary; a mismatch refuses to start it
	// Sandbox is how strictly the kernel fences the plugin in (the catalog
	// entry's "sandbox"); the zero value requires the whole sandbox.
	Sandbox sandbox.Mode
	// Connections are configured in the plugin at every (re)start.
	Connections []Connection
}

// Connection is a connection's non-secret connector settings.
type Connection struct {
	ID       string
	Settings json.RawMessage
}

// Options tune the supervisor. Zero values take the defaults.
type Options struct {
	StartTimeout time.Duration // how long a plugin may take to answer the handshake; default 10s
	MinBackoff   time.Duration // first wait before restarting a crash-looping plugin; default 100ms
	MaxBackoff   time.Duration // longest wait between restarts; default 30s
	// StableAfter is how long a plugin must run before its crash counts as
	// isolated (restart at once) rather than a loop (back off); default 10s.
	StableAfter time.Duration
	// HealthInterval is how often a running plugin is probed through gRPC's
	// health service; HealthTimeout bounds one probe; after HealthFailures
	// missed probes in a row the process is killed and restarted (see
	// health.go). Defaults 5s, 2s, 3.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthFailures int
	Logger         *slog.Logger
	// Clock is what the supervisor's backoff waits on; nil is the system
	// clock.
	Clock clock.Clock
}

func (o *Options) defaults() {
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 10 * time.Second
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 5 * time.Second
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 2 * time.Second
	}
	if o.HealthFailures <= 0 {
		o.HealthFailures = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Host supervises the plugin processes.
type Host struct {
	opts      Options
	instances map[string]*instance
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	stats     Stats
}

// NewHost prepares one supervised instance per spec; Start launches them.
func NewHost(specs []Spec, opts Options) (*Host, error) {
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{opts: opts, instances: map[string]*instance{}, ctx: ctx, cancel: cancel}
	for _, s := range specs {
		if _, dup := h.instances[s.Kind]; dup {
			cancel()
			return nil, fmt.Errorf("plugins: kind %q listed twice", s.Kind)
		}
		if len(s.SHA256) != sha256.Size {
			cancel()
			return nil, fmt.Errorf("plugins: kind %q: sha256 must be %d bytes", s.Kind, sha256.Size)
		}
		h.instances[s.Kind] = newInstance(h, s)
	}
	return h, nil
}

// Start launches every plugin in the background. Ready reports when all are
// up.
func (h *Host) Start() {
	for _, i := range h.instances {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			i.supervise(h.ctx)
		}()
	}
}

// Ready reports whether every plugin is running.
func (h *Host) Ready() bool {
	for _, i := range h.instances {
		if st, _ := i.snapshot(); st != stateRunning {
			return false
		}
	}
	return true
}

// WaitReady blocks until every plugin is running or ctx ends.
func (h *Host) WaitReady(ctx context.Context) error {
	for _, i := range h.instances {
		l, err := i.acquire(ctx, true)
		if err != nil {
			return fmt.Errorf("plugin %q: %w", i.spec.Kind, err)
		}
		l.release()
	}
	return nil
}

// Connector returns the connector of the given kind. The value stays valid
// across plugin restarts.
func (h *Host) Connector(kind string) (connectors.Connector, bool) {
	i, ok := h.instances[kind]
	if !ok {
		return nil, false
	}
	return i, true
}

// Metadata returns the manifest the running plugin of kind reported; false
// before it has ever started.
func (h *Host) Metadata(kind string) (*connectors.MetadataResponse, bool) {
	i, ok := h.instances[kind]
	if !ok {
		return nil, false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.meta, i.meta != nil
}

// Stats returns the counters of every plugin's calls.
func (h *Host) Stats() *Stats { return &h.stats }

// HopCounters reads the counters for the proxy's metrics.
func (h *Host) HopCounters() (prefetched, prefetchMissed, panics uint64) {
	return h.stats.Prefetched.Load(), h.stats.PrefetchMissed.Load(), h.stats.Panics.Load()
}

// PID returns the process id of the running plugin of kind, or 0.
func (h *Host) PID(kind string) int {
	i, ok := h.instances[kind]
	if !ok {
		return 0
	}
	_, l := i.snapshot()
	if l == nil {
		return 0
	}
	return l.pid
}

// Close stops every plugin and waits for the supervisors to finish.
func (h *Host) Close() {
	h.cancel()
	h.wg.Wait()
}

type state int

const (
	stateStarting state = iota
	stateRunning
	stateBackoff
	stateClosed
)

// instance supervises the process of one plugin kind and is the stable
// Connector the rest of the host calls.
type instance struct {
	host *Host
	spec Spec

	mu      sync.Mutex
	state   state
	cur     *live
	meta    *connectors.MetadataResponse
	changed chan struct{} // closed at every state change, then replaced
	// respec asks the supervisor to replace the running process with one
	// of the current spec (Host.Replace).
	respec chan struct{}
}

// live is one running plugin process.
type live struct {
	client *plugin.Client
	wire   *wireClient
	pid    int
	done   <-chan struct{} // closed when the process exits
	health grpc_health_v1.HealthClient
	// users counts the calls that acquired this process and have not
	// returned: a replaced process is stopped once it is 0.
	users atomic.Int64
}

func (l *live) release() { l.users.Add(-1) }

// ended is closed when the process exits or its data plane ends: either
// way it can serve nothing more, and the supervisor replaces it.
func (l *live) ended() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-l.done:
		case <-l.wire.conn.Done():
		}
		close(ch)
	}()
	return ch
}

func newInstance(h *Host, s Spec) *instance {
	return &instance{host: h, spec: s, changed: make(chan struct{}), respec: make(chan struct{}, 1)}
}

// currentSpec is the spec the next start uses (a reload may change it).
func (i *instance) currentSpec() Spec {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.spec
}

func (i *instance) set(st state, l *live) {
	i.mu.Lock()
	i.state, i.cur = st, l
	close(i.changed)
	i.changed = make(chan struct{})
	i.mu.Unlock()
}

func (i *instance) snapshot() (state, *live) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.state, i.cur
}

// acquire returns the running process, counted as used until the caller
// calls its release. While the plugin is (re)starting,
// or has just died and the supervisor has yet to notice, it waits, bounded
// by ctx, so a request that arrives during a restart after a
// crash succeeds a few hundred milliseconds late instead of failing. While
// it is backing off from a crash loop it fails at once, unless wait is set.
func (i *instance) acquire(ctx context.Context, wait bool) (*live, error) {
	for {
		i.mu.Lock()
		st, l, ch := i.state, i.cur, i.changed
		if st == stateRunning && l != nil && l.wire.conn.Err() == nil {
			// Counted under the lock that replacing the process takes, so
			// a replaced process knows every call that may still use it.
			l.users.Add(1)
			i.mu.Unlock()
			return l, nil
		}
		i.mu.Unlock()
		switch {
		case st == stateClosed:
			return nil, connectors.ErrPluginUnavailable
		case st == stateBackoff && !wait:
			return nil, connectors.ErrPluginUnavailable
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, connectors.ErrPluginUnavailable
		}
	}
}

// start launches the plugin process and brings it to the point where it can
// serve requests: handshake, data plane, manifest read, connections
// configured.
func (i *instance) start(ctx context.Context) (*live, error) {
	hostEnd, pluginEnd, err := connectors.DataPlanePair()
	if err != nil {
		return nil, err
	}
	// The plugin runs fenced in by the kernel (package sandbox): the binary
	// is hashed from an open descriptor and exec'd from that descriptor.
	// It inherits nothing from the host's environment (SkipHostEnv): no
	// cloud credentials, no dev-mode secrets. Its data plane: the first
	// extra file is the child's DataPlaneFD.
	spec := i.currentSpec()
	sb := &sandbox.Command{Path: spec.Path, SHA256: spec.SHA256, Mode: spec.Sandbox, ExtraFiles: []*os.File{pluginEnd}}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  connectors.Handshake,
		Plugins:          plugin.PluginSet{connectors.PluginName: &hostPlugin{}},
		RunnerFunc:       sb.Runner,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// The control plane's socket has a name in the file system, so it
		// keeps mutual TLS; the data plane is an unnamed socket pair.
		AutoMTLS:     true,
		SkipHostEnv:  true,
		StartTimeout: i.host.opts.StartTimeout,
		// A plugin's output is untrusted and may carry PHI: it is dropped.
		Logger:     hclog.NewNullLogger(),
		Stderr:     io.Discard,
		SyncStdout: io.Discard,
		SyncStderr: io.Discard,
	})
	l, err := i.handshake(ctx, spec, client, hostEnd, pluginEnd)
	if err != nil {
		_ = hostEnd.Close()
		client.Kill()
		return nil, err
	}
	l.pid = sb.PID() // go-plugin knows no pid for a RunnerFunc's process
	return l, nil
}

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

func (i *instance) handshake(ctx context.Context, spec Spec, client *plugin.Client, hostEnd net.Conn, pluginEnd *os.File) (*live, error) {
	rpc, err := client.Client()
	// The child has its copy of the plugin's end (or never will).
	_ = pluginEnd.Close()
	if err != nil {
		switch {
		case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
			return nil, fmt.Errorf("binary %s does not match the catalog's sha256", spec.Path)
		case strings.Contains(err.Error(), "ncompatible API version"):
			v := "another version"
			if m := pluginVersionRE.FindStringSubmatch(err.Error()); m != nil {
				v = "v" + m[1]
			}
			return nil, fmt.Errorf("plugin %s speaks connector protocol %s, this host speaks v%d: rebuild it with the SDK of protocol v%d",
				spec.Path, v, connectors.ProtocolVersion, connectors.ProtocolVersion)
		}
		return nil, fmt.Errorf("start: %w", err)
	}
	raw, err := rpc.Dispense(connectors.PluginName)
	if err != nil {
		return nil, fmt.Errorf("dispense: %w", err)
	}
	conn := raw.(*hostConn)
	wire := &wireClient{rpc: conn.rpc, conn: connectors.NewHostConn(hostEnd), stats: &i.host.stats}

	cctx, cancel := context.WithTimeout(ctx, i.host.opts.StartTimeout)
	defer cancel()
	if v, _, err := wire.conn.WaitHello(cctx); err != nil {
		return nil, fmt.Errorf("data plane: %w", err)
	} else if v != connectors.ProtocolVersion {
		return nil, fmt.Errorf("plugin's data plane speaks protocol v%d, this host v%d", v, connectors.ProtocolVersion)
	}
	meta, err := wire.Metadata(cctx, &connectors.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	// The manifest drives routing and validation in the proxy; one the SDK's
	// rules refuse (an unknown resource, a required filter not declared)
	// would be misread there, so the plugin is refused instead.
	if err := meta.Validate(); err != nil {
		return nil, fmt.Errorf("invalid manifest: %w", err)
	}
	if meta.Kind != i.spec.Kind {
		return nil, fmt.Errorf("plugin reports kind %q, catalog says %q", meta.Kind, i.spec.Kind)
	}
	for _, c := range spec.Connections {
		resp, err := wire.Configure(cctx, &connectors.ConfigureRequest{ConnectionID: c.ID, Settings: c.Settings})
		if err != nil {
			return nil, fmt.Errorf("configure connection %q: %s", c.ID, connectors.CodeOf(err))
		}
		wire.addTemplates(c.ID, resp.Templates)
	}
	i.mu.Lock()
	i.meta = meta
	i.mu.Unlock()
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	return &live{client: client, wire: wire, pid: pid, done: conn.done, health: conn.health}, nil
}

func unavailable(err error) error {
	return &connectors.Error{Code: connectors.CodeInternal, Err: err}
}

// hostPlugin is the host half of go-plugin's GRPCPlugin.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

// hostConn is what Dispense returns: the plugin's control-plane client, its
// health service, and a channel closed when the process exits.
type hostConn struct {
	rpc    pb.ConnectorClient
	done   <-chan struct{}
	health grpc_health_v1.HealthClient
}

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("plugins: the host serves no connector")
}

func (hostPlugin) GRPCClient(done context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &hostConn{rpc: pb.NewConnectorClient(conn), done: done.Done(), health: grpc_health_v1.NewHealthClient(conn)}, nil
}
