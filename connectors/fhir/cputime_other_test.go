//go:build !unix

package fhir

import "time"

// processCPU is not measured here; BenchmarkMap reports no cpu-ns/op.
func processCPU() time.Duration { return 0 }
