package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// replState is what a holder knows of its session's backups. It is
// guarded by the session's replMu, except dirty and cleared, which change
// with the attributes and are guarded by mu.
type replState struct {
	// acked is the version each backup acknowledged.
	acked map[string]uint64
	// base is the version the last replication round started from: a
	// backup at base can take a delta.
	base uint64
	// id is the id the backups know the session by (RenewID changes it).
	id string
	// takeover is set on a session that came from another node: its first
	// copies replace whatever the backups had.
	takeover bool
	// touched is the last access the backups were told of.
	touched int64
	// previous and stale name a previous holder and the members that may
	// keep copies for it, fenced off once this node's backups are made.
	previous string
	stale    []string
	// dropTries counts the failed drops of copies no longer placed.
	dropTries map[string]int
}

// maxDropTries bounds how often a drop is sent to a member that does not
// answer before its copy is left to expire.
const maxDropTries = 5

func (m *Manager) replicating() bool { return m.opts.Replication.Replicas != nil }

func (m *Manager) replTimeout() time.Duration {
	if t := m.opts.Replication.Timeout; t > 0 {
		return t
	}
	return 15 * time.Second
}

// needsReplication reports whether s changed, or its placement did, since
// its backups last acknowledged it. It is the only replication cost of a
// request that changed nothing.
func (m *Manager) needsReplication(s *Session) bool {
	if !m.replicating() || !s.live() {
		return false
	}
	s.replMu.Lock()
	defer s.replMu.Unlock()
	s.mu.Lock()
	id, v := s.id, s.version
	s.mu.Unlock()
	if id != s.repl.id && s.repl.id != "" {
		return true
	}
	targets := m.opts.Replication.Replicas.Targets(id)
	if len(targets) != len(s.repl.acked) {
		return true
	}
	for _, t := range targets {
		if a, ok := s.repl.acked[t]; !ok || a != v {
			return true
		}
	}
	return false
}

// finish runs after a request's handler, before its response is released:
// in synchronous mode the backups have the request's changes when it
// returns nil; in asynchronous mode they get them in the background.
func (m *Manager) finish(ctx context.Context, s *Session) error {
	if !m.needsReplication(s) {
		return nil
	}
	if m.opts.Replication.Async {
		go func() {
			if err := m.replicate(context.Background(), s, false); err != nil {
				m.log.Warn("asynchronous replication failed", "session", logID(s.ID()), "error", err)
			}
		}()
		return nil
	}
	return m.replicate(ctx, s, true)
}

// replSnap is the session as one replication round sends it.
type replSnap struct {
	id        string
	version   uint64
	base      uint64
	rec       *record
	delta     *delta // nil: no delta (whole sessions, or nothing changed)
	expiresIn time.Duration
}

// snapshotForReplication takes the session's state and the changes since
// the last round, and starts a new round. The caller holds replMu.
func (s *Session) snapshotForReplication(deltas bool, now time.Time) replSnap {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.snapshotLocked()
	snap := replSnap{id: rec.id, version: rec.version, base: s.repl.base, rec: rec, expiresIn: s.Expires().Sub(now)}
	if deltas && rec.version != s.repl.base {
		d := &delta{id: rec.id, base: s.repl.base, version: rec.version, lastAccess: rec.lastAccess, cleared: s.cleared, puts: map[string][]byte{}}
		for k := range s.dirty {
			if v, ok := rec.attrs[k]; ok {
				d.puts[k] = v
			} else if !s.cleared {
				d.removes = append(d.removes, k)
			}
		}
		slices.Sort(d.removes)
		snap.delta = d
	}
	clear(s.dirty)
	s.cleared = false
	s.repl.base = rec.version
	return snap
}

// replicate brings the session's backups up to date: the changed
// attributes (or the whole session) to each backup of the current
// placement, the whole session to a new one, a drop to one no longer
// placed. With wait, it retries, bounded by the replication timeout,
// until every backup has acknowledged — a backup that died is replaced
// once the farm notices; without, one attempt, and the sweeper retries.
func (m *Manager) replicate(ctx context.Context, s *Session, wait bool) error {
	if m.opts.Replication.Replicas == nil {
		return nil
	}
	s.replMu.Lock()
	defer s.replMu.Unlock()
	return m.replicateLocked(ctx, s, wait)
}

