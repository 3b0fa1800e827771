package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/replicator"
)

var testNode = base.Node{Name: "node-a", Zone: "zone-a"}

// configured returns a replicator configured with the block.
func configured(t *testing.T, raw string) *Replicator {
	t.Helper()
	r := New()
	if err := r.Configure(t.Context(), []byte(raw), testNode); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	return r
}

// block is a configuration block as the host sends it: every attribute,
// by unset.
func block(backups int, mode, granularity string, allowSameZone bool) string {
	return blockBy(backups, mode, granularity, allowSameZone, "")
}

// blockBy is block placing by a meta key; "" leaves by unset (null).
func blockBy(backups int, mode, granularity string, allowSameZone bool, by string) string {
	byJSON := "null"
	if by != "" {
		byJSON = fmt.Sprintf("%q", by)
	}
	return fmt.Sprintf(`{"backups":%d,"mode":%q,"granularity":%q,"allow_same_zone":%t,"by":%s}`, backups, mode, granularity, allowSameZone, byJSON)
}

func TestPlugin(t *testing.T) {
	plugintest.TestPlugin(t, New(), base.KindReplicator, plugintest.Configs{
		Valid: [][]byte{
			[]byte(block(1, "sync", "attribute", false)),
			[]byte(block(0, "async", "session", true)),
			[]byte(block(maxBackups, "sync", "session", false)),
			[]byte(blockBy(1, "sync", "attribute", false, "rack")),
		},
		Invalid: [][]byte{
			[]byte(block(-1, "sync", "attribute", false)),
			[]byte(block(maxBackups+1, "sync", "attribute", false)),
			[]byte(`{"backups":1.5,"mode":"sync","granularity":"attribute","allow_same_zone":false}`),
			[]byte(`{"backups":"1","mode":"sync","granularity":"attribute","allow_same_zone":false}`),
			[]byte(block(1, "eventually", "attribute", false)),
			[]byte(block(1, "SYNC", "attribute", false)),
			[]byte(block(1, "sync", "field", false)),
			[]byte(`{"backups":1,"mode":"sync","granularity":"attribute","allow_same_zone":"yes"}`),
			[]byte(`{"backups":1,"mode":"sync","granularity":"attribute","allow_same_zone":false,"by":""}`),
			[]byte(`{"backups":1,"mode":"sync","granularity":"attribute","allow_same_zone":false,"by":["rack"]}`),
		},
	})
}

func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name    string
		backups int
		allow   bool
		by      string
	}{
		{"backups-0", 0, false, ""},
		{"backups-1", 1, false, ""},
		{"backups-2", 2, false, ""},
		{"backups-3", 3, false, ""},
		{"backups-1-allow-same-zone", 1, true, ""},
		{"backups-2-allow-same-zone", 2, true, ""},
		// The kit's members are in racks r0 and r1 (Meta["rack"]).
		{"by-rack-backups-1", 1, false, "rack"},
		{"by-rack-backups-2", 2, false, "rack"},
		{"by-rack-backups-2-allow-same-rack", 2, true, "rack"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := blockBy(tt.backups, "sync", "attribute", tt.allow, tt.by)
			plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator { return configured(t, raw) },
				plugintest.ReplicatorOptions{Constrained: true, Check: zoneRule(tt.backups, tt.allow, tt.by)})
		})
	}
}

// zoneOf is a member's zone as place sees it: its Meta[by] with by.
func zoneOf(m replicator.Member, by string) string {
	if by != "" {
		return m.Meta[by]
	}
	return m.Zone
}

// zoneRule checks a placement against the rules place documents, counting
// what the farm allows: for each partition, exactly min(n, members outside
// the primary's zone) backups outside it, one per zone before any zone has
// two, and, with allowSameZone, as many of the primary's zone as are left
// to fill n, listed after the others. With by, a zone is a Meta[by].
func zoneRule(n int, allowSameZone bool, by string) func(req replicator.PlaceRequest, got [][]string) error {
	return func(req replicator.PlaceRequest, got [][]string) error {
		zone := map[string]string{}
		for _, m := range req.Members {
			zone[m.Name] = zoneOf(m, by)
		}
		var errs []error
		for p, backups := range got {
			primary := req.Primaries[p]
			pz := zone[primary]
			var others, same int
			otherZones := map[string]bool{}
			for _, m := range req.Members {
				switch z := zoneOf(m, by); {
				case m.Name == primary:
				case z == pz:
					same++
				default:
					others++
					otherZones[z] = true
				}
			}
			wantOther := min(n, others)
			wantSame := 0
			if allowSameZone {
				wantSame = min(n-wantOther, same)
			}
			var gotOther, gotSame int
			usedZones := map[string]int{}
			for i, b := range backups {
				if zone[b] == pz {
					gotSame++
					continue
				}
				if gotSame > 0 {
					errs = append(errs, fmt.Errorf("partition %d: backups %q list %s (zone %s) after a member of the primary's zone %s", p, backups, b, zone[b], pz))
				}
				gotOther++
				usedZones[zone[b]]++
				if usedZones[zone[b]] == 2 && len(usedZones) < len(otherZones) {
					errs = append(errs, fmt.Errorf("partition %d: backups %q put a second copy in %s at position %d while other zones were free", p, backups, zone[b], i))
				}
			}
			if gotOther != wantOther || gotSame != wantSame {
				errs = append(errs, fmt.Errorf("partition %d (primary %s in %s): backups %q have %d outside the primary's zone and %d in it; want %d and %d",
					p, primary, pz, backups, gotOther, gotSame, wantOther, wantSame))
			}
			if len(errs) >= 5 {
				break
			}
		}
		return errors.Join(errs...)
	}
}

