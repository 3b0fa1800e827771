// Package peerpb is the generated code of the node-to-node protocol
// (peer.proto); `make proto` regenerates it. Only core/cluster uses it.
package peerpb