// replicateLocked is replicate for a caller that holds s.replMu.
func (m *Manager) replicateLocked(ctx context.Context, s *Session, wait bool) error {
	r := m.opts.Replication.Replicas
	if !s.live() {
		return nil
	}
	snap := s.snapshotForReplication(!m.opts.Replication.WholeSessions, m.now())
	if s.repl.acked == nil {
		s.repl.acked = make(map[string]uint64)
	}
	if s.repl.id != "" && s.repl.id != snap.id {
		// Renewed: the old id's backups go, the new id's are made whole.
		m.sendDrops(ctx, s.repl.id, s.repl.acked)
		clear(s.repl.acked)
	}
	s.repl.id = snap.id

	var full, delta []byte
	encode := func(raw []byte) ([]byte, error) {
		enc, err := m.encodeStored(ctx, [][]byte{raw})
		if err != nil {
			return nil, fmt.Errorf("session: encoding %s for its backups: %w", logID(snap.id), err)
		}
		return enc[0], nil
	}
	deadline := time.Now().Add(m.replTimeout())
	pause := 20 * time.Millisecond
	var lastErr error
	for {
		targets := r.Targets(snap.id)
		type job struct {
			to   string
			item ReplicaItem
			drop bool
			st   ReplicaStatus
			err  error
		}
		var jobs []*job
		for _, t := range targets {
			a, ok := s.repl.acked[t]
			if ok && a == snap.version {
				continue
			}
			it := ReplicaItem{ID: snap.id, Version: snap.version, Backups: targets, ExpiresIn: snap.expiresIn}
			if ok && a == snap.base && snap.delta != nil && !s.repl.takeover {
				if delta == nil {
					var err error
					if delta, err = encode(encodeDelta(snap.delta)); err != nil {
						return err
					}
				}
				it.Kind, it.Base, it.Data = ReplicaDelta, snap.base, delta
			} else {
				it.Kind = ReplicaFull
				if s.repl.takeover {
					it.Kind = ReplicaTakeover
					m.log.Debug("replicating as a takeover", "session", logID(snap.id), "to", t, "version", snap.version)
				}
			}
			jobs = append(jobs, &job{to: t, item: it})
		}
		for t := range s.repl.acked {
			if !slices.Contains(targets, t) {
				jobs = append(jobs, &job{to: t, drop: true, item: ReplicaItem{Kind: ReplicaDrop, ID: snap.id}})
			}
		}
		for _, j := range jobs {
			if (j.item.Kind == ReplicaFull || j.item.Kind == ReplicaTakeover) && full == nil {
				var err error
				if full, err = encode(encodeRecord(snap.rec)); err != nil {
					return err
				}
			}
			if j.item.Kind == ReplicaFull || j.item.Kind == ReplicaTakeover {
				j.item.Data = full
			}
		}
		// Copies no longer placed are dropped only once every placed
		// backup has the session: until then they may be its only others
		// (the old holder's kept copy, or a backup whose replacement has
		// not answered yet).
		var drops []*job
		jobs = slices.DeleteFunc(jobs, func(j *job) bool {
			if j.drop {
				drops = append(drops, j)
			}
			return j.drop
		})
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j.st, j.err = sendOne(ctx, r, j.to, j.item)
				if j.err == nil && j.st == ReplicaGap {
					if full == nil {
						return // encoded below, then sent again
					}
					j.item.Kind, j.item.Data, j.item.Base = ReplicaFull, full, 0
					j.st, j.err = sendOne(ctx, r, j.to, j.item)
				}
			}()
		}
		wg.Wait()
		failed := 0
		for _, j := range jobs {
			if j.err == nil && j.st == ReplicaGap && full == nil {
				// The whole session was not encoded for this round: send it
				// now, once.
				var err error
				if full, err = encode(encodeRecord(snap.rec)); err != nil {
					return err
				}
				j.item.Kind, j.item.Data, j.item.Base = ReplicaFull, full, 0
				j.st, j.err = sendOne(ctx, r, j.to, j.item)
			}
			holder := holderUnknown
			if j.err == nil && j.st == ReplicaFenced {
				holder = m.stillHolder(ctx, snap.id)
			}
			switch {
			case j.err != nil:
				delete(s.repl.acked, j.to)
				lastErr = j.err
				failed++
			case j.st == ReplicaFenced && holder == holderUnknown:
				// The directory did not answer (rebuilt after a death, say):
				// neither copy is taken for stale on no word. Tried again
				// until the replication deadline.
				delete(s.repl.acked, j.to)
				lastErr = fmt.Errorf("%s keeps another holder's copy of %s, and the directory did not say whose the session is", j.to, logID(snap.id))
				failed++
			case j.st == ReplicaFenced && holder == holderHere:
				// The backup keeps a copy for another holder (a late
				// message from a node that handed the session here, or a
				// restore that lost to this node), but the directory names
				// this node: that copy is the stale one. It gets the whole
				// session as a takeover on the next attempt.
				s.repl.takeover = true
				delete(s.repl.acked, j.to)
				lastErr = fmt.Errorf("%s kept another holder's copy of %s; sending it whole", j.to, logID(snap.id))
				failed++
			case j.st == ReplicaFenced:
				m.fenceLocal(s)
				return fmt.Errorf("%w: %s refused the change to %s", ErrFenced, j.to, logID(snap.id))
			case j.st == ReplicaOK:
				s.repl.acked[j.to] = snap.version
			default:
				delete(s.repl.acked, j.to)
				lastErr = fmt.Errorf("%s answered %d for %s", j.to, j.st, logID(snap.id))
				failed++
			}
		}
		if failed == 0 {
			for _, j := range drops {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, j.err = sendOne(ctx, r, j.to, j.item)
				}()
			}
			wg.Wait()
			for _, j := range drops {
				// A drop that failed stays among the acknowledged, so that the
				// next round (Replan) sends it again; after a few tries the
				// member is taken for gone and its copy expires on its own.
				if j.err != nil && s.repl.dropTries[j.to] < maxDropTries {
					if s.repl.dropTries == nil {
						s.repl.dropTries = make(map[string]int)
					}
					s.repl.dropTries[j.to]++
					m.log.Debug("backup no longer placed not dropped yet; retrying", "session", logID(snap.id), "member", j.to, "error", j.err)
					continue
				}
				delete(s.repl.acked, j.to)
				delete(s.repl.dropTries, j.to)
			}
			s.repl.takeover = false
			s.repl.touched = s.lastAccess.Load()
			if s.repl.previous != "" {
				m.fenceStale(ctx, s)
			}
			return nil
		}
		if !wait || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w: %s: %v", ErrNotReplicated, logID(snap.id), lastErr)
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(pause*2, 500*time.Millisecond)
	}
}

