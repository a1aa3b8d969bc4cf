package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// statFields returns the fields of /proc/<pid>/stat after the command
// name (which may hold spaces and parentheses): field 3 (state) first.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// processCPU is a process's user plus system time, all its threads
// included.
func processCPU(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	// utime and stime are fields 14 and 15, so 11 and 12 here.
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

func selfCPU() time.Duration { return processCPU(os.Getpid()) }

// processTree returns root and all its descendants: a proxy and its
// plugins, nginx's master and its workers.
func processTree(root int) []int {
	if root <= 0 {
		return nil
	}
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		f := statFields(pid)
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// treeCPU is the CPU time of every process in pids.
func treeCPU(pids []int) time.Duration {
	var t time.Duration
	for _, p := range pids {
		t += processCPU(p)
	}
	return t
}

// memKB returns VmRSS and VmHWM (peak RSS) of pid, in KiB.
func memKB(pid int) (rss, hwm int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS", "VmHWM":
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if k == "VmRSS" {
				rss = n
			} else {
				hwm = n
			}
		}
	}
	return rss, hwm
}

// treeMemKB sums memKB over pids.
func treeMemKB(pids []int) (rss, hwm int64) {
	for _, p := range pids {
		r, h := memKB(p)
		rss += r
		hwm += h
	}
	return rss, hwm
}

// rssSampler polls the RSS of a process tree and keeps the largest sum
// seen: VmHWM is per process and never goes down, so it cannot tell one
// workload's peak from an earlier one's.
type rssSampler struct {
	stop chan struct{}
	done chan int64
}

func sampleRSS(pids func() []int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			r, _ := treeMemKB(pids())
			peak = max(peak, r)
			select {
			case <-s.stop:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Peak stops the sampler and returns the largest RSS seen, in KiB.
func (s *rssSampler) Peak() int64 {
	close(s.stop)
	return <-s.done
}
