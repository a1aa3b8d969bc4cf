//go:build !linux

package escape

import "errors"

var errUnsupported = errors.New("not tried: Linux only")

func ptrace(int) error      { return errUnsupported }
func fork(int) (int, error) { return 0, errUnsupported }
func netlinkSocket() error  { return errUnsupported }
func clearPdeathsig() error { return errUnsupported }
