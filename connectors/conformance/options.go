package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// Isolation says whether the kit runs the plugin in a network namespace of
// its own.
type Isolation string

// The isolation modes.
const (
	// IsolationAuto uses a private network namespace when the machine
	// allows it (root, or unprivileged user namespaces), and otherwise
	// falls back to watching the shared one; the network check says which.
	IsolationAuto Isolation = "auto"
	// IsolationNetNS requires a private network namespace: the check fails
	// to start without one.
	IsolationNetNS Isolation = "netns"
	// IsolationNone runs the plugin in the kit's own network namespace and
	// detects sockets by sampling /proc.
	IsolationNone Isolation = "none"
)

// Options configure a conformance run. Zero values take the defaults.
type Options struct {
	// Binary is the plugin binary to check. Required.
	Binary string
	// Kind is the connector kind the binary must report; empty accepts any.
	Kind string
	// Settings are the connection settings the plugin is configured with
	// (default {}): give the settings your connector requires.
	Settings json.RawMessage
	// Upstream, when set, is a realistic source (a fake, a sandbox, or an
	// sdktest.Replayer of recorded answers), addressed at
	// sdktest.DefaultBaseURL. The records check then searches every
	// resource, reads what it found, and checks each record against the
	// unified model. Without it, only records returned from the kit's
	// generated answers are checked.
	Upstream http.Handler
	// UpstreamBaseURL is the base URL Upstream is addressed at; default
	// sdktest.DefaultBaseURL. A source that writes absolute links (a FHIR
	// server's next links) needs the prefix it serves under here.
	UpstreamBaseURL string
	// Deadline is the request deadline of the deadline check; default
	// 500ms.
	Deadline time.Duration
	// Margin is how long after the deadline the plugin may take to answer;
	// default 2s, room for a loaded CI machine: a plugin that honours
	// deadlines answers within milliseconds of them.
	Margin time.Duration
	// CallTimeout bounds every other call; default 10s.
	CallTimeout time.Duration
	// StartTimeout bounds the handshake, as the host's does; default 10s.
	StartTimeout time.Duration
	// Isolation is the network isolation mode; default IsolationAuto.
	Isolation Isolation
	// Stderr, when set, receives a copy of the plugin's stderr (the host
	// discards it; the kit keeps its tail for the report when the plugin
	// dies).
	Stderr io.Writer
	// Sandbox, when set, starts the plugin the way the host does, fenced
	// in by the kernel: it is a go-plugin ClientConfig.RunnerFunc, handed
	// an exec.Cmd with the binary, the environment and the kit's network
	// namespace (SysProcAttr) to honour. `ferry plugin check` sets it to
	// the host's own (plugins/sandbox); the SDK has none. The sandbox
	// check then requires the plugin to run under it, and runs an escape
	// probe through it that must fail every escape.
	Sandbox func(l hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error)
}

func (o *Options) defaults() {
	if len(o.Settings) == 0 {
		o.Settings = json.RawMessage(`{}`)
	}
	if o.Deadline <= 0 {
		o.Deadline = 500 * time.Millisecond
	}
	if o.Margin <= 0 {
		o.Margin = 2 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.Isolation == "" {
		o.Isolation = IsolationAuto
	}
}
