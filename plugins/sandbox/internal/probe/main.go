//go:build linux

// Command probe is what the sandbox package's tests run in place of a
// plugin: it reports, as one JSON object on stdout, what it finds itself
// running under (open descriptors at start, environment, no_new_privs,
// seccomp mode, capabilities, resource limits) and what happened to every
// escape attempt (escape.Try, with the targets in argv[1]), then talks
// over descriptor 3 when the test passed one, and waits for the test to
// close it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferryhealth/ferry/connectors/conformance/escape"
)

// variant is set at link time, so a test can tell two builds apart.
var variant = "a"

// startFDs are the descriptors open when the process started (before the
// runtime's poller or anything else opened one), with their file type.
var startFDs = openFDs()

type report struct {
	Variant  string            `json:"variant"`
	FDs      map[int]string    `json:"fds"`
	Env      []string          `json:"env"`
	NNP      int               `json:"nnp"`
	Seccomp  int               `json:"seccomp"`
	CapEff   uint64            `json:"cap_eff"`
	CapBnd   uint64            `json:"cap_bnd"`
	Limits   map[string]uint64 `json:"limits"`
	Escapes  []escape.Attempt  `json:"escapes"`
	Reexec   map[string]string `json:"reexec"`
	FD3      string            `json:"fd3,omitempty"`
	Sendmsg  string            `json:"sendmsg,omitempty"`
	Recvmsg  string            `json:"recvmsg,omitempty"`
	Argv     []string          `json:"argv"`
	Pid      int               `json:"pid"`
	PPid     int               `json:"ppid"`
	Cwd      string            `json:"cwd"`
	CwdError string            `json:"cwd_error,omitempty"`
}

func main() {
	if os.Args[0] == "probe-again" {
		return // a re-exec that got through: the report says so
	}
	r := report{Variant: variant, FDs: startFDs, Env: os.Environ(), Argv: os.Args, Pid: os.Getpid(), PPid: os.Getppid(), Limits: map[string]uint64{}, Reexec: map[string]string{}}
	r.NNP, _ = unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	r.Seccomp, _ = unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) == nil {
		r.CapEff = uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	}
	for c := 0; c < 64; c++ {
		v, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			break
		}
		if v == 1 {
			r.CapBnd |= 1 << c
		}
	}
	for name, res := range map[string]int{"nofile": unix.RLIMIT_NOFILE, "fsize": unix.RLIMIT_FSIZE, "core": unix.RLIMIT_CORE, "nproc": unix.RLIMIT_NPROC} {
		var l unix.Rlimit
		if unix.Getrlimit(res, &l) == nil {
			r.Limits[name] = l.Max
		}
	}
	if cwd, err := os.Getwd(); err == nil {
		r.Cwd = cwd
	} else {
		r.CwdError = err.Error()
	}
	if r.Seccomp != 0 {
		// Unsandboxed, these would succeed and replace this process.
		reexec(r.Reexec)
	}
	if len(os.Args) > 1 {
		var t escape.Targets
		if err := json.Unmarshal([]byte(os.Args[1]), &t); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		r.Escapes = escape.Try(t)
	}
	fd3 := startFDs[3] != ""
	if fd3 {
		r.FD3, r.Sendmsg, r.Recvmsg = talk()
	}
	b, _ := json.Marshal(r)
	os.Stdout.Write(append(b, '\n'))
	if fd3 {
		// Wait for the test to close its end: it looks at this process
		// from outside meanwhile.
		var b [1]byte
		syscall.Read(3, b[:])
	}
}

// openFDs scans descriptor numbers with fcntl (no file access needed) and
// names each open one's type.
func openFDs() map[int]string {
	out := map[int]string{}
	for fd := 0; fd < 1024; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			continue
		}
		var st unix.Stat_t
		kind := "other"
		if unix.Fstat(fd, &st) == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				kind = "file"
			case unix.S_IFSOCK:
				kind = "socket"
			case unix.S_IFIFO:
				kind = "pipe"
			case unix.S_IFCHR:
				kind = "char"
			case unix.S_IFDIR:
				kind = "dir"
			}
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil && os.Getenv("PROBE_DEBUG") != "" {
			kind += " " + l
		}
		out[fd] = kind
	}
	return out
}

// reexec tries every way back to exec that the exec-once design closes:
// execve of its own binary, execveat of a descriptor of it, and moving
// that descriptor to the number the launcher exec'd from.
func reexec(out map[string]string) {
	name := func(err error) string {
		if err == nil {
			return "ok"
		}
		return err.Error()
	}
	argv := []string{"probe-again"}
	out["execve_self"] = name(syscall.Exec("/proc/self/exe", argv, nil))
	fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	out["open_self"] = name(err)
	if err != nil {
		return
	}
	out["execveat_self"] = name(execveat(fd, argv))
	out["dup_to_256"] = name(unix.Dup3(fd, 256, unix.O_CLOEXEC))
	_, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 256)
	out["fcntl_dupfd_256"] = name(err)
	err = unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1024, Max: 1024})
	out["raise_nofile"] = name(err)
	unix.Close(fd)
}

func execveat(fd int, argv []string) error {
	empty, _ := syscall.BytePtrFromString("")
	argvp, _ := syscall.SlicePtrFromStrings(argv)
	envp, _ := syscall.SlicePtrFromStrings(nil)
	_, _, e := syscall.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return e
}

// talk proves the inherited socket at descriptor 3 works both ways, with
// write and read, then with sendmsg and recvmsg.
func talk() (string, string, string) {
	if _, err := unix.Write(3, []byte("hello from fd 3")); err != nil {
		return "write: " + err.Error(), "", ""
	}
	buf := make([]byte, 64)
	n, err := unix.Read(3, buf)
	if err != nil {
		return "read: " + err.Error(), "", ""
	}
	got := string(buf[:n])
	sm := "ok"
	if err := unix.Sendmsg(3, []byte("sendmsg"), nil, nil, 0); err != nil {
		sm = err.Error()
	}
	rm := "ok"
	if n, _, _, _, err := unix.Recvmsg(3, buf, nil, 0); err != nil {
		rm = err.Error()
	} else {
		rm = string(buf[:n])
	}
	return got, sm, rm
}
