package plugintest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wadi-go/wadi/sdk/replicator"
)

// ReplicatorOptions adapts the replicator tests to what a replicator
// promises.
type ReplicatorOptions struct {
	// Constrained is set for replicators that apply placement constraints,
	// such as "never two copies in one zone", and may therefore place fewer
	// backups than min(Settings.Backups, members - 1). The kit then checks
	// only the upper bounds; Check can pin the plugin's own rule.
	Constrained bool
	// Check, if set, is called with every request the kit makes of Place
	// and the answer, after the kit's own checks; an error fails the test.
	// Use it to check a replicator's own rule (zones, metadata).
	Check func(req replicator.PlaceRequest, backups [][]string) error
	// Unstable is set for replicators that may move backups of partitions a
	// membership change does not concern, and skips the Stability test.
	Unstable bool
	// Unbalanced is set for replicators that may load one member with far
	// more backups than another, and skips the Balanced test.
	Unbalanced bool
}

// TestReplicator runs the replicator conformance tests.
//
// open is called once or more per subtest and must return a configured
// replicator. Every replicator it returns must be configured alike: the kit
// checks that two of them compute the same placement, as every node of a
// farm must.
func TestReplicator(t *testing.T, open func(t *testing.T) replicator.Replicator, opts ReplicatorOptions) {
	t.Helper()
	k := replicatorKit{open: open, opts: opts}
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"Settings", k.testSettings},
		{"Place", k.testPlace},
		{"Deterministic", k.testDeterministic},
		{"RequestUnchanged", k.testRequestUnchanged},
		{"Stability", k.testStability},
		{"Balanced", k.testBalanced},
		{"InvalidRequests", k.testInvalidRequests},
		{"Concurrent", k.testConcurrent},
		{"Cancelled", k.testCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

type replicatorKit struct {
	open func(t *testing.T) replicator.Replicator
	opts ReplicatorOptions
}

// replicator opens a replicator and returns it with its settings.
func (k replicatorKit) replicator(t *testing.T) (replicator.Replicator, replicator.Settings) {
	t.Helper()
	r := k.open(t)
	if r == nil {
		t.Fatal("open returned a nil replicator")
	}
	s, err := r.Settings(t.Context())
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	return r, s
}

// farm describes a PlaceRequest: members named node-00, node-01, …, in
// zones zone-a, zone-b, … round robin (zones == 0: one zone per member),
// and partitions whose primaries are spread over the first primariesOn
// members (0: all of them).
type farm struct {
	name                  string
	members, zones, parts int
	primariesOn           int
}

func memberName(i int) string { return fmt.Sprintf("node-%02d", i) }

func (f farm) request() replicator.PlaceRequest {
	zones := f.zones
	if zones == 0 {
		zones = f.members
	}
	req := replicator.PlaceRequest{Members: make([]replicator.Member, f.members)}
	for i := range req.Members {
		req.Members[i] = replicator.Member{
			Name: memberName(i),
			Zone: fmt.Sprintf("zone-%c", 'a'+i%zones),
			Meta: map[string]string{"rack": fmt.Sprintf("r%d", i%2)},
		}
	}
	on := f.primariesOn
	if on == 0 {
		on = f.members
	}
	rng := rand.New(rand.NewPCG(uint64(f.members), uint64(f.parts)))
	req.Primaries = make([]string, f.parts)
	for p := range req.Primaries {
		// Every member gets primaries, then the rest at random.
		if p < on {
			req.Primaries[p] = memberName(p)
		} else {
			req.Primaries[p] = memberName(rng.IntN(on))
		}
	}
	return req
}

// placeFarms are the farms every replicator must place correctly.
var placeFarms = []farm{
	{name: "1-member", members: 1, zones: 1, parts: 16},
	{name: "2-members", members: 2, zones: 1, parts: 271},
	{name: "3-members", members: 3, zones: 1, parts: 271},
	{name: "3-members-3-zones", members: 3, zones: 3, parts: 271},
	{name: "5-members", members: 5, zones: 1, parts: 271},
	{name: "5-members-3-zones", members: 5, zones: 3, parts: 271},
	{name: "30-members", members: 30, zones: 1, parts: 271},
	{name: "30-members-3-zones", members: 30, zones: 3, parts: 271},
	{name: "30-members-30-zones", members: 30, parts: 271},
	{name: "primaries-on-one-member", members: 5, zones: 3, parts: 271, primariesOn: 1},
	{name: "no-partitions", members: 3, zones: 3, parts: 0},
}

func cloneRequest(req replicator.PlaceRequest) replicator.PlaceRequest {
	c := replicator.PlaceRequest{Members: slices.Clone(req.Members), Primaries: slices.Clone(req.Primaries)}
	for i := range c.Members {
		c.Members[i].Meta = maps.Clone(c.Members[i].Meta)
	}
	return c
}

// place calls Place with a copy of req and fails t on an error.
func place(t *testing.T, r replicator.Replicator, req replicator.PlaceRequest) [][]string {
	t.Helper()
	got, err := r.Place(t.Context(), cloneRequest(req))
	if err != nil {
		t.Fatalf("Place(%d members, %d partitions): %v", len(req.Members), len(req.Primaries), err)
	}
	return got
}

// samePlacement compares placements, taking nil and empty slices as one
// (they are one on the wire).
func samePlacement(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// errorBudget reports at most ten errors of a kind and then how many more
// there were, so that one mistake repeated over 271 partitions stays
// readable.
type errorBudget struct {
	t *testing.T
	n int
}

func (b *errorBudget) Errorf(format string, args ...any) {
	b.t.Helper()
	b.n++
	if b.n <= 10 {
		b.t.Errorf(format, args...)
	}
}

func (b *errorBudget) done() {
	b.t.Helper()
	if b.n > 10 {
		b.t.Errorf("… and %d more errors like these", b.n-10)
	}
}

// checkPlacement checks Place's answer to req against the contract: one
// entry per partition; in each, only members, never the primary, never one
// twice, at most Backups of them; and, unless the replicator is constrained,
// as many as the farm allows: min(Backups, members - 1).
func (k replicatorKit) checkPlacement(t *testing.T, s replicator.Settings, req replicator.PlaceRequest, got [][]string) {
	t.Helper()
	if len(got) != len(req.Primaries) {
		t.Fatalf("Place with %d partitions returned %d entries; want one per partition", len(req.Primaries), len(got))
	}
	members := map[string]bool{}
	for _, m := range req.Members {
		members[m.Name] = true
	}
	want := min(s.Backups, len(members)-1)
	errs := errorBudget{t: t}
	for p, backups := range got {
		primary := req.Primaries[p]
		if len(backups) > s.Backups {
			errs.Errorf("partition %d (primary %s): %d backups %q; Settings().Backups is %d", p, primary, len(backups), backups, s.Backups)
		}
		if !k.opts.Constrained && len(backups) < want {
			errs.Errorf("partition %d (primary %s): %d backups %q; want %d (min(Backups, members - 1))", p, primary, len(backups), backups, want)
		}
		for i, b := range backups {
			switch {
			case b == primary:
				errs.Errorf("partition %d: its primary %s is one of its backups %q", p, primary, backups)
			case !members[b]:
				errs.Errorf("partition %d (primary %s): backup %q is not a member", p, primary, b)
			case slices.Contains(backups[:i], b):
				errs.Errorf("partition %d (primary %s): backup %s appears twice in %q", p, primary, b, backups)
			}
		}
	}
	errs.done()
	if k.opts.Check != nil {
		if err := k.opts.Check(cloneRequest(req), got); err != nil {
			t.Errorf("ReplicatorOptions.Check: %v", err)
		}
	}
}

// testSettings checks that the settings are ones the host knows, and the
// same on every call.
func (k replicatorKit) testSettings(t *testing.T) {
	r, s := k.replicator(t)
	if s.Backups < 0 {
		t.Errorf("Settings().Backups = %d; want >= 0", s.Backups)
	}
	if s.Mode != replicator.Sync && s.Mode != replicator.Async {
		t.Errorf("Settings().Mode = %q; want %q or %q", s.Mode, replicator.Sync, replicator.Async)
	}
	if s.Granularity != replicator.Session && s.Granularity != replicator.Attribute {
		t.Errorf("Settings().Granularity = %q; want %q or %q", s.Granularity, replicator.Session, replicator.Attribute)
	}
	again, err := r.Settings(t.Context())
	if err != nil {
		t.Fatalf("Settings, call 2: %v", err)
	}
	if again != s {
		t.Errorf("Settings, call 2 = %+v; the first call returned %+v", again, s)
	}
}

// testPlace checks Place's answer for farms of 1 to 30 members in 1 to 30
// zones.
func (k replicatorKit) testPlace(t *testing.T) {
	r, s := k.replicator(t)
	for _, f := range placeFarms {
		t.Run(f.name, func(t *testing.T) {
			req := f.request()
			k.checkPlacement(t, s, req, place(t, r, req))
		})
	}
}

// testDeterministic checks that the same farm gets the same placement, from
// the same replicator or another configured alike, whatever the order of
// its members: every node computes the table on its own and they must
// agree.
func (k replicatorKit) testDeterministic(t *testing.T) {
	r, _ := k.replicator(t)
	other, _ := k.replicator(t)
	for _, f := range placeFarms {
		if f.members < 2 || f.parts == 0 {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			req := f.request()
			want := place(t, r, req)
			reversed := cloneRequest(req)
			slices.Reverse(reversed.Members)
			shuffled := cloneRequest(req)
			rng := rand.New(rand.NewPCG(uint64(f.members), 17))
			rng.Shuffle(len(shuffled.Members), func(i, j int) {
				shuffled.Members[i], shuffled.Members[j] = shuffled.Members[j], shuffled.Members[i]
			})
			for _, tt := range []struct {
				what string
				r    replicator.Replicator
				req  replicator.PlaceRequest
			}{
				{"the same request again", r, req},
				{"members reversed", r, reversed},
				{"members shuffled", r, shuffled},
				{"another instance", other, req},
				{"another instance, members shuffled", other, shuffled},
			} {
				if got := place(t, tt.r, tt.req); !samePlacement(got, want) {
					t.Errorf("Place with %s differs from the first answer at partition %d", tt.what, firstDiff(got, want))
				}
			}
		})
	}
}

// firstDiff returns the first partition whose backups differ, or the shorter
// length.
func firstDiff(a, b [][]string) int {
	for i := range min(len(a), len(b)) {
		if !slices.Equal(a[i], b[i]) {
			return i
		}
	}
	return min(len(a), len(b))
}

// testRequestUnchanged checks that Place does not change the request it is
// given (sorting its members in place, say): the host shares it.
func (k replicatorKit) testRequestUnchanged(t *testing.T) {
	r, _ := k.replicator(t)
	req := farm{members: 7, zones: 3, parts: 271}.request()
	slices.Reverse(req.Members)
	want := cloneRequest(req)
	if _, err := r.Place(t.Context(), req); err != nil {
		t.Fatalf("Place: %v", err)
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("Place changed its request:\n got %+v\nwant %+v", req, want)
	}
}

// testStability removes a member that is no partition's primary and checks
// that only the partitions that had it as a backup get other backups: a
// membership change moves no more copies than it must. Read the other way,
// adding a member changes only the partitions it becomes a backup of.
func (k replicatorKit) testStability(t *testing.T) {
	if k.opts.Unstable {
		t.Skip("ReplicatorOptions.Unstable")
	}
	r, s := k.replicator(t)
	for _, f := range []farm{
		{name: "5-members", members: 5, parts: 271, primariesOn: 4},
		{name: "9-members-3-zones", members: 9, zones: 3, parts: 271, primariesOn: 8},
		{name: "30-members-3-zones", members: 30, zones: 3, parts: 271, primariesOn: 29},
	} {
		t.Run(f.name, func(t *testing.T) {
			req := f.request()
			gone := req.Members[len(req.Members)-1].Name
			before := place(t, r, req)
			smaller := cloneRequest(req)
			smaller.Members = smaller.Members[:len(smaller.Members)-1]
			after := place(t, r, smaller)
			k.checkPlacement(t, s, smaller, after)
			if len(after) != len(before) {
				return
			}
			errs := errorBudget{t: t}
			for p := range before {
				if slices.Contains(before[p], gone) {
					continue
				}
				if !slices.Equal(sorted(after[p]), sorted(before[p])) {
					errs.Errorf("removing %s, which was not a backup of partition %d, changed its backups from %q to %q", gone, p, before[p], after[p])
				}
			}
			errs.done()
		})
	}
}

// testBalanced checks that backups are spread over the members: with 5
// members in 5 zones and 271 partitions, no member holds more than twice the
// mean number of backup copies.
func (k replicatorKit) testBalanced(t *testing.T) {
	if k.opts.Unbalanced {
		t.Skip("ReplicatorOptions.Unbalanced")
	}
	r, s := k.replicator(t)
	req := farm{members: 5, parts: 271}.request()
	got := place(t, r, req)
	k.checkPlacement(t, s, req, got)
	count := map[string]int{}
	total := 0
	for _, backups := range got {
		for _, b := range backups {
			count[b]++
			total++
		}
	}
	if total == 0 {
		t.Skipf("no backups placed (Settings().Backups = %d): nothing to balance", s.Backups)
	}
	limit := 2 * float64(total) / float64(len(req.Members))
	var counts []string
	over := false
	for _, m := range req.Members {
		counts = append(counts, fmt.Sprintf("%s:%d", m.Name, count[m.Name]))
		if float64(count[m.Name]) > limit {
			over = true
		}
	}
	if over {
		t.Errorf("backup copies per member %s: some member holds more than twice the mean (limit %.1f)", strings.Join(counts, " "), limit)
	}
}

// testInvalidRequests checks that a request the host should never send is
// an error, not a panic and not a placement.
func (k replicatorKit) testInvalidRequests(t *testing.T) {
	r, _ := k.replicator(t)
	valid := farm{members: 3, zones: 3, parts: 8}.request()
	with := func(f func(req *replicator.PlaceRequest)) replicator.PlaceRequest {
		req := cloneRequest(valid)
		f(&req)
		return req
	}
	for _, tt := range []struct {
		name string
		req  replicator.PlaceRequest
	}{
		{"primary-not-a-member", with(func(req *replicator.PlaceRequest) { req.Primaries[3] = "node-99" })},
		{"empty-primary", with(func(req *replicator.PlaceRequest) { req.Primaries[0] = "" })},
		{"no-members", with(func(req *replicator.PlaceRequest) { req.Members = nil })},
		{"duplicate-member", with(func(req *replicator.PlaceRequest) { req.Members = append(req.Members, req.Members[1]) })},
		{"duplicate-member-in-another-zone", with(func(req *replicator.PlaceRequest) {
			req.Members = append(req.Members, replicator.Member{Name: req.Members[2].Name, Zone: "zone-z"})
		})},
		{"empty-member-name", with(func(req *replicator.PlaceRequest) {
			req.Members = append(req.Members, replicator.Member{Name: "", Zone: "zone-a"})
		})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			var err error
			if !guard(t, "Place", promptly, func() { got, err = r.Place(t.Context(), tt.req) }) {
				return
			}
			if err == nil {
				t.Errorf("Place(%+v) = %q, nil; want an error", tt.req, got)
			}
		})
	}
}

