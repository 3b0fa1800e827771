package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/wadi-go/wadi/core/cluster/internal/peerpb"
	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/sdk/replicator"
)

// Placer computes where backups go; a replicator strategy implements it.
type Placer interface {
	Place(ctx context.Context, req replicator.PlaceRequest) ([][]string, error)
}

// Replicas is what the node needs of the session manager to keep other
// members' backups and restore them; *session.Manager implements it.
type Replicas interface {
	ApplyReplicas(ctx context.Context, from string, items []session.ReplicaItem) ([]session.ReplicaStatus, error)
	Backup(ctx context.Context, id string) ([]byte, session.BackupInfo, error)
	OrphanBackups(alive func(string) bool) []session.BackupInfo
	Promote(ctx context.Context, id, holder string) error
	KeepMoved(ctx context.Context, data []byte, holder string) error
	Holds(id string) bool
	DropBackup(id, holder string)
	QuietBackups(alive func(string) bool, quiet time.Duration, limit int) []session.BackupInfo
	DropStale(id, holder string, version uint64) bool
	Replan(ctx context.Context)
	Replicated(id string) []string
	BackupsNow(id string) (members []string, known bool)
	BackupCount() int
}

// incarnation names a member as the holder of backups: a node restarted
// under the same name holds none of what it held before.
func incarnation(name string, started int64) string {
	return name + "#" + strconv.FormatInt(started, 10)
}

func parseIncarnation(s string) (string, int64, bool) {
	name, st, ok := strings.Cut(s, "#")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.ParseInt(st, 10, 64)
	return name, n, err == nil
}

// aliveHolder reports whether a backup's holder (an incarnation) is alive.
func (n *Node) aliveHolder(h string) bool {
	name, started, ok := parseIncarnation(h)
	return ok && n.aliveIncarnation(name, started)
}

func (n *Node) replicas() (Replicas, bool) {
	b := n.sessions.Load()
	if b == nil {
		return nil, false
	}
	r, ok := b.s.(Replicas)
	return r, ok
}

// Replicating reports whether the node keeps backups.
func (n *Node) Replicating() bool { return n.cfg.Placer != nil && n.cfg.Backups > 0 }

// Targets implements session.Replicas: the backups of a session held here,
// from the placement computed at the last membership change.
func (n *Node) Targets(id string) []string {
	pl := n.placement.Load()
	if pl == nil {
		return nil
	}
	return (*pl)[Partition(id, n.cfg.Partitions)]
}

// Send implements session.Replicas.
func (n *Node) Send(ctx context.Context, to string, items []session.ReplicaItem) ([]session.ReplicaStatus, error) {
	if to == n.self {
		return nil, errors.New("cluster: a node is not its own backup")
	}
	if until, silent := n.silentUntil(to); silent {
		return nil, fmt.Errorf("cluster: replicating to %s: it did not answer a moment ago; asking again after %s", to, until.Format(time.StampMilli))
	}
	c, err := n.clientOf(to)
	if err != nil {
		return nil, err
	}
	req := &peerpb.ReplicateRequest{From: n.self, Started: n.cfg.Self.Started, Items: make([]*peerpb.ReplicaItem, len(items))}
	for i, it := range items {
		req.Items[i] = &peerpb.ReplicaItem{
			Kind: peerpb.ReplicaKind(it.Kind), Id: it.ID, Version: it.Version, Base: it.Base,
			Data: it.Data, Backups: it.Backups, ExpiresInMs: it.ExpiresIn.Milliseconds(), Holder: it.Holder,
		}
	}
	size := proto.Size(req)
	n.replMessages.Add(1)
	n.replBytes.Add(int64(size))
	cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	reply, err := c.Replicate(cctx, req)
	n.cfg.Metrics.Replicated(time.Since(start), size, err)
	if err != nil {
		if code := status.Code(err); code == codes.DeadlineExceeded || code == codes.Unavailable {
			n.markSilent(to)
		}
		return nil, fmt.Errorf("cluster: replicating to %s: %w", to, err)
	}
	out := make([]session.ReplicaStatus, len(reply.GetStatuses()))
	for i, st := range reply.GetStatuses() {
		out[i] = session.ReplicaStatus(st)
	}
	return out, nil
}

