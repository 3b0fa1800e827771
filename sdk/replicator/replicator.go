// Package replicator defines the replicator strategy: where a session's
// backup copies go and how they are kept.
//
// Placement is computed for the whole partition table once per membership
// change, never per request, so an out-of-process replicator costs nothing on
// the request path.
package replicator

import (
	"context"

	"github.com/wadi-go/wadi/sdk/base"
)

// Mode says when a change is acknowledged.
type Mode string

// The replication modes.
const (
	// Sync: the backups acknowledge a change before the response is
	// released.
	Sync Mode = "sync"
	// Async: the change is sent after the response; a crash can lose it.
	Async Mode = "async"
)

// Granularity says what travels to the backups.
type Granularity string

// The granularities.
const (
	// Session: the whole session after each change.
	Session Granularity = "session"
	// Attribute: only the changed attributes, versioned so that a backup that
	// missed one asks for the whole session.
	Attribute Granularity = "attribute"
)

// Settings are how the replicator wants backups kept.
type Settings struct {
	// Backups is how many copies besides the holder's.
	Backups     int
	Mode        Mode
	Granularity Granularity
}

// Member is one node of the farm as the replicator sees it.
type Member struct {
	Name string
	// Zone is the node's zone (node { zone }); "" when it has none.
	Zone string
	// Meta is the node's free-form metadata from its configuration
	// (node { meta }), nil when it has none. Keys are 1 to 32 letters,
	// digits, '_', '-' or '.', starting with a letter; values at most 64
	// bytes of printable UTF-8. The host checks them, in the configuration
	// and in what peers gossip. Nodes need not have the same keys.
	Meta map[string]string
}

// PlaceRequest is the farm and its partition table.
type PlaceRequest struct {
	Members []Member
	// Primaries holds, for each partition, the name of its primary node.
	Primaries []string
}

// Replicator is what the host calls of a replicator strategy.
type Replicator interface {
	// Settings are asked once, after Configure.
	Settings(ctx context.Context) (Settings, error)
	// Place returns the backup nodes of each partition (one slice per entry
	// of Primaries): member names, never the partition's primary, never one
	// twice, at most Settings().Backups of them. Fewer are allowed when the
	// farm is too small or the replicator's constraints (such as "never in
	// the primary's zone") leave too few candidates. The same request must
	// give the same answer, so that every node computes the same table.
	Place(ctx context.Context, req PlaceRequest) ([][]string, error)
}

// Plugin is a replicator strategy as a plugin: the Replicator and the base
// every plugin implements. Builtins implement it too, so that any of them can
// also run out of process.
type Plugin interface {
	base.Plugin
	Replicator
}
