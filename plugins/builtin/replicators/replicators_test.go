package replicators

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/replicator"
)

var testNode = base.Node{Name: "node-a", Zone: "zone-1"}

// block is partitioned's configuration as the host sends it: every
// attribute.
func block(backups any, mode, granularity string) string {
	return fmt.Sprintf(`{"backups":%v,"mode":%q,"granularity":%q}`, backups, mode, granularity)
}

// allBlock is all's configuration as the host sends it.
func allBlock(mode, granularity string) string {
	return fmt.Sprintf(`{"mode":%q,"granularity":%q}`, mode, granularity)
}

func raw(cfgs ...string) [][]byte {
	out := make([][]byte, len(cfgs))
	for i, c := range cfgs {
		out[i] = []byte(c)
	}
	return out
}

var variants = []struct {
	name    string
	new     func() *Replicator
	configs plugintest.Configs
	// check pins the variant's own rule in the replicator kit.
	check func(n int) func(replicator.PlaceRequest, [][]string) error
}{
	{"partitioned", NewPartitioned, plugintest.Configs{
		Valid: raw(
			block(1, "sync", "attribute"),
			block(0, "async", "session"),
			block(2, "sync", "session"),
			block(3, "async", "attribute"),
			block(MaxBackups, "sync", "attribute"),
		),
		Invalid: raw(
			block(-1, "sync", "attribute"),
			block(MaxBackups+1, "sync", "attribute"),
			block(1.5, "sync", "attribute"),
			block(`"1"`, "sync", "attribute"),
			block(1, "eventually", "attribute"),
			block(1, "SYNC", "attribute"),
			block(1, "sync", "field"),
			block(1, "sync", ""),
			`{"backups":1,"mode":"sync","granularity":"attribute","zone":"a"}`,
		),
	}, rendezvousRule},
	{"none", NewNone, plugintest.Configs{
		Valid: raw(`{}`),
		Invalid: raw(
			`{"backups":1}`,
			`{"mode":"sync"}`,
		),
	}, func(int) func(replicator.PlaceRequest, [][]string) error { return noneRule }},
	{"all", NewAll, plugintest.Configs{
		Valid: raw(
			allBlock("sync", "attribute"),
			allBlock("async", "session"),
		),
		Invalid: raw(
			block(2, "sync", "attribute"),
			allBlock("eventually", "attribute"),
			allBlock("sync", "field"),
		),
	}, func(int) func(replicator.PlaceRequest, [][]string) error { return allRule }},
}

// TestConformance runs the base kit on each variant, and the replicator kit
// on each of its valid configurations.
func TestConformance(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			plugintest.TestPlugin(t, v.new(), base.KindReplicator, v.configs)
			for i, cfg := range v.configs.Valid {
				r := configured(t, v.new, string(cfg))
				s, err := r.Settings(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				t.Run(fmt.Sprintf("config%d", i), func(t *testing.T) {
					plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator {
						return configured(t, v.new, string(cfg))
					}, plugintest.ReplicatorOptions{Check: v.check(s.Backups)})
				})
			}
		})
	}
}

// configured returns a replicator configured with the block.
func configured(t testing.TB, newR func() *Replicator, cfg string) *Replicator {
	t.Helper()
	r := newR()
	if err := r.Configure(context.Background(), []byte(cfg), testNode); err != nil {
		t.Fatalf("Configure(%s): %v", cfg, err)
	}
	return r
}

// rendezvousRule checks a placement against a plain reference: every
// candidate scored, sorted best first (ties by name), the first n kept.
func rendezvousRule(n int) func(replicator.PlaceRequest, [][]string) error {
	return func(req replicator.PlaceRequest, got [][]string) error {
		want := referenceRendezvous(req, n)
		var errs []error
		for p := range got {
			if !slices.Equal(got[p], want[p]) {
				errs = append(errs, fmt.Errorf("partition %d (primary %s): backups %q; the reference places %q", p, req.Primaries[p], got[p], want[p]))
			}
			if len(errs) == 5 {
				break
			}
		}
		return errors.Join(errs...)
	}
}

