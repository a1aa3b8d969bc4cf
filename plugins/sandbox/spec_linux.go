package sandbox

// launcherArg0 is the argv[0] that makes a re-executed host binary act as
// the launcher (see launcher_linux.go). argv[1] is the launchSpec as JSON;
// nothing is taken from the environment, which is the plugin's.
const launcherArg0 = "ferry-plugin-sandbox"

// selfExe is the running host binary, whatever its path or name, even if
// the file was replaced since it started: the launcher is the host itself,
// not an external program.
const selfExe = "/proc/self/exe"

// launchSpec is what the host tells the launcher. The launcher's file
// descriptors are 0-2 (stdin from /dev/null, stdout and stderr pipes to
// go-plugin), then the ExtraFiles (3 … 3+ExtraFiles-1), then the write end
// of the report pipe, and the verified binary at execFD; every number in
// between is closed.
type launchSpec struct {
	// Parent is the host's pid: the launcher exits if its parent is
	// another process by the time the parent-death signal is armed.
	Parent int `json:"parent"`
	// Argv is the plugin's argument vector.
	Argv []string `json:"argv"`
	// ExtraFiles is how many descriptors from 3 on are the plugin's.
	ExtraFiles int `json:"extra_files"`

	// Landlock is the ABI whose preset is enforced; 0 for none.
	Landlock int `json:"landlock"`
	// Seccomp installs the system call filter.
	Seccomp bool `json:"seccomp"`
	// Limits sets RLIMIT_NOFILE, RLIMIT_FSIZE and RLIMIT_CORE; NProc, when
	// not zero, RLIMIT_NPROC too.
	Limits bool   `json:"limits"`
	NProc  uint64 `json:"nproc,omitempty"`
	// DropCaps empties the capability sets the plugin would inherit.
	DropCaps bool `json:"drop_caps"`

	// SocketDir is go-plugin's private socket directory, the only one the
	// plugin may write in.
	SocketDir string `json:"socket_dir"`
	// Interp and Libs are a dynamically linked plugin's ELF interpreter
	// and shared libraries.
	Interp string   `json:"interp,omitempty"`
	Libs   []string `json:"libs,omitempty"`
}

// reportFD is the launcher's descriptor for the report pipe.
func (s *launchSpec) reportFD() int { return 3 + s.ExtraFiles }

// execFD is the descriptor number the launcher execs the plugin from: the
// first one RLIMIT_NOFILE keeps the plugin from ever holding, so the
// seccomp filter can allow execveat on it and on nothing else. The host
// puts the binary there already (os/exec's child dup2s it before exec,
// single-threaded): moving it there in the launcher, whose Go runtime has
// threads by then, would grow a shared descriptor table, which waits for
// an RCU grace period (15 ms measured here).
const execFD = MaxOpenFiles

// maxExtraFiles bounds ExtraFiles so they, and the report pipe, stay below
// execFD.
const maxExtraFiles = execFD - 4
