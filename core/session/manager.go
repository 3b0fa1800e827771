package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/sync/singleflight"

	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/store"
)

// Errors returned by the manager.
var (
	// ErrClosed is returned once the manager has started shutting down.
	ErrClosed = errors.New("session: manager closed")
	// ErrLockTimeout is returned when a request waited longer than
	// Options.LockTimeout for its session.
	ErrLockTimeout = errors.New("session: timed out waiting for the session")
)

// Options configure a Manager. Start from DefaultOptions.
type Options struct {
	// Store keeps evicted sessions and those written out at shutdown.
	// Required.
	Store store.Store
	// Logger receives the manager's logs; nil discards them.
	Logger hclog.Logger
	// Listeners receive session events.
	Listeners []Listener
	// Codecs transform records on their way to the store, applied in order
	// (compress, then encrypt) and reversed on the way back.
	Codecs []NamedCodec
	// Retired decode the layers of records whose header names a codec that
	// is no longer in Codecs, by that name, so that a record written under
	// an older configuration still reads. They never encode, so only codecs
	// that decode without their configuration belong here (the builtin
	// compressors, not a cipher). A codec in Codecs wins over a retired one
	// of the same name.
	Retired map[string]codec.Codec
	// AcceptUnauthenticated reads records that skip a configured codec that
	// authenticates: plain records, and those written before that codec was
	// added. It is for the migration window after adding encryption to a
	// deployment; off, such records are refused as corrupt.
	AcceptUnauthenticated bool
	// Farm, if set, makes this manager a node of a farm: sessions not in
	// memory are looked for on the other nodes before the store.
	Farm Farm
	// Replication, on a farm, keeps backup copies of the sessions on other
	// members, so that a crash of this node loses none.
	Replication Replication
	// Relocator, if set, may send a request to its session's node instead
	// of moving the session here.
	Relocator Relocator
	// Metrics, if set, is told of requests' outcomes, sessions coming and
	// going, and migrations, for monitoring.
	Metrics Metrics

	Cookie CookieOptions
	// Routing puts this node's route into the session token for the load
	// balancer; the zero value carries none.
	Routing Routing

	// IdleTimeout expires a session nobody used for this long; Lifetime
	// expires it this long after creation, used or not.
	IdleTimeout time.Duration
	Lifetime    time.Duration
	// EvictAfter writes a session idle this long out to the store and drops it
	// from memory; 0 disables idle eviction.
	EvictAfter time.Duration
	// MaxInMemory bounds the sessions kept in memory; the least recently used
	// are evicted first.
	MaxInMemory int
	// SweepInterval is the mean period of the expiry and eviction sweeper; each
	// wait is jittered by ±20% so that a farm's nodes do not sweep in step.
	SweepInterval time.Duration
	// LockTimeout bounds how long a request waits for its session.
	LockTimeout time.Duration
	// StoreTimeout bounds each call to the store.
	StoreTimeout time.Duration
	// Exclusive makes the requests of one session run one at a time, so that
	// read-modify-write in the application loses no update.
	Exclusive bool
	// MaxAttributeSize bounds len(name)+len(value) of one attribute;
	// MaxSessionSize bounds the sum over a session.
	MaxAttributeSize int
	MaxSessionSize   int

	// clock replaces time.Now in tests.
	clock func() time.Time
}

// CookieOptions shape the session cookie.
type CookieOptions struct {
	Name     string
	Path     string
	Domain   string
	Secure   bool
	HTTPOnly bool
	SameSite http.SameSite
	// Persist sets the cookie's Expires from the session's expiry; otherwise
	// the cookie ends with the browser session.
	Persist bool
}