func referenceRendezvous(req replicator.PlaceRequest, n int) [][]string {
	h := fnv.New64a()
	out := make([][]string, len(req.Primaries))
	for p, primary := range req.Primaries {
		type cand struct {
			name  string
			score uint64
		}
		var cands []cand
		for _, m := range req.Members {
			if m.Name == primary {
				continue
			}
			h.Reset()
			h.Write([]byte(m.Name))
			cands = append(cands, cand{m.Name, mix(h.Sum64() ^ mix(uint64(p)))})
		}
		slices.SortFunc(cands, func(a, b cand) int {
			switch {
			case a.score > b.score:
				return -1
			case a.score < b.score:
				return 1
			}
			return strings.Compare(a.name, b.name)
		})
		for _, c := range cands[:min(n, len(cands))] {
			out[p] = append(out[p], c.name)
		}
	}
	return out
}

func noneRule(req replicator.PlaceRequest, got [][]string) error {
	if len(got) != len(req.Primaries) {
		return fmt.Errorf("%d entries for %d partitions", len(got), len(req.Primaries))
	}
	for p, b := range got {
		if len(b) != 0 {
			return fmt.Errorf("partition %d: backups %q; none places none", p, b)
		}
	}
	return nil
}

func allRule(req replicator.PlaceRequest, got [][]string) error {
	for p, b := range got {
		var want []string
		for _, m := range req.Members {
			if m.Name != req.Primaries[p] {
				want = append(want, m.Name)
			}
		}
		slices.Sort(want)
		if !slices.Equal(b, want) {
			return fmt.Errorf("partition %d (primary %s): backups %q; want every other member %q", p, req.Primaries[p], b, want)
		}
	}
	return nil
}

// The rules above must be able to fail, or the kit's Check proves nothing.
func TestRulesCatch(t *testing.T) {
	req := replicator.PlaceRequest{Members: members(4), Primaries: []string{"node-0", "node-1"}}
	good := referenceRendezvous(req, 2)
	if err := rendezvousRule(2)(req, good); err != nil {
		t.Fatalf("rendezvousRule refused the reference: %v", err)
	}
	swapped := [][]string{{good[0][1], good[0][0]}, good[1]}
	if err := rendezvousRule(2)(req, swapped); err == nil {
		t.Errorf("rendezvousRule accepted backups out of order %q", swapped)
	}
	if err := noneRule(req, [][]string{nil, {"node-2"}}); err == nil {
		t.Error("noneRule accepted a backup")
	}
	if err := allRule(req, [][]string{{"node-1", "node-2", "node-3"}, {"node-0", "node-2"}}); err == nil {
		t.Error("allRule accepted a missing member")
	}
}

// members returns n members node-0, node-1, … in one zone.
func members(n int) []replicator.Member {
	out := make([]replicator.Member, n)
	for i := range out {
		out[i] = replicator.Member{Name: fmt.Sprintf("node-%d", i), Zone: "zone-1"}
	}
	return out
}

// own is the request the host sends: every partition's primary is the
// calling node.
func own(ms []replicator.Member, self string, parts int) replicator.PlaceRequest {
	return replicator.PlaceRequest{Members: ms, Primaries: slices.Repeat([]string{self}, parts)}
}

// roundRobin is a request whose partitions' primaries go round the members.
func roundRobin(ms []replicator.Member, parts int) replicator.PlaceRequest {
	req := replicator.PlaceRequest{Members: ms, Primaries: make([]string, parts)}
	for p := range req.Primaries {
		req.Primaries[p] = ms[p%len(ms)].Name
	}
	return req
}

func place(t *testing.T, r *Replicator, req replicator.PlaceRequest) [][]string {
	t.Helper()
	got, err := r.Place(t.Context(), req)
	if err != nil {
		t.Fatalf("Place(%d members, %d partitions): %v", len(req.Members), len(req.Primaries), err)
	}
	return got
}

