// Command testplugin is a connector plugin whose behaviour the test picks
// through the record id, so the host's handling of every plugin fault can be
// exercised against a real process: "ok", "echo" (one Transport call,
// answering with what came back), "panic", "hang", "exit" (the process
// dies mid-call), "big" (an answer over the host's message limit),
// "badjson", "env" (what environment the plugin got), "escape" (a
// Transport call for a path outside the base URL), "exchange" (one
// message exchange through the Transport, answering with the reply) and
// "inflight" (how many "hang" calls the process is serving). It maps feed
// messages too (MapEvent): "exit" dies mid-message, "panic" panics.
//
// A connection whose settings say "templates" gets a read template that
// matches "echo"'s source request, so the host prefetches it.
//
// It is also the hostile plugin of the sandbox tests: "hostile:" followed
// by escape.Targets as JSON makes it try every way out of the kernel
// sandbox (escape.Try) and answer with what happened to each attempt;
// "fds" answers the descriptors that were open when the process started.
//
// Built with -ldflags "-X main.oldProtocol=1" it announces connector
// protocol v1 in its handshake, as a plugin built with the SDK before the
// data plane does; with "-X main.kind=K" it reports kind K instead of
// "test"; with "-X main.startDelay=D" it sleeps D before serving.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance/escape"
	"github.com/ferryhealth/ferry/unified"
)

// oldProtocol is set at link time to announce protocol v1.
var oldProtocol string

// kind is the connector kind it reports; set at link time for a second
// plugin beside the first.
var kind = "test"

// startDelay, set at link time ("1.5s"), is how long it waits before
// serving: a plugin slow to start. (A shell script that sleeps and then
// execs the plugin would do, but the sandbox runs ELF binaries only.)
var startDelay string

// startFDs are the descriptors open when the process started, by number,
// with their file type: before go-plugin or the runtime's poller opened
// any.
var startFDs = openFDs()

func openFDs() map[int]string {
	out := map[int]string{}
	for fd := 0; fd < 1024; fd++ {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			continue
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			out[fd] = "file"
		case syscall.S_IFSOCK:
			out[fd] = "socket"
		case syscall.S_IFIFO:
			out[fd] = "pipe"
		case syscall.S_IFCHR:
			out[fd] = "char"
		case syscall.S_IFDIR:
			out[fd] = "dir"
		default:
			// Anonymous inodes (the runtime's epoll and eventfd): the
			// link says which (readlink needs no Landlock right).
			l, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			out[fd] = "other " + l
		}
	}
	return out
}

// hanging counts the "hang" calls in flight.
var hanging atomic.Int64

type conn struct{}

func (conn) Metadata(context.Context, *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	return &connectors.MetadataResponse{Kind: kind, Version: "0.0.1", Resources: []connectors.ResourceCapability{
		{Resource: unified.Patients, Read: true, Search: true, SearchParams: []string{"name"}},
	}}, nil
}

func (conn) Configure(_ context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	if strings.Contains(string(req.Settings), "reject") {
		return nil, connectors.InvalidParam("settings")
	}
	if strings.Contains(string(req.Settings), "templates") {
		return &connectors.ConfigureResponse{Templates: []connectors.SourceTemplate{{
			Resource: unified.Patients,
			Read:     &connectors.RequestTemplate{Path: "Patient/{id}", Query: []connectors.QueryTemplate{{Name: "q", Value: "1"}}},
		}}}, nil
	}
	return &connectors.ConfigureResponse{}, nil
}

func (conn) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	switch req.ID {
	case "ok":
		return &connectors.ReadResponse{Record: json.RawMessage(`{"id":"ok","pid":` + fmt.Sprint(os.Getpid()) + `}`)}, nil
	case "echo":
		resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Method: "GET", Path: "Patient/echo", Query: []connectors.Param{{Name: "q", Value: "1"}}})
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(map[string]any{"id": "echo", "status": resp.Status, "body": string(resp.Body)})
		return &connectors.ReadResponse{Record: b}, nil
	case "fds":
		b, _ := json.Marshal(map[string]any{"id": "fds", "fds": startFDs})
		return &connectors.ReadResponse{Record: b}, nil
	case "env":
		b, _ := json.Marshal(map[string]any{"id": "env", "env": os.Environ()})
		return &connectors.ReadResponse{Record: b}, nil
	case "panic":
		panic("mapping failed for patient canary-name")
	case "hang":
		hanging.Add(1)
		defer hanging.Add(-1)
		<-ctx.Done()
		return nil, ctx.Err()
	case "inflight":
		return &connectors.ReadResponse{Record: json.RawMessage(fmt.Sprintf(`{"id":"inflight","hanging":%d}`, hanging.Load()))}, nil
	case "exit":
		os.Exit(3)
	case "big":
		return &connectors.ReadResponse{Record: json.RawMessage(`{"id":"` + strings.Repeat("x", 70<<20) + `"}`)}, nil
	case "badjson":
		return &connectors.ReadResponse{Record: json.RawMessage(`{"id":`)}, nil
	case "escape":
		_, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Path: "../admin"})
		return nil, err
	case "exchange":
		ex, ok := req.Transport.(connectors.Exchanger)
		if !ok {
			return nil, &connectors.Error{Code: connectors.CodeInternal}
		}
		reply, err := ex.Exchange(ctx, []byte("MSH|^~\\&|PING"))
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(map[string]any{"id": "exchange", "reply": string(reply)})
		return &connectors.ReadResponse{Record: b}, nil
	}
	if t, ok := strings.CutPrefix(req.ID, "hostile:"); ok {
		var targets escape.Targets
		if err := json.Unmarshal([]byte(t), &targets); err != nil {
			return nil, connectors.InvalidParam("id")
		}
		b, _ := json.Marshal(map[string]any{"id": "hostile", "attempts": escape.Try(targets)})
		return &connectors.ReadResponse{Record: b}, nil
	}
	return nil, &connectors.Error{Code: connectors.CodeNotFound}
}

// MapEvent answers one event per message, and dies mid-message on "exit"
// and panics on "panic", for the host's handling of a crash while a feed's
// message is being mapped.
func (conn) MapEvent(_ context.Context, req *connectors.MapEventRequest) (*connectors.MapEventResponse, error) {
	switch string(req.Message) {
	case "exit":
		os.Exit(3)
	case "panic":
		panic("mapping")
	}
	b, _ := json.Marshal(map[string]any{"type": "patient.updated", "connection_id": req.ConnectionID, "records": []any{}})
	return &connectors.MapEventResponse{Events: []json.RawMessage{b}}, nil
}

func (conn) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	out := &connectors.SearchResponse{}
	for i := 0; i < req.Limit && i < 3; i++ {
		out.Records = append(out.Records, json.RawMessage(fmt.Sprintf(`{"id":"p%d"}`, i)))
	}
	return out, nil
}

func main() {
	if d, err := time.ParseDuration(startDelay); err == nil {
		time.Sleep(d)
	}
	if oldProtocol == "" {
		connectors.Serve(func() connectors.Connector { return conn{} })
		return
	}
	hs := connectors.Handshake
	hs.ProtocolVersion = 1
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         plugin.PluginSet{connectors.PluginName: oldPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// oldPlugin stands for a plugin of protocol v1: the host refuses it at the
// handshake, before anything of it is served.
type oldPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (oldPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (oldPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("testplugin: no client side")
}
