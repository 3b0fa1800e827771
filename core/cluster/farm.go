package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/core/cluster/internal/peerpb"
	"github.com/wadi-go/wadi/core/session"
)

// ErrUndecided is wrapped by errors that mean the farm could not tell where
// a session is: the caller must not conclude that it does not exist.
var ErrUndecided = errors.New("cluster: cannot tell where the session is")

// directoryWait bounds how long a lookup or claim retries while the
// directory is being rebuilt or the table is changing.
func (n *Node) directoryWait() time.Duration {
	if n.cfg.Fast {
		return 5 * time.Second
	}
	return 10 * time.Second
}

// ask runs a directory call against the owner of id's partition under the
// current table, retrying while the answer is stale or incomplete, until
// the directory wait is over.
func (n *Node) ask(ctx context.Context, id string, call func(ctx context.Context, owner string, v Version) (*peerpb.DirReply, error)) (*peerpb.DirReply, error) {
	deadline := time.Now().Add(n.directoryWait())
	wait := 20 * time.Millisecond
	var last error
	for {
		t := n.table.Load()
		if t == nil {
			last = errors.New("no partition table yet")
		} else {
			owner := t.Owner(Partition(id, n.cfg.Partitions))
			reply, err := call(ctx, owner, t.Version)
			switch {
			case err != nil:
				last = fmt.Errorf("directory on %s: %w", owner, err)
			case reply.Stale != nil:
				if st := fromPB(reply.Stale); st != nil {
					n.adopt(st)
				}
				last = fmt.Errorf("directory on %s holds another table", owner)
			case reply.Incomplete:
				last = fmt.Errorf("directory on %s is being rebuilt", owner)
			default:
				return reply, nil
			}
		}
		if time.Now().After(deadline) {
			n.log.Warn("directory did not answer in time", "session", logID(id), "waited", n.directoryWait(), "last", last)
			return nil, fmt.Errorf("%w: %v", ErrUndecided, last)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w (last: %v)", ErrUndecided, ctx.Err(), last)
		case <-time.After(wait):
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

func (n *Node) lookup(ctx context.Context, id string) (holderRef, error) {
	reply, err := n.ask(ctx, id, func(ctx context.Context, owner string, v Version) (*peerpb.DirReply, error) {
		req := &peerpb.LookupRequest{Version: versionPB(v), Id: id}
		if owner == n.self {
			return (&server{n: n}).Lookup(ctx, req)
		}
		c, err := n.clientOf(owner)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
		defer cancel()
		return c.Lookup(cctx, req)
	})
	if err != nil {
		return holderRef{}, err
	}
	return holderRef{reply.Holder, reply.HolderStarted}, nil
}

func (n *Node) claim(ctx context.Context, id string, mode registerMode) (string, error) {
	// A claim accepted under a table that has been replaced since may have
	// reached the old owner after this node's report to the new one was
	// taken: it is made again under the new table, until the table holds
	// still across it.
	for range 10 {
		var used Version
		reply, err := n.ask(ctx, id, func(ctx context.Context, owner string, v Version) (*peerpb.DirReply, error) {
			used = v
			return n.register(ctx, owner, &peerpb.RegisterRequest{
				Version: versionPB(v), Mode: modePB(mode), From: n.self,
				Entries: []*peerpb.Entry{{Id: id, Holder: n.self, Started: n.cfg.Self.Started}},
			})
		})
		if err != nil {
			return "", err
		}
		if t := n.table.Load(); t == nil || t.Version == used || reply.Holder != n.self {
			return reply.Holder, nil
		}
	}
	return "", fmt.Errorf("%w: the partition table kept changing", ErrUndecided)
}

// Claim implements session.Farm. A claim that cannot reach the directory
// is retried in the background; the error says so.
func (n *Node) Claim(ctx context.Context, id string) (string, error) {
	holder, err := n.claimOver(ctx, id)
	if err != nil {
		n.handMu.Lock()
		n.unclaimed[id] = true
		n.handMu.Unlock()
		return "", err
	}
	if holder != n.self {
		return holder, nil
	}
	return "", nil
}

// HeldHere implements session.Farm: whether the directory names this
// node, this incarnation, as the session's holder.
func (n *Node) HeldHere(ctx context.Context, id string) (bool, error) {
	h, err := n.lookup(ctx, id)
	if err != nil {
		return false, err
	}
	return h.name == n.self && (h.started == 0 || h.started == n.cfg.Self.Started), nil
}

// claimOver claims the session; while the directory answers with a
// holder this node already knows is dead (its node has not noticed yet),
// it waits and claims again, bounded by the directory wait.
func (n *Node) claimOver(ctx context.Context, id string) (string, error) {
	deadline := time.Now().Add(n.directoryWait())
	for {
		holder, err := n.claim(ctx, id, modeClaim)
		if err != nil || holder == n.self || n.alive(holder) {
			return holder, err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w: the directory still names %s, which is gone", ErrUndecided, holder)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %w", ErrUndecided, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Released implements session.Farm: the entries are removed in the
// background, best effort.
func (n *Node) Released(ids []string) {
	n.handMu.Lock()
	for _, id := range ids {
		delete(n.unclaimed, id)
	}
	n.handMu.Unlock()
	t := n.table.Load()
	if t == nil || len(ids) == 0 {
		return
	}
	by := make(map[string][]string)
	for _, id := range ids {
		o := t.Owner(Partition(id, n.cfg.Partitions))
		by[o] = append(by[o], id)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CallTimeout)
		defer cancel()
		for owner, ids := range by {
			req := &peerpb.RemoveRequest{Version: versionPB(t.Version), Ids: ids, Holder: n.self}
			var err error
			if owner == n.self {
				_, err = (&server{n: n}).Remove(ctx, req)
			} else if c, cerr := n.clientOf(owner); cerr != nil {
				err = cerr
			} else {
				_, err = c.Remove(ctx, req)
			}
			if err != nil {
				// A stale entry names this node, which answers that it
				// does not hold the session: harmless.
				n.log.Debug("directory entries not removed", "owner", owner, "count", len(ids), "error", err)
			}
		}
	}()
}

// A fetch follows a session that keeps moving for minHops hops, and on up
// to maxHops while within its wait (the call and handover timeouts). Every
// hop follows fresher news of the session (two nodes' requests
// racing for it send it back and forth under each other's fetches), so
// the bound is mostly time: a count alone gave up on sessions that were
// only busy.
const (
	minHops = 10
	maxHops = 50
)

// Fetch implements session.Farm: it finds the session's holder in the
// directory and has the session handed over to this node; if the holder
// died (or restarted, which is the same to its sessions), it restores the
// session from a backup.
func (n *Node) Fetch(ctx context.Context, id string) (*session.Fetched, error) {
	h, err := n.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	// Waiting for a handover in flight to land is not a hop: under
	// contention a session can be in flight at every look.
	waitUntil := time.Now().Add(n.cfg.CallTimeout + n.cfg.HandoverTimeout)
	// sentBy is the node whose word (MovedTo) sent the fetch to the holder
	// of this hop, if one did.
	var sentBy string
	for hops := 0; hops < minHops || (hops < maxHops && time.Now().Before(waitUntil)); hops++ {
		holder, sender := h.name, sentBy
		sentBy = ""
		switch {
		case holder == n.self && n.movedTo(id) != "":
			// Handed over a moment ago and the receiver has not claimed
			// it in the directory yet: it is there, not gone.
			h = holderRef{name: n.movedTo(id)}
			n.log.Debug("fetch: handed on from here a moment ago; following", "session", logID(id), "to", h.name)
			continue
		case holder == "" || (holder == n.self && (h.started == 0 || h.started == n.cfg.Self.Started)):
			// Unknown to the directory, or recorded here but not in memory
			// (written to the store since): a backup, then the store.
			n.log.Debug("fetch: no other holder", "session", logID(id), "holder", holder)
			if f, follow, err := n.restoreOr(ctx, id, &h, false); !follow {
				return f, err
			}
			continue // it lives on another node: fetch it from there
		case !n.aliveIncarnation(holder, h.started):
			n.log.Info("session's holder is gone; restoring it from a backup", "session", logID(id), "holder", holder)
			if f, follow, err := n.restoreOr(ctx, id, &h, true); !follow {
				return f, err
			}
			if h.name == sender && time.Now().Before(waitUntil) {
				// Sent back to the node that handed the session to the
				// dead holder: the directory still names it (the dead
				// holder's claim never landed), so only it can restore the
				// session, which it does as soon as it sees the death.
				// Waited for, not chased round the loop.
				if err := sleepCtx(ctx, n.backoff()); err != nil {
					return nil, err
				}
				hops--
			}
			continue
		}
		c, err := n.clientOf(holder)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUndecided, err)
		}
		// The holder waits for its own requests to leave the session.
		cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout+n.cfg.HandoverTimeout)
		reply, err := c.Migrate(cctx, &peerpb.MigrateRequest{Id: id, To: n.self, Unconfirmed: n.unconfirmedBy(id) == holder})
		cancel()
		if err != nil {
			if n.Replicating() && status.Code(err) == codes.Unavailable && n.awaitDeparture(ctx, h) {
				n.log.Debug("fetch: the holder died meanwhile", "session", logID(id), "holder", holder)
				continue // declared dead meanwhile: restored on the next hop
			}
			if code := status.Code(err); ctx.Err() == nil && (code == codes.Canceled || (code == codes.Unavailable && !n.alive(holder))) {
				// The holder left during the call, or the membership
				// flapped and its connection was closed under the call (a
				// Canceled the caller did not ask for): a graceful leave
				// hands its sessions on, so the directory says where next.
				n.log.Debug("fetch: the holder left meanwhile; looking again", "session", logID(id), "holder", holder, "error", err)
				if err := sleepCtx(ctx, n.backoff()); err != nil {
					return nil, err
				}
				if h, err = n.lookup(ctx, id); err != nil {
					return nil, err
				}
				continue
			}
			if status.Code(err) == codes.Aborted {
				// Being handed to another node for a request there: it
				// lands in a moment; follow it instead of failing.
				if err := sleepCtx(ctx, n.backoff()); err != nil {
					return nil, err
				}
				n.log.Debug("fetch: being handed elsewhere; following", "session", logID(id), "holder", holder, "error", err)
				if h, err = n.lookup(ctx, id); err != nil {
					return nil, err
				}
				if time.Now().Before(waitUntil) {
					hops--
				}
				continue
			}
			return nil, fmt.Errorf("%w: %s did not hand %s over: %w", ErrUndecided, holder, logID(id), err)
		}
		if !reply.Found {
			// The holder's word on where the session went is fresher than
			// this node's own record, which may be from an earlier visit.
			if reply.MovedTo != "" && reply.MovedTo != n.self {
				h, sentBy = holderRef{name: reply.MovedTo}, holder
				n.log.Debug("fetch: the holder handed it on; following", "session", logID(id), "holder", holder, "to", h.name)
				continue
			}
			if to := n.movedTo(id); to != "" && to != holder {
				// The holder gave it to this node, which handed it on
				// since: it is there.
				h = holderRef{name: to}
				n.log.Debug("fetch: handed on from here; following", "session", logID(id), "holder", holder, "to", to)
				continue
			}
			n.log.Debug("fetch: the holder does not have it", "session", logID(id), "holder", holder, "moved_to", reply.MovedTo)
			if f, follow, err := n.restoreOr(ctx, id, &h, true); !follow {
				return f, err
			}
			continue // it lives on another node: fetch it from there
		}
		from := holder
		var started int64
		if m, ok := n.ms.Member(from); ok {
			started = m.Started
		}
		f := &session.Fetched{
			Data:     reply.Data,
			Previous: incarnation(from, started),
			Stale:    reply.Backups,
		}
		f.Settle = func(take bool) error {
			kept, err := n.settle(ctx, holderRef{name: from, started: started}, id, take)
			if kept {
				f.Kept = from
			}
			return err
		}
		return f, nil
	}
	return nil, fmt.Errorf("%w: %s kept moving", ErrUndecided, logID(id))
}

// unconfirmedBy names the holder whose handover of the session this node
// could not confirm a moment ago, or is empty.
func (n *Node) unconfirmedBy(id string) string {
	n.handMu.Lock()
	defer n.handMu.Unlock()
	if u, ok := n.unconfirmed[id]; ok && time.Now().Before(u.until) {
		return u.holder
	}
	return ""
}

// movedTo names the node this node handed the session to a moment ago,
// or is empty.
func (n *Node) movedTo(id string) string { return n.movedSince(id, time.Time{}) }

// movedSince is movedTo for a handover made at or after t.
func (n *Node) movedSince(id string, t time.Time) string {
	n.handMu.Lock()
	defer n.handMu.Unlock()
	if mv, ok := n.moved[id]; ok && time.Now().Before(mv.until) && !mv.until.Add(-movedTTL).Before(t) {
		return mv.to
	}
	return ""
}

// sleepCtx waits d, or less if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// restoreOr restores the session from a backup; if it lives on another
// node (restored there first, or live there), it sets h to that node and
// reports follow, for the caller to fetch it from there. Without
// replication there is nothing to restore. lost says the directory named a
// holder that is gone or does not have the session.
func (n *Node) restoreOr(ctx context.Context, id string, h *holderRef, lost bool) (f *session.Fetched, follow bool, err error) {
	f, other, err := n.restore(ctx, id, *h, lost)
	if err != nil || f != nil {
		return f, false, err
	}
	// The restore found the session live on another node (or restored
	// there first): the fetch goes on there.
	follow = other != "" && other != h.name && other != n.self
	*h = holderRef{name: other}
	return nil, follow, nil
}

// awaitDeparture waits, bounded by the directory wait, for a holder that
// does not answer to be declared dead; it reports whether it was. A
// request for its session then waits instead of failing, and is served
// from a backup.
func (n *Node) awaitDeparture(ctx context.Context, h holderRef) bool {
	deadline := time.Now().Add(n.directoryWait())
	for time.Now().Before(deadline) {
		if !n.aliveIncarnation(h.name, h.started) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

// settle tells the holder whether this node took the session. With take,
// it returns nil only once the holder has dropped its copy, then records
// the move in the directory.
func (n *Node) settle(ctx context.Context, h holderRef, id string, take bool) (kept bool, err error) {
	from := h.name
	req := &peerpb.ReleaseRequest{Id: id, To: n.self, Commit: take, Started: n.cfg.Self.Started}
	var reply *peerpb.ReleaseReply
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(n.backoff())
		}
		var c peerpb.PeerClient
		if c, err = n.clientOf(from); err != nil {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
		reply, err = c.Release(cctx, req)
		cancel()
		if err == nil {
			break
		}
	}
	if !take {
		return false, nil
	}
	if err != nil && n.Replicating() && status.Code(err) == codes.Unavailable && n.awaitDeparture(ctx, h) {
		// The holder died handing the session over. Whether or not it let
		// go, it serves nothing any more, and the record in hand is the
		// session as it last served it: this node takes it over as it
		// would a backup, claiming it over the dead holder (a restorer
		// that claimed first wins, and this copy is dropped). The first
		// replication fences the holder's backups, as after any move.
		holder, cerr := n.claimOver(ctx, id)
		if cerr == nil && holder == n.self {
			n.handMu.Lock()
			delete(n.unconfirmed, id)
			n.handMu.Unlock()
			n.log.Info("the holder died handing the session over; taking it over", "session", logID(id), "holder", from)
			return false, nil
		}
		n.log.Debug("the holder died handing the session over; another node has it", "session", logID(id), "holder", from, "claimed_by", holder, "error", cerr)
	}
	n.handMu.Lock()
	if err != nil {
		// The holder may have let go: this node's copy is dropped unserved,
		// and the next fetch from that holder asks for the record again.
		n.unconfirmed[id] = unconfirmedFrom{holder: from, until: time.Now().Add(movedTTL)}
	} else {
		delete(n.unconfirmed, id)
	}
	n.handMu.Unlock()
	if err != nil {
		return false, fmt.Errorf("cluster: %s did not confirm handing %s over: %w", from, logID(id), err)
	}
	// Recorded before this node serves the session (the manager holds it
	// exclusively until Settle returns), so before it can move on: a
	// session's moves reach the directory in the order they happen.
	if _, cerr := n.claim(ctx, id, modeMove); cerr != nil {
		// The old holder remembers where the session went; lookups that
		// reach it are sent here until the claim is retried.
		n.handMu.Lock()
		n.unclaimed[id] = true
		n.handMu.Unlock()
		n.log.Warn("moved session not yet recorded in the directory", "session", logID(id), "error", cerr)
	}
	return reply.GetKept(), nil
}

// Handoff gives encoded sessions of this node (a graceful leave) to another
// member, a batch to one member in one call, batches spread round robin:
// the receiver becomes their holder and records so in the directory. It
// returns how many of recs, from the first, the receiver took (all of
// them, or an error saying why not). It is the handoff function
// session.Manager.Drain takes.
func (n *Node) Handoff(ctx context.Context, ids []string, recs [][]byte) (int, error) {
	targets := n.others()
	if len(targets) == 0 {
		return 0, errors.New("cluster: no other member to hand sessions to")
	}
	target := targets[int(n.handoffs.Add(1))%len(targets)]
	c, err := n.client(target.Peer)
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout*2)
	defer cancel()
	reply, err := c.Handoff(cctx, &peerpb.HandoffRequest{Sessions: recs})
	if err != nil {
		return 0, fmt.Errorf("cluster: handing %d sessions to %s: %w", len(recs), target.Name, err)
	}
	took := int(reply.GetAccepted())
	if took < 0 || took > len(recs) {
		// A receiver's answer that cannot be true: keep every copy here.
		return 0, fmt.Errorf("cluster: %s answered that it took %d of %d sessions", target.Name, took, len(recs))
	}
	// Until this node has left, a lookup that still names it is sent on.
	until := time.Now().Add(movedTTL)
	n.handMu.Lock()
	for _, id := range ids[:took] {
		n.moved[id] = movedTo{to: target.Name, until: until}
	}
	n.handMu.Unlock()
	n.log.Debug("handed sessions over", "to", target.Name, "count", took)
	if took != len(recs) {
		return took, fmt.Errorf("cluster: %s took %d of %d sessions", target.Name, took, len(recs))
	}
	return took, nil
}

// others are the live members but this node.
func (n *Node) others() []Member {
	var out []Member
	for _, m := range n.ms.Members() {
		if m.Name != n.self {
			out = append(out, m)
		}
	}
	return out
}

// Peers reports whether any other member is alive: a node alone writes its
// sessions to the store when it leaves instead of handing them over.
func (n *Node) Peers() bool { return len(n.others()) > 0 }

// logID shortens an id for logs.
func logID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}