// TestConfigure checks the settings each block gives, and the error of each
// block refused: it names the attribute and what is allowed.
func TestConfigure(t *testing.T) {
	def := replicator.Settings{Backups: 1, Mode: replicator.Sync, Granularity: replicator.Attribute}
	tests := []struct {
		name    string
		new     func() *Replicator
		cfg     string
		want    replicator.Settings
		wantErr []string // substrings of the error; nil: accepted
	}{
		{"partitioned empty", NewPartitioned, ``, def, nil},
		{"partitioned null", NewPartitioned, `null`, def, nil},
		{"partitioned host default", NewPartitioned, `{}`, def, nil},
		{"partitioned nulls", NewPartitioned, `{"backups":null,"mode":null,"granularity":null}`, def, nil},
		{"partitioned defaults", NewPartitioned, block(1, "sync", "attribute"), def, nil},
		{"partitioned zero", NewPartitioned, block(0, "async", "session"), replicator.Settings{Backups: 0, Mode: replicator.Async, Granularity: replicator.Session}, nil},
		{"partitioned max", NewPartitioned, block(16, "sync", "session"), replicator.Settings{Backups: 16, Mode: replicator.Sync, Granularity: replicator.Session}, nil},
		{"partitioned 2.0", NewPartitioned, block("2.0", "sync", "attribute"), replicator.Settings{Backups: 2, Mode: replicator.Sync, Granularity: replicator.Attribute}, nil},
		{"partitioned negative", NewPartitioned, block(-1, "sync", "attribute"), def, []string{"replicator partitioned", "backups -1", "0 to 16"}},
		{"partitioned too many", NewPartitioned, block(17, "sync", "attribute"), def, []string{"backups 17", "0 to 16"}},
		{"partitioned huge", NewPartitioned, block("1e300", "sync", "attribute"), def, []string{"backups 1e+300", "0 to 16"}},
		{"partitioned fraction", NewPartitioned, block(1.5, "sync", "attribute"), def, []string{"backups 1.5", "whole number"}},
		{"partitioned string", NewPartitioned, block(`"1"`, "sync", "attribute"), def, []string{"backups"}},
		{"partitioned mode", NewPartitioned, block(1, "eventually", "attribute"), def, []string{`mode "eventually"`, `"sync" or "async"`}},
		{"partitioned mode case", NewPartitioned, block(1, "Async", "attribute"), def, []string{`mode "Async"`}},
		{"partitioned granularity", NewPartitioned, block(1, "sync", "field"), def, []string{`granularity "field"`, `"attribute" or "session"`}},
		{"partitioned unknown", NewPartitioned, `{"backups":1,"policy":"migrate"}`, def, []string{`unknown attribute "policy"`}},
		{"none empty", NewNone, ``, replicator.Settings{Backups: 0, Mode: replicator.Sync, Granularity: replicator.Attribute}, nil},
		{"none", NewNone, `{}`, replicator.Settings{Backups: 0, Mode: replicator.Sync, Granularity: replicator.Attribute}, nil},
		{"none backups", NewNone, `{"backups":1}`, def, []string{"replicator none", `unknown attribute "backups"`}},
		{"none mode", NewNone, `{"mode":"async"}`, def, []string{`unknown attribute "mode"`}},
		{"all defaults", NewAll, allBlock("sync", "attribute"), replicator.Settings{Backups: EveryOtherMember, Mode: replicator.Sync, Granularity: replicator.Attribute}, nil},
		{"all nulls", NewAll, `{"mode":null,"granularity":null}`, replicator.Settings{Backups: EveryOtherMember, Mode: replicator.Sync, Granularity: replicator.Attribute}, nil},
		{"all async session", NewAll, allBlock("async", "session"), replicator.Settings{Backups: EveryOtherMember, Mode: replicator.Async, Granularity: replicator.Session}, nil},
		{"all backups", NewAll, block(2, "sync", "attribute"), def, []string{"replicator all", `unknown attribute "backups"`}},
		{"all mode", NewAll, allBlock("later", "attribute"), def, []string{`mode "later"`, `"sync" or "async"`}},
		{"all granularity", NewAll, allBlock("sync", "diff"), def, []string{`granularity "diff"`, `"attribute" or "session"`}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.new()
			err := r.Configure(ctx, []byte(tt.cfg), testNode)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Configure(%s): %v", tt.cfg, err)
				}
				if got, err := r.Settings(ctx); err != nil || got != tt.want {
					t.Fatalf("Settings = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Configure(%s) = nil; want an error", tt.cfg)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Configure(%s) = %q; want it to say %q", tt.cfg, err, w)
				}
			}
			if _, err := r.Settings(ctx); !errors.Is(err, errNotConfigured) {
				t.Errorf("Settings after a refused first Configure: %v; want errNotConfigured", err)
			}
		})
	}
}

