package session

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sentReplicas is a farm of one backup, "b", that acknowledges every item
// and records it.
type sentReplicas struct {
	mu    sync.Mutex
	items []ReplicaItem
}

func (r *sentReplicas) Targets(string) []string { return []string{"b"} }

func (r *sentReplicas) Send(_ context.Context, _ string, items []ReplicaItem) ([]ReplicaStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, items...)
	out := make([]ReplicaStatus, len(items))
	for i := range out {
		out[i] = ReplicaOK
	}
	return out, nil
}

// take returns the items sent since the last take.
func (r *sentReplicas) take() []ReplicaItem {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.items
	r.items = nil
	return out
}

func strAttrs(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// hold holds the session for the test. Its release may be called more
// than once and runs at the test's cleanup too, so that a test failing
// while it holds the session does not leave it locked: the harness's Close
// would wait for it for ever.
func hold(t *testing.T, h *harness, id string) (*Session, func() error) {
	t.Helper()
	s, release, err := h.m.Hold(context.Background(), id)
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	return s, releaseOnce(t, release)
}

func releaseOnce(t *testing.T, release func(context.Context) error) func() error {
	var once sync.Once
	var err error
	rel := func() error {
		once.Do(func() { err = release(context.Background()) })
		return err
	}
	t.Cleanup(func() { _ = rel() })
	return rel
}

func TestHoldRefusesWhatIsNotALiveSession(t *testing.T) {
	unknown, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		id   func(t *testing.T, h *harness) string
	}{
		{"empty id", func(*testing.T, *harness) string { return "" }},
		{"malformed id", func(*testing.T, *harness) string { return "not-a-session-id" }},
		{"too long", func(*testing.T, *harness) string { return strings.Repeat("A", 200) }},
		{"unknown id", func(*testing.T, *harness) string { return unknown }},
		{"route suffix is not part of the id", func(t *testing.T, h *harness) string {
			return h.newSession(t, nil) + ".red"
		}},
		{"expired", func(t *testing.T, h *harness) string {
			id := h.newSession(t, nil)
			h.clock.Advance(DefaultOptions().IdleTimeout + time.Second)
			return id
		}},
		{"invalidated", func(t *testing.T, h *harness) string {
			id := h.newSession(t, nil)
			s, release := hold(t, h, id)
			if err := s.Invalidate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
			return id
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			s, release, err := h.m.Hold(context.Background(), tt.id(t, h))
			if !errors.Is(err, ErrNoSession) || s != nil || release != nil {
				t.Fatalf("Hold = %v, %v, release set %v; want ErrNoSession and nothing else", s, err, release != nil)
			}
		})
	}
}

// Hold finds a session wherever the filter would: in memory, or in the
// store after an eviction.
func TestHoldFindsEvictedSession(t *testing.T) {
	h := newHarness(t, nil)
	id := h.newSession(t, map[string]string{"k": "v"})
	s := h.m.get(id)
	if n, err := h.m.evict(context.Background(), []*Session{s}, true); err != nil || n != 1 {
		t.Fatalf("evict: %d, %v", n, err)
	}
	if h.m.Len() != 0 {
		t.Fatal("the session is still in memory")
	}
	s, release := hold(t, h, id)
	if got := s.GetString("k"); got != "v" || s.ID() != id {
		t.Fatalf("held %s with k=%q", s.ID(), got)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
}

// release gives the lock back, so that the next Hold (or request) gets the
// session: in exclusive mode a second Hold waits for the first and times
// out while it is held; in shared mode both hold it at once.
func TestHoldReleaseUnlocks(t *testing.T) {
	for _, tt := range []struct {
		name      string
		exclusive bool
	}{
		{"shared", false},
		{"exclusive", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) {
				o.Exclusive = tt.exclusive
				o.LockTimeout = 100 * time.Millisecond
			})
			ctx := context.Background()
			id := h.newSession(t, nil)
			s1, release1 := hold(t, h, id)
			if err := s1.PutString("n", "1"); err != nil {
				t.Fatal(err)
			}
			_, second, err := h.m.Hold(ctx, id)
			if err == nil {
				release2 := releaseOnce(t, second)
				if err := release2(); err != nil {
					t.Fatal(err)
				}
			}
			switch {
			case tt.exclusive && !errors.Is(err, ErrLockTimeout):
				t.Fatalf("a second Hold while the first holds an exclusive session: %v, want ErrLockTimeout", err)
			case !tt.exclusive && err != nil:
				t.Fatalf("a second shared Hold: %v", err)
			}
			if err := release1(); err != nil {
				t.Fatal(err)
			}
			// Released: the session is free for the next holder, and has
			// the first holder's change.
			s2, again, err := h.m.Hold(ctx, id)
			if err != nil {
				t.Fatalf("Hold after release: %v", err)
			}
			release2 := releaseOnce(t, again)
			if got := s2.GetString("n"); got != "1" {
				t.Fatalf("the second holder sees n=%q", got)
			}
			if err := release2(); err != nil {
				t.Fatal(err)
			}
			// And the manager can take it exclusively again: nothing
			// still holds it.
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if n, err := h.m.evict(tctx, []*Session{s2}, true); err != nil || n != 1 {
				t.Fatalf("evicting after every release: %d, %v", n, err)
			}
		})
	}
}

