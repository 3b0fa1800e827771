// Package builtin gathers the strategies compiled into the host, so that the
// default path pays no process hop. Each implements the same sdk interface as
// an external plugin of its kind, and any of them can also run out of
// process (`wadi plugin serve NAME`).
package builtin

import (
	"context"
	"slices"

	"github.com/wadi-go/wadi/plugins/builtin/aesgcm"
	"github.com/wadi-go/wadi/plugins/builtin/compress"
	"github.com/wadi-go/wadi/plugins/builtin/filestore"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/plugins/builtin/pgstore"
	"github.com/wadi-go/wadi/plugins/builtin/redisstore"
	"github.com/wadi-go/wadi/plugins/builtin/replicators"
	"github.com/wadi-go/wadi/plugins/builtin/routers"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/schema"
)

// Builtin is a strategy compiled into the host.
type Builtin struct {
	Kind base.Kind
	Name string
	Doc  string
	// New returns a fresh, unconfigured instance.
	New func() base.Plugin
	// CheckConfig checks a configuration block without opening anything
	// (no file, no connection); nil means that Configure itself has no
	// side effects, so Check configures a fresh instance and drops it.
	CheckConfig func(config []byte) error
	// Retirable marks a codec whose unconfigured instance decodes every
	// record any configuration of it wrote (a compression level changes
	// only how hard Encode works), so that the host can keep reading its
	// records after it is removed from the configuration.
	Retirable bool
}

// Check reports what is wrong with the values of a configuration block for
// b, before the node starts: `wadi validate` shows it at the block.
func (b Builtin) Check(ctx context.Context, config []byte, node base.Node) error {
	if b.CheckConfig != nil {
		return b.CheckConfig(config)
	}
	p := b.New()
	err := p.Configure(ctx, config, node)
	if c, ok := p.(interface{ Close() error }); ok {
		_ = c.Close() // a fresh instance with nothing open
	}
	return err
}

// The strategies a node uses when its configuration names none.
const (
	DefaultStore      = "file"
	DefaultRouter     = "none"
	DefaultReplicator = "partitioned"
)

// All returns the builtins, sorted by kind and name.
func All() []Builtin {
	return []Builtin{
		{
			Kind: base.KindStore, Name: "file",
			Doc:         "embedded store on local disk (bbolt); the default",
			New:         func() base.Plugin { return filestore.NewPlugin() },
			CheckConfig: filestore.CheckConfig,
		},
		{
			Kind: base.KindStore, Name: "memory",
			Doc: "in memory, lost when the node stops; for tests and throwaway nodes",
			New: func() base.Plugin { return memstore.New() },
		},
		{
			Kind: base.KindStore, Name: "postgres",
			Doc:         "a PostgreSQL table shared by the farm, created and migrated on first use",
			New:         func() base.Plugin { return pgstore.NewPlugin() },
			CheckConfig: pgstore.CheckConfig,
		},
		{
			Kind: base.KindStore, Name: "redis",
			Doc:         "a Redis server shared by the farm; records expire by Redis TTLs",
			New:         func() base.Plugin { return redisstore.NewPlugin() },
			CheckConfig: redisstore.CheckConfig,
		},
		{
			Kind: base.KindCodec, Name: "aesgcm",
			Doc: "AES-256-GCM encryption with a key ring for rotation",
			New: func() base.Plugin { return aesgcm.New() },
		},
		{
			Kind: base.KindCodec, Name: "gzip",
			Doc:       "gzip compression, level 1-9",
			New:       func() base.Plugin { return compress.NewGzip() },
			Retirable: true,
		},
		{
			Kind: base.KindCodec, Name: "s2",
			Doc:       "S2 compression: the fastest, the least compact",
			New:       func() base.Plugin { return compress.NewS2() },
			Retirable: true,
		},
		{
			Kind: base.KindCodec, Name: "zstd",
			Doc:       "Zstandard compression: compact and fast",
			New:       func() base.Plugin { return compress.NewZstd() },
			Retirable: true,
		},
		{
			Kind: base.KindRouter, Name: "jvmroute",
			Doc: "the route rides on the session id as ID.ROUTE (mod_jk / Tomcat jvmRoute)",
			New: func() base.Plugin { return routers.NewJVMRoute() },
		},
		{
			Kind: base.KindRouter, Name: "cookie",
			Doc: "the route travels in a cookie of its own (HAProxy cookie SERVERID)",
			New: func() base.Plugin { return routers.NewCookie() },
		},
		{
			Kind: base.KindRouter, Name: "none",
			Doc: "no route, for load balancers that hash on something else; the default",
			New: func() base.Plugin { return routers.NewNone() },
		},
		{
			Kind: base.KindReplicator, Name: "all",
			Doc: "a copy of every session on every other member: the safest, the costliest",
			New: func() base.Plugin { return replicators.NewAll() },
		},
		{
			Kind: base.KindReplicator, Name: "none",
			Doc: "no backups: a session lives on its holder only",
			New: func() base.Plugin { return replicators.NewNone() },
		},
		{
			Kind: base.KindReplicator, Name: "partitioned",
			Doc: "each partition's backups on `backups` members by rendezvous hashing, spread evenly; the default",
			New: func() base.Plugin { return replicators.NewPartitioned() },
		},
	}
}

// Lookup returns the builtin of the kind with the name.
func Lookup(kind base.Kind, name string) (Builtin, bool) {
	all := All()
	i := slices.IndexFunc(all, func(b Builtin) bool { return b.Kind == kind && b.Name == name })
	if i < 0 {
		return Builtin{}, false
	}
	return all[i], true
}

// Retired returns a decode-only instance of every retirable codec, by name:
// what a host gives its session manager to read records written by codecs
// it no longer configures.
func Retired() map[string]codec.Codec {
	out := make(map[string]codec.Codec)
	for _, b := range All() {
		if b.Kind == base.KindCodec && b.Retirable {
			out[b.Name] = b.New().(codec.Codec)
		}
	}
	return out
}

// Schema returns the schema of the builtin of the kind with the name.
func Schema(kind base.Kind, name string) (schema.Schema, bool) {
	b, ok := Lookup(kind, name)
	if !ok {
		return schema.Schema{}, false
	}
	// Builtins answer from memory; the error is always nil.
	s, err := b.New().Schema(context.Background())
	return s, err == nil
}
