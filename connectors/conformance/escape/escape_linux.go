package escape

import "syscall"

const ptraceSeize = 0x4206

// ptrace seizes pid (which, unlike PTRACE_ATTACH, does not stop it) and
// lets it go again at once.
func ptrace(pid int) error {
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PTRACE, ptraceSeize, uintptr(pid), 0, 0, 0, 0); e != 0 {
		return e
	}
	syscall.RawSyscall6(syscall.SYS_PTRACE, syscall.PTRACE_DETACH, uintptr(pid), 0, 0, 0, 0)
	return nil
}

// fork tries to create n processes with a bare clone (no exec: the exec
// attempt is separate), each of which exits at once, and reaps them.
func fork(n int) (int, error) {
	made := 0
	for range n {
		pid, errno := rawFork()
		if errno != 0 {
			return made, errno
		}
		made++
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(int(pid), &ws, 0, nil)
	}
	return made, nil
}

// rawFork is clone(SIGCHLD): a new process, not a thread. The child runs
// nothing but exit_group.
//
//go:norace
//go:nosplit
func rawFork() (uintptr, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno == 0 && pid == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return pid, errno
}

func netlinkSocket() error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW, syscall.NETLINK_ROUTE)
	if err == nil {
		syscall.Close(fd)
	}
	return err
}

// clearPdeathsig clears the calling thread's parent-death signal, which
// would let the process outlive its host.
func clearPdeathsig() error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, 0, 0); e != 0 {
		return e
	}
	return nil
}
