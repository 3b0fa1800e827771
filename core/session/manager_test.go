package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/store"
)

// fakeClock is a settable clock; it starts at the real time so that stores,
// which check expiry on their own clock, agree with the manager until a test
// moves time forward (which only makes the manager's view later).
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// faultyStore wraps a real store and fails its calls while fail is set.
type faultyStore struct {
	store.Store
	fail    atomic.Bool
	corrupt atomic.Bool // Load reports the record as corrupt
}

var errInjected = errors.New("injected store failure")

func (f *faultyStore) Save(ctx context.Context, recs []store.Record) error {
	if f.fail.Load() {
		return errInjected
	}
	return f.Store.Save(ctx, recs)
}

func (f *faultyStore) Load(ctx context.Context, id string) (store.Record, error) {
	if f.fail.Load() {
		return store.Record{}, errInjected
	}
	if f.corrupt.Load() {
		return store.Record{}, fmt.Errorf("%w: injected", store.ErrCorrupt)
	}
	return f.Store.Load(ctx, id)
}

func (f *faultyStore) Delete(ctx context.Context, ids []string) error {
	if f.fail.Load() {
		return errInjected
	}
	return f.Store.Delete(ctx, ids)
}

// eventLog records events for assertions.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) listen(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(t EventType, r Reason) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == t && e.Reason == r {
			n++
		}
	}
	return n
}

type harness struct {
	m     *Manager
	clock *fakeClock
	store *faultyStore
	mem   *memstore.Store
	ev    *eventLog
}

func newHarness(t *testing.T, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{clock: newFakeClock(), mem: memstore.New(), ev: &eventLog{}}
	h.store = &faultyStore{Store: h.mem}
	opts := DefaultOptions()
	opts.Store = h.store
	opts.clock = h.clock.Now
	opts.SweepInterval = time.Hour // tests sweep by hand
	opts.Listeners = []Listener{h.ev.listen}
	if tweak != nil {
		tweak(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() {
		if !m.closing.Load() {
			_ = m.Close(context.Background())
		}
	})
	return h
}

// newSession creates a session with the attributes set, as a request would,
// and releases it.
func (h *harness) newSession(t *testing.T, attrs map[string]string) string {
	t.Helper()
	s, err := h.m.create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range attrs {
		if err := s.PutString(k, v); err != nil {
			t.Fatal(err)
		}
	}
	h.m.unlockRequest(s)
	return s.ID()
}

// get looks the id up as a request would; it returns "" for no session and
// the attribute k otherwise.
func (h *harness) get(t *testing.T, id, k string) (string, bool) {
	t.Helper()
	s, err := h.m.lookup(context.Background(), id)
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if s == nil {
		return "", false
	}
	defer h.m.unlockRequest(s)
	return s.GetString(k), true
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*Options)
		want  string
	}{
		{"no store", func(o *Options) { o.Store = nil }, "a store is required"},
		{"lifetime below idle", func(o *Options) { o.Lifetime = time.Minute }, "lifetime"},
		{"zero idle", func(o *Options) { o.IdleTimeout = 0 }, "idle timeout"},
		{"zero max", func(o *Options) { o.MaxInMemory = 0 }, "max in memory"},
		{"session below attribute", func(o *Options) { o.MaxSessionSize = 1 }, "max session size"},
		{"empty cookie name", func(o *Options) { o.Cookie.Name = "" }, "is not a token"},
		{"cookie name with a space", func(o *Options) { o.Cookie.Name = "WADI SESSION" }, `"WADI SESSION" is not a token`},
		{"same site none, not secure", func(o *Options) { o.Cookie.SameSite = http.SameSiteNoneMode }, "SameSite=None requires a Secure cookie"},
		{"retired codec missing", func(o *Options) { o.Retired = map[string]codec.Codec{"gzip": nil} }, `retired codec "gzip"`},
		{"retired codec unnamed", func(o *Options) { o.Retired = map[string]codec.Codec{"": gzipCodec{}} }, `retired codec ""`},
		{"codec settings fail", func(o *Options) { o.Codecs = []NamedCodec{{"seal", badSettings{}}} }, `codec "seal": codec settings: no settings today`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Store = memstore.New()
			tt.tweak(&o)
			_, err := New(o)
			if err == nil || !contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestCreateAndLookup(t *testing.T) {
	h := newHarness(t, nil)
	id := h.newSession(t, map[string]string{"user": "ada"})
	if got, ok := h.get(t, id, "user"); !ok || got != "ada" {
		t.Fatalf("lookup = %q, %v", got, ok)
	}
	other, _ := newID()
	if _, ok := h.get(t, other, "user"); ok {
		t.Fatal("an id the node never issued was adopted")
	}
	if h.ev.count(Created, 0) != 1 || h.m.Len() != 1 {
		t.Fatalf("created events %d, len %d", h.ev.count(Created, 0), h.m.Len())
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name    string
		touches int           // lookups spaced by step before the final wait
		step    time.Duration // must be below the idle timeout
		wait    time.Duration
		alive   bool
	}{
		{"fresh", 0, 0, 29 * time.Minute, true},
		{"idle", 0, 0, 30 * time.Minute, false},
		{"kept alive by use", 4, 20 * time.Minute, 20 * time.Minute, true},
		{"lifetime ends despite use", 80, 20 * time.Minute, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.EvictAfter = 0 })
			id := h.newSession(t, nil)
			for range tt.touches {
				h.clock.Advance(tt.step)
				h.get(t, id, "")
			}
			h.clock.Advance(tt.wait)
			h.m.sweep(context.Background())
			if _, ok := h.get(t, id, ""); ok != tt.alive {
				t.Fatalf("alive = %v, want %v", ok, tt.alive)
			}
			want := 0
			if !tt.alive {
				want = 1
			}
			// Expiry is reported once, however many sweeps and lookups see it.
			h.m.sweep(context.Background())
			h.get(t, id, "")
			if got := h.ev.count(Destroyed, Expired); got != want {
				t.Fatalf("expired events = %d, want %d", got, want)
			}
		})
	}
}

