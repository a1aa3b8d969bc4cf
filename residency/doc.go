// Package residency holds Ferry's region rules (docs/residency.md): each node
// serves one region, each tenant has a home region and may allow its data
// (sources, secrets, audit sinks) in a few more, and a request for a tenant
// at a node outside its home region is redirected or forwarded to the home
// region, never served locally.
//
// It is a leaf (standard library only): the config validator uses it to
// refuse a config that could place a tenant's data outside its regions, and
// the proxy uses it to decide, per request, whether to serve, redirect or
// forward. Neither the rules nor the decision depend on request handling.
package residency