// A refused block leaves the previous configuration in force.
func TestRefusedKeepsPrevious(t *testing.T) {
	r := configured(t, NewPartitioned, block(3, "async", "session"))
	if err := r.Configure(t.Context(), []byte(block(99, "sync", "attribute")), testNode); err == nil {
		t.Fatal("Configure(backups 99) = nil; want an error")
	}
	want := replicator.Settings{Backups: 3, Mode: replicator.Async, Granularity: replicator.Session}
	if got, err := r.Settings(t.Context()); err != nil || got != want {
		t.Errorf("Settings after a refused Configure = %+v, %v; want %+v", got, err, want)
	}
}

func TestNotConfigured(t *testing.T) {
	for _, v := range variants {
		r := v.new()
		if _, err := r.Settings(t.Context()); !errors.Is(err, errNotConfigured) {
			t.Errorf("%s: Settings before Configure: %v; want errNotConfigured", v.name, err)
		}
		if _, err := r.Place(t.Context(), own(members(3), "node-0", 4)); !errors.Is(err, errNotConfigured) {
			t.Errorf("%s: Place before Configure: %v; want errNotConfigured", v.name, err)
		}
	}
}

// permutations calls f with every ordering of ms.
func permutations(ms []replicator.Member, f func([]replicator.Member)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(ms) {
			f(slices.Clone(ms))
			return
		}
		for i := k; i < len(ms); i++ {
			ms[k], ms[i] = ms[i], ms[k]
			rec(k + 1)
			ms[k], ms[i] = ms[i], ms[k]
		}
	}
	rec(0)
}

// Every ordering of the members gives the same table, from every variant:
// nodes list members in the order they learnt of them.
func TestDeterministicUnderPermutation(t *testing.T) {
	configs := []struct {
		name string
		new  func() *Replicator
		cfg  string
	}{
		{"partitioned-1", NewPartitioned, block(1, "sync", "attribute")},
		{"partitioned-2", NewPartitioned, block(2, "sync", "attribute")},
		{"partitioned-4", NewPartitioned, block(4, "sync", "attribute")},
		{"none", NewNone, `{}`},
		{"all", NewAll, allBlock("sync", "attribute")},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			r := configured(t, c.new, c.cfg)
			other := configured(t, c.new, c.cfg)
			for _, req := range []replicator.PlaceRequest{own(members(5), "node-2", 271), roundRobin(members(5), 271)} {
				want := place(t, r, req)
				n := 0
				permutations(slices.Clone(req.Members), func(ms []replicator.Member) {
					n++
					got := place(t, other, replicator.PlaceRequest{Members: ms, Primaries: req.Primaries})
					if !slices.EqualFunc(got, want, slices.Equal) {
						t.Fatalf("members in order %v: a different table", ms)
					}
				})
				if n != 120 {
					t.Fatalf("%d permutations of 5 members, want 120", n)
				}
			}
			// A larger farm, shuffled.
			req := roundRobin(members(31), 271)
			want := place(t, r, req)
			rng := rand.New(rand.NewPCG(1, 2))
			for range 20 {
				ms := slices.Clone(req.Members)
				rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
				if got := place(t, r, replicator.PlaceRequest{Members: ms, Primaries: req.Primaries}); !slices.EqualFunc(got, want, slices.Equal) {
					t.Fatalf("31 members shuffled: a different table")
				}
			}
		})
	}
}

