package conformance

import (
	"errors"
	"os"
	"syscall"
)

type isolationAttempt struct {
	attr *syscall.SysProcAttr // nil: the kit's own network namespace
}

// isolationAttempts lists the ways to start the plugin, best first: a new
// network namespace (root can make one directly; others need a user
// namespace around it), then, in auto mode, none.
func isolationAttempts(mode Isolation) []isolationAttempt {
	if mode == IsolationNone {
		return []isolationAttempt{{}}
	}
	var out []isolationAttempt
	if os.Geteuid() == 0 {
		out = append(out, isolationAttempt{&syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}})
	}
	uid, gid := os.Getuid(), os.Getgid()
	out = append(out, isolationAttempt{&syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		// The plugin keeps its own uid inside, so the Unix socket it
		// creates for the handshake stays reachable by the kit.
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		GidMappingsEnableSetgroups: false,
	}})
	if mode == IsolationAuto {
		out = append(out, isolationAttempt{})
	}
	return out
}

// namespaceRefused reports whether starting the process failed because the
// namespaces could not be made (no privilege, disabled, limit reached), as
// opposed to the plugin failing.
func namespaceRefused(err error) bool {
	for _, e := range []error{syscall.EPERM, syscall.EACCES, syscall.EINVAL, syscall.ENOSPC, syscall.ENOSYS, syscall.EUSERS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