// silentFor is how long a backup that did not answer is left alone; the
// failure detector usually settles its fate within a few of these.
const silentFor = time.Second

func (n *Node) markSilent(to string) {
	n.silentMu.Lock()
	defer n.silentMu.Unlock()
	if n.silent == nil {
		n.silent = make(map[string]time.Time)
	}
	n.silent[to] = time.Now().Add(silentFor)
}

func (n *Node) silentUntil(to string) (time.Time, bool) {
	n.silentMu.Lock()
	defer n.silentMu.Unlock()
	until, ok := n.silent[to]
	if ok && time.Now().After(until) {
		delete(n.silent, to)
		ok = false
	}
	return until, ok
}

// ReplicationTraffic is what this node has sent to backups: messages and
// their bytes on the wire (protobuf), for benchmarks and metrics.
func (n *Node) ReplicationTraffic() (messages, bytes int64) {
	return n.replMessages.Load(), n.replBytes.Load()
}

func (s *server) Replicate(ctx context.Context, req *peerpb.ReplicateRequest) (*peerpb.ReplicateReply, error) {
	if req.GetFrom() == "" || req.GetFrom() == s.n.self {
		return nil, status.Error(codes.InvalidArgument, "replicate: no sender")
	}
	r, ok := s.n.replicas()
	if !ok {
		return nil, status.Error(codes.Unavailable, "replicate: this node is still starting")
	}
	items := make([]session.ReplicaItem, len(req.GetItems()))
	for i, it := range req.GetItems() {
		if it.GetExpiresInMs() < 0 || it.GetKind() < peerpb.ReplicaKind_REPLICA_KIND_FULL || it.GetKind() > peerpb.ReplicaKind_REPLICA_KIND_FENCE {
			return nil, status.Errorf(codes.InvalidArgument, "replicate: item %d: bad kind or expiry", i)
		}
		items[i] = session.ReplicaItem{
			Kind: session.ReplicaKind(it.GetKind()), ID: it.GetId(), Version: it.GetVersion(), Base: it.GetBase(),
			Data: it.GetData(), Backups: it.GetBackups(), ExpiresIn: time.Duration(it.GetExpiresInMs()) * time.Millisecond,
			Holder: it.GetHolder(),
		}
	}
	st, err := r.ApplyReplicas(ctx, incarnation(req.GetFrom(), req.GetStarted()), items)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "replicate: %v", err)
	}
	out := &peerpb.ReplicateReply{Statuses: make([]peerpb.ReplicaStatus, len(st))}
	for i, x := range st {
		out.Statuses[i] = peerpb.ReplicaStatus(x)
	}
	return out, nil
}

func (s *server) FindBackup(ctx context.Context, req *peerpb.FindBackupRequest) (*peerpb.FindBackupReply, error) {
	if !session.ValidID(req.GetId()) {
		return nil, status.Error(codes.InvalidArgument, "find backup: bad id")
	}
	r, ok := s.n.replicas()
	if !ok {
		return nil, status.Error(codes.Unavailable, "find backup: this node is still starting")
	}
	s.n.handMu.Lock()
	h, handing := s.n.pending[req.GetId()]
	s.n.handMu.Unlock()
	if handing {
		return &peerpb.FindBackupReply{HandingTo: h.to}, nil
	}
	if r.Holds(req.GetId()) {
		bs, known := r.BackupsNow(req.GetId())
		return &peerpb.FindBackupReply{Live: true, LiveBackups: bs, LiveBackupsKnown: known}, nil
	}
	data, info, err := r.Backup(ctx, req.GetId())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "find backup: %v", err)
	}
	if data == nil {
		return &peerpb.FindBackupReply{}, nil
	}
	return &peerpb.FindBackupReply{Found: true, Data: data, Version: info.Version, Holder: info.Holder, Backups: info.Backups}, nil
}

