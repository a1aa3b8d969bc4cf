// Package residency will hold the region rules: each node serves one
// region, each tenant has a home region, and a request for a tenant at the
// wrong node is redirected or forwarded, never served locally (DESIGN.md §8).
// It is a leaf (standard library only). Today a node's region is only
// recorded (config node.region) and stamped on every audit event.
package residency
