// Command unconditional is a test plugin whose creates ignore the host's
// idempotency identifier: the FHIR connector, except that a create is a
// plain POST, so a retry after a lost answer makes a second record.
package main

import (
	"context"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
)

type unconditional struct {
	connectors.Connector
}

func (u unconditional) Create(ctx context.Context, req *connectors.CreateRequest) (*connectors.WriteResponse, error) {
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Method: "POST", Path: "Observation", Body: req.Record,
		Header: []connectors.Param{{Name: "Content-Type", Value: "application/fhir+json"}}})
	if err != nil {
		return nil, err
	}
	return nil, connectors.Errorf(connectors.CodeUpstream, "status %d", resp.Status)
}

func (u unconditional) Update(ctx context.Context, req *connectors.UpdateRequest) (*connectors.WriteResponse, error) {
	return u.Connector.(connectors.Writer).Update(ctx, req)
}

func main() {
	connectors.Serve(func() connectors.Connector { return unconditional{fhir.New()} })
}
