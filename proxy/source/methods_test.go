package source

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
)

// TestMethodsLent: a read's transport only reads; a write's writes but
// never deletes; neither request reaches the source when refused.
func TestMethodsLent(t *testing.T) {
	var reached atomic.Int32
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached.Add(1) }))
	defer src.Close()
	cn := &config.Connection{ID: "demo", BaseURL: src.URL + "/fhir/R4", AllowPrivateNetwork: true}
	read := testTransport(t, cn)
	read.readOnly = true
	write := testTransport(t, cn)
	write.RefuseDeletes()
	for _, c := range []struct {
		tr     *Transport
		method string
		ok     bool
	}{
		{read, "GET", true}, {read, "POST", false}, {read, "DELETE", false},
		{write, "POST", true}, {write, "PUT", true}, {write, "PATCH", true}, {write, "GET", true}, {write, "DELETE", false},
	} {
		before := reached.Load()
		_, err := c.tr.Do(context.Background(), &connectors.HTTPRequest{Method: c.method, Path: "Appointment/1"})
		if (err == nil) != c.ok || (reached.Load() > before) != c.ok {
			t.Errorf("%s (read-only %v): err %v, reached the source %v", c.method, c.tr.readOnly, err, reached.Load() > before)
		}
	}
}
