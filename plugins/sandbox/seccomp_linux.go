package sandbox

import (
	"slices"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// The system call filter is an allowlist of every system call of the
// native architecture that go-seccomp-bpf's table knows, minus the denied
// ones below, with a few allowed only for some arguments. Everything else
// fails with EPERM: system calls of another ABI (i386 through int 0x80 on
// amd64, which a denylist would let straight through the architecture
// check; x32 gets ENOSYS from the library) and system calls newer than the
// table, which nobody has assessed. The kernel caches the verdict for each
// system call whose answer does not depend on its arguments, so the
// allowed ones cost nothing per call.
//
// It is installed as several filters, which the kernel all runs, keeping
// the strictest verdict: the allowlist, then one filter per system call
// whose arguments are checked. go-seccomp-bpf (v1.6.0) does not reload the
// system call number after an argument check that does not match, so in
// one program every check after such a call would compare an argument
// with system call numbers; alone in its filter, nothing follows it.

// denied are refused with EPERM whatever their arguments. Names the
// architecture does not have (fork on arm64) are skipped.
var denied = []string{
	// Exec: only execveat on execFD, below. This narrows exec, it does not
	// close it (an absolute path makes the kernel ignore the descriptor):
	// Landlock's execute right is what fences exec.
	"execve",
	// New processes: threads only (clone with CLONE_THREAD, below).
	"fork", "vfork",
	// Other processes' memory and state.
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
	// Mounts and namespaces.
	"mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"open_tree", "open_tree_attr", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	// Kernel attack surface a connector has no use for.
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"keyctl", "add_key", "request_key",
	// The machine.
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
	"swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "iopl", "ioperm", "quotactl", "quotactl_fd", "lookup_dcookie",
	"vhangup", "syslog", "name_to_handle_at", "open_by_handle_at",
	// File metadata Landlock does not cover.
	"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
	"chown32", "fchown32", "lchown32",
	"setxattr", "lsetxattr", "fsetxattr", "setxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
	"utime", "utimes", "utimensat", "futimesat", "utimensat_time64",
	// Its own limits.
	"setrlimit",
}

// conditional are allowed only when their arguments pass; each entry is a
// condition under which the call is refused with EPERM.
var conditional = []seccomp.NameWithConditions{
	// Unix sockets only: the plugin's network is its host.
	{Name: "socket", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_UNIX}}},
	{Name: "socketpair", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_UNIX}}},
	// Threads, not processes.
	{Name: "clone", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsNotSet, Value: unix.CLONE_THREAD}}},
	// The launcher's exec: the descriptor RLIMIT_NOFILE keeps out of the
	// plugin's reach, with AT_EMPTY_PATH. Any other execveat is refused,
	// but an absolute path with these arguments passes (the kernel then
	// ignores the descriptor, and a filter cannot read the path): exec is
	// Landlock's to fence.
	{Name: "execveat", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.NotEqual, Value: execFD}}},
	{Name: "execveat", Conditions: seccomp.ArgumentConditions{{Argument: 4, Operation: seccomp.NotEqual, Value: unix.AT_EMPTY_PATH}}},
	// Reading a limit is fine; setting one is not.
	{Name: "prlimit64", Conditions: seccomp.ArgumentConditions{{Argument: 2, Operation: seccomp.NotEqual, Value: 0}}},
	// The parent-death signal stays: a plugin never outlives its host.
	{Name: "prctl", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.Equal, Value: unix.PR_SET_PDEATHSIG}}},
}

// errnoENOSYS answers clone3 so that runtimes (glibc's pthread_create)
// fall back to clone, whose flags the filter can read (clone3 passes them
// in memory).
const errnoENOSYS = seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)

// seccompPolicies builds the filters for the native architecture.
func seccompPolicies() []seccomp.Policy {
	info, err := arch.GetInfo("")
	if err != nil {
		// Not an architecture the library knows: LoadFilter reports it.
		return []seccomp.Policy{{DefaultAction: seccomp.ActionErrno}}
	}
	var deny []string
	for _, n := range denied {
		if _, ok := info.SyscallNames[n]; ok {
			deny = append(deny, n)
		}
	}
	skip := map[string]bool{"clone3": true}
	for _, n := range deny {
		skip[n] = true
	}
	var allow []string
	for n := range info.SyscallNames {
		if !skip[n] {
			allow = append(allow, n)
		}
	}
	slices.Sort(allow)
	policies := []seccomp.Policy{{
		DefaultAction: seccomp.ActionErrno,
		Syscalls: []seccomp.SyscallGroup{
			{Names: deny, Action: seccomp.ActionErrno},
			{Names: []string{"clone3"}, Action: errnoENOSYS},
			{Names: allow, Action: seccomp.ActionAllow},
		},
	}}
	byName := map[string][]seccomp.NameWithConditions{}
	var names []string
	for _, c := range conditional {
		if _, ok := info.SyscallNames[c.Name]; !ok {
			continue
		}
		if byName[c.Name] == nil {
			names = append(names, c.Name)
		}
		byName[c.Name] = append(byName[c.Name], c)
	}
	for _, n := range names {
		policies = append(policies, seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls:      []seccomp.SyscallGroup{{NamesWithCondtions: byName[n], Action: seccomp.ActionErrno}},
		})
	}
	return policies
}
