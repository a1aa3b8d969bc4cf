// Package sandbox starts a connector plugin fenced in by the kernel: the
// host re-executes itself as a small launcher, which sets the parent-death
// signal, drops capabilities, sets resource limits and no_new_privs, applies
// a Landlock ruleset and a seccomp filter, and then execs the plugin binary
// from the very file descriptor the host hashed. Landlock and seccomp
// survive execve once no_new_privs is set, so the plugin runs under them
// from its first instruction, and nothing in it can lift them.
//
// What the plugin may then do (Linux; every line is enforced by the kernel):
//
//   - Files (Landlock): read and execute its own binary (and, for a
//     dynamically linked one, its ELF interpreter and shared libraries);
//     create, use and remove its Unix socket in go-plugin's private socket
//     directory. Nothing else: not the host's config, its working
//     directory, the temp directory, /proc or /etc. RLIMIT_FSIZE=0 keeps
//     even the files it may create empty.
//   - Exec (Landlock): the execute right covers the plugin binary and its
//     loader only, so a plugin can at most re-exec itself, into the same
//     sandbox (no_new_privs, the Landlock domain and the seccomp filters
//     survive exec). seccomp refuses execve, and execveat unless its
//     descriptor is the launcher's, but it cannot see execveat's path,
//     which the kernel uses instead of the descriptor when it is absolute:
//     without Landlock (best_effort on an old kernel) exec is not fenced,
//     and the sandbox's status says so.
//   - Network (seccomp and Landlock): socket() and socketpair() of any
//     family but AF_UNIX are refused; TCP bind and connect are refused by
//     Landlock (ABI 4 and newer) as a second line; abstract Unix sockets
//     and signals are scoped to the plugin's own domain (ABI 6): it cannot
//     reach the host's or a neighbour's abstract socket, nor signal them.
//   - System calls (seccomp): no ptrace, process_vm_*, mount, namespaces,
//     bpf, perf_event_open, keyctl, io_uring, module or clock changes, no
//     new processes (fork, vfork, clone without CLONE_THREAD; clone3 says
//     ENOSYS so runtimes fall back to clone), no chmod, chown, xattr or
//     timestamp changes (Landlock does not cover those), no raising of its
//     resource limits, no clearing of its parent-death signal.
//   - Resources: at most MaxOpenFiles open files; no core dumps; no bytes
//     in any regular file; threads bounded by RLIMIT_NPROC when the host
//     does not run as uid 0 (the kernel exempts uid 0 from that limit).
//   - Capabilities: the bounding, inheritable and ambient sets are
//     emptied, so a host running as root starts a plugin with no
//     capabilities at all.
//
// A plugin never outlives its host: the launcher is started with
// PR_SET_PDEATHSIG=SIGKILL, keeps it across the exec, and exits if its
// parent is already gone by the time the signal is armed.
//
// Mode says how strict to be when the kernel lacks a part (ModeRequired
// refuses to start the plugin, ModeBestEffort applies what the kernel has,
// ModeOff applies nothing but still execs from the hashed descriptor).
// Probe reports what the running kernel supports and Support.Plan what a
// mode gives on it; ferry check, /readyz, the ferry_plugin_sandbox metric
// and the startup log all say it.
//
// The sandbox acts only at exec: once the plugin runs, no code of this
// package is on the request path. The kernel caches the seccomp verdict of
// every system call whose answer does not depend on its arguments; what a
// request still pays is seccomp's check at each system call's entry (about
// 60 ns here, docs/performance.md).
package sandbox