// The placement contract, over farms of 1 to 9 members and every allowed
// number of backups up to 5: never the primary, never a member twice, only
// members, exactly min(backups, members-1) of them.
func TestPlacementContract(t *testing.T) {
	for backups := 0; backups <= 5; backups++ {
		r := configured(t, NewPartitioned, block(backups, "sync", "attribute"))
		for size := 1; size <= 9; size++ {
			ms := members(size)
			for _, req := range []replicator.PlaceRequest{own(ms, "node-0", 271), roundRobin(ms, 271)} {
				got := place(t, r, req)
				if len(got) != len(req.Primaries) {
					t.Fatalf("backups %d, %d members: %d entries for %d partitions", backups, size, len(got), len(req.Primaries))
				}
				want := min(backups, size-1)
				for p, b := range got {
					if len(b) != want {
						t.Fatalf("backups %d, %d members, partition %d: %q; want %d backups", backups, size, p, b, want)
					}
					if want == 0 && b != nil {
						t.Errorf("backups %d, %d members, partition %d: %#v; want nil, as over the wire", backups, size, p, b)
					}
					for i, name := range b {
						switch {
						case name == req.Primaries[p]:
							t.Fatalf("partition %d: the primary %s is among its backups %q", p, name, b)
						case slices.Contains(b[:i], name):
							t.Fatalf("partition %d: %s twice in %q", p, name, b)
						case !slices.ContainsFunc(ms, func(m replicator.Member) bool { return m.Name == name }):
							t.Fatalf("partition %d: %s is not a member", p, name)
						}
					}
				}
			}
		}
	}
}

// Backups spread evenly: with 5 members and 271 partitions every member
// holds its share of the copies, give or take 40%, whether one node asks
// for its own partitions (as the host does) or primaries go round the farm.
func TestSpread(t *testing.T) {
	ms := members(5)
	for backups := 1; backups <= 3; backups++ {
		r := configured(t, NewPartitioned, block(backups, "sync", "attribute"))
		for _, tt := range []struct {
			name string
			req  replicator.PlaceRequest
			// holders are the members that should share the copies.
			holders []replicator.Member
		}{
			{"own-node-0", own(ms, "node-0", 271), ms[1:]},
			{"own-node-3", own(ms, "node-3", 271), slices.Concat(ms[:3], ms[4:])},
			{"round-robin", roundRobin(ms, 271), ms},
		} {
			t.Run(fmt.Sprintf("backups-%d/%s", backups, tt.name), func(t *testing.T) {
				count := map[string]int{}
				total := 0
				for _, b := range place(t, r, tt.req) {
					for _, name := range b {
						count[name]++
						total++
					}
				}
				mean := float64(total) / float64(len(tt.holders))
				for _, m := range tt.holders {
					if c := float64(count[m.Name]); c < 0.6*mean || c > 1.4*mean {
						t.Errorf("%s holds %v of %d copies; want %.1f ± 40%%: %v", m.Name, c, total, mean, count)
					}
				}
			})
		}
	}
}

// TestMinimalMovement removes, then adds, each member that is no
// partition's primary: only the partitions whose backups it was among (or
// is now among) change, and in them only its copy moves.
func TestMinimalMovement(t *testing.T) {
	for _, backups := range []int{1, 2, 3} {
		r := configured(t, NewPartitioned, block(backups, "sync", "attribute"))
		ms := members(7)
		for gone := 1; gone < len(ms); gone++ {
			t.Run(fmt.Sprintf("backups-%d/without-%s", backups, ms[gone].Name), func(t *testing.T) {
				full := own(ms, "node-0", 271)
				smaller := own(slices.Delete(slices.Clone(ms), gone, gone+1), "node-0", 271)
				before, after := place(t, r, full), place(t, r, smaller)
				goneName := ms[gone].Name
				moved := 0
				for p := range before {
					if !slices.Contains(before[p], goneName) {
						if !slices.Equal(before[p], after[p]) {
							t.Errorf("partition %d: %q became %q though %s was not a backup of it", p, before[p], after[p], goneName)
						}
						continue
					}
					moved++
					// The others stay, in order; one newcomer takes its place.
					kept := slices.DeleteFunc(slices.Clone(before[p]), func(n string) bool { return n == goneName })
					if !slices.Equal(after[p][:len(kept)], kept) {
						t.Errorf("partition %d: %q became %q; want %q kept", p, before[p], after[p], kept)
					}
					if slices.Contains(after[p], goneName) {
						t.Errorf("partition %d: %q still names %s", p, after[p], goneName)
					}
				}
				// Read the other way, adding the member back moves only the
				// copies it wins: about backups/(members-1) of them.
				share := float64(moved) / 271 * float64(len(ms)-1) / float64(backups)
				if share < 0.6 || share > 1.4 {
					t.Errorf("%s was a backup of %d of 271 partitions; want about %.0f", goneName, moved, 271*float64(backups)/float64(len(ms)-1))
				}
			})
		}
	}
}

