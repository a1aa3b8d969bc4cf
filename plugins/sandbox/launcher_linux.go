package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// The launcher is the host binary re-executed with argv[0] = launcherArg0.
// It runs in this package's init, before the host's main (or a test
// binary's flag parsing), on the main thread, which it never leaves: every
// restriction below is applied to the calling thread, and that thread is
// the one that execs the plugin, so the plugin starts under exactly them.
// It never returns: it becomes the plugin or exits.
func init() {
	if len(os.Args) != 2 || os.Args[0] != launcherArg0 {
		return
	}
	runtime.LockOSThread()
	os.Exit(launch(os.Args[1]))
}

// Exit codes of a launcher that did not become the plugin.
const (
	exitParentGone = 125 // the host died before the parent-death signal was armed
	exitFailed     = 126 // a step failed; the report pipe says which
)

// launch applies the spec and execs the plugin; it returns an exit code
// only when that failed.
func launch(arg string) int {
	var sp launchSpec
	if err := json.Unmarshal([]byte(arg), &sp); err != nil || sp.Parent <= 0 || len(sp.Argv) == 0 {
		return exitFailed
	}
	fail := func(step string, err error) int {
		// A raw write: an *os.File would bring in the runtime's poller.
		_, _ = unix.Write(sp.reportFD(), fmt.Appendf(nil, "%s: %v", step, err))
		return exitFailed
	}

	// The host may have died between fork and here: the signal is armed
	// (again, on this thread, the one that execs), then the parent checked.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fail("parent-death signal", err)
	}
	if os.Getppid() != sp.Parent {
		return exitParentGone
	}
	// From the report pipe on, every descriptor closes at exec: the
	// report pipe (its closing tells the host the exec happened), the
	// binary at execFD (the plugin never holds it, and once RLIMIT_NOFILE
	// is execFD no descriptor of that number can exist again), the
	// runtime's own, and whatever the host itself inherited without
	// close-on-exec above execFD (a shell's or a supervisor's; those below
	// were closed by os/exec). The plugin keeps 0-2 and its ExtraFiles
	// only. (Marked, not closed: the runtime's descriptors must work until
	// then.)
	if err := unix.CloseRange(uint(sp.reportFD()), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail("closing inherited descriptors", err)
	}
	if sp.DropCaps {
		if err := dropCapabilities(); err != nil {
			return fail("capabilities", err)
		}
	}
	if sp.Limits {
		if err := setLimits(sp.NProc); err != nil {
			return fail("resource limits", err)
		}
	}
	if sp.Landlock > 0 || sp.Seccomp {
		// Both need it, and it is what keeps them across the exec.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail("no_new_privs", err)
		}
	}
	if sp.Landlock > 0 {
		if err := restrictLandlock(&sp); err != nil {
			return fail("landlock", err)
		}
	}
	if sp.Seccomp {
		for _, p := range seccompPolicies() {
			if err := seccomp.LoadFilter(seccomp.Filter{Policy: p}); err != nil {
				return fail("seccomp", err)
			}
		}
	}
	return fail("exec", execveat(execFD, sp.Argv, os.Environ()))
}

// dropCapabilities empties the sets a plugin would start with. For a
// process with uid 0 anywhere the bounding set is what exec grants, so it
// is emptied (this needs CAP_SETPCAP, which Support.DropCapabilities
// checked); for others, no_new_privs already keeps file capabilities out,
// and the ambient set is cleared for both.
func dropCapabilities() error {
	r, e, s := unix.Getresuid()
	if r == 0 || e == 0 || s == 0 {
		for c := 0; c < 64; c++ {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				if errors.Is(err, unix.EINVAL) {
					break // past the kernel's last capability
				}
				return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
			}
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clearing the ambient set: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clearing the inheritable set: %w", err)
	}
	return nil
}