// DefaultOptions returns the defaults that the configuration documents.
func DefaultOptions() Options {
	return Options{
		Cookie: CookieOptions{
			Name:     "WADISESSIONID",
			Path:     "/",
			HTTPOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		IdleTimeout:      30 * time.Minute,
		Lifetime:         24 * time.Hour,
		EvictAfter:       10 * time.Minute,
		MaxInMemory:      100000,
		SweepInterval:    30 * time.Second,
		LockTimeout:      10 * time.Second,
		StoreTimeout:     10 * time.Second,
		MaxAttributeSize: 1 << 20,
		MaxSessionSize:   4 << 20,
	}
}

func (o *Options) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.Store != nil, "a store is required")
	names := make(map[string]bool, len(o.Codecs))
	for _, c := range o.Codecs {
		check(c.Codec != nil && c.Name != "" && len(c.Name) <= maxCodecName && !names[c.Name], "codec %q: a codec needs a unique name of 1 to %d bytes", c.Name, maxCodecName)
		names[c.Name] = true
	}
	check(len(o.Codecs) <= maxChainLen, "at most %d codecs", maxChainLen)
	for name, c := range o.Retired {
		check(c != nil && name != "" && len(name) <= maxCodecName, "retired codec %q: a codec needs a name of 1 to %d bytes", name, maxCodecName)
	}
	// A cookie name is an RFC 7230 token, as a header field name is;
	// net/http would drop a Set-Cookie with another name without a word.
	check(httpguts.ValidHeaderFieldName(o.Cookie.Name), "the cookie name %q is not a token", o.Cookie.Name)
	check(o.Cookie.SameSite != http.SameSiteNoneMode || o.Cookie.Secure, "SameSite=None requires a Secure cookie")
	if err := o.Routing.validate(); err != nil {
		errs = append(errs, err)
	}
	check(o.Routing.Format.RouteCookie == "" || o.Routing.Format.RouteCookie != o.Cookie.Name, "the route cookie %q is the session cookie", o.Routing.Format.RouteCookie)
	check(o.IdleTimeout > 0, "idle timeout %v is not positive", o.IdleTimeout)
	check(o.Lifetime >= o.IdleTimeout, "lifetime %v is shorter than the idle timeout %v", o.Lifetime, o.IdleTimeout)
	check(o.EvictAfter >= 0, "evict-after %v is negative", o.EvictAfter)
	check(o.MaxInMemory > 0, "max in memory %d is not positive", o.MaxInMemory)
	check(o.SweepInterval > 0, "sweep interval %v is not positive", o.SweepInterval)
	check(o.LockTimeout > 0, "lock timeout %v is not positive", o.LockTimeout)
	check(o.StoreTimeout > 0, "store timeout %v is not positive", o.StoreTimeout)
	check(o.MaxAttributeSize > 0, "max attribute size %d is not positive", o.MaxAttributeSize)
	check(o.MaxSessionSize >= o.MaxAttributeSize, "max session size %d is below the max attribute size %d", o.MaxSessionSize, o.MaxAttributeSize)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("session: invalid options: %w", err)
	}
	return nil
}

const numShards = 64

type shard struct {
	mu sync.RWMutex
	m  map[string]*Session
}

// Manager creates, finds, expires, invalidates and evicts the sessions of one
// node. Live sessions stay in memory as objects, so a request whose session
// is here costs a map lookup and a lock: no serialisation, no store call.
type Manager struct {
	opts    Options
	log     hclog.Logger
	store   store.Store
	metrics Metrics
	now     func() time.Time
	seed    maphash.Seed
	shards  [numShards]shard
	count   atomic.Int64
	// backups are the copies this node keeps of other members' sessions.
	backups *backups
	// authenticating names the codecs of Options.Codecs that declare they
	// authenticate: every record read must have passed through each.
	authenticating []string

	// pendingDeletes are ids whose store copies must go but whose deletion
	// failed; until the sweeper succeeds, a lookup must not load them back.
	pendingMu      sync.Mutex
	pendingDeletes map[string]time.Time

	// sweepMu serialises sweeps and trims, so that two of them never fight
	// over the same sessions' locks and each sees the other's result.
	sweepMu sync.Mutex
	// fetching makes concurrent requests for a session held by another
	// node share one fetch.
	fetching singleflight.Group
	draining atomic.Bool
	closing  atomic.Bool
	wake     chan struct{}
	stop     context.CancelFunc
	done     chan struct{}
}

