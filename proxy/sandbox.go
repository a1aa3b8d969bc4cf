package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/plugins"
)

// pluginSandboxes is implemented by the plugin host: the kernel sandbox each
// plugin runs in. In-process connectors (tests, benchmarks) have none to
// report, and /readyz and /metrics then say nothing about it.
type pluginSandboxes interface {
	Sandboxes() []plugins.SandboxStatus
}

func (s *Server) sandboxes() []plugins.SandboxStatus {
	if ps, ok := s.conns.(pluginSandboxes); ok {
		return ps.Sandboxes()
	}
	return nil
}

// appendSandboxLines appends one line per plugin to a /readyz body: the
// sandbox level in force and what it covers, or why the plugin is refused.
func appendSandboxLines(b []byte, sbs []plugins.SandboxStatus) []byte {
	for _, sb := range sbs {
		b = append(b, "plugin "...)
		b = append(b, sb.Kind...)
		b = append(b, " sandbox: "...)
		if sb.Err != nil {
			b = append(b, "refused: "...)
			b = append(b, sb.Err.Error()...)
		} else {
			b = append(b, sb.Status.String()...)
		}
		b = append(b, '\n')
	}
	return b
}

// writeSandboxMetrics appends ferry_plugin_sandbox, an info gauge (always
// 1) whose labels say each plugin's sandbox: level full, partial, none or
// refused, the Landlock ABI enforced (0 for none) and whether the seccomp
// filter is installed.
func writeSandboxMetrics(rc *fasthttp.RequestCtx, sbs []plugins.SandboxStatus) {
	if len(sbs) == 0 {
		return
	}
	const name = "ferry_plugin_sandbox"
	line := appendFamilyHeader(make([]byte, 0, 256), name,
		"The kernel sandbox of each plugin (always 1): level full, partial, none or refused (the kernel cannot give what the catalog requires), the Landlock ABI enforced, seccomp on or off.", "gauge")
	_, _ = rc.Write(line)
	for _, sb := range sbs {
		level := string(sb.Status.Level())
		if sb.Err != nil {
			level = "refused"
		}
		line = append(line[:0], name...)
		line = append(line, `{landlock_abi="`...)
		line = strconv.AppendInt(line, int64(sb.Status.LandlockABI), 10)
		line = append(line, `",level="`...)
		line = append(line, level...)
		line = append(line, `",plugin="`...)
		line = appendLabelValue(line, sb.Kind)
		line = append(line, `",seccomp="`...)
		line = strconv.AppendBool(line, sb.Status.Seccomp)
		line = append(line, "\"} 1\n"...)
		_, _ = rc.Write(line)
	}
}
