package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
)

// launched is a plugin process started the way the host starts one.
type launched struct {
	client    *plugin.Client
	rpc       pb.ConnectorClient   // the control plane
	conn      *connectors.HostConn // the data plane
	done      <-chan struct{}      // closed when the process exits
	pid       int
	stderr    *tail
	transport *fakeTransport
	// isolated is true when the plugin runs in a private network namespace;
	// isolationNote says why it does not, otherwise.
	isolated      bool
	isolationNote string
	// operations are the Call operations the plugin's Hello announced.
	operations []string
}

// launch starts the binary with the host's client configuration: the SDK's
// handshake, gRPC only, AutoMTLS, an empty environment, the data plane on
// the child's DataPlaneFD; then waits for the plugin's Hello on it, as the
// host does. With sandboxed, Options.Sandbox starts it.
func launch(ctx context.Context, o *Options, ft *fakeTransport, sandboxed bool) (*launched, error) {
	l := &launched{stderr: &tail{max: 16 << 10}, transport: ft}
	var stderr io.Writer = l.stderr
	if o.Stderr != nil {
		stderr = io.MultiWriter(l.stderr, o.Stderr)
	}
	attempts := isolationAttempts(o.Isolation)
	var client *plugin.Client
	var rpcClient plugin.ClientProtocol
	var err error
	var hostEnd net.Conn
	var started runner.Runner
	for i, iso := range attempts {
		var pluginEnd *os.File
		hostEnd, pluginEnd, err = connectors.DataPlanePair()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(o.Binary)
		// As in the host: the plugin inherits nothing (no credentials).
		cmd.Env = []string{}
		cmd.ExtraFiles = []*os.File{pluginEnd}
		cmd.SysProcAttr = iso.attr
		var runnerFunc func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error)
		if sandboxed {
			// The host's sandbox starts it; go-plugin hands the runner an
			// exec.Cmd of its own, which gets the binary, the data plane
			// and the namespace.
			runnerFunc = func(l hclog.Logger, c *exec.Cmd, dir string) (runner.Runner, error) {
				c.Path, c.Args, c.SysProcAttr = o.Binary, []string{o.Binary}, iso.attr
				c.ExtraFiles = []*os.File{pluginEnd}
				r, err := o.Sandbox(l, c, dir)
				started = r
				return r, err
			}
			cmd = nil
		}
		client = plugin.NewClient(&plugin.ClientConfig{
			HandshakeConfig:  connectors.Handshake,
			Plugins:          plugin.PluginSet{connectors.PluginName: &kitPlugin{}},
			Cmd:              cmd,
			RunnerFunc:       runnerFunc,
			AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
			AutoMTLS:         true,
			SkipHostEnv:      true,
			StartTimeout:     o.StartTimeout,
			Logger:           hclog.NewNullLogger(),
			Stderr:           stderr,
			SyncStdout:       io.Discard,
			SyncStderr:       io.Discard,
		})
		rpcClient, err = client.Client()
		_ = pluginEnd.Close()
		if err == nil {
			l.isolated = iso.attr != nil
			break
		}
		client.Kill()
		_ = hostEnd.Close()
		if iso.attr != nil && namespaceRefused(err) {
			l.isolationNote = fmt.Sprintf("network namespaces unavailable (%v)", rootCause(err))
			if i+1 < len(attempts) {
				continue
			}
			return nil, fmt.Errorf("%s, and --isolation netns requires one", l.isolationNote)
		}
		return nil, handshakeError(err, l.stderr)
	}
	if o.Isolation == IsolationNone {
		l.isolationNote = "isolation turned off"
	}
	l.client = client
	if rc := client.ReattachConfig(); rc != nil {
		l.pid = rc.Pid
	}
	if started != nil {
		// go-plugin knows no pid for a RunnerFunc's process.
		l.pid, _ = strconv.Atoi(started.ID())
	}
	raw, err := rpcClient.Dispense(connectors.PluginName)
	if err != nil {
		client.Kill()
		_ = hostEnd.Close()
		return nil, fmt.Errorf("the plugin does not serve %q over gRPC: %w", connectors.PluginName, err)
	}
	d := raw.(*dispensed)
	l.rpc, l.done = d.rpc, d.done
	l.conn = connectors.NewHostConn(hostEnd)
	hctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if v, ops, err := l.conn.WaitHello(hctx); err != nil {
		l.close()
		return nil, fmt.Errorf("no Hello on the data plane (fd %d): is the plugin served with connectors.Serve? %w%s", connectors.DataPlaneFD, err, l.stderr.excerpt())
	} else if v != connectors.ProtocolVersion {
		l.close()
		return nil, fmt.Errorf("the data plane's Hello says protocol v%d; this host speaks v%d", v, connectors.ProtocolVersion)
	} else {
		l.operations = ops
	}
	return l, nil
}

func (l *launched) close() {
	if l.conn != nil {
		_ = l.conn.Close()
	}
	l.client.Kill()
}

// exited reports whether the process has exited.
func (l *launched) exited() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// handshakeError explains a failed start in terms of what the author should
// do.
func handshakeError(err error, stderr *tail) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "incompatible API version"):
		v := "another"
		if m := pluginVersionRE.FindStringSubmatch(msg); m != nil {
			v = "v" + m[1]
		}
		return fmt.Errorf("the plugin speaks connector protocol %s; this host speaks v%d: build it against an SDK of protocol v%d",
			v, connectors.ProtocolVersion, connectors.ProtocolVersion)
	case strings.Contains(msg, "incompatible core API version"):
		return fmt.Errorf("the plugin's go-plugin core protocol differs from the host's: rebuild it against this SDK (%v)", err)
	case strings.Contains(msg, "Unsupported plugin protocol") || strings.Contains(msg, "unsupported plugin protocol"):
		return errors.New("the plugin offers net/rpc; the host speaks gRPC only (serve with connectors.Serve)")
	case strings.Contains(msg, "exited before we could connect"), strings.Contains(msg, "Unrecognized remote plugin message"):
		return fmt.Errorf("the binary exited or printed something else instead of the go-plugin handshake: is it a plugin built with connectors.Serve, and does its main print to stdout before serving?%s", stderr.excerpt())
	case strings.Contains(msg, "timeout while waiting"):
		return errors.New("no handshake within the start timeout: does main call connectors.Serve without doing slow work first?")
	}
	return fmt.Errorf("start: %w%s", err, stderr.excerpt())
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// kitPlugin is the kit's half of go-plugin's GRPCPlugin: it dispenses the
// raw wire client, so the kit sees exactly what crosses the wire.
type kitPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

type dispensed struct {
	rpc  pb.ConnectorClient
	done <-chan struct{}
}

func (kitPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("conformance: the kit serves no connector")
}

func (kitPlugin) GRPCClient(done context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &dispensed{rpc: pb.NewConnectorClient(conn), done: done.Done()}, nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

// excerpt returns the last few lines the plugin wrote to stderr, indented,
// or "".
func (t *tail) excerpt() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, []byte("?")))), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	for i, l := range lines {
		if len(l) > 160 {
			l = l[:160] + "…"
		}
		lines[i] = "\n    | " + l
	}
	return "\n  the plugin's stderr ended with:" + strings.Join(lines, "")
}
