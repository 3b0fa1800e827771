package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/replicator"
)

// live returns the nodes not stopped.
func (f *farm) live() []*farmNode {
	var out []*farmNode
	for _, name := range []string{"red", "green", "blue", "white", "black", "cyan", "pink"} {
		if fn, ok := f.nodes[name]; ok && !fn.closed.Load() {
			out = append(out, fn)
		}
	}
	return out
}

// counts sums sessions in memory and backups over the live nodes.
func (f *farm) counts() (sessions, backups int) {
	for _, fn := range f.live() {
		sessions += fn.mgr.Len()
		backups += fn.mgr.BackupCount()
	}
	return sessions, backups
}

// waitCounts waits until the live nodes hold want sessions and wantBackups
// backups in all.
func (f *farm) waitCounts(t *testing.T, want, wantBackups int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s, b := f.counts()
		if s == want && b == wantBackups {
			return
		}
		if time.Now().After(deadline) {
			var per []string
			for _, fn := range f.live() {
				per = append(per, fmt.Sprintf("%s %d/%d", fn.name, fn.mgr.Len(), fn.mgr.BackupCount()))
				t.Logf("inventory of %s: %+v", fn.name, fn.mgr.Inventory())
			}
			t.Fatalf("after %v: %d sessions and %d backups in the farm, want %d and %d (%v)", limit, s, b, want, wantBackups, per)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newBrowsers(n int) []*browser {
	hc := &http.Client{Timeout: 45 * time.Second}
	out := make([]*browser, n)
	for i := range out {
		out[i] = &browser{hc: hc}
	}
	return out
}

// A crash of the node holding the sessions loses none of them, nor any
// change its requests acknowledged, in every mode: the next request on
// another node is served from a backup.
func TestReplicationSurvivesCrash(t *testing.T) {
	for _, tc := range []struct {
		name         string
		async, whole bool
	}{
		{"sync attribute", false, false},
		{"sync session", false, true},
		{"async attribute", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFarm(t)
			f.replicator, f.backups, f.async, f.whole = "partitioned", 1, tc.async, tc.whole
			red, green, _ := f.add("red"), f.add("green"), f.add("blue")
			f.settled()
			bs := newBrowsers(10)
			for _, b := range bs {
				for range 3 {
					b.incr(t, red)
				}
			}
			// Asynchronous backups trail the responses: wait for them, so
			// that the crash takes nothing this mode may lose.
			f.waitCounts(t, len(bs), len(bs), 10*time.Second)
			deadline := time.Now().Add(10 * time.Second)
			for red.mgr.ReplicationPending() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d sessions' backups still behind", red.mgr.ReplicationPending())
				}
				time.Sleep(20 * time.Millisecond)
			}
			f.crash(red)
			for i, b := range bs {
				if got := b.incr(t, green); got != 4 {
					t.Fatalf("browser %d after the crash: count %d, want 4", i, got)
				}
			}
			// Each session has one backup again, on the other survivor.
			f.waitCounts(t, len(bs), len(bs), 10*time.Second)
		})
	}
}

// Without a request, the survivors restore a dead holder's sessions from
// their backups and re-create the backups, so that a second crash loses
// nothing either.
func TestBackgroundRestore(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 1
	red, green, blue := f.add("red"), f.add("green"), f.add("blue")
	f.settled()
	bs := newBrowsers(20)
	for _, b := range bs {
		b.incr(t, red)
		b.incr(t, red)
	}
	f.waitCounts(t, 20, 20, 10*time.Second)
	f.crash(red)
	f.waitCounts(t, 20, 20, 15*time.Second)
	if red.mgr.Len() != 0 && !red.closed.Load() {
		t.Fatal("red still serving")
	}
	// The second crash: whichever survivor holds a session, the other has
	// its backup.
	f.crash(green)
	f.waitCounts(t, 20, 0, 15*time.Second)
	for i, b := range bs {
		if got := b.incr(t, blue); got != 3 {
			t.Fatalf("browser %d after two crashes: count %d, want 3", i, got)
		}
	}
}

