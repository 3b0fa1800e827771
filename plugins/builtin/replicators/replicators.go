// Package replicators holds the builtin replicator strategies: where the
// backup copies of a node's sessions go, and how they are kept.
//
//   - partitioned (the default): each partition of the directory gets its
//     own `backups` members, chosen by rendezvous hashing, so that the
//     copies of a node's sessions are spread evenly over the farm and a
//     member that joins or leaves moves only the copies it wins or held.
//   - none: no backups; a session lives on its holder (and in the store)
//     only.
//   - all: every other member holds a copy of every session. Its Settings
//     report Backups as EveryOtherMember (math.MaxInt32), a sentinel
//     meaning "every other member" rather than a count: the host caps it by
//     the size of the farm.
//
// partitioned and all take `mode` (sync, the default, or async) and
// `granularity` (attribute, the default, or session); partitioned also takes
// `backups` (1 by default, 0 to 16). none takes no attribute and reports
// sync and attribute. They ignore zones and metadata: for placement that
// keeps copies out of their primary's zone, use a zone-aware replicator
// plugin.
//
// Place is computed once per membership change, never per request. Every
// node must compute the same table from the same farm, so placement depends
// only on the member names and the partition indexes, never on the order
// the host lists members in, and hashes with FNV-1a and splitmix64, which
// are fixed by their specifications.
package replicators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/schema"
)

// Version is the builtin replicators' plugin version.
const Version = "0.1.0"

// MaxBackups bounds partitioned's backups: every change is sent to each
// backup, so more copies than this cost far more than they protect.
const MaxBackups = 16

// EveryOtherMember is the Settings.Backups the all replicator reports: not a
// count but a sentinel meaning "every member but the primary", which the
// host caps by the size of the farm. It is math.MaxInt32, the largest
// Backups a replicator can report over the wire.
const EveryOtherMember = math.MaxInt32

// errNotConfigured is returned by Settings and Place before Configure.
var errNotConfigured = errors.New("not configured: the host calls Configure before using the replicator")

// Replicator is one of the builtin replicators; New* return them
// unconfigured.
type Replicator struct {
	name string
	// attrs are the variant's attributes.
	attrs []schema.Attribute
	// settings turns a decoded configuration into the variant's settings.
	settings func(c config) (replicator.Settings, error)
	// place computes the table of a validated farm for the settings.
	place func(ctx context.Context, f *farm, s replicator.Settings) ([][]string, error)

	mu         sync.RWMutex
	st         replicator.Settings
	configured bool
}

var _ replicator.Plugin = (*Replicator)(nil)

// config is the union of the variants' attributes; each variant's schema
// declares only its own, and decode refuses any other. Backups is a float
// so that 1.5 gets an error naming the attribute rather than the decoder's.
type config struct {
	Backups     *float64 `json:"backups"`
	Mode        *string  `json:"mode"`
	Granularity *string  `json:"granularity"`
}

var (
	backupsAttr = schema.Attribute{
		Name: "backups", Type: schema.Number, Default: "1",
		Doc: fmt.Sprintf("copies of each session besides its holder's, 0 to %d", MaxBackups),
	}
	modeAttr = schema.Attribute{
		Name: "mode", Type: schema.String, Default: `"sync"`,
		Doc: "sync (the backups acknowledge a change before the response) or async (sent after it; a crash can lose it)",
	}
	granularityAttr = schema.Attribute{
		Name: "granularity", Type: schema.String, Default: `"attribute"`,
		Doc: "attribute (only the changed attributes travel) or session (the whole session after each change)",
	}
)

// NewPartitioned returns the partitioned replicator: `backups` members per
// partition, by rendezvous hashing.
func NewPartitioned() *Replicator {
	return &Replicator{
		name:  "partitioned",
		attrs: []schema.Attribute{backupsAttr, modeAttr, granularityAttr},
		settings: func(c config) (replicator.Settings, error) {
			s, err := modeAndGranularity(c)
			if err != nil {
				return replicator.Settings{}, err
			}
			s.Backups = 1
			if c.Backups != nil {
				b := *c.Backups
				if b != math.Trunc(b) || b < 0 || b > MaxBackups {
					return replicator.Settings{}, fmt.Errorf("backups %v: want a whole number from 0 to %d", b, MaxBackups)
				}
				s.Backups = int(b)
			}
			return s, nil
		},
		place: func(ctx context.Context, f *farm, s replicator.Settings) ([][]string, error) {
			return placeRendezvous(ctx, f, s.Backups)
		},
	}
}

// NewNone returns the replicator that keeps no backups.
func NewNone() *Replicator {
	return &Replicator{
		name: "none",
		settings: func(config) (replicator.Settings, error) {
			return replicator.Settings{Backups: 0, Mode: replicator.Sync, Granularity: replicator.Attribute}, nil
		},
		place: func(_ context.Context, f *farm, _ replicator.Settings) ([][]string, error) {
			return make([][]string, len(f.primaries)), nil
		},
	}
}