// setLimits sets soft and hard limits together: lowering a hard limit is
// for good without CAP_SYS_RESOURCE, and the seccomp filter refuses
// setrlimit and prlimit64 with a new limit anyway.
func setLimits(nproc uint64) error {
	limits := []struct {
		res  int
		v    uint64
		name string
	}{
		{unix.RLIMIT_NOFILE, MaxOpenFiles, "RLIMIT_NOFILE"},
		// Not a byte in any regular file, even in the socket directory
		// (SIGXFSZ is ignored by the Go runtime: the write fails EFBIG).
		{unix.RLIMIT_FSIZE, 0, "RLIMIT_FSIZE"},
		// A crash must not write the plugin's memory (PHI) to disk.
		{unix.RLIMIT_CORE, 0, "RLIMIT_CORE"},
	}
	if nproc > 0 {
		limits = append(limits, struct {
			res  int
			v    uint64
			name string
		}{unix.RLIMIT_NPROC, nproc, "RLIMIT_NPROC"})
	}
	for _, l := range limits {
		if err := unix.Setrlimit(l.res, &unix.Rlimit{Cur: l.v, Max: l.v}); err != nil {
			return fmt.Errorf("%s=%d: %w", l.name, l.v, err)
		}
	}
	return nil
}

// presets are go-landlock's configurations by ABI: each handles every
// access right and scope that ABI knows, so whatever a rule below does not
// grant is denied.
var presets = []landlock.Config{1: landlock.V1, 2: landlock.V2, 3: landlock.V3, 4: landlock.V4, 5: landlock.V5,
	6: landlock.V6, 7: landlock.V7, 8: landlock.V8, 9: landlock.V9, 10: landlock.V10, 11: landlock.V11}

// Rights granted by the ruleset.
const (
	// The plugin binary and its ELF interpreter: read and execute.
	rightsExec = ll.AccessFSReadFile | ll.AccessFSExecute
	// Shared libraries: read (the loader maps them; Landlock checks opens).
	rightsRead = ll.AccessFSReadFile
	// The socket directory: go-plugin's server makes a temporary file to
	// pick a name, removes it and binds its socket there; with ABI 9 (which
	// restricts connecting to a named Unix socket) it may also reach the
	// host's go-plugin broker sockets there.
	rightsSocketDir = ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSMakeReg | ll.AccessFSMakeSock |
		ll.AccessFSRemoveFile | ll.AccessFSResolveUnix
)

// restrictLandlock enforces the ruleset on the calling thread. TCP bind
// and connect (ABI 4) and the scopes (ABI 6) are handled by the preset
// with no rule granting them: all denied.
func restrictLandlock(sp *launchSpec) error {
	if sp.Landlock >= len(presets) {
		return fmt.Errorf("ABI %d unknown to go-landlock", sp.Landlock)
	}
	cfg := presets[sp.Landlock]
	// Denials are not sent to the kernel's audit log: each record names
	// the path the plugin asked for, and a hostile plugin could write PHI
	// into the node's logs through the paths it is refused.
	handled := cfg.HandledAccessFS
	grant := func(rights landlock.AccessFSSet, paths ...string) landlock.Rule {
		return landlock.PathAccess(rights&handled, paths...)
	}
	// /proc/self/fd/N resolves to the descriptor's file: the rule is on the
	// inode that was hashed, whatever is at the path now.
	rules := []landlock.Rule{
		grant(rightsExec, fmt.Sprintf("/proc/self/fd/%d", execFD)),
		grant(rightsSocketDir, sp.SocketDir),
	}
	if sp.Interp != "" {
		rules = append(rules, grant(rightsExec, sp.Interp))
	}
	if len(sp.Libs) > 0 {
		rules = append(rules, grant(rightsRead, sp.Libs...))
	}
	fd, flags, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return err
	}
	if fd < 0 {
		return errors.New("no ruleset to enforce")
	}
	defer unix.Close(fd)
	return ll.LandlockRestrictSelf(fd, flags)
}

// execveat execs the file open at fd (AT_EMPTY_PATH): the verified binary,
// not whatever its path names now.
func execveat(fd int, argv, env []string) error {
	empty, err := syscall.BytePtrFromString("")
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return errno
}