// With two backups, two nodes crashing at once lose nothing.
func TestTwoBackupsSurviveTwoCrashes(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 2
	red, green := f.add("red"), f.add("green")
	f.add("blue")
	f.add("white")
	black := f.add("black")
	f.settled()
	bs := newBrowsers(20)
	for i, b := range bs {
		fn := red
		if i%2 == 1 {
			fn = green
		}
		b.incr(t, fn)
		b.incr(t, fn)
	}
	f.waitCounts(t, 20, 40, 10*time.Second)
	f.crash(red)
	f.crash(green)
	for i, b := range bs {
		if got := b.incr(t, black); got != 3 {
			t.Fatalf("browser %d after two crashes at once: count %d, want 3", i, got)
		}
	}
	f.waitCounts(t, 20, 40, 15*time.Second)
}

// Backups follow a session that moves, are re-created when a member joins,
// and go away with the session: the counts on every node stay exact and no
// orphan survives.
func TestBackupsFollowSessions(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 1
	red := f.add("red")
	f.settled()
	bs := newBrowsers(10)
	for _, b := range bs {
		b.incr(t, red)
	}
	f.waitCounts(t, 10, 0, 5*time.Second) // alone: nowhere to keep backups
	green := f.add("green")
	f.settled()
	f.waitCounts(t, 10, 10, 10*time.Second) // the newcomer gets them
	blue := f.add("blue")
	f.settled()
	path := []*farmNode{green, blue, red, blue, green}
	for i, fn := range path {
		for _, b := range bs {
			if got := b.incr(t, fn); got != i+2 {
				t.Fatalf("request %d on %s: count %d, want %d", i+2, fn.name, got, i+2)
			}
		}
		// The old holder's copy is dropped by a message that can still be
		// in flight when the response is out: exact counts within a
		// bound, not at once.
		f.waitCounts(t, 10, 10, 5*time.Second)
		if fn.mgr.BackupCount() != 0 {
			t.Fatalf("%s holds the sessions and keeps %d backups of them", fn.name, fn.mgr.BackupCount())
		}
	}
	for _, b := range bs {
		if _, err := b.tryPath(green, "/invalidate"); err != nil {
			t.Fatal(err)
		}
	}
	f.waitCounts(t, 0, 0, 5*time.Second)
	// Invalidated sessions never come back from a backup.
	f.crash(green)
	// Once red and blue see green gone, a backup of green's would be
	// restored: there must be none.
	f.settled()
	f.waitCounts(t, 0, 0, 5*time.Second)
	for i, b := range bs {
		if got := b.incr(t, red); got != 1 {
			t.Fatalf("browser %d: an invalidated session came back with count %d", i, got-1)
		}
	}
}

// A request that only reads its session sends nothing to the backups; one
// that changes it sends one message to each backup, whatever the farm's
// size.
func TestReplicationTraffic(t *testing.T) {
	for _, tc := range []struct {
		replicator string
		nodes      int
		backups    int
		want       int64 // messages per changing request
	}{
		{"partitioned", 3, 1, 1},
		{"partitioned", 5, 1, 1},
		{"partitioned", 5, 2, 2},
		{"all", 3, 0, 2},
		{"all", 5, 0, 4},
	} {
		t.Run(fmt.Sprintf("%s %d nodes %d backups", tc.replicator, tc.nodes, tc.backups), func(t *testing.T) {
			f := newFarm(t)
			f.replicator, f.backups = tc.replicator, tc.backups
			if tc.replicator == "all" {
				f.backups = 1 << 20
			}
			var red *farmNode
			for i := range tc.nodes {
				fn := f.add([]string{"red", "green", "blue", "white", "black"}[i])
				if i == 0 {
					red = fn
				}
			}
			f.settled()
			b := newBrowsers(1)[0]
			b.incr(t, red)
			want := int(tc.want)
			f.waitCounts(t, 1, want, 10*time.Second)
			m0, _ := red.node.ReplicationTraffic()
			for range 5 {
				if _, err := b.tryPath(red, "/read"); err != nil {
					t.Fatal(err)
				}
			}
			if m1, _ := red.node.ReplicationTraffic(); m1 != m0 {
				t.Fatalf("5 reading requests sent %d replication messages", m1-m0)
			}
			for range 5 {
				b.incr(t, red)
			}
			if m1, _ := red.node.ReplicationTraffic(); m1-m0 != 5*tc.want {
				t.Fatalf("5 changing requests sent %d replication messages, want %d", m1-m0, 5*tc.want)
			}
		})
	}
}

