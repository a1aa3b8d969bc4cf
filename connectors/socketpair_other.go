//go:build !unix

package connectors

import (
	"errors"
	"net"
	"os"
)

// DataPlanePair is unix-only: plugins run on Linux (and unix-likes in
// development).
func DataPlanePair() (host net.Conn, plugin *os.File, err error) {
	return nil, nil, errors.New("connector plugins need a unix system")
}