func TestEvictAndLoad(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.EvictAfter = time.Minute })
	id := h.newSession(t, map[string]string{"k": "v"})
	busy := h.newSession(t, nil)
	held, err := h.m.lookup(context.Background(), busy)
	if err != nil || held == nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	h.m.sweep(context.Background())
	if h.m.get(id) != nil || h.mem.Len() != 1 {
		t.Fatalf("idle session not evicted: in memory %v, stored %d", h.m.get(id) != nil, h.mem.Len())
	}
	if h.m.get(busy) == nil {
		t.Fatal("a session a request is inside was evicted")
	}
	h.m.unlockRequest(held)

	if got, ok := h.get(t, id, "k"); !ok || got != "v" {
		t.Fatalf("evicted session came back as %q, %v", got, ok)
	}
	if h.mem.Len() != 0 {
		t.Fatal("the stored copy of a loaded session was left behind")
	}
	if h.ev.count(Destroyed, Expired) != 0 {
		t.Fatal("eviction reported an expiry")
	}
}

func TestEvictedSessionExpiresInStore(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.EvictAfter = time.Minute })
	id := h.newSession(t, nil)
	h.clock.Advance(2 * time.Minute)
	h.m.sweep(context.Background())
	h.clock.Advance(time.Hour)
	if _, ok := h.get(t, id, ""); ok {
		t.Fatal("an expired stored session came back")
	}
	h.m.sweep(context.Background())
	if h.mem.Len() != 0 || h.ev.count(Destroyed, Expired) != 1 {
		t.Fatalf("stored %d, expired events %d; want 0 and 1", h.mem.Len(), h.ev.count(Destroyed, Expired))
	}
}

func TestMaxInMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxInMemory = 20; o.EvictAfter = 0 })
	var ids []string
	for range 20 {
		ids = append(ids, h.newSession(t, nil))
		h.clock.Advance(time.Second)
	}
	// Touch the oldest so that it is the most recently used.
	h.get(t, ids[0], "")
	h.clock.Advance(time.Second)
	ids = append(ids, h.newSession(t, nil))
	h.m.trim(context.Background())
	if got := h.m.Len(); got != 19 {
		t.Fatalf("in memory %d, want 19 (95%% of 20)", got)
	}
	if h.m.get(ids[0]) == nil || h.m.get(ids[20]) == nil {
		t.Fatal("recently used sessions were evicted")
	}
	if h.m.get(ids[1]) != nil || h.m.get(ids[2]) != nil {
		t.Fatal("least recently used sessions stayed")
	}
	if _, ok := h.get(t, ids[1], ""); !ok {
		t.Fatal("an evicted session was lost")
	}
}

