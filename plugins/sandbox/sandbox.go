package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Mode is how strictly a plugin must be fenced in: a catalog entry's
// "sandbox" field.
type Mode string

// The modes. The zero value is ModeRequired.
const (
	// ModeRequired runs the plugin under the whole sandbox, and refuses to
	// start it on a kernel that lacks a part of it (Landlock ABI
	// FullLandlockABI, seccomp): fail closed.
	ModeRequired Mode = "required"
	// ModeBestEffort applies what the kernel supports, down to nothing, and
	// says what is missing.
	ModeBestEffort Mode = "best_effort"
	// ModeOff applies no kernel restriction at all: no Landlock, seccomp,
	// resource limits or capability drop. The plugin is still exec'd from
	// the descriptor that was hashed, with the parent-death signal and an
	// environment of go-plugin's variables only.
	ModeOff Mode = "off"
)

// Modes lists the valid modes, for config validation.
var Modes = []Mode{ModeRequired, ModeBestEffort, ModeOff}

// Normal returns m with the zero value spelled out.
func (m Mode) Normal() Mode {
	if m == "" {
		return ModeRequired
	}
	return m
}

// Valid reports whether m is one of Modes (or empty).
func (m Mode) Valid() bool {
	switch m.Normal() {
	case ModeRequired, ModeBestEffort, ModeOff:
		return true
	}
	return false
}

// FullLandlockABI is the Landlock ABI the whole policy needs: 4 restricts
// TCP, 6 scopes abstract Unix sockets and signals.
const FullLandlockABI = 6

// MaxOpenFiles is the plugin's RLIMIT_NOFILE (soft and hard). A plugin
// talks only to its host, over a handful of sockets, so this is generous;
// it is also the file descriptor number the launcher execs from, which the
// limit then keeps out of the plugin's reach (see the package doc).
const MaxOpenFiles = 256

// ThreadHeadroom is how many more tasks (threads) than its uid already has
// a plugin may create, when the host does not run as uid 0: RLIMIT_NPROC
// counts every task of the uid, host and plugins together.
const ThreadHeadroom = 512

// Level summarises a Status.
type Level string

// The levels.
const (
	// LevelFull: every part of the policy is in force.
	LevelFull Level = "full"
	// LevelPartial: some parts are; Status.Missing says which are not.
	LevelPartial Level = "partial"
	// LevelNone: no kernel restriction at all.
	LevelNone Level = "none"
)

// Status is the sandbox in force for a plugin (or planned for it).
type Status struct {
	Mode Mode
	// LandlockABI is the Landlock ABI whose rules are enforced; 0 for none.
	LandlockABI int
	// Seccomp is true when the system call filter is installed.
	Seccomp bool
	// Limits is true when the resource limits are set.
	Limits bool
	// NoCapabilities is true when the plugin starts with no capabilities
	// (the bounding set was emptied, or the host had none to give).
	NoCapabilities bool
	// Unsupported is set on systems without the sandbox at all (not Linux).
	Unsupported bool
}

// Level summarises s.
func (s Status) Level() Level {
	switch {
	// Capabilities are not part of it: Landlock and seccomp hold whatever
	// capabilities the process has, and a host that runs as root without
	// CAP_SETPCAP cannot empty the bounding set.
	case s.LandlockABI >= FullLandlockABI && s.Seccomp && s.Limits:
		return LevelFull
	case s.LandlockABI > 0 || s.Seccomp || s.Limits || s.NoCapabilities:
		return LevelPartial
	}
	return LevelNone
}

// Covers lists what is enforced, in words an operator can check against
// the threat model (docs/design.md).
func (s Status) Covers() []string {
	var out []string
	if s.LandlockABI > 0 {
		parts := []string{"files: its binary and socket directory only", "exec: its binary only"}
		if s.LandlockABI >= 4 {
			parts = append(parts, "tcp bind/connect: none")
		}
		if s.LandlockABI >= 6 {
			parts = append(parts, "abstract unix sockets and signals: its own only")
		}
		out = append(out, fmt.Sprintf("landlock v%d (%s)", s.LandlockABI, strings.Join(parts, ", ")))
	}
	if s.Seccomp {
		// Not exec: seccomp cannot see execveat's path, and the kernel
		// ignores the descriptor when the path is absolute, so only
		// Landlock's execute right restricts what a plugin may exec.
		out = append(out, "seccomp (sockets: unix only; no fork, ptrace, mount, namespaces, bpf, perf_event_open, keyctl, io_uring)")
	}
	if s.Limits {
		out = append(out, fmt.Sprintf("rlimits (nofile %d, fsize 0, core 0)", MaxOpenFiles))
	}
	if s.NoCapabilities {
		out = append(out, "no capabilities")
	} else if s.LandlockABI > 0 || s.Seccomp {
		out = append(out, "capabilities: the host's bounding set (without CAP_SETPCAP it cannot be emptied)")
	}
	return out
}