// members makes members from "zone/name" specs.
func members(specs ...string) []replicator.Member {
	out := make([]replicator.Member, len(specs))
	for i, s := range specs {
		zone, name, _ := strings.Cut(s, "/")
		out[i] = replicator.Member{Name: name, Zone: zone}
	}
	return out
}

// racked makes members from "rack/name" specs, all in zone z, with the
// rack in Meta["rack"] ("" leaves the key out) and a Meta["dc"] besides:
// placed by zone, they would have no backups.
func racked(specs ...string) []replicator.Member {
	out := make([]replicator.Member, len(specs))
	for i, s := range specs {
		rack, name, _ := strings.Cut(s, "/")
		out[i] = replicator.Member{Name: name, Zone: "z", Meta: map[string]string{"dc": "eu-1"}}
		if rack != "" {
			out[i].Meta["rack"] = rack
		}
	}
	return out
}

// TestZonePlacement places farms of known shape and checks, for every
// partition, the zones its backups are in.
func TestZonePlacement(t *testing.T) {
	tests := []struct {
		name    string
		members []replicator.Member
		backups int
		allow   bool
		by      string // the meta key placing by; "": the zone
		// want maps a primary to the zones of its backups, in any order:
		// zoneRule checks the order.
		want map[string][]string
	}{
		{
			name:    "one-zone",
			members: members("a/a1", "a/a2", "a/a3"),
			backups: 1,
			want:    map[string][]string{"a1": nil, "a2": nil, "a3": nil},
		},
		{
			name:    "one-zone-allow-same",
			members: members("a/a1", "a/a2", "a/a3"),
			backups: 2, allow: true,
			want: map[string][]string{"a1": {"a", "a"}, "a2": {"a", "a"}, "a3": {"a", "a"}},
		},
		{
			name:    "two-zones",
			members: members("a/a1", "a/a2", "b/b1"),
			backups: 1,
			want:    map[string][]string{"a1": {"b"}, "a2": {"b"}, "b1": {"a"}},
		},
		{
			name:    "two-zones-too-few-others",
			members: members("a/a1", "a/a2", "b/b1"),
			backups: 2,
			want:    map[string][]string{"a1": {"b"}, "a2": {"b"}, "b1": {"a", "a"}},
		},
		{
			name:    "two-zones-too-few-others-allow-same",
			members: members("a/a1", "a/a2", "b/b1"),
			backups: 2, allow: true,
			want: map[string][]string{"a1": {"b", "a"}, "a2": {"b", "a"}, "b1": {"a", "a"}},
		},
		{
			name:    "three-zones-one-copy-per-zone",
			members: members("a/a1", "a/a2", "b/b1", "b/b2", "b/b3", "c/c1"),
			backups: 2,
			want: map[string][]string{
				"a1": {"b", "c"}, "a2": {"b", "c"},
				"b1": {"a", "c"}, "b2": {"a", "c"}, "b3": {"a", "c"},
				"c1": {"a", "b"},
			},
		},
		{
			name:    "three-zones-more-backups-than-zones",
			members: members("a/a1", "b/b1", "b/b2", "c/c1"),
			backups: 3,
			// One per zone first; then the second member of b.
			want: map[string][]string{"a1": {"b", "c", "b"}, "b1": {"a", "c"}, "b2": {"a", "c"}, "c1": {"a", "b", "b"}},
		},
		{
			name:    "allow-same-only-after-other-zones",
			members: members("a/a1", "a/a2", "a/a3", "b/b1", "c/c1"),
			backups: 3, allow: true,
			want: map[string][]string{
				"a1": {"b", "c", "a"}, "a2": {"b", "c", "a"}, "a3": {"b", "c", "a"},
				"b1": {"a", "c", "a"}, "c1": {"a", "b", "a"},
			},
		},
		{
			name:    "single-member",
			members: members("a/a1"),
			backups: 2, allow: true,
			want: map[string][]string{"a1": nil},
		},
		{
			name:    "no-zone-is-a-zone-too",
			members: members("/x1", "/x2", "a/a1"),
			backups: 1,
			want:    map[string][]string{"x1": {"a"}, "x2": {"a"}, "a1": {""}},
		},
		{
			name:    "by-rack",
			members: racked("r1/a1", "r1/a2", "r2/b1", "r3/c1"),
			backups: 2, by: "rack",
			want: map[string][]string{"a1": {"r2", "r3"}, "a2": {"r2", "r3"}, "b1": {"r1", "r3"}, "c1": {"r1", "r2"}},
		},
		{
			name:    "by-rack-ignores-the-zone",
			members: racked("r1/a1", "r2/b1"),
			backups: 1, by: "rack",
			want: map[string][]string{"a1": {"r2"}, "b1": {"r1"}},
		},
		{
			name:    "by-rack-allow-same",
			members: racked("r1/a1", "r1/a2", "r2/b1"),
			backups: 2, allow: true, by: "rack",
			want: map[string][]string{"a1": {"r2", "r1"}, "a2": {"r2", "r1"}, "b1": {"r1", "r1"}},
		},
		{
			name:    "by-rack-no-rack-is-a-rack-too",
			members: racked("/x1", "/x2", "r1/a1"),
			backups: 1, by: "rack",
			want: map[string][]string{"x1": {"r1"}, "x2": {"r1"}, "a1": {""}},
		},
		{
			name:    "by-a-key-no-member-has",
			members: racked("r1/a1", "r2/b1"),
			backups: 1, by: "row",
			want: map[string][]string{"a1": nil, "b1": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := configured(t, blockBy(tt.backups, "sync", "attribute", tt.allow, tt.by))
			// Each member is the primary of several partitions, so that
			// every rule is met whatever the hash picks.
			var primaries []string
			for range 40 {
				for _, m := range tt.members {
					primaries = append(primaries, m.Name)
				}
			}
			req := replicator.PlaceRequest{Members: tt.members, Primaries: primaries}
			got, err := r.Place(t.Context(), req)
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			zone := map[string]string{}
			for _, m := range tt.members {
				zone[m.Name] = zoneOf(m, tt.by)
			}
			for p, backups := range got {
				var zones []string
				for _, b := range backups {
					zones = append(zones, zone[b])
				}
				want := tt.want[primaries[p]]
				if !sameZones(zones, want) {
					t.Errorf("partition %d (primary %s): backups %q in zones %q; want zones %q", p, primaries[p], backups, zones, want)
				}
			}
			if err := zoneRule(tt.backups, tt.allow, tt.by)(req, got); err != nil {
				t.Error(err)
			}
		})
	}
}

