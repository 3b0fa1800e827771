package cluster

import (
	"sync"
)

// directory is this node's part of the farm's directory: for the partitions
// it owns under the current table, which member holds each session.
//
// When the table changes, every member reports what it holds of each
// owner's partitions (a report even when it holds nothing). Entries of
// partitions that stay with this node are kept; partitions it gains start
// empty, and lookups in them answer "incomplete" until every member named
// in the table has reported — so a directory rebuilt after its node died never
// answers "no such session" for one that a survivor holds.
type directory struct {
	mu         sync.Mutex
	self       string
	partitions int
	table      *Table
	entries    map[string]entry // by session id, for owned partitions
	gained     map[int]bool     // owned since this table, not yet complete
	reported   map[string]bool  // members that reported for this table
	expected   map[string]bool  // the table's members
}

func newDirectory(self string, partitions int) *directory {
	return &directory{
		self: self, partitions: partitions,
		entries:  make(map[string]entry),
		gained:   make(map[int]bool),
		reported: make(map[string]bool),
		expected: make(map[string]bool),
	}
}

// adopt switches to a newer table: entries of partitions no longer owned
// are dropped, partitions newly owned wait for every member's report.
func (d *directory) adopt(t *Table) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.table
	d.table = t
	for id := range d.entries {
		if t.Owner(Partition(id, d.partitions)) != d.self {
			delete(d.entries, id)
		}
	}
	// A partition kept from a table whose reports never all arrived is as
	// incomplete as one just gained.
	pending := d.gained
	if d.allReported() {
		pending = nil
	}
	// A member new to the table may hold sessions this directory never
	// heard of (two farms that merge): then every partition waits for the
	// reports.
	newcomer := false
	if old != nil {
		had := make(map[string]bool, len(old.Members))
		for _, m := range old.Members {
			had[m] = true
		}
		for _, m := range t.Members {
			newcomer = newcomer || !had[m]
		}
	}
	d.gained = make(map[int]bool)
	for p, o := range t.Owners {
		if o == d.self && (newcomer || old.Owner(p) != d.self || pending[p]) {
			d.gained[p] = true
		}
	}
	d.reported = make(map[string]bool)
	d.expected = make(map[string]bool)
	for _, m := range t.Members {
		d.expected[m] = true
	}
}

// check reports whether v is the directory's table version; if not it
// returns the directory's table for the caller.
func (d *directory) check(v Version) (*Table, bool) {
	if d.table == nil || d.table.Version != v {
		return d.table, false
	}
	return nil, true
}

// complete reports whether lookups in p can be trusted. The caller holds mu.
func (d *directory) complete(p int) bool {
	if !d.gained[p] {
		return true
	}
	if !d.allReported() {
		return false
	}
	// Every member has reported: nothing gained is incomplete any more.
	d.gained = make(map[int]bool)
	return true
}

// allReported reports whether every member of the table has reported. The
// caller holds mu.
func (d *directory) allReported() bool {
	for m := range d.expected {
		if !d.reported[m] {
			return false
		}
	}
	return true
}

// entry is where a session lives. A report (what a member held when the
// table changed) never overrides an entry whose holder lives: the reporter
// is told of the conflict instead.
type entry struct {
	holder  string
	started int64 // the holder's incarnation
}

// holderRef names a holder and its incarnation.
type holderRef struct {
	name    string
	started int64
}

type dirAnswer struct {
	stale      *Table // set: the caller's table is not ours
	holder     string
	started    int64
	incomplete bool
	notOwner   bool // the partition is not ours under the caller's table
	// conflicts are reported sessions recorded under another live holder,
	// by id, with that holder.
	conflicts map[string]holderRef
}

func (d *directory) lookup(v Version, id string) dirAnswer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.check(v); !ok {
		// With no table yet, there is nothing to send back: the caller
		// waits as for a directory being rebuilt.
		return dirAnswer{stale: t, incomplete: t == nil}
	}
	p := Partition(id, d.partitions)
	if d.table.Owner(p) != d.self {
		return dirAnswer{notOwner: true}
	}
	if e, ok := d.entries[id]; ok {
		return dirAnswer{holder: e.holder, started: e.started}
	}
	return dirAnswer{incomplete: !d.complete(p)}
}

// register records entries; alive says which members are alive, for claims
// over an entry whose holder died.
func (d *directory) register(v Version, mode registerMode, from string, entries map[string]holderRef, alive func(string, int64) bool) dirAnswer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.check(v); !ok {
		// With no table yet, there is nothing to send back: the caller
		// waits as for a directory being rebuilt.
		return dirAnswer{stale: t, incomplete: t == nil}
	}
	var last holderRef
	var conflicts map[string]holderRef
	for id, h := range entries {
		if d.table.Owner(Partition(id, d.partitions)) != d.self {
			continue // a sender with our table sends only our partitions
		}
		cur, ok := d.entries[id]
		same := ok && cur.holder == h.name && (cur.started == h.started || cur.started == 0 || h.started == 0)
		taken := ok && !same && alive(cur.holder, cur.started)
		switch {
		case mode == modeClaim && taken:
			last = holderRef{cur.holder, cur.started}
			continue
		case mode == modeReport && taken:
			// Two live nodes say they hold the session: a stale report of
			// one it has handed on, or two copies (two nodes loaded it as
			// the table changed). The entry stays; the reporter is told,
			// and finds out from the recorded holder which it is.
			if conflicts == nil {
				conflicts = make(map[string]holderRef)
			}
			conflicts[id] = holderRef{cur.holder, cur.started}
			continue
		}
		d.entries[id] = entry{holder: h.name, started: h.started}
		last = h
	}
	if mode == modeReport {
		d.reported[from] = true
	}
	return dirAnswer{holder: last.name, started: last.started, conflicts: conflicts}
}

// remove drops the entries that still name holder.
func (d *directory) remove(v Version, holder string, ids []string) dirAnswer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.check(v); !ok {
		// With no table yet, there is nothing to send back: the caller
		// waits as for a directory being rebuilt.
		return dirAnswer{stale: t, incomplete: t == nil}
	}
	for _, id := range ids {
		if d.entries[id].holder == holder {
			delete(d.entries, id)
		}
	}
	return dirAnswer{}
}

// size is the number of entries, for metrics and tests.
func (d *directory) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

type registerMode int

const (
	modeClaim registerMode = iota + 1
	modeMove
	modeReport
)
