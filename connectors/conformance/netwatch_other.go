//go:build !linux

package conformance

// netWatch needs Linux's /proc; elsewhere the network check is skipped.
type netWatch struct{}

func startNetWatch(int, bool) *netWatch { return &netWatch{} }

func (*netWatch) finish(string) Result {
	return Result{Name: "network", Status: Skip, Reason: "needs Linux (/proc and network namespaces)"}
}