// A backup that its holder does not count — a kept copy whose drop was
// lost, or one for a session the holder let go — is asked after once its
// holder has been quiet about it, and dropped; the backups the holder
// counts stay.
func TestStaleBackupsDropped(t *testing.T) {
	for _, tc := range []struct {
		name       string
		invalidate bool // the holder lets the session go first
	}{
		{"holder counts other backups", false},
		{"holder let the session go", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFarm(t)
			f.replicator, f.backups = "partitioned", 1
			red := f.add("red")
			f.add("green")
			f.add("blue")
			f.settled()
			b := newBrowsers(1)[0]
			b.incr(t, red)
			f.waitCounts(t, 1, 1, 10*time.Second)
			id, _, _ := strings.Cut(b.cookie, ".")
			var backup, other *farmNode
			for _, fn := range f.live() {
				switch {
				case fn == red:
				case fn.mgr.BackupCount() == 1:
					backup = fn
				default:
					other = fn
				}
			}
			if backup == nil || other == nil {
				t.Fatal("no node keeps the backup, or every node does")
			}
			data, info, err := backup.mgr.Backup(context.Background(), id)
			if err != nil || data == nil {
				t.Fatalf("backup of the session on %s: %v", backup.name, err)
			}
			want := 1
			if tc.invalidate {
				if _, err := b.tryPath(red, "/invalidate"); err != nil {
					t.Fatal(err)
				}
				f.waitCounts(t, 0, 0, 5*time.Second)
				want = 0
			}
			if err := other.mgr.KeepMoved(context.Background(), data, info.Holder); err != nil {
				t.Fatal(err)
			}
			if other.mgr.BackupCount() != 1 {
				t.Fatalf("%s keeps %d backups, want the planted one", other.name, other.mgr.BackupCount())
			}
			f.waitCounts(t, want, want, 10*time.Second)
			if other.mgr.BackupCount() != 0 {
				t.Fatalf("%s still keeps the copy its holder does not count", other.name)
			}
		})
	}
}

// metaPlacer places each partition's backups on the members, by name, whose
// Meta[key] is set and differs from the primary's: a replicator that knows
// the farm only through the members' metadata.
type metaPlacer struct {
	key     string
	backups int
}

func (p metaPlacer) Place(ctx context.Context, req replicator.PlaceRequest) ([][]string, error) {
	value := make(map[string]string, len(req.Members))
	for _, m := range req.Members {
		value[m.Name] = m.Meta[p.key]
	}
	out := make([][]string, len(req.Primaries))
	for i, primary := range req.Primaries {
		for _, m := range req.Members {
			if v := value[m.Name]; v != "" && v != value[primary] && len(out[i]) < p.backups {
				out[i] = append(out[i], m.Name)
			}
		}
	}
	return out, nil
}

// node.meta travels from each node's configuration, through gossip, to
// the replicator of every member: backups placed by rack land in the other
// rack, never beside the holder, and a crash of the holder loses nothing.
func TestBackupsPlacedByMeta(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups, f.placer = "placer", 1, metaPlacer{key: "rack", backups: 1}
	f.meta = map[string]map[string]string{
		"red":   {"rack": "r1", "dc": "eu-1"},
		"green": {"rack": "r1", "dc": "eu-1"},
		"blue":  {"rack": "r2", "dc": "eu-1"},
	}
	red, green, blue := f.add("red"), f.add("green"), f.add("blue")
	f.settled()
	for _, fn := range []*farmNode{red, green, blue} {
		for _, m := range fn.node.Members() {
			if got, want := m.Meta["rack"], f.meta[m.Name]["rack"]; got != want {
				t.Fatalf("%s sees %s in rack %q, want %q", fn.name, m.Name, got, want)
			}
		}
	}
	bs := newBrowsers(10)
	for _, b := range bs {
		b.incr(t, red)
		b.incr(t, red)
	}
	f.waitCounts(t, 10, 10, 10*time.Second)
	if g, b := green.mgr.BackupCount(), blue.mgr.BackupCount(); g != 0 || b != 10 {
		t.Fatalf("backups of red's sessions: %d on green (rack r1, red's), %d on blue (rack r2); want 0 and 10", g, b)
	}
	f.crash(red)
	for i, b := range bs {
		if got := b.incr(t, green); got != 3 {
			t.Fatalf("browser %d after red crashed: count %d, want 3", i, got)
		}
	}
}
