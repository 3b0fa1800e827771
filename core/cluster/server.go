package cluster

import (
	"context"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/core/cluster/internal/peerpb"
	"github.com/wadi-go/wadi/core/session"
)

// server answers the peer protocol. Everything in a request comes from
// another process: each handler checks what it uses and answers a bad
// request with an error for that call alone.
type server struct{ n *Node }

var _ peerpb.PeerServer = (*server)(nil)

func (s *server) PushTable(_ context.Context, req *peerpb.PushTableRequest) (*peerpb.PushTableReply, error) {
	t := fromPB(req.GetTable())
	if t == nil {
		return nil, status.Error(codes.InvalidArgument, "no table")
	}
	s.n.adopt(t)
	cur := s.n.table.Load()
	return &peerpb.PushTableReply{Version: versionPB(cur.Version)}, nil
}

func (s *server) Register(_ context.Context, req *peerpb.RegisterRequest) (*peerpb.DirReply, error) {
	mode, ok := modeFromPB(req.GetMode())
	if !ok || req.GetVersion() == nil {
		return nil, status.Error(codes.InvalidArgument, "register: no mode or version")
	}
	entries := make(map[string]holderRef, len(req.GetEntries()))
	for _, e := range req.GetEntries() {
		if !session.ValidID(e.GetId()) || e.GetHolder() == "" {
			return nil, status.Errorf(codes.InvalidArgument, "register: bad entry %q", logID(e.GetId()))
		}
		entries[e.GetId()] = holderRef{e.GetHolder(), e.GetStarted()}
	}
	a := s.n.dir.register(fromPBVersion(req.GetVersion()), mode, req.GetFrom(), entries, s.n.aliveIncarnation)
	return dirReply(a), nil
}

func (s *server) Remove(_ context.Context, req *peerpb.RemoveRequest) (*peerpb.DirReply, error) {
	if req.GetVersion() == nil || req.GetHolder() == "" {
		return nil, status.Error(codes.InvalidArgument, "remove: no version or holder")
	}
	a := s.n.dir.remove(fromPBVersion(req.GetVersion()), req.GetHolder(), req.GetIds())
	return dirReply(a), nil
}

func (s *server) Lookup(_ context.Context, req *peerpb.LookupRequest) (*peerpb.DirReply, error) {
	if req.GetVersion() == nil || !session.ValidID(req.GetId()) {
		return nil, status.Error(codes.InvalidArgument, "lookup: no version or a bad id")
	}
	a := s.n.dir.lookup(fromPBVersion(req.GetVersion()), req.GetId())
	if a.notOwner {
		// Same version, other owner: the caller computed the partition
		// with another partition count.
		return nil, status.Error(codes.FailedPrecondition, "lookup: not this node's partition; check that every node has the same partitions setting")
	}
	return dirReply(a), nil
}

func dirReply(a dirAnswer) *peerpb.DirReply {
	r := &peerpb.DirReply{Holder: a.holder, HolderStarted: a.started, Incomplete: a.incomplete}
	if a.stale != nil {
		r.Stale = toPB(a.stale)
	}
	for id, h := range a.conflicts {
		r.Conflicts = append(r.Conflicts, &peerpb.Entry{Id: id, Holder: h.name, Started: h.started})
	}
	return r
}

