// Package builtin gathers the strategies compiled into the host, so that the
// default path pays no process hop. Each implements the same sdk interface as
// an external plugin of its kind.
package builtin

import (
	"encoding/json"
	"slices"

	"github.com/wadi-go/wadi/plugins/builtin/filestore"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

// Env is what the host tells a builtin about the node it runs in.
type Env struct {
	// DataDir is the node's data directory; relative paths in a strategy's
	// block are resolved against it.
	DataDir string
}

// Store is a builtin store strategy.
type Store struct {
	Name   string
	Doc    string
	Schema schema.Schema
	Open   func(cfg json.RawMessage, env Env) (store.Store, error)
}

// DefaultStore is the store a node uses when its configuration names none.
const DefaultStore = "file"

// Stores returns the builtin stores, sorted by name.
func Stores() []Store {
	return []Store{
		{
			Name:   "file",
			Doc:    "embedded store on local disk (bbolt); the default",
			Schema: filestore.Schema(),
			Open: func(cfg json.RawMessage, env Env) (store.Store, error) {
				return filestore.FromConfig(cfg, env.DataDir)
			},
		},
		{
			Name:   "memory",
			Doc:    "in memory, lost when the node stops; for tests and throwaway nodes",
			Schema: memstore.Schema(),
			Open: func(cfg json.RawMessage, _ Env) (store.Store, error) {
				return memstore.FromConfig(cfg)
			},
		},
	}
}

// LookupStore returns the builtin store with the name.
func LookupStore(name string) (Store, bool) {
	stores := Stores()
	i := slices.IndexFunc(stores, func(s Store) bool { return s.Name == name })
	if i < 0 {
		return Store{}, false
	}
	return stores[i], true
}

// Schema returns the schema of the builtin strategy of the kind and name; its
// signature is the one the configuration loader asks for.
func Schema(kind, name string) (schema.Schema, bool) {
	if kind != "store" {
		return schema.Schema{}, false
	}
	s, ok := LookupStore(name)
	return s.Schema, ok
}