func TestAllAndNoneShapes(t *testing.T) {
	all := configured(t, NewAll, allBlock("async", "session"))
	none := configured(t, NewNone, `{}`)
	ms := []replicator.Member{{Name: "delta"}, {Name: "alpha"}, {Name: "charlie"}, {Name: "bravo"}}
	tests := []struct {
		name     string
		req      replicator.PlaceRequest
		wantAll  [][]string
		wantNone int
	}{
		{
			"own", replicator.PlaceRequest{Members: ms, Primaries: []string{"charlie", "charlie", "charlie"}},
			[][]string{{"alpha", "bravo", "delta"}, {"alpha", "bravo", "delta"}, {"alpha", "bravo", "delta"}}, 3,
		},
		{
			"mixed", replicator.PlaceRequest{Members: ms, Primaries: []string{"alpha", "delta", "bravo", "alpha"}},
			[][]string{{"bravo", "charlie", "delta"}, {"alpha", "bravo", "charlie"}, {"alpha", "charlie", "delta"}, {"bravo", "charlie", "delta"}}, 4,
		},
		{
			"alone", replicator.PlaceRequest{Members: ms[:1], Primaries: []string{"delta", "delta"}},
			[][]string{nil, nil}, 2,
		},
		{"no-partitions", replicator.PlaceRequest{Members: ms}, [][]string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := place(t, all, tt.req); !slices.EqualFunc(got, tt.wantAll, slices.Equal) || len(got) != len(tt.wantAll) {
				t.Errorf("all: Place = %q; want %q", got, tt.wantAll)
			}
			got := place(t, none, tt.req)
			if len(got) != tt.wantNone {
				t.Errorf("none: Place = %q; want %d empty entries", got, tt.wantNone)
			}
			for p, b := range got {
				if len(b) != 0 {
					t.Errorf("none: partition %d has backups %q", p, b)
				}
			}
		})
	}
	if s, _ := all.Settings(t.Context()); s.Backups != EveryOtherMember {
		t.Errorf("all: Settings().Backups = %d; want EveryOtherMember", s.Backups)
	}
	if s, _ := none.Settings(t.Context()); s != (replicator.Settings{Backups: 0, Mode: replicator.Sync, Granularity: replicator.Attribute}) {
		t.Errorf("none: Settings() = %+v", s)
	}
}

// Requests the host should never send are refused with an error saying
// what is wrong, by every variant.
func TestInvalidRequests(t *testing.T) {
	ms := members(3)
	tests := []struct {
		name string
		req  replicator.PlaceRequest
		want string
	}{
		{"no-members", replicator.PlaceRequest{Primaries: []string{"node-0"}}, "no members"},
		{"no-members-no-partitions", replicator.PlaceRequest{}, "no members"},
		{"primary-not-a-member", replicator.PlaceRequest{Members: ms, Primaries: []string{"node-0", "node-9"}}, `partition 1: primary "node-9" is not a member`},
		{"empty-primary", replicator.PlaceRequest{Members: ms, Primaries: []string{""}}, `primary "" is not a member`},
		{"empty-name", replicator.PlaceRequest{Members: append(slices.Clone(ms), replicator.Member{}), Primaries: []string{"node-0"}}, "member 3 has no name"},
		{"duplicate", replicator.PlaceRequest{Members: append(slices.Clone(ms), ms[1]), Primaries: []string{"node-0"}}, `member "node-1" is listed twice`},
		{"duplicate-other-zone", replicator.PlaceRequest{Members: append(slices.Clone(ms), replicator.Member{Name: "node-2", Zone: "z"}), Primaries: []string{"node-0"}}, `"node-2" is listed twice`},
	}
	for _, v := range variants {
		r := configured(t, v.new, string(v.configs.Valid[0]))
		for _, tt := range tests {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				got, err := r.Place(t.Context(), tt.req)
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "replicator "+v.name) {
					t.Errorf("Place = %q, %v; want an error saying %q", got, err, tt.want)
				}
			})
		}
	}
}

