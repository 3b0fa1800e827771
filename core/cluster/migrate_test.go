package cluster_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wadi-go/wadi/core/cluster"
	"github.com/wadi-go/wadi/core/cluster/internal/peerpb"
)

// sessionOn makes a session on fn with n requests, and returns its
// browser and id.
func sessionOn(t *testing.T, fn *farmNode, n int) (*browser, string) {
	t.Helper()
	b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
	for i := range n {
		if got := b.incr(t, fn); got != i+1 {
			t.Fatalf("on %s: count %d, want %d", fn.name, got, i+1)
		}
	}
	id, _, _ := strings.Cut(b.cookie, ".")
	return b, id
}

// member is fn's view of the member called name.
func member(fn *farmNode, name string) (cluster.Member, bool) {
	for _, m := range fn.node.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return cluster.Member{}, false
}

// peerClient calls fn's peer transport directly, as another member would.
func peerClient(t *testing.T, fn *farmNode) peerpb.PeerClient {
	t.Helper()
	self, _ := member(fn, fn.name)
	conn, err := grpc.NewClient(self.Peer, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return peerpb.NewPeerClient(conn)
}

// A holder asked again by a node it handed a session to gives the record
// again only when that node says its confirmation went unanswered (and so
// it never served that copy). Otherwise the node may have served the
// session and handed it on since: the record here is stale, and giving it
// made two live copies (seen in the five-kill proof).
func TestMigrateGivesAgainOnlyWhenUnconfirmed(t *testing.T) {
	f := newFarm(t)
	red, white, green := f.add("red"), f.add("white"), f.add("green")
	f.settled()
	b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
	for i, fn := range []*farmNode{red, white, green} {
		if got := b.incr(t, fn); got != i+1 {
			t.Fatalf("on %s: count %d, want %d", fn.name, got, i+1)
		}
	}
	id, _, _ := strings.Cut(b.cookie, ".")
	c := peerClient(t, red)
	tests := []struct {
		name        string
		unconfirmed bool
		found       bool
	}{
		{"asked again", false, false},
		{"confirmation lost", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			reply, err := c.Migrate(ctx, &peerpb.MigrateRequest{Id: id, To: "white", Unconfirmed: tc.unconfirmed})
			if err != nil {
				t.Fatal(err)
			}
			if reply.GetFound() != tc.found || (len(reply.GetData()) > 0) != tc.found {
				t.Fatalf("found %v with %d bytes, want found %v", reply.GetFound(), len(reply.GetData()), tc.found)
			}
		})
	}
	// Neither answer moved the session: green still serves it, alone.
	if got := b.incr(t, green); got != 4 {
		t.Fatalf("on green: count %d, want 4", got)
	}
	if red.mgr.Len() != 0 || white.mgr.Len() != 0 {
		t.Fatalf("red holds %d, white %d sessions; want none", red.mgr.Len(), white.mgr.Len())
	}
}

