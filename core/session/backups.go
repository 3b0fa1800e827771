package session

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// backups are the copies this node keeps of sessions other members hold.
// Each copy names its holder; only the holder changes it, and a node that
// takes the session over (the directory recorded it) replaces it. Every
// copy expires on this node's clock: the holder renews it while the session
// is used, and drops it when the session ends, moves or is evicted.
type backups struct {
	mu     sync.Mutex
	copies map[string]*backup
	// fenced are holders whose copies are refused for a while: each died
	// and its session was taken over.
	fenced map[string]fence
}

type backup struct {
	rec     *record
	holder  string
	backups []string
	expires time.Time
	// heard is when the holder last sent anything about the copy.
	heard time.Time
}

type fence struct {
	holder string
	until  time.Time
}

// fenceTTL is how long a taken-over session refuses its dead holder's
// copies: far longer than it takes a node declared dead to learn it.
const fenceTTL = 5 * time.Minute

func newBackups() *backups {
	return &backups{copies: make(map[string]*backup), fenced: make(map[string]fence)}
}

// BackupInfo describes a backup this node keeps.
type BackupInfo struct {
	ID      string `json:"id"`
	Holder  string `json:"holder"`
	Version uint64 `json:"version"`
	// Backups are the members the holder kept backups on, in its order.
	Backups []string `json:"backups,omitempty"`
}