func TestCloseWritesEverySession(t *testing.T) {
	h := newHarness(t, nil)
	want := map[string]string{}
	for i := range 600 { // more than one batch
		v := fmt.Sprint(i)
		want[h.newSession(t, map[string]string{"i": v})] = v
	}
	if err := h.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.create(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: %v", err)
	}
	opts := DefaultOptions()
	opts.Store = h.mem
	m2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(context.Background())
	h2 := &harness{m: m2}
	for id, v := range want {
		if got, ok := h2.get(t, id, "i"); !ok || got != v {
			t.Fatalf("after restart %s = %q, %v; want %q", logID(id), got, ok, v)
		}
	}
}

func TestStoreFailureKeepsSessions(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.EvictAfter = time.Minute })
	id := h.newSession(t, map[string]string{"k": "v"})
	h.clock.Advance(2 * time.Minute)
	h.store.fail.Store(true)
	h.m.sweep(context.Background())
	if h.m.get(id) == nil {
		t.Fatal("a session whose write failed was dropped from memory")
	}
	h.store.fail.Store(false)
	h.m.sweep(context.Background())
	if h.m.get(id) != nil {
		t.Fatal("eviction did not retry")
	}
	// A store that is down is an error, never a fresh empty session.
	h.store.fail.Store(true)
	if s, err := h.m.lookup(context.Background(), id); !errors.Is(err, errInjected) || s != nil {
		t.Fatalf("lookup with the store down = %v, %v", s, err)
	}
	h.store.fail.Store(false)
	if got, ok := h.get(t, id, "k"); !ok || got != "v" {
		t.Fatal("session lost after the store came back")
	}
}

func TestCloseRetriesAStoreThatIsDown(t *testing.T) {
	h := newHarness(t, nil)
	id := h.newSession(t, map[string]string{"k": "v"})
	h.store.fail.Store(true)
	time.AfterFunc(300*time.Millisecond, func() { h.store.fail.Store(false) })
	if err := h.m.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if rec, err := h.mem.Load(context.Background(), id); err != nil || len(rec.Data) == 0 {
		t.Fatalf("session not written once the store came back: %v", err)
	}

	// Out of time, Close says how many sessions it could not write.
	h2 := newHarness(t, nil)
	h2.newSession(t, nil)
	h2.store.fail.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h2.m.Close(ctx); err == nil || !contains(err.Error(), "1 of 1 sessions not written") {
		t.Fatalf("Close with the store down: %v", err)
	}
}

func TestCorruptStoredRecordIsSkipped(t *testing.T) {
	h := newHarness(t, nil)
	id, _ := newID()
	err := h.mem.Save(context.Background(), []store.Record{{ID: id, Expires: time.Now().Add(time.Hour), Data: []byte("garbage")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.get(t, id, ""); ok {
		t.Fatal("a corrupt record was adopted")
	}
	// A store that reports corruption itself is skipped the same way.
	h.store.corrupt.Store(true)
	if _, ok := h.get(t, id, ""); ok {
		t.Fatal("a record the store reports corrupt was adopted")
	}
	h.store.corrupt.Store(false)
	good := h.newSession(t, nil)
	if _, ok := h.get(t, good, ""); !ok {
		t.Fatal("the node stopped working after a corrupt record")
	}
}

func TestInvalidateRemovesEveryCopy(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.EvictAfter = time.Minute })
	id := h.newSession(t, map[string]string{"k": "v"})
	s, _ := h.m.lookup(context.Background(), id)
	// A stale stored copy, as a failed delete could leave behind.
	r := s.snapshot()
	_ = h.mem.Save(context.Background(), []store.Record{{ID: id, Expires: r.expires(), Data: encodeRecord(r)}})
	h.store.fail.Store(true)
	if err := s.Invalidate(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("invalidate with the store down: %v", err)
	}
	h.store.fail.Store(false)
	h.m.unlockRequest(s)
	if err := s.PutString("k", "w"); !errors.Is(err, ErrInvalidated) {
		t.Fatalf("put on an invalidated session: %v", err)
	}
	if _, ok := h.get(t, id, ""); ok {
		t.Fatal("an invalidated session came back from the store")
	}
	h.m.sweep(context.Background())
	if h.mem.Len() != 0 {
		t.Fatal("the sweeper did not retry the failed delete")
	}
	if h.ev.count(Destroyed, Invalidated) != 1 {
		t.Fatal("no invalidated event")
	}
}

func TestRenewID(t *testing.T) {
	h := newHarness(t, nil)
	old := h.newSession(t, map[string]string{"k": "v"})
	s, _ := h.m.lookup(context.Background(), old)
	v0 := s.Version()
	if err := s.RenewID(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m.unlockRequest(s)
	if s.ID() == old || !ValidID(s.ID()) || s.Version() <= v0 {
		t.Fatalf("renewed id %q version %d", s.ID(), s.Version())
	}
	if _, ok := h.get(t, old, ""); ok {
		t.Fatal("the old id still works")
	}
	if got, ok := h.get(t, s.ID(), "k"); !ok || got != "v" {
		t.Fatal("attributes did not follow the new id")
	}
	if h.m.Len() != 1 {
		t.Fatalf("in memory %d, want 1", h.m.Len())
	}
}

func TestLockTimeout(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.LockTimeout = 20 * time.Millisecond })
	id := h.newSession(t, nil)
	s := h.m.get(id)
	if !s.lock.TryAcquire(exclusiveWeight) {
		t.Fatal("session busy")
	}
	_, err := h.m.lookup(context.Background(), id)
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("lookup of a held session: %v, want ErrLockTimeout", err)
	}
	s.lock.Release(exclusiveWeight)
	if _, ok := h.get(t, id, ""); !ok {
		t.Fatal("session lost after a lock timeout")
	}
}

