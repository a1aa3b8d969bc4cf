// Package deploy holds the tests of what an operator installs: the
// container image (deploy/image) and the Helm chart (deploy/helm/ferry).
// It is a module of its own so that Helm and the Kubernetes API types, which
// the tests need, stay out of the gateway's dependencies.
package deploy
