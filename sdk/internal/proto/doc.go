// Package proto is the generated code of the plugin protocol, wadi.plugin.v1:
// one gRPC service per strategy kind, each with the base RPCs. It stays
// internal so that the SDK's surface is the hand-written Go types of
// sdk/base, sdk/store and the other kind packages; regenerate it with
// scripts/proto.sh, never by hand.
package proto