// Migrate hands a session over to the requester: it waits for the
// session's requests to leave (bounded), keeps it exclusively until the
// receiver settles, and returns its record.
func (s *server) Migrate(ctx context.Context, req *peerpb.MigrateRequest) (*peerpb.MigrateReply, error) {
	n := s.n
	id, to := req.GetId(), req.GetTo()
	if !session.ValidID(id) || to == "" || to == n.self {
		return nil, status.Error(codes.InvalidArgument, "migrate: bad id or receiver")
	}
	mgr, err := n.mgr()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	n.handMu.Lock()
	if h, ok := n.pending[id]; ok {
		n.handMu.Unlock()
		if h.to == to {
			return &peerpb.MigrateReply{Found: true, Data: h.data}, nil
		}
		return nil, status.Errorf(codes.Aborted, "migrate: %s is being handed to %s", logID(id), h.to)
	}
	n.handMu.Unlock()

	data, commit, abort, err := mgr.Export(ctx, id)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "migrate: %v", err)
	}
	if data == nil {
		// Not here. If it left a moment ago, say where; the session may
		// have come back and gone again since, so this is asked only
		// after the manager.
		n.handMu.Lock()
		mv, ok := n.moved[id]
		n.handMu.Unlock()
		switch {
		case !ok || time.Now().After(mv.until):
			return &peerpb.MigrateReply{}, nil
		case mv.to == to && mv.data != nil && req.GetUnconfirmed():
			// The receiver's confirmation was answered but the answer
			// lost, so it never served its copy: give it the record again;
			// this node dropped its own already. Only on its word: a
			// receiver that asks again may have served the session and
			// handed it on since, and the record here is then stale.
			n.log.Debug("migrate: giving the handed-over record again", "session", logID(id), "to", to)
			return &peerpb.MigrateReply{Found: true, Data: mv.data}, nil
		}
		if mv.to == to {
			return &peerpb.MigrateReply{}, nil // handed to it whole: it has it
		}
		return &peerpb.MigrateReply{MovedTo: mv.to}, nil
	}
	h := &handover{to: to, data: data, commit: commit, abort: abort}
	n.handMu.Lock()
	if _, ok := n.pending[id]; ok {
		// Impossible: Export holds the session exclusively.
		n.handMu.Unlock()
		abort()
		return nil, status.Errorf(codes.Aborted, "migrate: %s handed over twice", logID(id))
	}
	n.pending[id] = h
	h.timer = time.AfterFunc(n.cfg.HandoverTimeout, func() { s.settle(id, to, 0, false, "the receiver did not settle in time") })
	n.handMu.Unlock()
	var backups []string
	if r, ok := n.replicas(); ok {
		backups = r.Replicated(id)
	}
	return &peerpb.MigrateReply{Found: true, Data: data, Backups: backups}, nil
}

// settle ends a pending handover: commit drops the session here and
// remembers where it went; abort serves it here again. On commit the
// record stays here as the receiver's backup (started names its
// incarnation) when this node replicates: until the receiver's own
// backups have the session, that copy is its only other one, and the
// receiver counts it among its backups. kept reports whether it stayed.
func (s *server) settle(id, to string, started int64, commit bool, why string) (ok, kept bool) {
	n := s.n
	n.handMu.Lock()
	h, pending := n.pending[id]
	if !pending || h.to != to {
		mv, moved := n.moved[id]
		n.handMu.Unlock()
		// Settling again what was settled the same way is an answer, not
		// an error: the first reply may have been lost.
		if commit && moved && mv.to == to {
			return true, mv.kept
		}
		return false, false
	}
	delete(n.pending, id)
	h.timer.Stop()
	n.handMu.Unlock()
	if commit {
		if r, ok := n.replicas(); ok && n.Replicating() && started != 0 {
			// Bounded: decoding may call a codec plugin, and the receiver
			// waits for this answer.
			kctx, cancel := context.WithTimeout(context.Background(), n.cfg.CallTimeout)
			err := r.KeepMoved(kctx, h.data, incarnation(to, started))
			cancel()
			if err != nil {
				n.log.Warn("the handed-over session not kept as the receiver's backup", "session", logID(id), "to", to, "error", err)
			} else {
				kept = true
			}
		}
		n.handMu.Lock()
		n.moved[id] = movedTo{to: to, data: h.data, kept: kept, until: time.Now().Add(movedTTL)}
		n.handMu.Unlock()
		h.commit()
		n.handedOver.Add(1)
		n.log.Debug("session handed over", "session", logID(id), "to", to, "kept", kept)
	} else {
		h.abort()
		n.log.Info("handover abandoned; serving the session here again", "session", logID(id), "to", to, "reason", why)
	}
	return true, kept
}

// abandonHandovers serves again, at once, the sessions being handed to a
// member that has left: waiting out the handover timeout would keep them
// from their requests, and from having their backups re-created, for
// nothing. The receiver cannot have served them: it does only after this
// node commits.
func (n *Node) abandonHandovers() {
	n.handMu.Lock()
	var gone []struct{ id, to string }
	for id, h := range n.pending {
		if !n.alive(h.to) {
			gone = append(gone, struct{ id, to string }{id, h.to})
		}
	}
	n.handMu.Unlock()
	s := &server{n: n}
	for _, g := range gone {
		s.settle(g.id, g.to, 0, false, "the receiver left the farm")
	}
}

func (s *server) Release(_ context.Context, req *peerpb.ReleaseRequest) (*peerpb.ReleaseReply, error) {
	if !session.ValidID(req.GetId()) || req.GetTo() == "" {
		return nil, status.Error(codes.InvalidArgument, "release: bad id or receiver")
	}
	ok, kept := s.settle(req.GetId(), req.GetTo(), req.GetStarted(), req.GetCommit(), "the receiver declined it")
	if !ok && req.GetCommit() {
		return nil, status.Errorf(codes.FailedPrecondition, "release: no handover of %s to %s is pending", logID(req.GetId()), req.GetTo())
	}
	return &peerpb.ReleaseReply{Kept: kept}, nil
}

