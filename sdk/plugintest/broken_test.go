package plugintest_test

// The kits must fail broken plugins, or they prove nothing. Each variant
// below breaks one reference plugin in one way; TestKitsCatchBrokenPlugins
// runs the kit against it in a child test process (a failing kit fails the
// test that runs it, so it cannot run in this one) and checks that exactly
// the expected tests failed.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

// brokenEnv names the variant a child process runs.
const brokenEnv = "WADI_PLUGINTEST_BROKEN"

// brokenVariant is a broken plugin, the kit run against it, and what the kit
// must report.
type brokenVariant struct {
	name string
	run  func(t *testing.T)
	// fails lists the failing tests the kit must report, as paths below the
	// kit (Corrupt/BitFlip/json-1KiB). The top-level tests of the kit that
	// fail must be exactly those these paths start with, and those of
	// mayFail.
	fails []string
	// mayFail lists top-level tests of the kit that catch the variant only
	// when goroutines happen to interleave, so they may or may not fail.
	mayFail []string
}

var macConfig = []byte(`{"keys":["` + key1 + `"],"level":6}`)

func brokenVariants() []brokenVariant {
	return []brokenVariant{
		// ---- base
		{
			name: "plugin/wrong-kind",
			run: func(t *testing.T) {
				plugintest.TestPlugin(t, &macCodec{kind: base.KindStore}, base.KindCodec, plugintest.Configs{Valid: [][]byte{macConfig}})
			},
			fails: []string{"Info"},
		},
		{
			name: "plugin/ignores-unknown-attributes",
			run: func(t *testing.T) {
				plugintest.TestPlugin(t, &macCodec{lenient: true}, base.KindCodec, plugintest.Configs{Valid: [][]byte{macConfig}})
			},
			fails: []string{"Configure/Invalid/unknown-attribute"},
		},
		{
			name: "plugin/schema-hangs-on-done-context",
			run: func(t *testing.T) {
				plugintest.TestPlugin(t, hangingSchema{&macCodec{}}, base.KindCodec, plugintest.Configs{Valid: [][]byte{macConfig}})
			},
			fails: []string{"DoneContext/Canceled", "DoneContext/DeadlineExceeded"},
		},
		{
			name: "plugin/valid-config-not-what-the-host-sends",
			run: func(t *testing.T) {
				plugintest.TestPlugin(t, &macCodec{}, base.KindCodec, plugintest.Configs{Valid: [][]byte{[]byte(`{"keys":["` + key1 + `"]}`)}})
			},
			fails: []string{"ValidConfigsMatchSchema"},
		},

		// ---- codec
		{
			name:  "codec/no-integrity-check",
			run:   func(t *testing.T) { plugintest.TestCodec(t, func(*testing.T) codec.Codec { return gzipCodec{} }) },
			fails: []string{"Corrupt/Garbage", "Corrupt/BitFlip/json-1KiB"},
		},
		{
			name: "codec/scribbles-on-input",
			run: func(t *testing.T) {
				plugintest.TestCodec(t, func(t *testing.T) codec.Codec { return scribbler{newMACCodec(t, key1)} })
			},
			fails: []string{"InputsUnchanged"},
		},
		{
			name: "codec/ignores-cancel",
			run: func(t *testing.T) {
				plugintest.TestCodec(t, func(t *testing.T) codec.Codec {
					c := newMACCodec(t, key1)
					c.ignoreCancel = true
					return c
				})
			},
			fails: []string{"Cancelled/Canceled", "Cancelled/DeadlineExceeded"},
		},
		{
			name: "codec/random-key-per-instance",
			run: func(t *testing.T) {
				plugintest.TestCodec(t, func(t *testing.T) codec.Codec { return newMACCodec(t, rand.Text()) })
			},
			fails: []string{"AcrossInstances"},
		},
		{
			name:  "codec-pair/rotation-forgets-old-key",
			run:   func(t *testing.T) { plugintest.TestCodecPair(t, openMACCodec(key1), openMACCodec(key2), true) },
			fails: []string{"empty", "one-byte", "json-1KiB", "random-64KiB"},
		},

		// ---- router
		{
			name: "router/invalid-separator",
			run: func(t *testing.T) {
				plugintest.TestRouter(t, func(t *testing.T) router.Router {
					r := newPolicyRouter(t, `{"policy":"migrate","separator":".","cookie":null}`)
					r.format.RouteSeparator = "/"
					return r
				})
			},
			fails: []string{"Format"},
		},
		{
			name: "router/relative-redirect",
			run: func(t *testing.T) {
				plugintest.TestRouter(t, func(t *testing.T) router.Router {
					return relativeRedirect{newPolicyRouter(t, `{"policy":"redirect","separator":".","cookie":null}`)}
				})
			},
			fails: []string{"Relocate/get", "Hostile/path-64KiB"},
		},
		{
			name: "router/panics-on-empty-holder-url",
			run: func(t *testing.T) {
				plugintest.TestRouter(t, func(t *testing.T) router.Router {
					return indexesHolderURL{newPolicyRouter(t, `{"policy":"redirect","separator":".","cookie":null}`)}
				})
			},
			fails: []string{"Hostile/zero", "Hostile/empty-holder-url"},
		},
		{
			name:  "router/random-policy",
			run:   func(t *testing.T) { plugintest.TestRouter(t, func(*testing.T) router.Router { return randomPolicy{} }) },
			fails: []string{"Deterministic", "Concurrent"},
		},

		// ---- replicator
		{
			name: "replicator/primary-as-backup",
			run: func(t *testing.T) {
				plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator {
					r := newRendezvous(t, `{"backups":1}`)
					r.choose = func(_ int, primary string, _, _ []replicator.Member, _ int) []string {
						return []string{primary}
					}
					return r
				}, plugintest.ReplicatorOptions{})
			},
			fails: []string{"Place/1-member", "Place/30-members", "Stability/5-members", "Balanced", "Cancelled/Canceled"},
		},
		{
			name: "replicator/depends-on-member-order",
			run: func(t *testing.T) {
				plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator {
					r := newRendezvous(t, `{"backups":1}`)
					r.keepOrder = true
					r.choose = ringSuccessors
					return r
				}, plugintest.ReplicatorOptions{})
			},
			fails: []string{"Deterministic/5-members"},
		},
		{
			name: "replicator/modulo-placement",
			run: func(t *testing.T) {
				plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator {
					r := newRendezvous(t, `{"backups":2}`)
					r.choose = moduloPlacement
					return r
				}, plugintest.ReplicatorOptions{})
			},
			fails: []string{"Stability/5-members"},
		},
		{
			name: "replicator/first-candidate",
			run: func(t *testing.T) {
				plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator {
					r := newRendezvous(t, `{"backups":1}`)
					r.choose = firstCandidates
					return r
				}, plugintest.ReplicatorOptions{})
			},
			fails: []string{"Balanced"},
		},
		{
			name: "replicator/accepts-invalid-requests",
			run: func(t *testing.T) {
				plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator {
					r := newRendezvous(t, `{"backups":1}`)
					r.noChecks = true
					return r
				}, plugintest.ReplicatorOptions{})
			},
			fails: []string{"InvalidRequests/primary-not-a-member", "InvalidRequests/duplicate-member"},
		},
		{
			name: "replicator/zone-rule-broken",
			run: func(t *testing.T) {
				// Placement ignores zones, but the plugin claims the zone rule.
				plugintest.TestReplicator(t, openRendezvous(`{"backups":2}`),
					plugintest.ReplicatorOptions{Constrained: true, Check: zoneRule})
			},
			fails: []string{"Place/5-members", "Place/5-members-3-zones", "Stability/9-members-3-zones", "Cancelled/Canceled"},
		},

		// ---- store
		{
			name: "store/loses-last-of-batch",
			run: func(t *testing.T) {
				plugintest.TestStore(t, wrapStore(func(s store.Store) store.Store { return losesLast{s} }))
			},
			fails: []string{"SaveLoad", "Delete", "LargeBatch", "IDs", "Concurrent"},
		},
		{
			name: "store/delete-expired-ignores-expiry",
			run: func(t *testing.T) {
				plugintest.TestStore(t, wrapStore(func(s store.Store) store.Store { return expiresAll{s} }))
			},
			fails: []string{"DeleteExpired", "DeleteExpiredLimit", "DeleteExpiredSkipsResaved", "Concurrent"},
			// Only when its DeleteExpired loop runs before the re-saves end.
			mayFail: []string{"DeleteExpiredAtomic"},
		},
		{
			name: "store/delete-expired-over-limit",
			run: func(t *testing.T) {
				plugintest.TestStore(t, wrapStore(func(s store.Store) store.Store { return overLimit{s} }))
			},
			fails: []string{"DeleteExpiredLimit"},
		},
		{
			name: "store/stale-cache-after-delete",
			run: func(t *testing.T) {
				plugintest.TestStore(t, wrapStore(func(s store.Store) store.Store {
					return &cachingStore{Store: s, cache: map[string]store.Record{}}
				}))
			},
			fails: []string{"Delete", "LargeBatch", "Concurrent"},
		},
		{
			name: "store/loads-expired",
			run: func(t *testing.T) {
				plugintest.TestStore(t, func(*testing.T) store.Store { return &mapStore{recs: map[string]store.Record{}, loadExpired: true} })
			},
			fails: []string{"LoadExpired", "ExpiresWhileStored"},
		},
		{
			name: "store/ignores-cancel",
			run: func(t *testing.T) {
				plugintest.TestStore(t, wrapStore(func(s store.Store) store.Store { return ignoresCancel{s} }))
			},
			fails: []string{"Cancelled/Canceled", "Cancelled/DeadlineExceeded"},
		},
		{
			name: "store/context-error-not-wrapped",
			run: func(t *testing.T) {
				plugintest.TestStore(t, wrapStore(func(s store.Store) store.Store { return flattensErrors{s} }))
			},
			fails: []string{"Cancelled/Canceled", "Cancelled/DeadlineExceeded"},
		},
		{
			name: "store/text-column",
			run: func(t *testing.T) {
				plugintest.TestStore(t, wrapStore(func(s store.Store) store.Store { return textData{s} }))
			},
			fails: []string{"DataShapes"},
		},
		{
			name: "store/aliases-caller-data",
			run: func(t *testing.T) {
				plugintest.TestStore(t, func(*testing.T) store.Store { return &mapStore{recs: map[string]store.Record{}, aliasData: true} })
			},
			fails: []string{"CallerOwnsSlices"},
		},
	}
}