// cancelAfter is a context whose Err reports cancellation after a number
// of calls: a context cancelled while Place runs, without a race.
type cancelAfter struct {
	context.Context
	calls int
}

func (c *cancelAfter) Err() error {
	c.calls--
	if c.calls < 0 {
		return context.Canceled
	}
	return nil
}

// A context cancelled while a large table is placed stops the placement
// with the context's error.
func TestCancelledMidway(t *testing.T) {
	ms := members(200)
	req := roundRobin(ms, 1<<14)
	for _, v := range []struct {
		name string
		new  func() *Replicator
		cfg  string
	}{
		{"partitioned", NewPartitioned, block(3, "sync", "attribute")},
		{"all", NewAll, allBlock("sync", "attribute")},
	} {
		r := configured(t, v.new, v.cfg)
		ctx := &cancelAfter{Context: t.Context(), calls: 3}
		if _, err := r.Place(ctx, req); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Place with a context cancelled midway: %v; want context.Canceled", v.name, err)
		}
		if ctx.calls >= 0 {
			t.Errorf("%s: Place looked at its context %d times on a table of %d×%d; want more", v.name, 3-ctx.calls, len(ms), len(req.Primaries))
		}
	}
}

// Place leaves the host's request as it was (the members unsorted).
func TestRequestUnchanged(t *testing.T) {
	ms := members(6)
	slices.Reverse(ms)
	req := roundRobin(ms, 50)
	want := replicator.PlaceRequest{Members: slices.Clone(req.Members), Primaries: slices.Clone(req.Primaries)}
	for _, v := range variants {
		place(t, configured(t, v.new, string(v.configs.Valid[0])), req)
		if !slices.EqualFunc(req.Members, want.Members, func(a, b replicator.Member) bool { return a.Name == b.Name }) || !slices.Equal(req.Primaries, want.Primaries) {
			t.Fatalf("%s: Place changed its request", v.name)
		}
	}
}

// Appending to one partition's backups does not overwrite the next's,
// although they share one allocation.
func TestEntriesIndependent(t *testing.T) {
	r := configured(t, NewPartitioned, block(2, "sync", "attribute"))
	got := place(t, r, own(members(5), "node-0", 3))
	next := slices.Clone(got[1])
	_ = append(got[0], "extra")
	if !slices.Equal(got[1], next) {
		t.Errorf("appending to partition 0 changed partition 1 from %q to %q", next, got[1])
	}
}

// nameHash is FNV-1a, as hash/fnv computes it.
func TestNameHash(t *testing.T) {
	for _, name := range []string{"", "a", "node-0", "node-b.internal:8080", "ünïcödé"} {
		h := fnv.New64a()
		h.Write([]byte(name))
		if got, want := nameHash(name), h.Sum64(); got != want {
			t.Errorf("nameHash(%q) = %#x; hash/fnv says %#x", name, got, want)
		}
	}
}

// TestGolden pins placements: nodes of different versions in one farm must
// agree, so a change to the hashing is a breaking change, not a refactor.
func TestGolden(t *testing.T) {
	r := configured(t, NewPartitioned, block(2, "sync", "attribute"))
	ms := []replicator.Member{{Name: "red"}, {Name: "green"}, {Name: "blue"}, {Name: "yellow"}, {Name: "purple"}}
	got := place(t, r, own(ms, "red", 8))
	want := [][]string{
		{"purple", "blue"}, {"blue", "purple"}, {"yellow", "purple"}, {"green", "yellow"},
		{"blue", "green"}, {"yellow", "green"}, {"yellow", "green"}, {"purple", "yellow"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("placement changed:\n got %q\nwant %q", got, want)
	}
}