// NewAll returns the replicator that puts a copy on every other member. Its
// Settings report Backups as EveryOtherMember.
func NewAll() *Replicator {
	return &Replicator{
		name:  "all",
		attrs: []schema.Attribute{modeAttr, granularityAttr},
		settings: func(c config) (replicator.Settings, error) {
			s, err := modeAndGranularity(c)
			s.Backups = EveryOtherMember
			return s, err
		},
		place: func(ctx context.Context, f *farm, _ replicator.Settings) ([][]string, error) {
			return placeAll(ctx, f)
		},
	}
}

// modeAndGranularity returns the settings of the common attributes, with
// their defaults.
func modeAndGranularity(c config) (replicator.Settings, error) {
	s := replicator.Settings{Mode: replicator.Sync, Granularity: replicator.Attribute}
	if c.Mode != nil {
		switch m := replicator.Mode(*c.Mode); m {
		case replicator.Sync, replicator.Async:
			s.Mode = m
		default:
			return replicator.Settings{}, fmt.Errorf("mode %q: want %q or %q", *c.Mode, replicator.Sync, replicator.Async)
		}
	}
	if c.Granularity != nil {
		switch g := replicator.Granularity(*c.Granularity); g {
		case replicator.Attribute, replicator.Session:
			s.Granularity = g
		default:
			return replicator.Settings{}, fmt.Errorf("granularity %q: want %q or %q", *c.Granularity, replicator.Attribute, replicator.Session)
		}
	}
	return s, nil
}

// Info implements base.Plugin.
func (r *Replicator) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, fmt.Errorf("replicator %s: %w", r.name, err)
	}
	return base.Info{Name: r.name, Kind: base.KindReplicator, Version: Version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (r *Replicator) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, fmt.Errorf("replicator %s: %w", r.name, err)
	}
	// A copy, so that a caller cannot change the variant's schema.
	return schema.Schema{Attributes: append([]schema.Attribute(nil), r.attrs...)}, nil
}

// Configure implements base.Plugin. A rejected configuration leaves the
// previous one in force.
func (r *Replicator) Configure(ctx context.Context, cfgJSON []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replicator %s: configure: %w", r.name, err)
	}
	var c config
	if err := r.decode(cfgJSON, &c); err != nil {
		return fmt.Errorf("replicator %s: %w", r.name, err)
	}
	s, err := r.settings(c)
	if err != nil {
		return fmt.Errorf("replicator %s: config: %w", r.name, err)
	}
	r.mu.Lock()
	r.st, r.configured = s, true
	r.mu.Unlock()
	return nil
}

// decode is schema.Decode restricted to the variant's attributes: the
// shared config struct knows all of them, so each variant checks the names.
func (r *Replicator) decode(cfgJSON []byte, c *config) error {
	var raw map[string]any
	if err := schema.Decode(cfgJSON, &raw); err != nil {
		return err
	}
	allowed := make(map[string]bool, len(r.attrs))
	for _, a := range r.attrs {
		allowed[a.Name] = true
	}
	for k := range raw {
		if !allowed[k] {
			return fmt.Errorf("config: unknown attribute %q", k)
		}
	}
	return schema.Decode(cfgJSON, c)
}

// current returns the settings for a call named op.
func (r *Replicator) current(ctx context.Context, op string) (replicator.Settings, error) {
	if err := ctx.Err(); err != nil {
		return replicator.Settings{}, fmt.Errorf("replicator %s: %s: %w", r.name, op, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.configured {
		return replicator.Settings{}, fmt.Errorf("replicator %s: %s: %w", r.name, op, errNotConfigured)
	}
	return r.st, nil
}

// Settings implements replicator.Replicator.
func (r *Replicator) Settings(ctx context.Context) (replicator.Settings, error) {
	return r.current(ctx, "settings")
}

// Place implements replicator.Replicator. It refuses a request the host
// should never send (no members, a member without a name or listed twice, a
// primary that is not a member) rather than place backups on a farm it
// misdescribes, and does not change the request.
//
// The table is read-only: partitions may share their slices (all gives
// every partition of one primary the same one). A partition without backups
// has a nil entry, as it would arriving over the wire.
func (r *Replicator) Place(ctx context.Context, req replicator.PlaceRequest) ([][]string, error) {
	s, err := r.current(ctx, "place")
	if err != nil {
		return nil, err
	}
	f, err := newFarm(req)
	if err != nil {
		return nil, fmt.Errorf("replicator %s: place: %w", r.name, err)
	}
	out, err := r.place(ctx, f, s)
	if err != nil {
		return nil, fmt.Errorf("replicator %s: place: %w", r.name, err)
	}
	return out, nil
}