// wrapStore opens reference stores wrapped in a broken layer.
func wrapStore(wrap func(store.Store) store.Store) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store { return wrap(newMapStore(t)) }
}

// losesLast drops the last record of a batch of several, as a store writing
// a batch in a loop with an off-by-one would.
type losesLast struct{ store.Store }

func (s losesLast) Save(ctx context.Context, recs []store.Record) error {
	if len(recs) > 1 {
		recs = recs[:len(recs)-1]
	}
	return s.Store.Save(ctx, recs)
}

// expiresAll removes records whatever their expiry.
type expiresAll struct{ store.Store }

func (s expiresAll) DeleteExpired(ctx context.Context, _ time.Time, limit int) ([]string, error) {
	return s.Store.DeleteExpired(ctx, time.Now().AddDate(100, 0, 0), limit)
}

// overLimit removes one record more than it was allowed to.
type overLimit struct{ store.Store }

func (s overLimit) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if limit > 0 {
		limit++
	}
	return s.Store.DeleteExpired(ctx, before, limit)
}

// cachingStore serves loads from a cache of what it saved, which Delete
// forgets to invalidate.
type cachingStore struct {
	store.Store
	mu    sync.Mutex
	cache map[string]store.Record
}

func (s *cachingStore) Save(ctx context.Context, recs []store.Record) error {
	if err := s.Store.Save(ctx, recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		r.Data = slices.Clone(r.Data)
		s.cache[r.ID] = r
	}
	return nil
}

