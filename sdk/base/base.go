// Package base holds what every strategy plugin implements, whatever its
// kind: who it is, the schema of its configuration block, and how it is
// configured.
package base

import (
	"context"

	"github.com/wadi-go/wadi/sdk/schema"
)

// Kind names a strategy kind.
type Kind string

// The strategy kinds.
const (
	KindStore      Kind = "store"
	KindCodec      Kind = "codec"
	KindRouter     Kind = "router"
	KindReplicator Kind = "replicator"
)

// Kinds lists every strategy kind.
var Kinds = []Kind{KindStore, KindCodec, KindRouter, KindReplicator}

// APIVersion is the version of the plugin API this SDK speaks. Hosts and
// plugins negotiate the highest version both speak; a plugin built against an
// SDK with no version in common with the host is refused with a clear error.
const APIVersion = 1

// Info says who a plugin is.
type Info struct {
	// Name identifies the plugin in logs and in `wadi plugin describe`.
	Name string
	// Kind is the strategy kind the plugin implements.
	Kind Kind
	// Version is the plugin's own version, free-form (semantic versions are
	// customary).
	Version string
	// APIVersions are the plugin API versions the plugin speaks.
	APIVersions []int
}

// Node is what the host tells a plugin about the node it serves.
type Node struct {
	Name    string
	Zone    string
	DataDir string
}

// Plugin is the part every strategy implements.
type Plugin interface {
	// Info says who the plugin is. It must not depend on configuration.
	Info(ctx context.Context) (Info, error)
	// Schema is the schema of the plugin's configuration block. The host
	// decodes the block against it, so a mistake in it is reported with its
	// position before Configure is called.
	Schema(ctx context.Context) (schema.Schema, error)
	// Configure gives the plugin its decoded block as a JSON object (every
	// schema attribute present, null where absent without a default) and the
	// node it runs for. The host calls it once before any other method of the
	// plugin's kind, and again after restarting a crashed plugin.
	Configure(ctx context.Context, config []byte, node Node) error
}