// stillHolder reads whether the directory names this node as the
// session's holder, or that it did not answer. A read, not a claim: a
// node taken over must not take the entry back.
func (m *Manager) stillHolder(ctx context.Context, id string) holderAnswer {
	if m.opts.Farm == nil {
		return holderElsewhere
	}
	here, err := m.opts.Farm.HeldHere(ctx, id)
	switch {
	case err != nil:
		m.log.Debug("the directory did not say who holds a session a backup refused", "session", logID(id), "error", err)
		return holderUnknown
	case here:
		return holderHere
	}
	return holderElsewhere
}

// holderAnswer is the directory's word on a session's holder.
type holderAnswer int

const (
	holderUnknown holderAnswer = iota // no answer
	holderHere
	holderElsewhere
)

func sendOne(ctx context.Context, r Replicas, to string, it ReplicaItem) (ReplicaStatus, error) {
	st, err := r.Send(ctx, to, []ReplicaItem{it})
	if err != nil {
		return 0, err
	}
	if len(st) != 1 {
		return 0, fmt.Errorf("%s answered %d statuses for 1 item", to, len(st))
	}
	return st[0], nil
}

// fenceStale removes the copies a previous holder kept, now that this
// node's backups have the session. The caller holds replMu.
func (m *Manager) fenceStale(ctx context.Context, s *Session) {
	r := m.opts.Replication.Replicas
	prev, stale := s.repl.previous, s.repl.stale
	s.repl.previous, s.repl.stale = "", nil
	for _, to := range stale {
		if _, ok := s.repl.acked[to]; ok {
			continue // its copy is this node's now
		}
		if _, err := r.Send(ctx, to, []ReplicaItem{{Kind: ReplicaFence, ID: s.repl.id, Holder: prev}}); err != nil {
			m.log.Debug("a previous holder's backup not fenced; it expires on its own", "session", logID(s.repl.id), "member", to, "error", err)
		}
	}
}