// testConcurrent has goroutines place farms through one replicator; every
// answer must be the one a lone caller gets.
func (k replicatorKit) testConcurrent(t *testing.T) {
	r, _ := k.replicator(t)
	reqs := make([]replicator.PlaceRequest, len(placeFarms))
	want := make([][][]string, len(placeFarms))
	for i, f := range placeFarms {
		reqs[i] = f.request()
		want[i] = place(t, r, reqs[i])
	}
	const workers, calls = 8, 12
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				i := (w + c) % len(reqs)
				got, err := r.Place(t.Context(), cloneRequest(reqs[i]))
				if err != nil {
					t.Errorf("worker %d: Place(%s): %v", w, placeFarms[i].name, err)
					return
				}
				if !samePlacement(got, want[i]) {
					t.Errorf("worker %d: Place(%s) differs from a lone caller's answer at partition %d", w, placeFarms[i].name, firstDiff(got, want[i]))
					return
				}
			}
		})
	}
	wg.Wait()
}

// testCancelled checks that Settings and Place given a done context return
// promptly, with an error wrapping the context's error or a valid answer,
// and that the replicator still works afterwards.
func (k replicatorKit) testCancelled(t *testing.T) {
	for _, tt := range doneContexts(t) {
		t.Run(tt.name, func(t *testing.T) {
			r, s := k.replicator(t)
			req := farm{members: 5, zones: 3, parts: 271}.request()
			var err error
			var got replicator.Settings
			if guard(t, "Settings", promptly, func() { got, err = r.Settings(tt.ctx) }) {
				checkDoneErr(t, "Settings", err, tt.want)
				if err == nil && got != s {
					t.Errorf("Settings with a done context = %+v; with a live one %+v", got, s)
				}
			}
			var placed [][]string
			if guard(t, "Place", promptly, func() { placed, err = r.Place(tt.ctx, cloneRequest(req)) }) {
				checkDoneErr(t, "Place", err, tt.want)
				if err == nil {
					k.checkPlacement(t, s, req, placed)
				}
			}
			k.checkPlacement(t, s, req, place(t, r, req))
		})
	}
}
