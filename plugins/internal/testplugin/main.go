// Command testplugin is a connector plugin whose behaviour the test picks
// through the record id, so the host's handling of every plugin fault can be
// exercised against a real process: "ok", "echo" (one Transport call,
// answering with what came back), "panic", "hang", "exit" (the process
// dies mid-call), "big" (an answer over the host's message limit),
// "badjson", "env" (what environment the plugin got), "escape" (a
// Transport call for a path outside the base URL) and "exchange" (one
// message exchange through the Transport, answering with the reply).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

type conn struct{}

func (conn) Metadata(context.Context, *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	kind := os.Getenv("TESTPLUGIN_KIND") // empty: the host gives plugins no environment
	if kind == "" {
		kind = "test"
	}
	return &connectors.MetadataResponse{Kind: kind, Version: "0.0.1", Resources: []connectors.ResourceCapability{
		{Resource: unified.Patients, Read: true, Search: true, SearchParams: []string{"name"}},
	}}, nil
}

func (conn) Configure(_ context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	if strings.Contains(string(req.Settings), "reject") {
		return nil, connectors.InvalidParam("settings")
	}
	return &connectors.ConfigureResponse{}, nil
}

func (conn) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	switch req.ID {
	case "ok":
		return &connectors.ReadResponse{Record: json.RawMessage(`{"id":"ok","pid":` + fmt.Sprint(os.Getpid()) + `}`)}, nil
	case "echo":
		resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Path: "Patient/echo", Query: []connectors.Param{{Name: "q", Value: "1"}}})
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(map[string]any{"id": "echo", "status": resp.Status, "body": string(resp.Body)})
		return &connectors.ReadResponse{Record: b}, nil
	case "env":
		b, _ := json.Marshal(map[string]any{"id": "env", "env": os.Environ()})
		return &connectors.ReadResponse{Record: b}, nil
	case "panic":
		panic("mapping failed for patient canary-name")
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
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
	return nil, &connectors.Error{Code: connectors.CodeNotFound}
}

func (conn) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	out := &connectors.SearchResponse{}
	for i := 0; i < req.Limit && i < 3; i++ {
		out.Records = append(out.Records, json.RawMessage(fmt.Sprintf(`{"id":"p%d"}`, i)))
	}
	return out, nil
}

func main() { connectors.Serve(func() connectors.Connector { return conn{} }) }
