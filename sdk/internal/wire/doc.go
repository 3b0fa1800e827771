// Package wire holds what the four strategy kinds share on the plugin
// protocol: the base RPCs (Info, Schema, Configure) on both ends, the
// conversion of errors to gRPC statuses and back, and the gRPC options that
// every plugin server and client uses. Each kind's package (sdk/store,
// sdk/codec, sdk/router, sdk/replicator) adds its own RPCs on top.
package wire
