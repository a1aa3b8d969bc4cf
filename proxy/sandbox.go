package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// PluginSandbox is the kernel sandbox one plugin kind runs in, as the
// plugin host reports it (cmd/ferry adapts plugins.Host's report).
type PluginSandbox struct {
	Kind string
	// Level is full, partial, none, or refused: the catalog requires more
	// than this kernel has, and the plugin is not started.
	Level       string
	LandlockABI int  // the Landlock ABI enforced; 0 for none
	Seccomp     bool // the system call filter is installed
	// Detail says what is enforced, or why the plugin is refused.
	Detail string
}

// PluginSandboxes is implemented by Connectors that run plugins in a kernel
// sandbox: /readyz and /metrics then say each plugin's. In-process
// connectors (tests, benchmarks) have none, and say nothing about it.
type PluginSandboxes interface {
	PluginSandboxes() []PluginSandbox
}

func (s *Server) sandboxes() []PluginSandbox {
	if ps, ok := s.conns.(PluginSandboxes); ok {
		return ps.PluginSandboxes()
	}
	return nil
}

// appendSandboxLines appends one line per plugin to a /readyz body: the
// sandbox level in force and what it covers, or why the plugin is refused.
func appendSandboxLines(b []byte, sbs []PluginSandbox) []byte {
	for _, sb := range sbs {
		b = append(b, "plugin "...)
		b = append(b, sb.Kind...)
		b = append(b, " sandbox: "...)
		b = append(b, sb.Level...)
		if sb.Detail != "" {
			b = append(b, ": "...)
			b = append(b, sb.Detail...)
		}
		b = append(b, '\n')
	}
	return b
}

// writeSandboxMetrics appends ferry_plugin_sandbox, an info gauge (always
// 1) whose labels say each plugin's sandbox: level full, partial, none or
// refused, the Landlock ABI enforced (0 for none) and whether the seccomp
// filter is installed.
func writeSandboxMetrics(rc *fasthttp.RequestCtx, sbs []PluginSandbox) {
	if len(sbs) == 0 {
		return
	}
	const name = "ferry_plugin_sandbox"
	line := appendFamilyHeader(make([]byte, 0, 256), name,
		"The kernel sandbox of each plugin (always 1): level full, partial, none or refused (the kernel cannot give what the catalog requires), the Landlock ABI enforced, seccomp on or off.", "gauge")
	_, _ = rc.Write(line)
	for _, sb := range sbs {
		line = append(line[:0], name...)
		line = append(line, `{landlock_abi="`...)
		line = strconv.AppendInt(line, int64(sb.LandlockABI), 10)
		line = append(line, `",level="`...)
		line = appendLabelValue(line, sb.Level)
		line = append(line, `",plugin="`...)
		line = appendLabelValue(line, sb.Kind)
		line = append(line, `",seccomp="`...)
		line = strconv.AppendBool(line, sb.Seccomp)
		line = append(line, "\"} 1\n"...)
		_, _ = rc.Write(line)
	}
}