// A holder that dies between handing a session over and hearing the
// receiver's confirmation: the receiver takes the record it holds over,
// as it would a backup, instead of failing the request that wanted it.
func TestSettleTakesOverFromADeadHolder(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 1
	red, white := f.add("red"), f.add("white")
	f.settled()
	_, id := sessionOn(t, red, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetched, err := white.node.Fetch(ctx, id)
	if err != nil || fetched == nil || len(fetched.Data) == 0 {
		t.Fatalf("Fetch = %v, %v", fetched, err)
	}
	f.crash(red)
	if err := fetched.Settle(true); err != nil {
		t.Fatalf("Settle after the holder died: %v", err)
	}
	if held, err := white.node.HeldHere(ctx, id); err != nil || !held {
		t.Fatalf("HeldHere = %v, %v; want the directory to name white", held, err)
	}
}

// A receiver that dies while a session is being handed to it: the holder
// serves the session again as soon as membership drops the receiver, not
// after the handover timeout (10 s, past the requests' 5 s lock wait).
func TestHandoverToADeadReceiverAbandoned(t *testing.T) {
	f := newFarm(t)
	red, white := f.add("red"), f.add("white")
	f.settled()
	b, id := sessionOn(t, red, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Red exports the session to white and waits for white to settle.
	if fetched, err := white.node.Fetch(ctx, id); err != nil || fetched == nil {
		t.Fatalf("Fetch = %v, %v", fetched, err)
	}
	f.crash(white)
	if got := b.incr(t, red); got != 3 {
		t.Fatalf("on red after the receiver died: count %d, want 3", got)
	}
}

// The inventory lists each session in memory with the backups that have
// it, and each backup with its holder: the counts an operator (and the
// end-to-end tests) check after a run.
func TestInventory(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 1
	red, white := f.add("red"), f.add("white")
	f.settled()
	const n = 3
	for range n {
		b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
		b.incr(t, red)
	}
	f.waitCounts(t, n, n, 10*time.Second)
	held, kept := red.mgr.Inventory(), white.mgr.Inventory()
	if len(held.Sessions) != n || len(held.Backups) != 0 {
		t.Fatalf("red's inventory: %+v; want %d sessions and no backups", held, n)
	}
	for _, s := range held.Sessions {
		if len(s.Backups) != 1 || s.Backups[0] != "white" || s.Version == 0 {
			t.Errorf("red's session %+v: want version > 0 and backed up on white", s)
		}
	}
	if len(kept.Sessions) != 0 || len(kept.Backups) != n {
		t.Fatalf("white's inventory: %+v; want %d backups and no sessions", kept, n)
	}
	for _, c := range kept.Backups {
		if !strings.HasPrefix(c.Holder, "red") {
			t.Errorf("white's backup %+v: want its holder red", c)
		}
	}
}

// A receiver whose confirmation reached the holder but whose answer did
// not (here: the receiver's context ends first) fetches the session again
// by itself, without waiting for a request: the holder let go, and the
// record it kept as the receiver's backup is the only copy, which the
// holder would drop as a backup its holder does not hold.
func TestUnconfirmedHandoverFetchedAgain(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 1
	red, white := f.add("red"), f.add("white")
	f.settled()
	b, id := sessionOn(t, red, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fctx, fcancel := context.WithCancel(ctx)
	fetched, err := white.node.Fetch(fctx, id)
	if err != nil || fetched == nil {
		t.Fatalf("Fetch = %v, %v", fetched, err)
	}
	// The confirmation lands; its answer is lost to the receiver.
	white0, _ := member(red, "white")
	if _, err := peerClient(t, red).Release(ctx, &peerpb.ReleaseRequest{Id: id, To: "white", Commit: true, Started: white0.Started}); err != nil {
		t.Fatal(err)
	}
	fcancel()
	if err := fetched.Settle(true); err == nil {
		t.Fatal("Settle with its context ended succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for white.mgr.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("white holds %d sessions, red %d, after 10s; want white to have fetched it", white.mgr.Len(), red.mgr.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := b.incr(t, white); got != 3 {
		t.Fatalf("on white: count %d, want 3", got)
	}
}

// Without replication there is nothing to restore, but a directory entry
// that names a member that is gone may be a move whose claim has not
// landed (the holder handed the session on as it left): the fetch asks
// the members whether one has the session live, and follows it there,
// instead of giving the request a new session.
func TestLostEntryFollowedWithoutReplication(t *testing.T) {
	f := newFarm(t)
	red, white, green := f.add("red"), f.add("white"), f.add("green")
	f.settled()
	b, id := sessionOn(t, white, 2)
	red0, _ := member(white, "red")
	f.crash(red)
	f.settled()
	tb := white.node.Table()
	var owner *farmNode
	for _, fn := range []*farmNode{white, green} {
		if fn.name == tb.Owner(cluster.Partition(id, 31)) {
			owner = fn
		}
	}
	// The directory is told, as by a late move, that red holds it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := peerClient(t, owner).Register(ctx, &peerpb.RegisterRequest{
		Version: &peerpb.Version{N: tb.Version.N, By: tb.Version.By},
		Mode:    peerpb.Mode_MODE_MOVE, From: "red",
		Entries: []*peerpb.Entry{{Id: id, Holder: "red", Started: red0.Started}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := b.incr(t, green); got != 3 {
		t.Fatalf("on green: count %d, want 3 (the session lives on white)", got)
	}
}

// A receiver that dies after the holder let go but before its claim
// reached the directory: the directory still names the old holder, which
// says it handed the session on. The old holder's kept record is the
// session; it restores it, and a request elsewhere meanwhile waits for
// that instead of chasing the session between the two and failing.
func TestReceiverDiesBeforeItsClaim(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 1
	black, red, blue := f.add("black"), f.add("red"), f.add("blue")
	f.settled()
	b, id := sessionOn(t, black, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Red takes the session and confirms; its claim never leaves it.
	if fetched, err := red.node.Fetch(ctx, id); err != nil || fetched == nil {
		t.Fatalf("Fetch = %v, %v", fetched, err)
	}
	red0, _ := member(black, "red")
	if _, err := peerClient(t, black).Release(ctx, &peerpb.ReleaseRequest{Id: id, To: "red", Commit: true, Started: red0.Started}); err != nil {
		t.Fatal(err)
	}
	f.crash(red)
	if got := b.incr(t, blue); got != 3 {
		t.Fatalf("on blue: count %d, want 3", got)
	}
}

// A receiver of a leaving member's batch that cannot take one of its
// sessions answers how many it took, rather than failing the call: the
// sender drops exactly those. An error instead would make the sender keep
// (and later store) copies the receiver already serves.
func TestHandoffTakesWhatItCan(t *testing.T) {
	f := newFarm(t)
	red, white := f.add("red"), f.add("white")
	f.settled()
	_, first := sessionOn(t, red, 1)
	_, second := sessionOn(t, red, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs [][]byte
	for _, id := range []string{first, second} {
		data, _, abort, err := red.mgr.Export(ctx, id)
		if err != nil || data == nil {
			t.Fatalf("Export %s: %v", id, err)
		}
		abort()
		recs = append(recs, data)
	}
	tests := []struct {
		name string
		recs [][]byte
		want int32
	}{
		{"a bad record in the middle", [][]byte{recs[0], []byte("not a record"), recs[1]}, 1},
		{"the first already here", [][]byte{recs[0], recs[1]}, 0},
	}
	c := peerClient(t, white)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := c.Handoff(ctx, &peerpb.HandoffRequest{Sessions: tc.recs})
			if err != nil {
				t.Fatalf("Handoff: %v; want an answer with the count", err)
			}
			if reply.GetAccepted() != tc.want {
				t.Fatalf("accepted %d, want %d", reply.GetAccepted(), tc.want)
			}
		})
	}
	if n := white.mgr.Len(); n != 1 {
		t.Fatalf("white holds %d sessions, want 1", n)
	}
}

// Two nodes that both hold a session (two loads from the store as the
// table changed, or a stale report of a session handed on) learn of it
// from the directory when they report for the next table: the reporter
// asks the recorded holder, and either lets its copy go (the holder has
// the session) or records itself (the holder let it go).
func TestReportConflictSettled(t *testing.T) {
	tests := []struct {
		name string
		// redLetsGo: red, which the directory names, drops its copy
		// without a word to the directory.
		redLetsGo bool
		// wantOn is the node left holding the session; "" for either
		// (of two copies, the one the directory recorded first stays).
		wantOn string
	}{
		{"two copies", false, ""},
		{"a stale entry", true, "white"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFarm(t)
			red, white := f.add("red"), f.add("white")
			f.settled()
			b, id := sessionOn(t, red, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			data, commit, abort, err := red.mgr.Export(ctx, id)
			if err != nil || data == nil {
				t.Fatalf("Export: %v", err)
			}
			if tc.redLetsGo {
				commit()
			} else {
				abort()
			}
			if _, err := white.mgr.Import(ctx, data); err != nil {
				t.Fatal(err)
			}
			// A third member: a new table, and a report from everyone.
			f.add("green")
			f.settled()
			holders := func() (names []string) {
				for _, fn := range []*farmNode{red, white} {
					if fn.mgr.Holds(id) {
						names = append(names, fn.name)
					}
				}
				return names
			}
			nodes := map[string]*farmNode{"red": red, "white": white}
			deadline := time.Now().Add(20 * time.Second)
			for {
				h := holders()
				if len(h) == 1 && (tc.wantOn == "" || h[0] == tc.wantOn) {
					if named, err := nodes[h[0]].node.HeldHere(ctx, id); named && err == nil {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("holders %v, want one (%q) that the directory names", h, tc.wantOn)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Any node serves it, from that one copy, with its count.
			for i, fn := range []*farmNode{red, white} {
				if got := b.incr(t, fn); got != 3+i {
					t.Fatalf("on %s: count %d, want %d", fn.name, got, 3+i)
				}
			}
		})
	}
}