func (s *cachingStore) Load(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	r, ok := s.cache[id]
	s.mu.Unlock()
	if ok && r.Expires.After(time.Now()) {
		r.Data = slices.Clone(r.Data)
		return r, nil
	}
	return s.Store.Load(ctx, id)
}

// ignoresCancel runs every call to the end whatever its context says.
type ignoresCancel struct{ store.Store }

func (s ignoresCancel) Save(ctx context.Context, recs []store.Record) error {
	return s.Store.Save(context.WithoutCancel(ctx), recs)
}

func (s ignoresCancel) Load(ctx context.Context, id string) (store.Record, error) {
	return s.Store.Load(context.WithoutCancel(ctx), id)
}

func (s ignoresCancel) Delete(ctx context.Context, ids []string) error {
	return s.Store.Delete(context.WithoutCancel(ctx), ids)
}

func (s ignoresCancel) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return s.Store.DeleteExpired(context.WithoutCancel(ctx), before, limit)
}

// flattensErrors reports a failed Load as text, losing the error's identity:
// a cancelled load can no longer be told from an outage, nor a missing
// record from one.
type flattensErrors struct{ store.Store }

func (s flattensErrors) Load(ctx context.Context, id string) (store.Record, error) {
	r, err := s.Store.Load(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("load %s: %v", id, err)
	}
	return r, err
}

// textData keeps Data in a text column, which holds valid UTF-8 only.
type textData struct{ store.Store }

func (s textData) Save(ctx context.Context, recs []store.Record) error {
	recs = slices.Clone(recs)
	for i := range recs {
		recs[i].Data = []byte(strings.ToValidUTF8(string(recs[i].Data), "\uFFFD"))
	}
	return s.Store.Save(ctx, recs)
}

// hangingSchema blocks in Schema when its context is done, as a plugin
// waiting on a dead connection without watching its context would.
type hangingSchema struct{ *macCodec }

func (h hangingSchema) Schema(ctx context.Context) (schema.Schema, error) {
	if ctx.Err() != nil {
		select {}
	}
	return h.macCodec.Schema(ctx)
}

// scribbler encodes correctly, then reuses its input items as scratch space.
type scribbler struct{ *macCodec }

