//go:build unix

package testpeer

import (
	"os/exec"
	"syscall"
	"time"
)

// stopGroup stops a peer started with Setpgid (its pid is its process
// group's id): SIGTERM to the group, SIGKILL after stopGrace, and returns
// once exited is closed. A peer that already exited is not signalled: its
// group id may have been reused by an unrelated process.
func stopGroup(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
}
