package sandbox

import (
	"os"

	seccomp "github.com/elastic/go-seccomp-bpf"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// maxKnownABI is the newest Landlock ABI go-landlock has a preset for; a
// newer kernel is used at this level.
const maxKnownABI = 11

func probe() Support {
	s := Support{Seccomp: seccomp.Supported(), LandlockABI: landlockABI()}
	s.DropCapabilities = canDropCapabilities()
	return s
}

// landlockABI is the kernel's Landlock ABI as go-landlock counts it: ABI 6
// without the fix for its signal scoping bug (erratum 2) counts as 5, so
// a ruleset planned here is one the library accepts.
func landlockABI() int {
	v, err := ll.LandlockGetABIVersion()
	if err != nil || v < 1 {
		return 0
	}
	if v >= 6 {
		if errata, err := ll.LandlockGetErrata(); err != nil || errata&0x2 == 0 {
			v = 5
		}
	}
	return min(v, maxKnownABI)
}

// canDropCapabilities reports whether the plugin can start with no
// capabilities. A process whose user ids are all non-zero gets none at
// exec with no_new_privs (file capabilities are ignored, the ambient set is
// cleared); one with uid 0 anywhere gets the bounding set, which only
// CAP_SETPCAP may empty.
func canDropCapabilities() bool {
	if os.Getuid() != 0 && os.Geteuid() != 0 {
		if r, e, s := unix.Getresuid(); r != 0 && e != 0 && s != 0 {
			return true
		}
	}
	return hasCap(unix.CAP_SETPCAP)
}

// hasCap reports whether the calling thread has capability c in its
// effective set.
func hasCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}
