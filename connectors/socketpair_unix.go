//go:build unix

package connectors

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// DataPlanePair makes a data plane's two ends: the host's, as a net.Conn,
// and the plugin's, as a file to hand the child (exec.Cmd.ExtraFiles[0],
// which the child sees as DataPlaneFD). The pair has no name anywhere: no
// file, no abstract socket, nothing another process could open. Both ends
// are close-on-exec in this process; the child gets its own copy of the
// plugin's end. Close the file once the child has started.
func DataPlanePair() (host net.Conn, plugin *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	hf := os.NewFile(uintptr(fds[0]), "ferry-data-plane-host")
	defer hf.Close() // FileConn holds its own descriptor
	host, err = net.FileConn(hf)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return host, os.NewFile(uintptr(fds[1]), "ferry-data-plane"), nil
}
