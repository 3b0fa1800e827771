package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Farm is what a manager on a node of a farm consults about sessions that
// are not in its memory, and tells about the sessions it holds. core/cluster
// implements it; a manager without one is a single node.
//
// Nothing here is called on a local hit: only when a session is created, is
// looked for and not found here, or leaves this node.
type Farm interface {
	// Fetch is called for a session id that is not in memory here, before
	// the store. If another node holds the session, Fetch has it handed
	// over (Export there) and returns its record as Export encodes it, with
	// Settle: Settle(true) asks the holder to drop its copy and returns nil
	// only once it has, and only then may this node serve the session;
	// Settle(false) gives it back. If the holder died, Fetch restores the
	// session from a backup, the directory having accepted this node as its
	// holder. Fetch returns nil if no node of the farm has the session, and
	// an error — never nil — when it cannot tell: a holder that does not
	// answer may still have the session, and a fresh one in its place would
	// lose it.
	Fetch(ctx context.Context, id string) (*Fetched, error)
	// Claim records that this node now holds the session (created here,
	// loaded from the store, or moved here). It reports another holder if
	// the directory already names one: then this node must not serve it.
	Claim(ctx context.Context, id string) (other string, err error)
	// HeldHere reads, without changing it, whether the directory names
	// this node as the session's holder.
	HeldHere(ctx context.Context, id string) (bool, error)
	// Released records that this node no longer holds the sessions (they
	// were destroyed or written to the store). Best effort: a stale entry
	// names this node, which answers that it does not hold the session.
	Released(ids []string)
}

// Fetched is a session a Farm brought to this node.
type Fetched struct {
	// Data is the record, encoded as Export encodes it.
	Data   []byte
	Settle func(take bool) error
	// Previous is the holder the session came from, and Stale the members
	// that may keep backups for it: once this node's own backups have the
	// session, those are fenced off.
	Previous string
	Stale    []string
	// Kept, set by Settle(true), names the node that kept the handed-over
	// record as a backup for this node: until this node's own backups
	// have the session, that copy is its only other one. It counts as
	// one of this node's backups, at the record's version, so it is
	// dropped only once the placement's backups have the session, or
	// kept if that node is one of them.
	Kept string
	// Restored says the session came from a backup, its holder being
	// gone, rather than handed over by its holder.
	Restored bool
}

// ErrHeldElsewhere is returned when the directory names another holder for
// a session this node was about to serve from the store.
var ErrHeldElsewhere = errors.New("session: held by another node")

// Export hands the session with the id over to another node: it waits
// (bounded by ctx and LockTimeout) for the requests inside it to leave,
// holds it exclusively so that no request enters, and returns its record
// encoded with the configured codecs. commit drops the session from this
// node once the receiver has it; abort resumes serving it here. Exactly one
// of them must be called. Export returns nil data if the session is not in
// memory here.
func (m *Manager) Export(ctx context.Context, id string) (data []byte, commit, abort func(), err error) {
	s := m.get(id)
	if s == nil {
		return nil, nil, nil, nil
	}
	lctx, cancel := context.WithTimeout(ctx, m.opts.LockTimeout)
	defer cancel()
	if err := s.lock.Acquire(lctx, exclusiveWeight); err != nil {
		return nil, nil, nil, fmt.Errorf("session: waiting for %s to be free to move: %w", logID(id), err)
	}
	// A replication round in flight finishes first, so the backups never
	// hear from this node after the receiver took the session over.
	s.replMu.Lock()
	//lint:ignore SA2001 an empty critical section: waiting is the point
	s.replMu.Unlock()
	if !s.live() || s.ID() != id {
		s.lock.Release(exclusiveWeight)
		return nil, nil, nil, nil
	}
	enc, err := m.encodeStored(ctx, [][]byte{encodeRecord(s.snapshot())})
	if err != nil {
		s.lock.Release(exclusiveWeight)
		return nil, nil, nil, fmt.Errorf("session: encoding %s to move it: %w", logID(id), err)
	}
	done := false
	commit = func() {
		if done {
			return
		}
		done = true
		// Requests that waited wake to a session that is gone and look for
		// it again, through the farm, on its new node.
		// A takeover may have fenced it off already: count it once.
		if s.state.CompareAndSwap(int32(stateLive), int32(stateMoved)) {
			m.remove(id, s)
			m.addCount(-1)
		}
		s.lock.Release(exclusiveWeight)
	}
	abort = func() {
		if done {
			return
		}
		done = true
		s.lock.Release(exclusiveWeight)
	}
	return enc[0], commit, abort, nil
}

