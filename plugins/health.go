package plugins

import (
	"context"
	"os"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// A plugin process can be alive and still be of no use: stopped by a
// signal, wedged in its runtime, starved by a runaway goroutine. Its calls
// then fail only at each request's deadline, one by one. The host probes
// every running plugin with gRPC's health service (go-plugin serves it in
// every plugin) and kills a process that misses HealthFailures probes in a
// row; the supervisor restarts it like any crash.
//
// A plugin that hangs inside one Read or Search still answers its probes:
// that hang is bounded by the request's deadline, not by killing a process
// that is serving other calls well.

// watchHealth probes the plugin every interval, each probe bounded by
// timeout, and closes the returned channel once failures probes in a row
// have failed. It stops when ctx ends or the process exits (done).
func watchHealth(ctx context.Context, health grpc_health_v1.HealthClient, done <-chan struct{}, interval, timeout time.Duration, failures int) <-chan struct{} {
	unhealthy := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		missed := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
			}
			if probe(ctx, health, timeout) {
				missed = 0
				continue
			}
			if missed++; missed >= failures {
				close(unhealthy)
				return
			}
		}
	}()
	return unhealthy
}

// probe asks the plugin's health service whether the plugin serves.
func probe(ctx context.Context, health grpc_health_v1.HealthClient, timeout time.Duration) bool {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := health.Check(pctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err == nil && resp.GetStatus() == grpc_health_v1.HealthCheckResponse_SERVING
}

// killProcess sends SIGKILL to the plugin's process, which works on a
// stopped process too.
func killProcess(pid int) {
	if pid <= 0 {
		return
	}
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
