// Package sdk is what a WADI strategy plugin imports. Each strategy kind has a
// package of its own (store, and later codec, router and replicator); schema
// describes the configuration block a strategy accepts.
//
// Nothing under sdk imports the host (core, config or cmd), so a plugin
// author's program pulls in no host code.
package sdk