// Handoff takes the sessions of a leaving member, in order, and answers how
// many it took: the sender drops exactly those and keeps the rest, so each
// session has one live copy. A sender that gave up waiting keeps them all,
// so what was imported by then is let go again.
func (s *server) Handoff(ctx context.Context, req *peerpb.HandoffRequest) (*peerpb.HandoffReply, error) {
	n := s.n
	mgr, err := n.mgr()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if n.left.Load() {
		return nil, status.Error(codes.Unavailable, "handoff: this node is leaving too")
	}
	var ids []string
	for i, rec := range req.GetSessions() {
		if ctx.Err() != nil {
			break
		}
		id, err := mgr.Import(ctx, rec)
		if err != nil {
			// The sender keeps this one and those after it.
			n.log.Error("handoff: a session could not be taken", "index", i, "error", err)
			break
		}
		ids = append(ids, id)
	}
	if err := ctx.Err(); err != nil {
		// No one will hear our answer: the sender keeps its copies.
		for _, id := range ids {
			if !mgr.Drop(id) {
				n.log.Error("handoff: a session the sender gave up handing over was already in use here; two copies may exist", "session", logID(id))
			}
		}
		return nil, status.Errorf(codes.DeadlineExceeded, "handoff: gave the sessions back, the sender stopped waiting: %v", err)
	}
	for _, id := range ids {
		if _, err := n.claim(ctx, id, modeMove); err != nil {
			n.handMu.Lock()
			n.unclaimed[id] = true
			n.handMu.Unlock()
		}
	}
	if r, ok := n.replicas(); ok && len(ids) > 0 {
		// The sessions' backups follow them here, in the background.
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r.Replan(rctx)
		}()
	}
	// A partial take is an answer, not a failure: the count must reach the
	// sender (gRPC drops the reply of a call that fails).
	return &peerpb.HandoffReply{Accepted: int32(len(ids))}, nil
}

func (s *server) Stats(context.Context, *peerpb.StatsRequest) (*peerpb.StatsReply, error) {
	r := &peerpb.StatsReply{Directory: int64(s.n.dir.size())}
	if mgr, err := s.n.mgr(); err == nil {
		r.Sessions = int64(mgr.Len())
	}
	if rs, ok := s.n.replicas(); ok {
		r.Backups = int64(rs.BackupCount())
	}
	if t := s.n.table.Load(); t != nil {
		r.Table = versionPB(t.Version)
	}
	return r, nil
}

func toPB(t *Table) *peerpb.Table {
	if t == nil {
		return nil
	}
	return &peerpb.Table{Version: versionPB(t.Version), Owners: t.Owners, Members: t.Members}
}

func fromPB(t *peerpb.Table) *Table {
	if t == nil || t.GetVersion() == nil || len(t.GetOwners()) == 0 {
		return nil
	}
	members := make(map[string]bool, len(t.GetMembers()))
	for _, m := range t.GetMembers() {
		members[m] = true
	}
	for _, o := range t.GetOwners() {
		if !members[o] {
			return nil // an owner must be a member: a garbled table
		}
	}
	// The issuer is one of the members; and a number that cannot be
	// exceeded would stop every later coordinator from issuing a table.
	if v := t.GetVersion(); !members[v.GetBy()] || v.GetN() == 0 || v.GetN() == math.MaxUint64 {
		return nil
	}
	return &Table{Version: fromPBVersion(t.GetVersion()), Owners: t.GetOwners(), Members: t.GetMembers()}
}

func versionPB(v Version) *peerpb.Version { return &peerpb.Version{N: v.N, By: v.By} }

func fromPBVersion(v *peerpb.Version) Version { return Version{N: v.GetN(), By: v.GetBy()} }

func modePB(m registerMode) peerpb.Mode {
	switch m {
	case modeClaim:
		return peerpb.Mode_MODE_CLAIM
	case modeMove:
		return peerpb.Mode_MODE_MOVE
	case modeReport:
		return peerpb.Mode_MODE_REPORT
	}
	return peerpb.Mode_MODE_UNSPECIFIED
}

func modeFromPB(m peerpb.Mode) (registerMode, bool) {
	switch m {
	case peerpb.Mode_MODE_CLAIM:
		return modeClaim, true
	case peerpb.Mode_MODE_MOVE:
		return modeMove, true
	case peerpb.Mode_MODE_REPORT:
		return modeReport, true
	}
	return 0, false
}
