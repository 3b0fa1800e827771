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
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/schema"
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
	// fail must be exactly those these paths start with.
	fails []string
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
	}
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
			if got, want := sortedSet(top), sortedSet(wantTop); !slices.Equal(got, want) {
				t.Errorf("the kit failed tests %q; want exactly %q", got, want)
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
}

func sortedSet(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}
