package cluster

import (
	"strings"
	"testing"
)

// TestDirectoryRegister covers how the directory weighs what members tell
// it: claims, moves and reports, over entries whose holders live or died,
// under the directory's table or a stale one.
func TestDirectoryRegister(t *testing.T) {
	const parts = 1
	v := Version{N: 3, By: "red"}
	table := &Table{Version: v, Owners: ComputeOwners([]string{"red"}, parts), Members: []string{"red", "white", "green"}}
	id := strings.Repeat("A", 43)
	red, white, green := holderRef{"red", 1}, holderRef{"white", 2}, holderRef{"green", 3}
	type step struct {
		mode   registerMode
		from   holderRef
		v      Version
		holder string // the answer's holder
		// conflict is the holder a report is told of, if any.
		conflict string
		stale    bool
	}
	tests := []struct {
		name  string
		dead  string // a member that died
		steps []step
		want  string // the entry's holder after the steps
	}{
		{"claim then claim: the first wins", "", []step{
			{mode: modeClaim, from: white, holder: "white"},
			{mode: modeClaim, from: green, holder: "white"},
		}, "white"},
		{"claim over a dead holder", "white", []step{
			{mode: modeClaim, from: white, holder: "white"},
			{mode: modeClaim, from: green, holder: "green"},
		}, "green"},
		{"a move overrides", "", []step{
			{mode: modeClaim, from: white, holder: "white"},
			{mode: modeMove, from: green, holder: "green"},
		}, "green"},
		{"a report does not override a claim", "", []step{
			{mode: modeClaim, from: white, holder: "white"},
			{mode: modeReport, from: green, conflict: "white"},
		}, "white"},
		{"two reports: the second is told", "", []step{
			{mode: modeReport, from: white, holder: "white"},
			{mode: modeReport, from: green, conflict: "white"},
		}, "white"},
		{"a report over a dead holder", "white", []step{
			{mode: modeReport, from: white, holder: "white"},
			{mode: modeReport, from: green, holder: "green"},
		}, "green"},
		{"the same holder again", "", []step{
			{mode: modeReport, from: white, holder: "white"},
			{mode: modeClaim, from: white, holder: "white"},
		}, "white"},
		{"a stale table is told", "", []step{
			{mode: modeClaim, from: white, v: Version{N: 2, By: "red"}, stale: true},
			{mode: modeClaim, from: red, holder: "red"},
		}, "red"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirectory("red", parts)
			d.adopt(table)
			alive := func(name string, _ int64) bool { return name != tt.dead }
			for i, s := range tt.steps {
				ver := v
				if s.v != (Version{}) {
					ver = s.v
				}
				a := d.register(ver, s.mode, s.from.name, map[string]holderRef{id: s.from}, alive)
				if (a.stale != nil) != s.stale {
					t.Fatalf("step %d: stale %v, want %v", i, a.stale != nil, s.stale)
				}
				if a.holder != s.holder {
					t.Errorf("step %d: answer names %q, want %q", i, a.holder, s.holder)
				}
				if got := a.conflicts[id].name; got != s.conflict {
					t.Errorf("step %d: conflict with %q, want %q", i, got, s.conflict)
				}
			}
			if got := d.lookup(v, id).holder; got != tt.want {
				t.Fatalf("entry names %q, want %q", got, tt.want)
			}
		})
	}
}