// Missing lists what the full sandbox has that s lacks.
func (s Status) Missing() []string {
	var out []string
	switch {
	case s.LandlockABI == 0:
		out = append(out, fmt.Sprintf("landlock (needs ABI %d): without it the plugin can read, and exec, any file the host's user can", FullLandlockABI))
	case s.LandlockABI < 4:
		out = append(out, "landlock tcp rules (ABI 4)", "landlock scopes (ABI 6)")
	case s.LandlockABI < FullLandlockABI:
		out = append(out, "landlock scopes for abstract unix sockets and signals (ABI 6)")
	}
	if !s.Seccomp {
		out = append(out, "seccomp")
	}
	if !s.Limits {
		out = append(out, "resource limits")
	}
	return out
}

// Detail says what is enforced (and, short of the full level, what is
// missing), for logs and reports.
func (s Status) Detail() string {
	switch {
	case s.Unsupported:
		return "no kernel sandbox on this system"
	case s.Mode.Normal() == ModeOff:
		return `sandbox "off" in the plugin catalog`
	case s.Level() == LevelFull:
		return strings.Join(s.Covers(), "; ")
	}
	d := strings.Join(s.Covers(), "; ")
	if d != "" {
		d += "; "
	}
	return d + "missing: " + strings.Join(s.Missing(), ", ")
}

// String is one line for logs and reports: the level, then its detail.
func (s Status) String() string {
	return string(s.Level()) + " (" + s.Detail() + ")"
}

// Support is what the running kernel and process can enforce.
type Support struct {
	// LandlockABI is the kernel's Landlock ABI version (0: none), lowered
	// to 5 on a kernel with ABI 6 whose signal scoping bug is not fixed,
	// as go-landlock does.
	LandlockABI int
	// Seccomp is true when seccomp filters can be installed.
	Seccomp bool
	// DropCapabilities is true when the plugin can be started with no
	// capabilities: the host has none to give, or it may empty the
	// bounding set (CAP_SETPCAP).
	DropCapabilities bool
	// Unsupported is set when this system has no sandbox at all (not
	// Linux).
	Unsupported bool
	// Err says why probing failed, if it did.
	Err error
}

// ErrRefused is wrapped by Plan's error when the mode is ModeRequired and
// the kernel lacks a part of the sandbox.
var ErrRefused = errors.New("plugin sandbox unavailable")

// Plan returns the sandbox that mode m gives on this kernel, or an error
// wrapping ErrRefused when m requires more than the kernel has.
func (s Support) Plan(m Mode) (Status, error) {
	m = m.Normal()
	if !m.Valid() {
		return Status{}, fmt.Errorf("sandbox mode %q: want %s, %s or %s", m, ModeRequired, ModeBestEffort, ModeOff)
	}
	st := Status{Mode: m, Unsupported: s.Unsupported}
	if m == ModeOff {
		return st, nil
	}
	st.LandlockABI = s.LandlockABI
	st.Seccomp = s.Seccomp
	st.Limits = !s.Unsupported
	st.NoCapabilities = s.DropCapabilities
	if m == ModeRequired && st.Level() != LevelFull {
		why := "missing " + strings.Join(st.Missing(), ", ")
		if s.Unsupported {
			why = "no kernel sandbox on this system"
		}
		return Status{}, fmt.Errorf(`%w: %s: set the plugin's "sandbox" to "best_effort" (or "off") to run it anyway, or dev_mode`, ErrRefused, why)
	}
	return st, nil
}

// String describes what the kernel supports, for ferry check and the
// startup log.
func (s Support) String() string {
	if s.Unsupported {
		return "no kernel sandbox on this system"
	}
	parts := []string{"landlock: none"}
	if s.LandlockABI > 0 {
		parts[0] = fmt.Sprintf("landlock ABI %d", s.LandlockABI)
	}
	if s.Seccomp {
		parts = append(parts, "seccomp")
	} else {
		parts = append(parts, "seccomp: none")
	}
	if s.DropCapabilities {
		parts = append(parts, "capabilities can be dropped")
	} else {
		parts = append(parts, "capabilities cannot be dropped (no CAP_SETPCAP)")
	}
	return strings.Join(parts, ", ")
}

var (
	probeOnce sync.Once
	probed    Support
)

// Probe reports what this kernel and process support. It is computed once.
func Probe() Support {
	probeOnce.Do(func() { probed = probe() })
	return probed
}

// Command is one plugin process to start. Its Runner method is a go-plugin
// ClientConfig.RunnerFunc; a Command serves one start. The plugin's argv
// is the exec.Cmd's Args when Args[0] is set, else the path followed by
// Args[1:].
type Command struct {
	// Path is the plugin binary; empty takes the exec.Cmd's Path that
	// go-plugin hands the runner.
	Path string
	// SHA256 is the binary's expected digest. Required: the binary is
	// opened once, hashed from that descriptor, and exec'd from it.
	SHA256 []byte
	// Mode is how strict to be; the zero value is ModeRequired.
	Mode Mode
	// ExtraFiles become the plugin's descriptors 3, 4, … in order, open
	// (as exec.Cmd.ExtraFiles); the exec.Cmd's own ExtraFiles follow them.
	ExtraFiles []*os.File

	mu     sync.Mutex
	pid    int
	status Status
}

// PID returns the plugin's process id once started, or 0.
func (c *Command) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid
}

// Status returns the sandbox the plugin was started under (the zero Status
// before it started).
func (c *Command) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}
