//go:build !linux

package sandbox

import (
	"errors"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// There is no kernel sandbox outside Linux: Plan refuses ModeRequired, and
// Runner refuses every mode, so a plugin never runs unfenced by accident.
// Ferry's plugins are built and served on Linux.

func probe() Support { return Support{Unsupported: true} }

// Runner refuses: plugins run on Linux only.
func (c *Command) Runner(_ hclog.Logger, _ *exec.Cmd, _ string) (runner.Runner, error) {
	return nil, errors.New("plugin sandbox: plugins run on Linux only")
}
