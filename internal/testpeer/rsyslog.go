//go:build unix

package testpeer

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rsyslogStartTimeout bounds rsyslogd's start-up; it is normally listening
// within a few hundred milliseconds.
const rsyslogStartTimeout = 15 * time.Second

// Rsyslog is a running rsyslogd (the Debian package) receiving syslog over
// TCP on 127.0.0.1, and over TLS on a second port, writing every message it
// receives to a file in the test's temporary directory as one JSON object
// per line (see Messages).
type Rsyslog struct {
	// Addr is the plain TCP listener, 127.0.0.1:PORT (RFC 6587 framing:
	// octet counting or LF).
	Addr string
	// TLSAddr is the TLS listener (RFC 5425), 127.0.0.1:PORT, serving a
	// certificate for "127.0.0.1" issued by CAFile.
	TLSAddr string
	// CAFile is a PEM file with the CA that issued the TLS listener's
	// certificate; CAPEM holds the same bytes.
	CAFile string
	CAPEM  []byte

	bin, dir, conf, out string
	stderr              *tailBuffer

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce *sync.Once
}

// SyslogMessage is one message as rsyslog parsed it (RFC 5424 fields).
type SyslogMessage struct {
	PRI       string `json:"pri"`
	Version   string `json:"version"`
	Timestamp string `json:"timestamp"`
	Hostname  string `json:"hostname"`
	AppName   string `json:"app"`
	ProcID    string `json:"procid"`
	MsgID     string `json:"msgid"`
	SD        string `json:"sd"`
	Msg       string `json:"msg"`
	// Input is "tcp" or "tls": the listener the message came in on.
	Input string `json:"input"`
}

// StartRsyslog starts rsyslogd on 127.0.0.1 and returns once both
// listeners accept connections. It is stopped when the test ends. A
// missing rsyslogd fails the test with how to install it.
func StartRsyslog(t testing.TB) *Rsyslog {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/rsyslogd"); e == nil {
			bin = "/usr/sbin/rsyslogd"
		} else {
			t.Fatalf("rsyslog peer: rsyslogd not found (%v): apt-get install rsyslog rsyslog-gnutls", err)
		}
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"); err != nil {
		if m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so"); len(m) == 0 {
			t.Fatalf("rsyslog peer: the GnuTLS driver is missing: apt-get install rsyslog-gnutls")
		}
	}
	dir := t.TempDir()
	r := &Rsyslog{bin: bin, dir: dir, out: filepath.Join(dir, "messages.jsonl"), stderr: &tailBuffer{max: maxStderr}}
	if err := r.writeTLSFiles(); err != nil {
		t.Fatalf("rsyslog peer: %v", err)
	}
	tcpPort, err := freePort()
	if err != nil {
		t.Fatalf("rsyslog peer: %v", err)
	}
	tlsPort, err := freePort()
	if err != nil {
		t.Fatalf("rsyslog peer: %v", err)
	}
	r.Addr = "127.0.0.1:" + strconv.Itoa(tcpPort)
	r.TLSAddr = "127.0.0.1:" + strconv.Itoa(tlsPort)
	r.conf = filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(r.conf, []byte(r.config(tcpPort, tlsPort)), 0o600); err != nil {
		t.Fatalf("rsyslog peer: %v", err)
	}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("rsyslog peer output:\n%s", r.stderr.String())
		}
	})
	r.start(t)
	return r
}

// config is the peer's rsyslog.conf: two inputs into one ruleset that
// writes each message as JSON. The TLS driver uses anonymous client auth:
// the sink authenticates the server, the server accepts any client.
func (r *Rsyslog) config(tcpPort, tlsPort int) string {
	return fmt.Sprintf(`global(
  workDirectory=%[1]q
  maxMessageSize="256k"
  defaultNetstreamDriverCAFile=%[2]q
  defaultNetstreamDriverCertFile=%[3]q
  defaultNetstreamDriverKeyFile=%[4]q
)
module(load="imtcp" maxSessions="200")
template(name="ferryjson" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
}
ruleset(name="ferry") {
  action(type="omfile" file=%[5]q template="ferryjson" flushOnTXEnd="on" asyncWriting="off")
}
input(type="imtcp" address="127.0.0.1" port="%[6]d" ruleset="ferry" name="tcp")
input(type="imtcp" address="127.0.0.1" port="%[7]d" ruleset="ferry" name="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
`, r.dir, r.CAFile, filepath.Join(r.dir, "server.pem"), filepath.Join(r.dir, "server.key"), r.out, tcpPort, tlsPort)
}

// start runs rsyslogd in the foreground in its own process group and waits
// for both listeners.
func (r *Rsyslog) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	cmd.Dir = r.dir
	cmd.Stdout = r.stderr
	cmd.Stderr = r.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = stopGrace
	exited := make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatalf("rsyslog peer: starting rsyslogd: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.mu.Lock()
	r.cmd, r.exited, r.stopOnce = cmd, exited, &sync.Once{}
	r.mu.Unlock()

	deadline := time.Now().Add(rsyslogStartTimeout)
	for _, addr := range []string{r.Addr, r.TLSAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				t.Fatalf("rsyslog peer exited during start-up (%v):\n%s", cmd.ProcessState, r.stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("rsyslog peer: %s not listening after %s", addr, rsyslogStartTimeout)
			}
		}
	}
}

// Stop stops rsyslogd (SIGTERM, then SIGKILL after a grace period), which
// flushes what it received to the output file first. Safe to call more
// than once; called automatically when the test ends.
func (r *Rsyslog) Stop() {
	r.mu.Lock()
	cmd, exited, once := r.cmd, r.exited, r.stopOnce
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	once.Do(func() { stopGroup(cmd, exited) })
}

// Restart starts rsyslogd again on the same ports, after Stop: for tests of
// a collector that goes away and comes back. Messages received before are
// kept.
func (r *Rsyslog) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	r.start(t)
}

// Messages returns every message received so far, in arrival order.
func (r *Rsyslog) Messages() ([]SyslogMessage, error) {
	data, err := os.ReadFile(r.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var msgs []SyslogMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m SyslogMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			// A line still being written: report what is complete.
			break
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// writeTLSFiles makes a throwaway CA and a server certificate for
// 127.0.0.1, in the peer's directory.
func (r *Rsyslog) writeTLSFiles() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	// GnuTLS in rsyslog reads RSA or EC keys; EC keeps generation fast.
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return err
	}
	r.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	r.CAFile = filepath.Join(r.dir, "ca.pem")
	for name, data := range map[string][]byte{
		"ca.pem":     r.CAPEM,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER}),
	} {
		if err := os.WriteFile(filepath.Join(r.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