// TestConcurrencyModes runs concurrent read-modify-write increments: exclusive
// mode must lose none; shared mode lets requests overlap (which is why
// exclusive mode exists), observed as two requests inside at once.
func TestConcurrencyModes(t *testing.T) {
	for _, exclusive := range []bool{false, true} {
		t.Run(fmt.Sprint("exclusive=", exclusive), func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Exclusive = exclusive })
			id := h.newSession(t, nil)
			var inside, maxInside atomic.Int32
			var wg sync.WaitGroup
			const workers, rounds = 8, 50
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						s, err := h.m.lookup(context.Background(), id)
						if err != nil || s == nil {
							t.Error(err)
							return
						}
						n := inside.Add(1)
						for {
							m := maxInside.Load()
							if n <= m || maxInside.CompareAndSwap(m, n) {
								break
							}
						}
						v, _ := s.GetInt("n")
						time.Sleep(10 * time.Microsecond) // widen the read-modify-write window
						_ = s.PutInt("n", v+1)
						inside.Add(-1)
						h.m.unlockRequest(s)
					}
				}()
			}
			wg.Wait()
			s, _ := h.m.lookup(context.Background(), id)
			n, _ := s.GetInt("n")
			h.m.unlockRequest(s)
			if exclusive && (n != workers*rounds || maxInside.Load() != 1) {
				t.Fatalf("exclusive: count %d (want %d), max inside %d (want 1)", n, workers*rounds, maxInside.Load())
			}
			if !exclusive && maxInside.Load() < 2 {
				t.Fatalf("shared: requests never overlapped (max inside %d)", maxInside.Load())
			}
		})
	}
}

// TestDrainDropsWhatWasTaken: Drain drops exactly the sessions the other
// node reports it took, from the first, and keeps serving the rest; a
// failed batch drops none.
func TestDrainDropsWhatWasTaken(t *testing.T) {
	tests := []struct {
		name      string
		took      int
		err       error
		wantMoved int
	}{
		{"all", 3, nil, 3},
		{"one of three", 1, errInjected, 1},
		{"none", 0, errInjected, 0},
		{"an impossible count", 7, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			for range 3 {
				h.newSession(t, nil)
			}
			var sent []string
			moved, err := h.m.Drain(context.Background(), 10, func(_ context.Context, batch []string, recs [][]byte) (int, error) {
				sent = append(sent, batch...)
				return tt.took, tt.err
			}, nil)
			if moved != tt.wantMoved || !errors.Is(err, tt.err) {
				t.Fatalf("Drain = %d, %v; want %d, %v", moved, err, tt.wantMoved, tt.err)
			}
			if h.m.Len() != 3-tt.wantMoved {
				t.Fatalf("%d sessions left, want %d", h.m.Len(), 3-tt.wantMoved)
			}
			for i, id := range sent {
				s, _ := h.m.lookup(context.Background(), id)
				if got := s != nil; got != (i >= tt.wantMoved) {
					t.Errorf("session %d of the batch here: %v, want %v", i, got, i >= tt.wantMoved)
				}
				if s != nil {
					h.m.unlockRequest(s)
				}
			}
		})
	}
}
