package conformance

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// netWatch looks for network use by a plugin process and its children.
//
// In a private network namespace every socket in the namespace's tables is
// the plugin's, and the namespace's counters (which start at zero with it)
// count every attempt to send or connect, including the ones that fail for
// want of a route: nothing is missed except IPv6 attempts that fail before
// routing (no source address), and those cannot reach anything either.
//
// In the shared namespace, the kit matches the socket inodes of the
// plugin's open files (/proc/<pid>/fd) against the kernel's socket tables
// (/proc/<pid>/net/{tcp,tcp6,udp,udp6,raw,raw6}), every few milliseconds
// while it exercises the plugin and once at the end. A socket opened and
// closed between two samples is missed; held connections (a keep-alive
// pool, a listener) are not.
type netWatch struct {
	pid      int
	isolated bool
	period   time.Duration

	mu       sync.Mutex
	found    map[string]string // socket key → description
	unix     map[string]bool   // socket inodes already classified (Unix, or reported); the sampler's only
	samples  int
	baseline map[string]int64
	stop     chan struct{}
	done     chan struct{}
}

// counters are the namespace statistics that move on any attempt to use
// the network.
var counters = []string{"Ip.OutRequests", "Ip.OutNoRoutes", "Tcp.ActiveOpens", "Tcp.PassiveOpens", "Udp.OutDatagrams", "Ip6OutRequests", "Ip6OutNoRoutes", "Udp6OutDatagrams"}