// New starts a manager and its sweeper. Close stops it. It asks each codec
// once what it declares (codec.SettingsOf), within StoreTimeout, so that the
// records it reads are checked against the codecs that authenticate.
func New(opts Options) (*Manager, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	auth, err := authenticatingCodecs(opts.Codecs, opts.StoreTimeout)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		authenticating: auth,
		opts:           opts,
		log:            opts.Logger,
		store:          opts.Store,
		metrics:        opts.Metrics,
		now:            time.Now,
		seed:           maphash.MakeSeed(),
		pendingDeletes: make(map[string]time.Time),
		backups:        newBackups(),
		wake:           make(chan struct{}, 1),
		done:           make(chan struct{}),
	}
	if opts.clock != nil {
		m.now = opts.clock
	}
	if m.log == nil {
		m.log = hclog.NewNullLogger()
	}
	if m.metrics == nil {
		m.metrics = noMetrics{}
	}
	for i := range m.shards {
		m.shards[i].m = make(map[string]*Session)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go m.sweepLoop(ctx)
	return m, nil
}

func (m *Manager) shard(id string) *shard {
	return &m.shards[maphash.String(m.seed, id)%numShards]
}

func (m *Manager) get(id string) *Session {
	sh := m.shard(id)
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	return s
}

// insert adds s under id unless a session is there already, which it returns.
func (m *Manager) insert(id string, s *Session) *Session {
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[id]; ok {
		return old
	}
	sh.m[id] = s
	return nil
}

// remove drops id from memory if it still names s.
func (m *Manager) remove(id string, s *Session) {
	sh := m.shard(id)
	sh.mu.Lock()
	if sh.m[id] == s {
		delete(sh.m, id)
	}
	sh.mu.Unlock()
}

// Len returns the number of sessions in memory.
func (m *Manager) Len() int { return int(m.count.Load()) }

// sessions returns a snapshot of the sessions in memory.
func (m *Manager) sessions() []*Session {
	out := make([]*Session, 0, max(0, m.count.Load()))
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			out = append(out, s)
		}
		sh.mu.RUnlock()
	}
	return out
}

func (m *Manager) requestWeight() int64 {
	if m.opts.Exclusive {
		return exclusiveWeight
	}
	return 1
}

// lockForRequest takes s's lock for a request, waiting at most LockTimeout.
func (m *Manager) lockForRequest(ctx context.Context, s *Session) error {
	w := m.requestWeight()
	if s.lock.TryAcquire(w) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.LockTimeout)
	defer cancel()
	if err := s.lock.Acquire(ctx, w); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w after %v", ErrLockTimeout, m.opts.LockTimeout)
		}
		return fmt.Errorf("session: waiting for the session: %w", err)
	}
	return nil
}

func (m *Manager) unlockRequest(s *Session) {
	s.lastAccess.Store(m.now().UnixNano())
	s.lock.Release(m.requestWeight())
}

// maxLookups bounds how often one request looks for a session that keeps
// leaving (see lookupOutcome).
const maxLookups = 100

// lookup finds the session with the id and returns it locked for a request,
// or nil if there is none. An id the node never issued finds nothing: ids
// are only ever adopted from memory or from the store, never from a client.
func (m *Manager) lookup(ctx context.Context, id string) (*Session, error) {
	s, _, err := m.lookupOutcome(ctx, id, nil)
	return s, err
}

// lookupOutcome is lookup, also saying where the session was found. here,
// if not nil, is what memory held under id a moment ago: the first attempt
// starts from it instead of looking again.
func (m *Manager) lookupOutcome(ctx context.Context, id string, here *Session) (*Session, Outcome, error) {
	// A session can be evicted, renewed or moved to another node between
	// finding and locking it; each retry sees the newer state. Alone, a few
	// attempts settle; requests for one session racing on several nodes
	// take it from each other, so the bound is mostly time: a fetch that
	// brings the session keeps it locked for its request.
	deadline := time.Now().Add(m.opts.LockTimeout)
	for i := 0; i < 4 || (i < maxLookups && time.Now().Before(deadline)); i++ {
		s, o, err := m.find(ctx, id, here)
		here = nil
		if err != nil || s == nil {
			return nil, OutcomeNone, err
		}
		if !s.live() || s.ID() != id {
			s.lock.Release(m.requestWeight())
			continue
		}
		now := m.now()
		if !now.Before(s.Expires()) {
			s.lock.Release(m.requestWeight())
			m.expire(ctx, s)
			return nil, OutcomeNone, nil
		}
		s.lastAccess.Store(now.UnixNano())
		return s, o, nil
	}
	return nil, OutcomeNone, fmt.Errorf("session: %s kept moving while being looked up", logID(id))
}