// sendDrops tells the backups that the session is gone from this node.
// Best effort: a drop that is lost expires with the session.
func (m *Manager) sendDrops(ctx context.Context, id string, acked map[string]uint64) {
	for to := range acked {
		if _, err := m.opts.Replication.Replicas.Send(ctx, to, []ReplicaItem{{Kind: ReplicaDrop, ID: id}}); err != nil {
			m.log.Debug("backup not dropped; it expires on its own", "session", logID(id), "member", to, "error", err)
		}
	}
}

// dropReplicas drops the backups of sessions that end or leave this node,
// batched per backup.
func (m *Manager) dropReplicas(ctx context.Context, ss []*Session) {
	if !m.replicating() {
		return
	}
	by := make(map[string][]ReplicaItem)
	for _, s := range ss {
		s.replMu.Lock()
		for to := range s.repl.acked {
			by[to] = append(by[to], ReplicaItem{Kind: ReplicaDrop, ID: s.repl.id})
		}
		clear(s.repl.acked)
		s.replMu.Unlock()
	}
	m.sendBatches(ctx, by, "dropping backups")
}

func (m *Manager) sendBatches(ctx context.Context, by map[string][]ReplicaItem, what string) {
	var wg sync.WaitGroup
	for to, items := range by {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
			defer cancel()
			if _, err := m.opts.Replication.Replicas.Send(sctx, to, items); err != nil {
				m.log.Debug(what+" failed", "member", to, "count", len(items), "error", err)
			}
		}()
	}
	wg.Wait()
}

// touchReplicas renews the backups' expiry of the sessions used since
// their backups last heard of them, once per sweep.
func (m *Manager) touchReplicas(ctx context.Context, now time.Time) {
	by := make(map[string][]ReplicaItem)
	for _, s := range m.sessions() {
		if !s.live() || !s.replMu.TryLock() {
			continue // replicating now: that renews it
		}
		if la := s.lastAccess.Load(); la != s.repl.touched && len(s.repl.acked) > 0 {
			s.repl.touched = la
			for to := range s.repl.acked {
				by[to] = append(by[to], ReplicaItem{Kind: ReplicaTouch, ID: s.repl.id, ExpiresIn: s.Expires().Sub(now)})
			}
		}
		s.replMu.Unlock()
	}
	m.sendBatches(ctx, by, "renewing backups")
}

// Replan re-creates the backups of every session whose placement changed
// (a member joined or left); the farm calls it after each membership
// change, and the sweeper retries what failed. A session that a request
// holds exclusively is left to that request.
func (m *Manager) Replan(ctx context.Context) {
	if !m.replicating() {
		return
	}
	var errs []error
	for _, s := range m.sessions() {
		if ctx.Err() != nil {
			return
		}
		if !m.needsReplication(s) || !s.lock.TryAcquire(1) {
			continue
		}
		// A session whose request is replicating it is skipped, not
		// waited for: that request may be waiting for a backup that died,
		// which only the placement this loop's caller makes next replaces.
		if !s.replMu.TryLock() {
			s.lock.Release(1)
			continue
		}
		if err := m.replicateLocked(ctx, s, false); err != nil && !errors.Is(err, ErrFenced) {
			errs = append(errs, err)
		}
		s.replMu.Unlock()
		s.lock.Release(1)
	}
	if len(errs) > 0 {
		m.log.Warn("some sessions' backups not yet re-created; retrying at the next sweep", "count", len(errs), "first", errs[0])
	}
}

// ReplicationPending is the number of sessions whose backups do not have
// their latest version: the asynchronous mode's window, or backups still
// to be re-created after a membership change.
func (m *Manager) ReplicationPending() int {
	n := 0
	for _, s := range m.sessions() {
		if m.needsReplication(s) {
			n++
		}
	}
	return n
}

// Replicated reports the members that acknowledged the session's current
// backup, for a node handing it over.
func (m *Manager) Replicated(id string) []string {
	s := m.get(id)
	if s == nil {
		return nil
	}
	s.replMu.Lock()
	defer s.replMu.Unlock()
	out := make([]string, 0, len(s.repl.acked))
	for t := range s.repl.acked {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// BackupsNow is Replicated without waiting: known is false while a
// replication round of the session is in flight (or it is not here).
func (m *Manager) BackupsNow(id string) (members []string, known bool) {
	s := m.get(id)
	if s == nil || !s.replMu.TryLock() {
		return nil, false
	}
	defer s.replMu.Unlock()
	for t := range s.repl.acked {
		members = append(members, t)
	}
	slices.Sort(members)
	return members, true
}
