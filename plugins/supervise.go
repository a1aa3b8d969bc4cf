package plugins

import (
	"context"
	"time"

	"github.com/ferryhealth/ferry/internal/clock"
)

// supervise keeps the plugin running until ctx ends: it starts the process,
// watches it (its exit, its health probes) and starts it again. An isolated
// crash restarts it at once; two quick ones in a row are a loop, which is
// backed off (backOff) so that requests fail fast meanwhile.
func (i *instance) supervise(ctx context.Context) {
	opts := &i.host.opts
	clk := clock.Or(opts.Clock)
	log := opts.Logger.With("plugin", i.spec.Kind)
	backoff := opts.MinBackoff
	quickCrashes := 0
	for ctx.Err() == nil {
		i.set(stateStarting, nil)
		select {
		case <-i.respec: // this start reads the new spec anyway
		default:
		}
		l, err := i.start(ctx)
		if err != nil {
			log.Error("plugin failed to start", "err", err, "retry_in", backoff)
			if !i.backOff(ctx, clk, &backoff) {
				break
			}
			continue
		}
		log.Info("plugin running", "pid", l.pid)
		i.set(stateRunning, l)
		started := clk.Now()
		ended, health := l.ended(), watchHealth(ctx, l.health, l.done, opts.HealthInterval, opts.HealthTimeout, opts.HealthFailures)
	watch:
		for {
			select {
			case <-ended:
			case <-ctx.Done():
			case <-health:
				log.Warn("plugin missed its health probes; killing it", "pid", l.pid, "probes", opts.HealthFailures)
				// go-plugin's Kill first asks the process to shut down and
				// waits for an answer a wedged process never gives: kill it
				// outright.
				killProcess(l.pid)
			case <-i.respec:
				// A reload changed the binary: the new process starts
				// beside the old, takes the new calls once it is up, and
				// the old one finishes its calls before it is stopped.
				nl, err := i.start(ctx)
				if err != nil {
					log.Error("replacement plugin failed to start; the running one keeps serving", "err", err)
					continue watch
				}
				log.Info("plugin replaced", "old_pid", l.pid, "pid", nl.pid)
				i.set(stateRunning, nl)
				i.retire(ctx, l)
				l, started = nl, clk.Now()
				ended, health = l.ended(), watchHealth(ctx, l.health, l.done, opts.HealthInterval, opts.HealthTimeout, opts.HealthFailures)
				continue watch
			}
			break
		}
		_ = l.wire.conn.Close()
		l.client.Kill()
		if ctx.Err() != nil {
			break
		}
		ranFor := clk.Now().Sub(started)
		log.Warn("plugin exited; restarting", "pid", l.pid, "ran_for", ranFor.Round(time.Millisecond))
		if ranFor >= opts.StableAfter {
			quickCrashes = 0
		} else {
			quickCrashes++
		}
		if quickCrashes < 2 {
			// An isolated crash: restart at once. Requests arriving
			// meanwhile wait for the new process (bounded by their
			// deadlines) rather than failing.
			backoff = opts.MinBackoff
			continue
		}
		// Repeated crashes soon after start: a loop. Back off, and fail
		// requests fast meanwhile instead of holding them.
		if !i.backOff(ctx, clk, &backoff) {
			break
		}
	}
	i.set(stateClosed, nil)
}

// backOff is one step of the restart backoff: the plugin is marked backing
// off (its calls fail at once), the supervisor waits *backoff, and the next
// wait doubles, up to MaxBackoff. It reports false when ctx ended first.
func (i *instance) backOff(ctx context.Context, clk clock.Clock, backoff *time.Duration) bool {
	i.set(stateBackoff, nil)
	if !clock.Sleep(ctx, clk, *backoff) {
		return false
	}
	*backoff = min(*backoff*2, i.host.opts.MaxBackoff)
	return true
}

// retireGrace bounds how long a replaced process may take to finish its
// calls: the longest deadline a request may have (120 s) and a margin.
const retireGrace = 130 * time.Second

// retire stops a replaced process once it has no call in flight (or after
// retireGrace, or at the host's Close).
func (i *instance) retire(ctx context.Context, l *live) {
	i.host.wg.Go(func() {
		deadline := time.Now().Add(retireGrace)
		for l.users.Load() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		_ = l.wire.conn.Close()
		l.client.Kill()
	})
}