// place recomputes where this node's sessions keep their backups: one
// answer per partition, computed by the replicator once per membership
// change, so that a request only indexes it.
func (n *Node) place(ctx context.Context) error {
	if !n.Replicating() {
		return nil
	}
	members := n.ms.Members()
	req := replicator.PlaceRequest{Primaries: make([]string, n.cfg.Partitions)}
	for _, m := range members {
		// A copy: the replicator is not trusted to leave the member's map
		// alone, and the membership shares it.
		req.Members = append(req.Members, replicator.Member{Name: m.Name, Zone: m.Zone, Meta: maps.Clone(m.Meta)})
	}
	for i := range req.Primaries {
		req.Primaries[i] = n.self
	}
	pctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	out, err := n.cfg.Placer.Place(pctx, req)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: placing backups: %w", err)
	}
	if len(out) != n.cfg.Partitions {
		return fmt.Errorf("cluster: the replicator placed %d partitions of %d", len(out), n.cfg.Partitions)
	}
	live := make(map[string]bool, len(members))
	for _, m := range members {
		live[m.Name] = true
	}
	// What a replicator answers is checked like any input: only live
	// members, never this node, never one twice, at most Backups.
	pl := make([][]string, len(out))
	for p, bs := range out {
		var keep []string
		for _, b := range bs {
			if live[b] && b != n.self && !slices.Contains(keep, b) && len(keep) < n.cfg.Backups {
				keep = append(keep, b)
			}
		}
		pl[p] = keep
	}
	n.placement.Store(&pl)
	n.log.Debug("backups placed", "members", len(members))
	return nil
}

