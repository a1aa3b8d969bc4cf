package source

import (
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/guard"
)

// testTransport is a request's transport to the source of cn (auth "none",
// a 5 s timeout when cn has none), through a guard of its own.
func testTransport(t *testing.T, cn *config.Connection) *Transport {
	t.Helper()
	if cn.Auth.Kind == "" {
		cn.Auth.Kind = config.AuthNone
	}
	if cn.Timeout == 0 {
		cn.Timeout = config.Duration(5 * time.Second)
	}
	clients := NewClients("Ferry/test", 64<<10, nil)
	src, err := New(cn, Options{Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close(); clients.CloseIdle() })
	tr := NewTransport(src, guard.New(cn, guard.NewMetrics(), nil), &Record{}, "", false)
	return &tr
}