func (s scribbler) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	out, err := s.macCodec.Encode(ctx, items)
	for _, item := range items {
		for i := range item {
			item[i] = 0
		}
	}
	return out, err
}

// relativeRedirect redirects to the path alone.
type relativeRedirect struct{ *policyRouter }

func (r relativeRedirect) Relocate(ctx context.Context, m router.Miss) (router.Decision, error) {
	d, err := r.policyRouter.Relocate(ctx, m)
	if err == nil && d.Action == router.Redirect {
		d.URL = m.Path
	}
	return d, err
}

// indexesHolderURL looks at the holder URL's first byte without checking
// that there is one.
type indexesHolderURL struct{ *policyRouter }

func (r indexesHolderURL) Relocate(ctx context.Context, m router.Miss) (router.Decision, error) {
	if m.HolderURL[0] == '/' {
		return router.Decision{}, errors.New("relative holder URL")
	}
	return r.policyRouter.Relocate(ctx, m)
}

// randomPolicy picks migrate or proxy at random on every miss.
type randomPolicy struct{}

func (randomPolicy) Format(context.Context) (router.Format, error) {
	return router.Format{RouteSeparator: "."}, nil
}

func (randomPolicy) Relocate(ctx context.Context, _ router.Miss) (router.Decision, error) {
	if err := ctx.Err(); err != nil {
		return router.Decision{}, err
	}
	return router.Decision{Action: []router.Action{router.Migrate, router.Proxy}[mrand.IntN(2)]}, nil
}

// ringSuccessors takes the members after the primary in the order they were
// given: stable and balanced, but a different order makes a different table.
func ringSuccessors(_ int, primary string, members, _ []replicator.Member, n int) []string {
	at := slices.IndexFunc(members, func(m replicator.Member) bool { return m.Name == primary })
	var out []string
	for i := 1; i < len(members) && len(out) < n; i++ {
		out = append(out, members[(at+i)%len(members)].Name)
	}
	return out
}

// moduloPlacement hashes the partition modulo the number of candidates:
// deterministic and balanced, but any change in membership reshuffles most
// partitions.
func moduloPlacement(p int, _ string, _, candidates []replicator.Member, n int) []string {
	var out []string
	for i := range min(n, len(candidates)) {
		out = append(out, candidates[(p*7+i)%len(candidates)].Name)
	}
	return out
}

// firstCandidates always takes the first members by name.
func firstCandidates(_ int, _ string, _, candidates []replicator.Member, n int) []string {
	var out []string
	for _, m := range candidates[:min(n, len(candidates))] {
		out = append(out, m.Name)
	}
	return out
}

// TestBrokenVariant runs the kit against the variant named in brokenEnv; it
// is meant to fail, and runs only as TestKitsCatchBrokenPlugins's child.
func TestBrokenVariant(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("run by TestKitsCatchBrokenPlugins")
	}
	plugintest.SetPromptly(200 * time.Millisecond)
	i := slices.IndexFunc(brokenVariants(), func(v brokenVariant) bool { return v.name == name })
	if i < 0 {
		t.Fatalf("no broken variant %q", name)
	}
	brokenVariants()[i].run(t)
}

var failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: TestBrokenVariant/(\S+) \(`)

func TestKitsCatchBrokenPlugins(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("in a child process")
	}
	if testing.Short() {
		t.Skip("starts a test process per variant")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range brokenVariants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestBrokenVariant$", "-test.count=1", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), brokenEnv+"="+v.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil:
				t.Fatalf("the kit passed the broken plugin:\n%s", out)
			case !errors.As(err, &exit) || exit.ExitCode() != 1:
				t.Fatalf("child test process: %v (want a test failure, exit status 1):\n%s", err, out)
			}
			failed := map[string]bool{}
			top := map[string]bool{}
			for _, m := range failLine.FindAllStringSubmatch(string(out), -1) {
				failed[m[1]] = true
				top[strings.SplitN(m[1], "/", 2)[0]] = true
			}
			wantTop := map[string]bool{}
			for _, f := range v.fails {
				wantTop[strings.SplitN(f, "/", 2)[0]] = true
				if !failed[f] {
					t.Errorf("the kit did not fail %s", f)
				}
			}
			for _, f := range v.mayFail {
				if !wantTop[f] {
					top[f] = false
				}
			}
			if got, want := sortedSet(top), sortedSet(wantTop); !slices.Equal(got, want) {
				t.Errorf("the kit failed tests %q; want exactly %q (and maybe %q)", got, want, v.mayFail)
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
}

// sortedSet returns the keys of m that are true, sorted.
func sortedSet(m map[string]bool) []string {
	var s []string
	for k, in := range m {
		if in {
			s = append(s, k)
		}
	}
	slices.Sort(s)
	return s
}