// sameZones compares the zones of a partition's backups as multisets.
func sameZones(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

// TestSpread places many partitions of one primary on a farm whose other
// zone has four members: each gets a fair share of the backups.
func TestSpread(t *testing.T) {
	r := configured(t, block(1, "sync", "attribute", false))
	req := replicator.PlaceRequest{Members: members("a/a1", "a/a2", "b/b1", "b/b2", "b/b3", "b/b4")}
	const parts = 1000
	for range parts {
		req.Primaries = append(req.Primaries, "a1")
	}
	got, err := r.Place(t.Context(), req)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	count := map[string]int{}
	for _, backups := range got {
		for _, b := range backups {
			count[b]++
		}
	}
	for _, name := range []string{"b1", "b2", "b3", "b4"} {
		// A quarter each, give or take; a fixed ordering would give one
		// member all of them.
		if c := count[name]; c < parts/4*7/10 || c > parts/4*13/10 {
			t.Errorf("%s holds %d of %d backups; want about %d: counts %v", name, c, parts, parts/4, count)
		}
	}
	if count["a2"] != 0 {
		t.Errorf("a2, in the primary's zone, holds %d backups", count["a2"])
	}
}

// Placing by zone needs the node's zone; placing by a meta key does not,
// since the zone is not used.
func TestConfigureNeedsZone(t *testing.T) {
	tests := []struct {
		name, raw string
		ok        bool
	}{
		{"by zone", block(1, "sync", "attribute", false), false},
		{"by rack", blockBy(1, "sync", "attribute", false, "rack"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			err := r.Configure(t.Context(), []byte(tt.raw), base.Node{Name: "node-a"})
			if tt.ok {
				if err != nil {
					t.Fatalf("Configure on a node without a zone: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "zone") {
				t.Errorf("Configure on a node without a zone: %v; want an error saying so", err)
			}
			if _, err := r.Settings(t.Context()); !errors.Is(err, errNotConfigured) {
				t.Errorf("Settings after a refused Configure: %v; want errNotConfigured", err)
			}
		})
	}
}

func TestNotConfigured(t *testing.T) {
	r := New()
	if _, err := r.Settings(t.Context()); !errors.Is(err, errNotConfigured) {
		t.Errorf("Settings before Configure: %v; want errNotConfigured", err)
	}
	req := replicator.PlaceRequest{Members: members("a/a1", "b/b1"), Primaries: []string{"a1"}}
	if _, err := r.Place(t.Context(), req); !errors.Is(err, errNotConfigured) {
		t.Errorf("Place before Configure: %v; want errNotConfigured", err)
	}
}

// TestSettingsAndDefaults checks what Settings reports for blocks, and that
// a refused block leaves the previous settings.
func TestSettingsAndDefaults(t *testing.T) {
	tests := []struct {
		raw  string
		want replicator.Settings
	}{
		{``, replicator.Settings{Backups: 1, Mode: replicator.Sync, Granularity: replicator.Attribute}},
		{block(1, "sync", "attribute", false), replicator.Settings{Backups: 1, Mode: replicator.Sync, Granularity: replicator.Attribute}},
		{block(3, "async", "session", true), replicator.Settings{Backups: 3, Mode: replicator.Async, Granularity: replicator.Session}},
	}
	for _, tt := range tests {
		r := configured(t, tt.raw)
		got, err := r.Settings(t.Context())
		if err != nil || got != tt.want {
			t.Errorf("Settings after Configure(%s) = %+v, %v; want %+v", tt.raw, got, err, tt.want)
		}
		if err := r.Configure(t.Context(), []byte(block(99, "sync", "attribute", false)), testNode); err == nil {
			t.Fatal("Configure(backups 99) = nil; want an error")
		}
		if got, err := r.Settings(t.Context()); err != nil || got != tt.want {
			t.Errorf("Settings after a refused Configure = %+v, %v; want %+v", got, err, tt.want)
		}
	}
}

// TestZoneRuleCatches feeds zoneRule placements that break the rules, so
// that the conformance run's Check is known to be able to fail.
func TestZoneRuleCatches(t *testing.T) {
	req := replicator.PlaceRequest{Members: members("a/a1", "a/a2", "b/b1", "b/b2", "c/c1"), Primaries: []string{"a1"}}
	tests := []struct {
		name  string
		n     int
		allow bool
		got   []string
	}{
		{"same-zone-not-allowed", 1, false, []string{"a2"}},
		{"too-few", 2, false, []string{"b1"}},
		{"second-copy-while-a-zone-is-free", 2, false, []string{"b1", "b2"}},
		{"same-zone-before-others", 3, true, []string{"a2", "b1", "c1"}},
		{"same-zone-missing", 4, true, []string{"b1", "c1", "b2"}},
	}
	for _, tt := range tests {
		if err := zoneRule(tt.n, tt.allow, "")(req, [][]string{tt.got}); err == nil {
			t.Errorf("%s: zoneRule accepted %q", tt.name, tt.got)
		}
	}
	if err := zoneRule(4, true, "")(req, [][]string{{"c1", "b2", "b1", "a2"}}); err != nil {
		t.Errorf("zoneRule refused a good placement: %v", err)
	}
	// With by, the rack counts, not the zone (the same for all).
	racks := replicator.PlaceRequest{Members: racked("r1/a1", "r1/a2", "r2/b1"), Primaries: []string{"a1"}}
	if err := zoneRule(1, false, "rack")(racks, [][]string{{"a2"}}); err == nil {
		t.Error("zoneRule by rack accepted a backup in the primary's rack")
	}
	if err := zoneRule(1, false, "rack")(racks, [][]string{{"b1"}}); err != nil {
		t.Errorf("zoneRule by rack refused a good placement: %v", err)
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

// TestCancelledMidway cancels the context while place works through a large
// table: it stops with the context's error rather than finish.
func TestCancelledMidway(t *testing.T) {
	req := replicator.PlaceRequest{Members: members("a/a1", "b/b1", "c/c1"), Primaries: slices.Repeat([]string{"a1"}, 10000)}
	ctx := &cancelAfter{Context: t.Context(), calls: 3}
	if _, err := place(ctx, req, 2, false, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("place with a context cancelled midway: %v; want context.Canceled", err)
	}
}