func startNetWatch(pid int, isolated bool) *netWatch {
	w := &netWatch{pid: pid, isolated: isolated, period: 5 * time.Millisecond, found: map[string]string{}, unix: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	if isolated {
		w.baseline = w.readCounters()
	}
	go w.loop()
	return w
}

func (w *netWatch) loop() {
	defer close(w.done)
	t := time.NewTicker(w.period)
	defer t.Stop()
	for i := 0; ; i++ {
		// Children are looked for less often: it means reading every
		// process's status.
		w.sample(i%20 == 0)
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// finish stops sampling, takes a last sample and returns the check's
// verdict.
func (w *netWatch) finish(note string) Result {
	close(w.stop)
	<-w.done
	w.sample(true)
	w.mu.Lock()
	defer w.mu.Unlock()
	var p problems
	count := map[string]int{}
	for _, desc := range w.found {
		count[desc]++
	}
	for _, desc := range slices.Sorted(maps.Keys(count)) {
		if n := count[desc]; n > 1 {
			p.add("the plugin held network sockets: %d × %s", n, desc)
		} else {
			p.add("the plugin held a network socket: %s", desc)
		}
	}
	if w.isolated {
		now := w.readCounters()
		var moved []string
		for _, c := range counters {
			if d := now[c] - w.baseline[c]; d > 0 {
				moved = append(moved, fmt.Sprintf("%s +%d", c, d))
			}
		}
		if len(moved) > 0 {
			p.add("the plugin tried to use the network itself: its private network namespace counted %s", strings.Join(moved, ", "))
		}
		if len(p.list) > 0 {
			p.add("connectors reach their source only through the Transport they are handed (req.Transport); they never dial")
		}
		return p.result("network", fmt.Sprintf("ran in a private network namespace: no socket in its tables and no attempt counted (%s all 0), over %d samples", strings.Join(counters, ", "), w.samples))
	}
	if len(p.list) > 0 {
		p.add("connectors reach their source only through the Transport they are handed (req.Transport); they never dial")
		p.add("(shared network namespace, %s: found by sampling /proc)", note)
	}
	return p.result("network", fmt.Sprintf("no network socket in /proc/<pid>/fd over %d samples of the plugin and its children every %v (shared network namespace, %s: a connection opened and closed between two samples would be missed)", w.samples, w.period, note))
}

func (w *netWatch) sample(children bool) {
	pids := []int{w.pid}
	if children {
		pids = append(pids, descendants(w.pid)...)
	}
	// Sockets already classified (Unix sockets: go-plugin's own, the
	// broker's; network sockets already reported) are not looked up again:
	// in the shared namespace the socket tables are the whole machine's.
	var unknown []string
	for _, pid := range pids {
		for _, ino := range socketInodes(pid) {
			if !w.unix[ino] {
				unknown = append(unknown, ino)
			}
		}
	}
	if len(unknown) > 0 {
		// A socket not yet bound or connected is in no table: it stays
		// unknown and is looked up again at the next sample.
		unix := unixInodes(w.pid)
		rest := unknown[:0]
		for _, ino := range unknown {
			if unix[ino] {
				w.unix[ino] = true
			} else {
				rest = append(rest, ino)
			}
		}
		unknown = rest
	}
	var found []netSocket
	if w.isolated || len(unknown) > 0 {
		mine := map[string]bool{}
		for _, ino := range unknown {
			mine[ino] = true
		}
		for _, proto := range []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6"} {
			for _, s := range readSockets(w.pid, proto) {
				if mine[s.inode] || w.isolated {
					found = append(found, s)
				}
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	for _, s := range found {
		w.found[s.proto+":"+s.inode] = s.String()
		w.unix[s.inode] = true // classified: not looked up again
	}
}

// unixInodes returns the inodes of the Unix sockets in pid's namespace.
func unixInodes(pid int) map[string]bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/unix", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header: Num RefCount Protocol Flags Type St Inode Path
	for sc.Scan() {
		if fl := strings.Fields(sc.Text()); len(fl) >= 7 {
			out[fl[6]] = true
		}
	}
	return out
}

// socketInodes lists the inodes of the sockets pid has open.
func socketInodes(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			out = append(out, strings.TrimSuffix(ino, "]"))
		}
	}
	return out
}

// descendants lists the processes whose ancestry leads to pid.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q, n := parent[p], 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

type netSocket struct {
	proto, inode  string
	local, remote string
	state         string
}

func (s netSocket) String() string {
	if strings.HasPrefix(s.remote, "0.0.0.0:0") || s.remote == "[::]:0" {
		return fmt.Sprintf("%s on %s (%s)", s.proto, s.local, s.state)
	}
	return fmt.Sprintf("%s to %s (%s)", s.proto, s.remote, s.state)
}

var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
	"07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// readSockets parses /proc/<pid>/net/<proto>: the socket table of pid's
// network namespace.
func readSockets(pid int, proto string) []netSocket {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, proto))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []netSocket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 10 {
			continue
		}
		st := tcpStates[fl[3]]
		if !strings.HasPrefix(proto, "tcp") {
			st = map[string]string{"01": "connected", "07": "unconnected"}[fl[3]]
		}
		if st == "" {
			st = "state " + fl[3]
		}
		out = append(out, netSocket{proto: proto, inode: fl[9], local: hexAddr(fl[1]), remote: hexAddr(fl[2]), state: st})
	}
	return out
}

// hexAddr decodes the kernel's ADDR:PORT, the address in 32-bit words of
// host (little-endian) byte order.
func hexAddr(s string) string {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	raw, err := hex.DecodeString(a)
	if err != nil || len(raw)%4 != 0 {
		return s
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, _ := strconv.ParseUint(p, 16, 16)
	ip, ok := netip.AddrFromSlice(raw)
	if !ok {
		return s
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
}

// readCounters reads the namespace counters of pid's network namespace.
func (w *netWatch) readCounters() map[string]int64 {
	out := map[string]int64{}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", w.pid)); err == nil {
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(names) != len(values) || len(names) == 0 {
				continue
			}
			prefix := strings.TrimSuffix(names[0], ":")
			for j := 1; j < len(names); j++ {
				if v, err := strconv.ParseInt(values[j], 10, 64); err == nil {
					out[prefix+"."+names[j]] = v
				}
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp6", w.pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					out[f[0]] = v
				}
			}
		}
	}
	return out
}
