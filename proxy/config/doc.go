// Package config is Ferry's configuration: one JSON file, strictly decoded
// (an unknown field is an error, not a typo silently ignored) and validated
// as a whole, every problem reported with its JSON path so `ferry check`
// can list them all at once.
//
// Secrets never appear in the file: credentials are references resolved at
// request time by the tenant's secrets provider, and API keys are stored
// only as SHA-256 digests.
package config