// find returns the session locked for a request, from memory, from another
// node of the farm, or from the store, in that order; nil if none has it.
// The outcome says which. here, if not nil, is memory's session under id,
// found already; the caller checks, once it is locked, that it still is.
func (m *Manager) find(ctx context.Context, id string, here *Session) (*Session, Outcome, error) {
	if here == nil {
		here = m.get(id)
	}
	if s := here; s != nil {
		if err := m.lockForRequest(ctx, s); err != nil {
			return nil, OutcomeNone, err
		}
		return s, OutcomeLocal, nil
	}
	if m.opts.Farm != nil && !m.draining.Load() {
		s, o, err := m.fetch(ctx, id)
		if err != nil || s != nil {
			return s, o, err
		}
		// Restored here from a backup, or handed over, while the farm was
		// asked: the directory names this node then, and the store is
		// the wrong place to look.
		if s := m.get(id); s != nil {
			if err := m.lockForRequest(ctx, s); err != nil {
				return nil, OutcomeNone, err
			}
			return s, OutcomeLocal, nil
		}
	}
	s, err := m.load(ctx, id)
	if err != nil || s == nil {
		return nil, OutcomeNone, err
	}
	return s, OutcomeLoaded, nil
}

// load brings a session back from the store into memory, locked for a
// request. It returns nil if the store has no live, readable copy.
func (m *Manager) load(ctx context.Context, id string) (*Session, error) {
	if m.closing.Load() {
		return nil, ErrClosed
	}
	if m.pendingDelete(id) {
		return nil, nil
	}
	sctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
	rec, err := m.store.Load(sctx, id)
	cancel()
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if errors.Is(err, store.ErrCorrupt) {
		m.log.Error("skipping a corrupt stored session", "session", logID(id), "error", err)
		return nil, nil
	}
	if err != nil {
		// Not "no session": the copy may well exist, and a fresh session in
		// its place would lose the customer's state.
		return nil, fmt.Errorf("session: loading %s from the store: %w", logID(id), err)
	}
	data, err := m.decodeStored(ctx, rec.Data)
	if err != nil && !errors.Is(err, ErrCorruptRecord) {
		return nil, fmt.Errorf("session: loading %s: %w", logID(id), err)
	}
	var r *record
	if err == nil {
		r, err = decodeRecord(data)
	}
	if err == nil && r.id != id {
		err = fmt.Errorf("%w: stored under %s but names %s", ErrCorruptRecord, logID(id), logID(r.id))
	}
	if err != nil {
		m.log.Error("skipping a corrupt stored session", "session", logID(id), "error", err)
		return nil, nil
	}
	if !m.now().Before(r.expires()) {
		// The sweeper deletes it and reports the expiry, once.
		return nil, nil
	}
	s := sessionFromRecord(m, r)
	s.lock.TryAcquire(m.requestWeight()) // a fresh lock: always succeeds
	m.dropBackup(id)
	if other := m.insert(id, s); other != nil {
		// Another request loaded it first; use that copy.
		if err := m.lockForRequest(ctx, other); err != nil {
			return nil, err
		}
		return other, nil
	}
	// Counted as soon as it is in the map: a takeover may fence it off
	// (and count it out) while the directory is asked.
	m.addCount(1)
	if m.opts.Farm != nil {
		// Another node may have loaded the same record a moment ago: the
		// directory decides which copy is the session.
		other, err := m.opts.Farm.Claim(ctx, id)
		if err == nil && other != "" {
			err = fmt.Errorf("%w: %s", ErrHeldElsewhere, other)
		}
		if err != nil {
			if s.state.CompareAndSwap(int32(stateLive), int32(stateEvicted)) {
				m.remove(id, s)
				m.addCount(-1)
			}
			s.lock.Release(m.requestWeight())
			return nil, fmt.Errorf("session: loading %s from the store: %w", logID(id), err)
		}
	}
	m.wakeIfFull()
	// The memory copy is now the only one that changes: drop the stored one
	// so it cannot come back stale. The request holds the lock, so the
	// session cannot be evicted (and saved again) before this delete. If the
	// delete fails the stale copy is harmless: the next eviction overwrites
	// it, and its expiry in the store is not reported while the session is
	// in memory.
	sctx, cancel = context.WithTimeout(ctx, m.opts.StoreTimeout)
	defer cancel()
	if err := m.store.Delete(sctx, []string{id}); err != nil {
		m.log.Warn("loaded session: stale store copy not deleted", "session", logID(id), "error", err)
	}
	return s, nil
}