// Update applies all of its change or none of it, within the size limits;
// release replicates exactly the attributes it changed, as a delta on the
// version the backup had, and nothing when it changed nothing.
func TestUpdate(t *testing.T) {
	const maxAttr, maxSession = 16, 40
	long := func(n int) string { return strings.Repeat("x", n) }
	// The session starts as a=1234, b=5678: 10 bytes.
	start := map[string]string{"a": "1234", "b": "5678"}
	for _, tt := range []struct {
		name   string
		set    map[string]string
		remove []string
		// invalidate the session before the Update.
		invalidate bool

		wantErr     error
		wantAttrs   map[string]string // nil: start, unchanged
		wantPuts    []string          // the delta's puts; nil with no change
		wantRemoves []string
	}{
		{
			name:      "set a new attribute",
			set:       map[string]string{"c": "x"},
			wantAttrs: map[string]string{"a": "1234", "b": "5678", "c": "x"},
			wantPuts:  []string{"c"},
		},
		{
			name:        "set one, remove another",
			set:         map[string]string{"a": "9"},
			remove:      []string{"b"},
			wantAttrs:   map[string]string{"a": "9"},
			wantPuts:    []string{"a"},
			wantRemoves: []string{"b"},
		},
		{
			name:      "a key both set and removed is set",
			set:       map[string]string{"a": "set"},
			remove:    []string{"a"},
			wantAttrs: map[string]string{"a": "set", "b": "5678"},
			wantPuts:  []string{"a"},
		},
		{
			name:   "removing only absent keys changes nothing",
			remove: []string{"zz", "yy"},
		},
		{
			name: "an empty update changes nothing",
		},
		{
			name:    "one attribute over the limit: nothing applies",
			set:     map[string]string{"c": "ok", "d": long(maxAttr)}, // 1+16 > 16
			remove:  []string{"a"},
			wantErr: ErrTooLarge,
		},
		{
			name:    "the session over the limit: nothing applies",
			set:     map[string]string{"c": long(14), "d": long(14), "e": long(4)}, // 10+35 > 40
			wantErr: ErrTooLarge,
		},
		{
			name:        "removals make room under the session limit",
			set:         map[string]string{"c": long(14), "d": long(14), "e": long(4)},
			remove:      []string{"a"}, // 10-5+35 = 40
			wantAttrs:   map[string]string{"b": "5678", "c": long(14), "d": long(14), "e": long(4)},
			wantPuts:    []string{"c", "d", "e"},
			wantRemoves: []string{"a"},
		},
		{
			name:      "a replaced value counts once",
			set:       map[string]string{"a": long(15), "b": long(15)}, // 32, not 42
			wantAttrs: map[string]string{"a": long(15), "b": long(15)},
			wantPuts:  []string{"a", "b"},
		},
		{
			name: "a removal that would have made room does not count when the key is set",
			set:  map[string]string{"a": long(15), "c": long(14), "d": long(4)}, // b 5 + a 16 + c 15 + d 5 = 41
			// a is set, so removing it frees nothing.
			remove:  []string{"a"},
			wantErr: ErrTooLarge,
		},
		{
			name:       "an invalidated session",
			set:        map[string]string{"c": "x"},
			invalidate: true,
			wantErr:    ErrInvalidated,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repl := &sentReplicas{}
			h := newHarness(t, func(o *Options) {
				o.MaxAttributeSize, o.MaxSessionSize = maxAttr, maxSession
				o.Replication = Replication{Replicas: repl}
			})
			ctx := context.Background()
			id := h.newSession(t, start)
			// A first round gives the backup the whole session, so that
			// the next change goes as a delta on it.
			_, release := hold(t, h, id)
			if err := release(); err != nil {
				t.Fatal(err)
			}
			if items := repl.take(); len(items) != 1 || items[0].Kind != ReplicaFull {
				t.Fatalf("the first round sent %+v, want one whole session", items)
			}

			s, release := hold(t, h, id)
			if tt.invalidate {
				if err := s.Invalidate(ctx); err != nil {
					t.Fatal(err)
				}
				repl.take() // the drop
			}
			v0 := s.Version()
			set := map[string][]byte{}
			for k, v := range tt.set {
				set[k] = []byte(v)
			}
			err := s.Update(set, tt.remove)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Update: %v, want %v", err, tt.wantErr)
			}
			want := tt.wantAttrs
			if want == nil && !tt.invalidate {
				want = start
			}
			if got := strAttrs(s.Attributes()); !tt.invalidate && !maps.Equal(got, want) {
				t.Errorf("attributes %q, want %q", got, want)
			}
			changed := tt.wantPuts != nil || tt.wantRemoves != nil
			if v := s.Version(); changed && v != v0+1 || !changed && v != v0 {
				t.Errorf("version %d after the update, was %d (changed: %v)", v, v0, changed)
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}

			items := repl.take()
			if !changed {
				if len(items) != 0 {
					t.Fatalf("an update that changed nothing replicated %+v", items)
				}
				return
			}
			if len(items) != 1 || items[0].Kind != ReplicaDelta || items[0].Base != v0 || items[0].Version != v0+1 || items[0].ID != id {
				t.Fatalf("replicated %+v, want one delta from version %d to %d", items, v0, v0+1)
			}
			raw, err := h.m.decodeStored(ctx, items[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			d, err := decodeDelta(raw)
			if err != nil {
				t.Fatal(err)
			}
			if puts := slices.Sorted(maps.Keys(d.puts)); !slices.Equal(puts, tt.wantPuts) {
				t.Errorf("the delta puts %q, want %q", puts, tt.wantPuts)
			}
			for _, k := range tt.wantPuts {
				if string(d.puts[k]) != want[k] {
					t.Errorf("the delta puts %s=%q, want %q", k, d.puts[k], want[k])
				}
			}
			if !slices.Equal(d.removes, tt.wantRemoves) {
				t.Errorf("the delta removes %q, want %q", d.removes, tt.wantRemoves)
			}
			if d.cleared {
				t.Error("the delta says the session was cleared")
			}
		})
	}
}

// The error of an oversized attribute names it, and the session is left
// as it was.
func TestUpdateErrorNamesTheAttribute(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxAttributeSize, o.MaxSessionSize = 8, 32 })
	id := h.newSession(t, nil)
	s, _ := hold(t, h, id)
	v0 := s.Version()
	err := s.Update(map[string][]byte{"big": []byte("123456")}, nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("Update: %v, want ErrTooLarge naming \"big\"", err)
	}
	if s.Len() != 0 || s.Version() != v0 {
		t.Fatalf("the refused update left %d attributes, version %d", s.Len(), s.Version())
	}
}
