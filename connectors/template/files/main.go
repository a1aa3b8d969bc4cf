// Command ferry-connector-templatekind is a Ferry connector plugin for the
// templatekind source system: a JSON REST API serving patients.
//
// The Ferry host starts it (from a plugin catalog entry that pins its
// SHA-256) and talks to it over go-plugin; it is not meant to be run by
// hand. Everything it does lives in the connector (connector.go), so the
// same code also runs in-process in this folder's tests.
package main

import "github.com/ferryhealth/ferry/connectors"

func main() { connectors.Serve(New) }