// Import installs a session handed over by another node (Export there, or
// a node that is leaving). A session already in memory here is an error.
func (m *Manager) Import(ctx context.Context, data []byte) (id string, err error) {
	s, err := m.decodeMoved(ctx, data)
	if err != nil {
		return "", err
	}
	s.repl.takeover = true
	if other := m.insert(s.id, s); other != nil {
		return "", fmt.Errorf("session: %s handed over, but already here", logID(s.id))
	}
	m.dropBackup(s.id)
	m.addCount(1)
	m.wakeIfFull()
	return s.id, nil
}

// Drop lets go of the copy here of a session that another node holds too:
// one Import installed for a hand-over its sender gave up on, or one the
// directory names another holder of. It reports false if a request is
// inside this copy, which then stays.
func (m *Manager) Drop(id string) bool {
	s := m.get(id)
	if s == nil {
		return true
	}
	if !s.lock.TryAcquire(exclusiveWeight) {
		return false
	}
	if s.state.CompareAndSwap(int32(stateLive), int32(stateMoved)) {
		m.remove(id, s)
		m.addCount(-1)
	}
	s.lock.Release(exclusiveWeight)
	return true
}

// decodeMoved reads a record that travelled between nodes.
func (m *Manager) decodeMoved(ctx context.Context, data []byte) (*Session, error) {
	raw, err := m.decodeStored(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("session: reading a moved session: %w", err)
	}
	r, err := decodeRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("session: reading a moved session: %w", err)
	}
	if !m.now().Before(r.expires()) {
		return nil, fmt.Errorf("session: moved session %s has expired", logID(r.id))
	}
	return sessionFromRecord(m, r), nil
}

// fetched is what one fetch brought, shared by the requests that waited
// for it.
type fetched struct {
	s *Session
	o Outcome
}