// ApplyReplicas applies the items a holder (from) sent, returning a status
// per item. A malformed item is an error for the whole call and changes
// nothing that came after it.
func (m *Manager) ApplyReplicas(ctx context.Context, from string, items []ReplicaItem) ([]ReplicaStatus, error) {
	out := make([]ReplicaStatus, 0, len(items))
	for i := range items {
		st, err := m.applyReplica(ctx, from, &items[i])
		if err != nil {
			return out, fmt.Errorf("replica item %d from %s: %w", i, from, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func (m *Manager) applyReplica(ctx context.Context, from string, it *ReplicaItem) (ReplicaStatus, error) {
	if !ValidID(it.ID) || from == "" {
		return 0, fmt.Errorf("%w: bad id or sender", ErrCorruptRecord)
	}
	now := m.now()
	expires := now.Add(it.ExpiresIn + m.backupGrace())
	b := m.backups
	switch it.Kind {
	case ReplicaFull, ReplicaTakeover:
		raw, err := m.decodeStored(ctx, it.Data)
		if err != nil {
			return 0, err
		}
		r, err := decodeRecord(raw)
		if err != nil {
			return 0, err
		}
		if r.id != it.ID {
			return 0, fmt.Errorf("%w: item for %s carries %s", ErrCorruptRecord, logID(it.ID), logID(r.id))
		}
		if it.Kind == ReplicaTakeover {
			// The directory gave the session to the sender: a copy still
			// live here is stale (this node was taken for dead).
			if s := m.get(it.ID); s != nil && s.live() {
				m.log.Debug("a takeover names another holder for a session live here", "session", logID(it.ID), "from", from, "version", it.Version, "local_version", s.Version())
				m.fenceLocal(s)
			}
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if it.Kind == ReplicaFull {
			if c, ok := b.copies[it.ID]; ok && c.holder != from {
				return ReplicaFenced, nil
			}
			if f, ok := b.fenced[it.ID]; ok && f.holder == from && now.Before(f.until) {
				return ReplicaFenced, nil
			}
		} else {
			delete(b.fenced, it.ID)
		}
		b.copies[it.ID] = &backup{rec: r, holder: from, backups: slices.Clone(it.Backups), expires: expires, heard: time.Now()}
		return ReplicaOK, nil
	case ReplicaDelta:
		raw, err := m.decodeStored(ctx, it.Data)
		if err != nil {
			return 0, err
		}
		d, err := decodeDelta(raw)
		if err != nil {
			return 0, err
		}
		if d.id != it.ID {
			return 0, fmt.Errorf("%w: delta for %s carries %s", ErrCorruptRecord, logID(it.ID), logID(d.id))
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		c, ok := b.copies[it.ID]
		switch {
		case ok && c.holder != from:
			return ReplicaFenced, nil
		case !ok || c.rec.version != d.base:
			return ReplicaGap, nil
		}
		d.apply(c.rec)
		c.backups, c.expires, c.heard = slices.Clone(it.Backups), expires, time.Now()
		return ReplicaOK, nil
	case ReplicaTouch:
		b.mu.Lock()
		defer b.mu.Unlock()
		if c, ok := b.copies[it.ID]; ok && c.holder == from {
			c.expires, c.heard = expires, time.Now()
		}
		return ReplicaOK, nil
	case ReplicaDrop:
		b.mu.Lock()
		defer b.mu.Unlock()
		if c, ok := b.copies[it.ID]; ok && c.holder == from {
			delete(b.copies, it.ID)
		}
		return ReplicaOK, nil
	case ReplicaFence:
		if it.Holder == "" {
			return 0, fmt.Errorf("%w: fence names no holder", ErrCorruptRecord)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if c, ok := b.copies[it.ID]; ok && c.holder == it.Holder {
			delete(b.copies, it.ID)
		}
		b.fenced[it.ID] = fence{holder: it.Holder, until: now.Add(fenceTTL)}
		return ReplicaOK, nil
	}
	return 0, fmt.Errorf("%w: unknown replica kind %d", ErrCorruptRecord, it.Kind)
}

// backupGrace is added to a backup's expiry: the holder renews it once per
// sweep, so without the margin a used session's backup could lapse just
// before its renewal.
func (m *Manager) backupGrace() time.Duration { return 3 * m.opts.SweepInterval }

// fenceLocal drops a live session that another node took over.
func (m *Manager) fenceLocal(s *Session) {
	if s.state.CompareAndSwap(int32(stateLive), int32(stateMoved)) {
		m.remove(s.ID(), s)
		m.addCount(-1)
		m.log.Warn("another node took this session over; dropping the copy here", "session", logID(s.ID()))
	}
}

// Backup returns the backup of the session with the id, encoded with the
// codecs as for a move, or nil if this node keeps none.
func (m *Manager) Backup(ctx context.Context, id string) (data []byte, info BackupInfo, err error) {
	b := m.backups
	b.mu.Lock()
	c, ok := b.copies[id]
	var raw []byte
	if ok {
		raw = encodeRecord(c.rec)
		info = BackupInfo{ID: id, Holder: c.holder, Version: c.rec.version, Backups: slices.Clone(c.backups)}
	}
	b.mu.Unlock()
	if !ok {
		return nil, BackupInfo{}, nil
	}
	enc, err := m.encodeStored(ctx, [][]byte{raw})
	if err != nil {
		return nil, BackupInfo{}, fmt.Errorf("session: encoding the backup of %s: %w", logID(id), err)
	}
	return enc[0], info, nil
}

// OrphanBackups lists the backups this node keeps whose holder is not
// alive.
func (m *Manager) OrphanBackups(alive func(string) bool) []BackupInfo {
	b := m.backups
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []BackupInfo
	for id, c := range b.copies {
		if !alive(c.holder) {
			out = append(out, BackupInfo{ID: id, Holder: c.holder, Version: c.rec.version, Backups: slices.Clone(c.backups)})
		}
	}
	return out
}

// QuietBackups lists, oldest first and at most limit, the backups kept
// here for a live holder that has sent nothing about them for quiet: the
// holder may have let the session go without this copy hearing of it.
func (m *Manager) QuietBackups(alive func(string) bool, quiet time.Duration, limit int) []BackupInfo {
	b := m.backups
	b.mu.Lock()
	type q struct {
		info  BackupInfo
		heard time.Time
	}
	var qs []q
	cutoff := time.Now().Add(-quiet)
	for id, c := range b.copies {
		if c.heard.Before(cutoff) && alive(c.holder) {
			qs = append(qs, q{BackupInfo{ID: id, Holder: c.holder, Version: c.rec.version}, c.heard})
		}
	}
	b.mu.Unlock()
	slices.SortFunc(qs, func(a, b q) int { return a.heard.Compare(b.heard) })
	out := make([]BackupInfo, 0, min(limit, len(qs)))
	for _, x := range qs[:min(limit, len(qs))] {
		out = append(out, x.info)
	}
	return out
}

// DropStale drops the backup if it is still the one kept for holder at
// version: its holder said it no longer holds the session.
func (m *Manager) DropStale(id, holder string, version uint64) bool {
	m.backups.mu.Lock()
	defer m.backups.mu.Unlock()
	if c, ok := m.backups.copies[id]; ok && c.holder == holder && c.rec.version == version {
		delete(m.backups.copies, id)
		return true
	}
	return false
}

// BackupCount is the number of backups this node keeps.
func (m *Manager) BackupCount() int {
	m.backups.mu.Lock()
	defer m.backups.mu.Unlock()
	return len(m.backups.copies)
}

// dropBackup forgets this node's backup of a session it now holds itself.
// Holds reports whether the session lives in this node's memory, for a
// node about to restore it from a backup to ask first.
func (m *Manager) Holds(id string) bool {
	s := m.get(id)
	return s != nil && s.live()
}

// DropBackup drops this node's backup of the session if it is still the
// one kept for holder: its session lives on elsewhere.
func (m *Manager) DropBackup(id, holder string) {
	m.backups.mu.Lock()
	defer m.backups.mu.Unlock()
	if c, ok := m.backups.copies[id]; ok && c.holder == holder {
		delete(m.backups.copies, id)
	}
}

// KeepMoved keeps the record of a session this node has just handed over
// (data as Export encoded it) as a backup for its new holder. Until the
// new holder's backups have the session, this copy is the only other one:
// without it, the new holder's death in that moment would lose the
// session. The new holder drops or replaces it once its backups are made.
func (m *Manager) KeepMoved(ctx context.Context, data []byte, holder string) error {
	raw, err := m.decodeStored(ctx, data)
	if err != nil {
		return fmt.Errorf("session: keeping a moved session: %w", err)
	}
	r, err := decodeRecord(raw)
	if err != nil {
		return fmt.Errorf("session: keeping a moved session: %w", err)
	}
	b := m.backups
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.copies[r.id]; ok && c.rec.version > r.version {
		return nil // the new holder's own replication got here first
	}
	b.copies[r.id] = &backup{rec: r, holder: holder, expires: r.expires().Add(m.backupGrace()), heard: time.Now()}
	return nil
}

func (m *Manager) dropBackup(id string) {
	m.backups.mu.Lock()
	delete(m.backups.copies, id)
	m.backups.mu.Unlock()
}

// Promote makes this node the holder of a session it keeps a backup of,
// whose holder (as OrphanBackups named it) died: the farm's directory must accept the claim, which
// fences every other copy. It returns ErrHeldElsewhere if the directory
// names another node, keeping the backup. The session's backups are
// re-created at once.
func (m *Manager) Promote(ctx context.Context, id, holder string) error {
	if m.closing.Load() || m.draining.Load() {
		return ErrClosed
	}
	b := m.backups
	b.mu.Lock()
	c, ok := b.copies[id]
	var s *Session
	if ok && c.holder == holder {
		s = sessionFromRecord(m, cloneRecord(c.rec))
	}
	b.mu.Unlock()
	if s == nil {
		return nil // taken over by a live node since it was listed
	}
	if !m.now().Before(s.Expires()) {
		m.dropBackup(id)
		return nil
	}
	// In memory, but held exclusively until the directory has decided:
	// a request that comes meanwhile waits here instead of finding
	// neither the backup nor the session.
	s.lock.TryAcquire(exclusiveWeight)
	if other := m.insert(id, s); other != nil {
		s.lock.Release(exclusiveWeight)
		return nil // a request restored it here first
	}
	// Counted as soon as it is in the map: a takeover may fence it off
	// (and count it out) while the directory is asked.
	m.addCount(1)
	if m.opts.Farm != nil {
		other, err := m.opts.Farm.Claim(ctx, id)
		if err == nil && other != "" {
			err = fmt.Errorf("%w: %s", ErrHeldElsewhere, other)
		}
		if err != nil {
			if s.state.CompareAndSwap(int32(stateLive), int32(stateMoved)) {
				m.remove(id, s)
				m.addCount(-1)
			}
			s.lock.Release(exclusiveWeight)
			// Kept even if the directory names another node: the entry
			// may be stale and this copy the newest. The caller drops it
			// once the session is seen live elsewhere.
			return fmt.Errorf("session: restoring %s: %w", logID(id), err)
		}
	}
	m.dropBackup(id)
	s.repl.takeover = true
	s.repl.previous, s.repl.stale = c.holder, c.backups
	m.metrics.Restored(false)
	m.wakeIfFull()
	m.log.Debug("restored a session from its backup", "session", logID(id), "holder_was", c.holder, "version", c.rec.version)
	s.lock.Release(exclusiveWeight)
	if err := m.replicate(ctx, s, false); err != nil {
		m.log.Warn("restored session's backups not yet re-created", "session", logID(id), "error", err)
	}
	return nil
}

// cloneRecord copies r deeply enough that changes to either leave the
// other alone (values are never written in place).
func cloneRecord(r *record) *record {
	c := *r
	c.attrs = make(map[string][]byte, len(r.attrs))
	for k, v := range r.attrs {
		c.attrs[k] = v
	}
	return &c
}

// sweepBackups drops the backups that outlived their session.
func (m *Manager) sweepBackups(now time.Time) {
	b := m.backups
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, c := range b.copies {
		if !now.Before(c.expires) {
			delete(b.copies, id)
		}
	}
	for id, f := range b.fenced {
		if !now.Before(f.until) {
			delete(b.fenced, id)
		}
	}
}

// Inventory is what a node holds, for operators: each session in memory
// with the members that acknowledged its backup, and each backup kept
// here for another holder. Ids are shortened as in the logs: an
// operator's view must not hand out session ids.
type Inventory struct {
	Sessions []HeldInfo   `json:"sessions"`
	Backups  []BackupInfo `json:"backups"`
}

// HeldInfo is one session in memory in an Inventory.
type HeldInfo struct {
	ID      string   `json:"id"`
	Version uint64   `json:"version"`
	Backups []string `json:"backups"`
}

// Inventory lists the sessions in memory and the backups kept here.
func (m *Manager) Inventory() Inventory {
	var inv Inventory
	for _, s := range m.sessions() {
		if !s.live() {
			continue
		}
		h := HeldInfo{ID: logID(s.ID()), Version: s.Version()}
		s.replMu.Lock()
		for t := range s.repl.acked {
			h.Backups = append(h.Backups, t)
		}
		s.replMu.Unlock()
		slices.Sort(h.Backups)
		inv.Sessions = append(inv.Sessions, h)
	}
	b := m.backups
	b.mu.Lock()
	for id, c := range b.copies {
		inv.Backups = append(inv.Backups, BackupInfo{ID: logID(id), Holder: c.holder, Version: c.rec.version, Backups: slices.Clone(c.backups)})
	}
	b.mu.Unlock()
	slices.SortFunc(inv.Sessions, func(a, b HeldInfo) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(inv.Backups, func(a, b BackupInfo) int { return strings.Compare(a.ID, b.ID) })
	return inv
}