// create makes a new session, locked for a request.
func (m *Manager) create(ctx context.Context) (*Session, error) {
	if m.closing.Load() || m.draining.Load() {
		return nil, ErrClosed
	}
	for {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		s := newSession(m, id, m.now())
		s.lock.TryAcquire(m.requestWeight())
		if m.insert(id, s) != nil {
			continue // 2^-256: but never hand out a live id twice
		}
		m.addCount(1)
		m.wakeIfFull()
		if m.opts.Farm != nil {
			// A fresh id has no other holder; an error means the directory
			// is not reachable now, and the farm keeps trying to register.
			if _, err := m.opts.Farm.Claim(ctx, id); err != nil {
				m.log.Warn("new session not yet registered in the directory", "session", logID(id), "error", err)
			}
		}
		m.log.Debug("session created", "session", logID(id))
		m.emit(Event{Type: Created, ID: id})
		return s, nil
	}
}

func (m *Manager) wakeIfFull() {
	if m.count.Load() > int64(m.opts.MaxInMemory) {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// destroy removes a live session everywhere and reports why, once. The caller
// holds s's lock (shared or exclusive).
func (m *Manager) destroy(ctx context.Context, s *Session, why Reason) error {
	if !s.state.CompareAndSwap(int32(stateLive), int32(stateDestroyed)) {
		return nil
	}
	id := s.ID()
	m.remove(id, s)
	m.addCount(-1)
	err := m.deleteStored(ctx, id, s.Expires())
	// Before the directory forgets it: an invalidated session must never
	// come back from a backup.
	m.dropReplicas(ctx, []*Session{s})
	if m.opts.Farm != nil {
		m.opts.Farm.Released([]string{id})
	}
	m.emit(Event{Type: Destroyed, ID: id, Reason: why})
	return err
}

// expire destroys s if no request is inside it.
func (m *Manager) expire(ctx context.Context, s *Session) {
	if !s.lock.TryAcquire(exclusiveWeight) {
		return // in use, so not idle
	}
	defer s.lock.Release(exclusiveWeight)
	if !m.now().Before(s.Expires()) {
		if err := m.destroy(ctx, s, Expired); err != nil {
			m.log.Warn("expired session: store copy not yet deleted", "session", logID(s.ID()), "error", err)
		}
	}
}

// Invalidate destroys the session: its memory copy and any stored copy.
// The id stops working at once. The caller is a request that holds s.
func (s *Session) Invalidate(ctx context.Context) error {
	return s.m.destroy(ctx, s, Invalidated)
}

// RenewID gives the session a fresh id and retires the old one at once; the
// attributes stay. Call it before the response is written (on login, for
// example), so that the new cookie reaches the client: called with the
// context of a request whose response has started, it changes nothing and
// returns ErrHeadersWritten, since the client could never learn the new id.
func (s *Session) RenewID(ctx context.Context) error {
	m := s.m
	newID, err := newID()
	if err != nil {
		return err
	}
	// The request's writer stays locked until the id has changed, so the
	// cookie it commits is either the old one (and we refuse) or the new.
	unlock := func() {}
	if w, ok := ctx.Value(ctxKey{}).(*writer); ok {
		w.mu.Lock()
		unlock = w.mu.Unlock
		if w.committed && w.sess == s {
			unlock()
			return ErrHeadersWritten
		}
	}
	if m.insert(newID, s) != nil {
		unlock()
		return errors.New("session: renewed id collides with a live session")
	}
	s.mu.Lock()
	if !s.live() {
		s.mu.Unlock()
		m.remove(newID, s)
		unlock()
		return ErrInvalidated
	}
	old := s.id
	s.id = newID
	s.version++
	s.mu.Unlock()
	m.remove(old, s)
	unlock()
	if m.opts.Farm != nil {
		if _, err := m.opts.Farm.Claim(ctx, newID); err != nil {
			m.log.Warn("renewed session not yet registered in the directory", "session", logID(newID), "error", err)
		}
		m.opts.Farm.Released([]string{old})
	}
	return m.deleteStored(ctx, old, s.Expires())
}

// deleteStored deletes id's stored copy; on failure it remembers the id so
// that no lookup loads it back, and the sweeper retries.
func (m *Manager) deleteStored(ctx context.Context, id string, until time.Time) error {
	sctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
	defer cancel()
	if err := m.store.Delete(sctx, []string{id}); err != nil {
		m.pendingMu.Lock()
		m.pendingDeletes[id] = until
		m.pendingMu.Unlock()
		return fmt.Errorf("session: deleting %s from the store: %w", logID(id), err)
	}
	return nil
}

func (m *Manager) pendingDelete(id string) bool {
	m.pendingMu.Lock()
	defer m.pendingMu.Unlock()
	_, ok := m.pendingDeletes[id]
	return ok
}

// evict writes the sessions to the store as one batch and drops them from
// memory. With wait, it waits (bounded by ctx) for requests to leave each
// session; without, it skips sessions that requests are inside. A session
// whose write fails stays in memory. It returns how many were written.
func (m *Manager) evict(ctx context.Context, ss []*Session, wait bool) (int, error) {
	locked := ss[:0:0]
	var lockErr error
	for _, s := range ss {
		if wait {
			if err := s.lock.Acquire(ctx, exclusiveWeight); err != nil {
				lockErr = fmt.Errorf("session: waiting for %s to be free: %w", logID(s.ID()), err)
				continue
			}
		} else if !s.lock.TryAcquire(exclusiveWeight) {
			continue
		}
		if !s.live() {
			s.lock.Release(exclusiveWeight)
			continue
		}
		locked = append(locked, s)
	}
	defer func() {
		for _, s := range locked {
			s.lock.Release(exclusiveWeight)
		}
	}()
	if len(locked) == 0 {
		return 0, lockErr
	}
	recs := make([]store.Record, len(locked))
	data := make([][]byte, len(locked))
	for i, s := range locked {
		r := s.snapshot()
		recs[i] = store.Record{ID: r.id, Expires: r.expires()}
		data[i] = encodeRecord(r)
	}
	sctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
	data, err := m.encodeStored(sctx, data)
	if err == nil {
		for i := range recs {
			recs[i].Data = data[i]
		}
		err = m.store.Save(sctx, recs)
	}
	cancel()
	if err != nil {
		return 0, errors.Join(lockErr, fmt.Errorf("session: writing %d sessions to the store: %w", len(recs), err))
	}
	for i, s := range locked {
		// A takeover may have fenced it off while it was written: count
		// it out once.
		if s.state.CompareAndSwap(int32(stateLive), int32(stateEvicted)) {
			m.remove(recs[i].ID, s)
			m.addCount(-1)
		}
	}
	m.dropReplicas(ctx, locked)
	if m.opts.Farm != nil {
		ids := make([]string, len(recs))
		for i := range recs {
			ids[i] = recs[i].ID
		}
		m.opts.Farm.Released(ids)
	}
	return len(locked), lockErr
}

// evictBatch is how many sessions go to the store in one write.
const evictBatch = 256

func (m *Manager) evictAll(ctx context.Context, ss []*Session, wait bool) (int, error) {
	var n int
	var errs []error
	for chunk := range slices.Chunk(ss, evictBatch) {
		k, err := m.evict(ctx, chunk, wait)
		n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// Close stops taking sessions, waits (bounded by ctx) for requests to leave
// them, and writes every live session to the store, so that the next start of
// the node finds them all. It does not close the store.
func (m *Manager) Close(ctx context.Context) error {
	if m.closing.Swap(true) {
		return ErrClosed
	}
	m.stop()
	<-m.done
	all := m.sessions()
	written := 0
	// A store that is briefly down (a plugin restarting) must not cost the
	// sessions: retry what failed until ctx says the shutdown is out of time.
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 2*time.Second) {
		n, err := m.evictAll(ctx, m.sessions(), true)
		written += n
		if err == nil {
			break
		}
		left := m.Len()
		m.log.Warn("writing sessions out failed; retrying", "written", written, "left", left, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("session: %d of %d sessions not written out: %w", left, len(all), err)
		case <-time.After(wait):
		}
	}
	m.log.Info("wrote sessions to the store", "written", written, "in_memory", len(all))
	return nil
}

func (m *Manager) sweepLoop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTimer(jitter(m.opts.SweepInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.sweep(ctx)
			t.Reset(jitter(m.opts.SweepInterval))
		case <-m.wake:
			m.trim(ctx)
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d*4/5 + rand.N(d*2/5+1)
}

// sweep expires what is due, evicts what has been idle for EvictAfter, trims
// memory to MaxInMemory, and removes expired records from the store.
func (m *Manager) sweep(ctx context.Context) {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	now := m.now()
	var idle []*Session
	for _, s := range m.sessions() {
		switch {
		case !now.Before(s.Expires()):
			m.expire(ctx, s)
		case m.opts.EvictAfter > 0 && now.Sub(time.Unix(0, s.lastAccess.Load())) >= m.opts.EvictAfter:
			idle = append(idle, s)
		}
	}
	n, err := m.evictAll(ctx, idle, false)
	// Counted here and in trim, not in evict: Close writing everything out
	// at shutdown is no eviction.
	m.metrics.Evicted(n)
	if err != nil {
		m.log.Warn("idle sessions stay in memory: eviction failed", "evicted", n, "error", err)
	} else if n > 0 {
		m.log.Debug("evicted idle sessions", "count", n)
	}
	m.trimLocked(ctx)
	m.sweepStore(ctx, now)
	if m.replicating() {
		m.sweepBackups(now)
		m.touchReplicas(ctx, now)
		m.Replan(ctx)
	}
}

// trim evicts the least recently used sessions until memory holds 95% of
// MaxInMemory; the margin keeps a node at the limit from trimming on every
// new session.
func (m *Manager) trim(ctx context.Context) {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	m.trimLocked(ctx)
}

func (m *Manager) trimLocked(ctx context.Context) {
	limit := int64(m.opts.MaxInMemory)
	if m.count.Load() <= limit {
		return
	}
	target := limit - limit/20
	all := m.sessions()
	over := len(all) - int(target)
	if over <= 0 {
		return
	}
	slices.SortFunc(all, func(a, b *Session) int {
		return cmp.Compare(a.lastAccess.Load(), b.lastAccess.Load())
	})
	n, err := m.evictAll(ctx, all[:over], false)
	m.metrics.Evicted(n)
	if err != nil {
		m.log.Warn("memory over its limit: eviction failed", "evicted", n, "in_memory", m.Len(), "error", err)
		return
	}
	m.log.Debug("evicted least recently used sessions", "count", n, "in_memory", m.Len())
}

// sweepStore removes expired records from the store and reports each as an
// expired session, then retries store deletions that failed earlier.
func (m *Manager) sweepStore(ctx context.Context, now time.Time) {
	const batch = 1000
	// Bounded, so a huge backlog cannot hold the sweeper forever; the rest
	// waits for the next sweep.
	for range 20 {
		sctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
		ids, err := m.store.DeleteExpired(sctx, now, batch)
		cancel()
		if err != nil {
			m.log.Warn("removing expired sessions from the store failed", "error", err)
			break
		}
		for _, id := range ids {
			// A stale copy of a session that is live in memory is not the
			// session's expiry.
			if m.get(id) == nil {
				m.emit(Event{Type: Destroyed, ID: id, Reason: Expired})
			}
		}
		if len(ids) < batch {
			break
		}
	}

	m.pendingMu.Lock()
	var ids []string
	for id, until := range m.pendingDeletes {
		if !now.Before(until) {
			delete(m.pendingDeletes, id) // expired in the store too by now
			continue
		}
		ids = append(ids, id)
	}
	m.pendingMu.Unlock()
	if len(ids) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
	defer cancel()
	if err := m.store.Delete(sctx, ids); err != nil {
		m.log.Warn("deleting destroyed sessions from the store failed; will retry", "count", len(ids), "error", err)
		return
	}
	m.pendingMu.Lock()
	for _, id := range ids {
		delete(m.pendingDeletes, id)
	}
	m.pendingMu.Unlock()
}

// logID shortens an id for logs: enough to correlate, not enough to hijack.
// The stores shorten the ids in their errors with the same function, so a
// line here and the store error it carries name a session alike.
func logID(id string) string { return store.LogID(id) }