// fetch asks the farm for a session that is not here and installs it locked
// for the request. Concurrent requests for one id share one fetch, and its
// outcome.
func (m *Manager) fetch(ctx context.Context, id string) (*Session, Outcome, error) {
	// The request whose fetch brought the session keeps the lock it was
	// installed with: released and taken again, another node's request
	// could move it away in between, and under contention it would never
	// serve here.
	locked := false
	v, err, _ := m.fetching.Do(id, func() (any, error) {
		if s := m.get(id); s != nil {
			return fetched{s, OutcomeLocal}, nil // another request's fetch installed it
		}
		start := time.Now()
		f, err := m.opts.Farm.Fetch(ctx, id)
		if err != nil {
			return nil, err
		}
		if f == nil {
			return nil, nil
		}
		s, err := m.decodeMoved(ctx, f.Data)
		if err != nil {
			_ = f.Settle(false)
			return nil, err
		}
		if s.id != id {
			_ = f.Settle(false)
			return nil, fmt.Errorf("session: asked for %s, handed %s", logID(id), logID(s.id))
		}
		// In memory before the holder lets go, but held exclusively: once
		// the directory names this node, a node asking for the session
		// must find it here (and wait for it), not conclude it is gone.
		s.lock.TryAcquire(exclusiveWeight)
		if other := m.insert(id, s); other != nil {
			s.lock.Release(exclusiveWeight)
			_ = f.Settle(false)
			// The farm restored it here in the background meanwhile: the
			// request is served by that copy, and the metrics count that
			// restore, not this one.
			if !f.Restored {
				m.log.Error("a moved session arrived twice; keeping the first", "session", logID(id))
			}
			return fetched{other, OutcomeLocal}, nil
		}
		// Counted in as soon as it is in memory: a takeover that fences it
		// off meanwhile counts it out.
		m.addCount(1)
		// Until the holder confirms it dropped its copy, this one must not
		// serve: two copies would diverge.
		if err := f.Settle(true); err != nil {
			if s.state.CompareAndSwap(int32(stateLive), int32(stateMoved)) {
				m.remove(id, s)
				m.addCount(-1)
			}
			s.lock.Release(exclusiveWeight)
			return nil, err
		}
		// Measured to here: what the request waited for the hand-over;
		// re-creating the backups below is replication's.
		took := time.Since(start)
		s.replMu.Lock()
		s.repl.takeover = true
		s.repl.previous, s.repl.stale = f.Previous, f.Stale
		if f.Kept != "" {
			s.repl.acked = map[string]uint64{f.Kept: s.Version()}
		}
		s.replMu.Unlock()
		m.dropBackup(id)
		m.log.Debug("session received", "session", logID(id), "from", f.Previous, "version", s.Version(), "restored", f.Restored)
		o := OutcomeMigratedIn
		if f.Restored {
			o = OutcomeRestored
			m.metrics.Restored(true)
		} else {
			m.metrics.MigratedIn(took, len(f.Data))
		}
		m.wakeIfFull()
		// The backups follow the session before it serves: until they
		// have it, this node's copy would be its only one.
		if err := m.replicate(ctx, s, false); err != nil {
			m.log.Warn("moved session's backups not yet re-created", "session", logID(id), "error", err)
		}
		if w := m.requestWeight(); w < exclusiveWeight {
			s.lock.Release(exclusiveWeight - w)
		}
		locked = true
		return fetched{s, o}, nil
	})
	if err != nil || v == nil {
		return nil, OutcomeNone, err
	}
	got := v.(fetched)
	if locked {
		return got.s, got.o, nil
	}
	if err := m.lockForRequest(ctx, got.s); err != nil {
		return nil, OutcomeNone, err
	}
	return got.s, got.o, nil
}

// SessionIDs returns the ids of the sessions in memory, for the farm to
// report them to the directory after the partition table changes.
func (m *Manager) SessionIDs() []string {
	ss := m.sessions()
	ids := make([]string, 0, len(ss))
	for _, s := range ss {
		if s.live() {
			ids = append(ids, s.ID())
		}
	}
	return ids
}

// Drain hands every session in memory to another node with handoff, which
// reports how many of the encoded records, from the first, the other node
// took: those are dropped here, the rest stay (Close then writes them to
// the store). It returns how many left. New sessions are refused from the
// moment Drain is called.
func (m *Manager) Drain(ctx context.Context, batch int, handoff func(ctx context.Context, ids []string, recs [][]byte) (int, error), progress func(done, total int)) (int, error) {
	m.draining.Store(true)
	all := m.sessions()
	moved := 0
	var errs []error
	for start := 0; start < len(all); start += batch {
		chunk := all[start:min(start+batch, len(all))]
		var ids []string
		var recs [][]byte
		var commits, aborts []func()
		for _, s := range chunk {
			data, commit, abort, err := m.Export(ctx, s.ID())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if data == nil {
				continue
			}
			ids, recs = append(ids, s.ID()), append(recs, data)
			commits, aborts = append(commits, commit), append(aborts, abort)
		}
		if len(recs) == 0 {
			continue
		}
		took, err := handoff(ctx, ids, recs)
		if err != nil {
			errs = append(errs, err)
		}
		took = max(0, min(took, len(recs)))
		// Exactly the sessions the other node took are dropped: one copy
		// of each, there or here, never two and never none.
		for i := range recs {
			if i < took {
				commits[i]()
			} else {
				aborts[i]()
			}
		}
		moved += took
		if progress != nil {
			progress(moved, len(all))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return moved, errors.Join(errs...)
}