// replicate keeps the backups in step with the farm: after every
// membership change it places backups again and re-creates those that are
// missing, and it restores the sessions whose holder died from the backups
// kept here — in the background, so that the backup count is whole again
// before a second failure, not only when a request comes.
func (n *Node) replicate(ctx context.Context) {
	defer n.wg.Done()
	interval := 5 * time.Second
	if n.cfg.Fast {
		interval = 500 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastMembers string
	for {
		changed := n.ms.Changed()
		members := n.ms.Members()
		var names []string
		for _, m := range members {
			names = append(names, incarnation(m.Name, m.Started))
		}
		if key := strings.Join(names, ","); key != lastMembers {
			if err := n.place(ctx); err != nil {
				n.log.Error("backups not placed; keeping the previous placement", "error", err)
			} else {
				lastMembers = key
			}
		}
		// Every round, not only on change: what failed (a member still
		// starting) is retried soon. A session whose backups are whole
		// costs a comparison. Apart from placement, which must not wait
		// for a round stuck on a member that hangs: the next placement is
		// what takes that member out.
		if r, ok := n.replicas(); ok && n.replanning.CompareAndSwap(false, true) {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				defer n.replanning.Store(false)
				r.Replan(ctx)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// restoreLoop restores orphaned backups after each membership change and
// every few seconds; it runs apart from placement, which it must not wait
// for.
func (n *Node) restoreLoop(ctx context.Context) {
	defer n.wg.Done()
	interval := 5 * time.Second
	if n.cfg.Fast {
		interval = 500 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	firstSeen := make(map[string]time.Time) // orphans not restored yet
	liveSeen := make(map[string]liveSighting)
	checked := make(map[string]time.Time)
	for {
		changed := n.ms.Changed()
		n.restoreOrphans(ctx, firstSeen, liveSeen)
		n.dropLetGo(ctx, checked)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// restoreOrphans promotes the backups kept here whose holder died: each
// is restored by the first live member of the holder's backup list, so the
// survivors do not race for it; one that stays an orphan for a few rounds
// (that member is slow or died too) is restored by whichever node has it.
// Backups whose live holder has been quiet about them for quietFor are
// asked after, at most quietBatch a round and each once per recheck: a
// copy whose holder let the session go without this node hearing of it
// (its drop or fence was lost, or sent to another node) would otherwise
// stay until the session's expiry.
const (
	quietFor   = 10 * time.Second
	quietBatch = 64
	recheck    = 30 * time.Second
)

// quietTimes are quietFor and recheck, shortened for farms on one machine.
func (n *Node) quietTimes() (quiet, again time.Duration) {
	if n.cfg.Fast {
		return quietFor / 10, recheck / 10
	}
	return quietFor, recheck
}

// dropLetGo asks the holders of quiet backups whether they still hold the
// sessions, and drops the copies of those that do not.
func (n *Node) dropLetGo(ctx context.Context, checked map[string]time.Time) {
	r, ok := n.replicas()
	if !ok || n.left.Load() {
		return
	}
	now := time.Now()
	quiet, again := n.quietTimes()
	for id, at := range checked {
		if now.Sub(at) > again {
			delete(checked, id)
		}
	}
	for _, b := range r.QuietBackups(n.aliveHolder, quiet, quietBatch+len(checked)) {
		if ctx.Err() != nil {
			return
		}
		if _, ok := checked[b.ID]; ok {
			continue
		}
		checked[b.ID] = now
		name, _, _ := parseIncarnation(b.Holder)
		m, ok := n.ms.Member(name)
		if !ok {
			continue
		}
		c, err := n.client(m.Peer)
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
		rep, err := c.FindBackup(cctx, &peerpb.FindBackupRequest{Id: b.ID})
		cancel()
		if err != nil {
			continue
		}
		// A holder that holds the session but does not count this node
		// among its backups will never update or drop this copy (a kept
		// copy whose drop was lost): it is as stale as one for a session
		// the holder let go.
		if rep.GetLive() && (!rep.GetLiveBackupsKnown() || slices.Contains(rep.GetLiveBackups(), n.self)) {
			continue
		}
		if r.DropStale(b.ID, b.Holder, b.Version) {
			n.log.Debug("dropped a backup its holder no longer counts", "session", logID(b.ID), "holder", b.Holder, "live", rep.GetLive())
		}
	}
}

// liveSighting is a member that said it holds an orphan's session live.
type liveSighting struct {
	at    string
	since time.Time
}

// liveConfirm is how long a member must go on saying it holds an orphan's
// session live before the orphan is dropped: a member that is dying still
// answers for a moment, and dropping on its word would lose the session.
const liveConfirm = time.Second

func (n *Node) restoreOrphans(ctx context.Context, firstSeen map[string]time.Time, liveSeen map[string]liveSighting) {
	r, ok := n.replicas()
	if !ok || n.left.Load() {
		return
	}
	orphans := r.OrphanBackups(n.aliveHolder)
	now := time.Now()
	seen := make(map[string]bool, len(orphans))
	restored := 0
	for _, o := range orphans {
		if ctx.Err() != nil {
			return
		}
		seen[o.ID] = true
		if _, ok := firstSeen[o.ID]; !ok {
			firstSeen[o.ID] = now
		}
		// A session this node handed to the dead holder, whose claim may
		// never have reached the directory: the directory may still name
		// this node, and then only this node's claim is taken. It goes
		// first.
		handedToIt := false
		if name, _, ok := parseIncarnation(o.Holder); ok && n.movedTo(o.ID) == name {
			handedToIt = true
		}
		designated := n.self
		if !handedToIt {
			for _, b := range o.Backups {
				if n.alive(b) {
					designated = b
					break
				}
			}
		}
		if designated != n.self && now.Sub(firstSeen[o.ID]) < 3*n.directoryWait()/2 {
			continue
		}
		// Another member may hold the session live (a request restored it
		// there) or keep a newer copy (the holder's last change reached
		// it, not this node): promoting this copy would then bring back
		// an older session, or a second one.
		copies, liveAt, errs := n.survey(ctx, r, o.ID, false)
		newer := slices.ContainsFunc(copies, func(c found) bool { return c.rep.GetVersion() > o.Version })
		switch {
		case liveAt != "":
			ls, ok := liveSeen[o.ID]
			if !ok || ls.at != liveAt {
				liveSeen[o.ID] = liveSighting{at: liveAt, since: now}
				continue
			}
			if now.Sub(ls.since) < liveConfirm || !n.alive(liveAt) {
				continue
			}
			n.log.Debug("an orphaned backup's session lives elsewhere; dropped", "session", logID(o.ID), "at", liveAt)
			r.DropBackup(o.ID, o.Holder)
			delete(firstSeen, o.ID)
			delete(liveSeen, o.ID)
			continue
		case len(errs) > 0:
			n.log.Debug("not restoring while a member does not answer", "session", logID(o.ID), "error", errors.Join(errs...))
			continue
		case newer && handedToIt && !r.Holds(o.ID):
			// The member with the newer copy restores it, which it cannot
			// while the directory names this node: that entry goes.
			n.log.Debug("an orphaned session has a newer copy elsewhere; this node's directory entry released", "session", logID(o.ID))
			n.Released([]string{o.ID})
			continue
		case newer:
			continue // the member with the newer copy restores it
		}
		err := r.Promote(ctx, o.ID, o.Holder)
		switch {
		case err == nil:
			restored++
			delete(firstSeen, o.ID)
		case errors.Is(err, session.ErrHeldElsewhere):
			// The directory names a live member. Not dropped on that word
			// alone: the entry may be stale (the member handed the session
			// to the dead holder, whose claim never landed), and this copy
			// the newest. If the session does live there, the survey finds
			// it, and the copy goes as above.
			n.log.Debug("an orphaned backup's session is claimed elsewhere; kept for now", "session", logID(o.ID), "error", err)
		default:
			n.log.Debug("restoring a session from its backup failed; retrying", "session", logID(o.ID), "error", err)
		}
	}
	for id := range firstSeen {
		if !seen[id] {
			delete(firstSeen, id)
		}
	}
	for id := range liveSeen {
		if !seen[id] {
			delete(liveSeen, id)
		}
	}
	if restored > 0 {
		n.log.Info("restored sessions of a member that died from their backups", "count", restored)
	}
}

// found is a copy of a session a member keeps as a backup.
type found struct {
	from string
	rep  *peerpb.FindBackupReply
}

// survey asks every live member (and this node, with self) for its copy
// of the session: the backups they keep, or whether one holds the session
// live — whatever the directory says, a live session must never be
// replaced by a restored copy.
func (n *Node) survey(ctx context.Context, r Replicas, id string, self bool) (copies []found, liveAt string, errs []error) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	if self {
		if data, info, err := r.Backup(ctx, id); err != nil {
			errs = append(errs, err)
		} else if data != nil {
			copies = append(copies, found{n.self, &peerpb.FindBackupReply{Found: true, Data: data, Version: info.Version, Holder: info.Holder, Backups: info.Backups}})
		}
	}
	for _, m := range n.others() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := n.client(m.Peer)
			var rep *peerpb.FindBackupReply
			if err == nil {
				cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
				rep, err = c.FindBackup(cctx, &peerpb.FindBackupRequest{Id: id})
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			case rep.GetLive():
				liveAt = m.Name
			case rep.GetFound():
				copies = append(copies, found{m.Name, rep})
			}
		}()
	}
	wg.Wait()
	return copies, liveAt, errs
}

// failedButAnswers asks a holder that failure detection declared dead,
// at the address it had, whether it has the session: a wrong verdict (a
// loaded machine, a lossy network) must not turn the only copy of a
// session into a new, empty one. It returns an error (the request fails
// and is retried, the session kept) if the holder has the session, or is
// reached but does not answer in time.
func (n *Node) failedButAnswers(ctx context.Context, id string, holder holderRef) error {
	m, ok := n.ms.Failed(holder.name)
	if !ok || (holder.started != 0 && m.Started != holder.started) {
		return nil
	}
	c, err := n.client(m.Peer)
	if err != nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	defer cancel()
	rep, err := c.FindBackup(cctx, &peerpb.FindBackupRequest{Id: id})
	switch {
	case status.Code(err) == codes.DeadlineExceeded:
		// As alive as dead. The request fails and is retried; for a
		// holder truly gone, until the verdict is old (failedTTL).
		return fmt.Errorf("%w: %s, declared dead, may hold %s: %w", ErrUndecided, holder.name, logID(id), err)
	case err != nil || (!rep.GetLive() && rep.GetHandingTo() == ""):
		return nil // gone indeed (nothing listens), or without the session
	}
	n.log.Warn("the session's holder was declared dead but still has it; waiting for it to rejoin", "session", logID(id), "holder", holder.name)
	return fmt.Errorf("%w: %s holds %s but is out of the membership", ErrUndecided, holder.name, logID(id))
}

// restore is Fetch's path for a session whose holder is gone (or unknown
// to the directory): the backups of the live members are asked, the
// newest copy is claimed in the directory — which refuses if another node
// restored it first — and returned.
func (n *Node) restore(ctx context.Context, id string, gone holderRef, lost bool) (*session.Fetched, string, error) {
	r, ok := n.replicas()
	if !ok {
		return nil, "", nil
	}
	if !n.Replicating() {
		// No backups to restore from. But a directory entry that names a
		// holder that is gone, or does not have the session, may be a move
		// whose claim has not landed (the holder handed the session on as
		// it left): the members are asked whether one has it live before
		// the caller turns to the store, which would give the request an
		// older copy, or none.
		if lost {
			if _, at, _ := n.survey(ctx, r, id, false); at != "" && at != n.self {
				n.log.Debug("restore: the session is live elsewhere", "session", logID(id), "at", at)
				return nil, at, nil
			}
			if err := n.failedButAnswers(ctx, id, gone); err != nil {
				return nil, "", err
			}
		}
		return nil, "", nil
	}
	began := time.Now()
	copies, liveAt, errs := n.survey(ctx, r, id, true)
	// A backup of this very incarnation's session: this node holds it
	// (restored here in the background meanwhile), or held it and let it
	// go — handed over a moment ago, or fenced by a takeover — so that it
	// lives on elsewhere, newer. Restoring it would make a second copy.
	own := incarnation(n.self, n.cfg.Self.Started)
	mine := len(copies)
	copies = slices.DeleteFunc(copies, func(c found) bool { return c.rep.GetHolder() == own })
	mine -= len(copies)
	if liveAt != "" {
		// The directory was behind (a move not yet recorded, or a
		// directory rebuilt from reports): the session lives there.
		n.log.Debug("restore: the session is live elsewhere", "session", logID(id), "at", liveAt)
		return nil, liveAt, nil
	}
	if len(copies) == 0 {
		// Restored here in the background meanwhile, or restored here and
		// handed on before the receiver's claim reached the directory (its
		// kept copy names the receiver, which the survey may have asked
		// before the copy was made): the session is not lost.
		switch to := n.movedTo(id); {
		case r.Holds(id):
			return nil, "", nil // the manager finds it in memory
		case to != "":
			return nil, to, nil
		case mine > 0:
			return nil, "", fmt.Errorf("%w: %s left this node a moment ago and has not landed yet", ErrUndecided, logID(id))
		}
		// Restored elsewhere a moment ago (its backup is gone because it
		// is a session again): the directory says where.
		h, err := n.lookup(ctx, id)
		if err == nil && h.name != "" && h.name != n.self && n.aliveIncarnation(h.name, h.started) {
			return nil, h.name, nil
		}
		if len(errs) > 0 {
			// A member that did not answer may keep the only copy.
			return nil, "", fmt.Errorf("%w: looking for a backup of %s: %w", ErrUndecided, logID(id), errors.Join(errs...))
		}
		// Worth an operator's eye: a session the farm once held and no
		// member has any more (expired, invalidated — or lost).
		n.log.Info("no member holds the session or a copy of it", "session", logID(id),
			"asked", len(n.others()), "directory", h.name, "directory_error", err)
		return nil, "", nil
	}
	best := slices.MaxFunc(copies, func(a, b found) int {
		return cmp.Or(cmp.Compare(a.rep.GetVersion(), b.rep.GetVersion()), strings.Compare(b.from, a.from))
	})
	holder, err := n.claimOver(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if holder != n.self {
		return nil, holder, nil // another node restored it first: fetch it from there
	}
	if to := n.movedSince(id, began); to != "" {
		// Handed over from here while the backups were asked, before the
		// receiver's claim reached the directory: it lives there. An older
		// record is no news: the session has been elsewhere since.
		return nil, to, nil
	}
	stale := slices.Clone(best.rep.GetBackups())
	for _, c := range copies {
		if !slices.Contains(stale, c.from) && c.from != n.self {
			stale = append(stale, c.from)
		}
	}
	n.log.Info("restored a session from its backup", "session", logID(id), "from", best.from, "holder_was", best.rep.GetHolder(), "version", best.rep.GetVersion())
	n.restored.Add(1)
	return &session.Fetched{
		Data: best.rep.GetData(), Settle: func(bool) error { return nil },
		Previous: best.rep.GetHolder(), Stale: stale, Restored: true,
	}, "", nil
}

// Restored is how many sessions requests restored from backups here.
func (n *Node) Restored() int64 { return n.restored.Load() }
