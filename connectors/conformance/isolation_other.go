//go:build !linux

package conformance

import "syscall"

type isolationAttempt struct {
	attr *syscall.SysProcAttr
}

// isolationAttempts: network namespaces are Linux's; elsewhere the plugin
// runs in the kit's own network, and the network check is skipped.
func isolationAttempts(Isolation) []isolationAttempt { return []isolationAttempt{{}} }

func namespaceRefused(error) bool { return false }
