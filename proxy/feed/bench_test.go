package feed

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/mllp"
)

// BenchmarkFeedADT prices the feed: ADT A01 messages sent over MLLP by
// `senders` connections at once (each one message in flight, as MLLP
// allows), each received, parsed, mapped by the HL7 v2 connector (in
// process: the plugin hop is priced in docs/performance.md), signed,
// delivered to a receiver that answers at once, and acknowledged. It
// reports messages per second and, side by side in the same run, the p50
// of a message (send to AA) and the p50 of the same receiver's POST made
// directly, and their difference: what Ferry adds.
//
// Run with: go test ./proxy/feed -run '^$' -bench FeedADT -benchtime 5000x
func BenchmarkFeedADT(b *testing.B) {
	for _, senders := range []int{1, 8} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) { benchFeed(b, senders) })
	}
}

func benchFeed(b *testing.B, senders int) {
	fx := startFeed(&testing.T{}, func(f *config.Feed, _ *config.Webhook) {
		f.MaxConnections = 64
		f.AckBudget = config.Duration(10 * time.Second)
	})
	defer fx.feed.Close()
	defer fx.recv.srv.Close()
	// The receiver's own time: the same POST, signed the same way, made
	// directly (what a client would pay without Ferry).
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := bytes.Repeat([]byte("x"), 400)
	direct := make([]time.Duration, 0, 2000)
	for i := 0; i < 2000; i++ {
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, fx.recv.srv.URL, bytes.NewReader(body))
		req.Header.Set("webhook-id", "msg_x")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		direct = append(direct, time.Since(t0))
	}
	fx.recv.answer.Store(func(string) int { return 204 })

	per := (b.N + senders - 1) / senders
	lat := make([][]time.Duration, senders)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", fx.addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			r := mllp.NewReader(conn, 0)
			var frame []byte
			for i := 0; i < per; i++ {
				frame, _ = mllp.AppendFrame(frame[:0], adt("A01", fmt.Sprintf("B%d-%d", s, i), "EPICADT"))
				t0 := time.Now()
				if _, err := conn.Write(frame); err != nil {
					b.Error(err)
					return
				}
				ack, err := r.ReadFrame()
				if err != nil || !bytes.Contains(ack, []byte("MSA|AA")) {
					b.Errorf("ack %q %v", ack, err)
					return
				}
				lat[s] = append(lat[s], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	p50, d50 := median(all), median(direct)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(d50.Microseconds()), "receiver-p50-µs")
	b.ReportMetric(float64((p50 - d50).Microseconds()), "added-p50-µs")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
