package session_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/sdk/store"
)

// recorder is a session.Metrics that remembers what it was told.
type recorder struct {
	mu         sync.Mutex
	requests   map[session.Outcome]int
	sessions   int
	evicted    int
	destroyed  map[session.Reason]int
	migrations int
	migBytes   int
	restored   map[bool]int // by request
}

func newRecorder() *recorder {
	return &recorder{requests: map[session.Outcome]int{}, destroyed: map[session.Reason]int{}, restored: map[bool]int{}}
}

func (r *recorder) Request(o session.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[o]++
}

func (r *recorder) SessionsChanged(d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions += d
}

func (r *recorder) Evicted(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evicted += n
}

func (r *recorder) Destroyed(why session.Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.destroyed[why]++
}

func (r *recorder) MigratedIn(d time.Duration, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d <= 0 || bytes <= 0 {
		return // not counted: the test then sees a migration missing
	}
	r.migrations++
	r.migBytes += bytes
}

func (r *recorder) Restored(byRequest bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restored[byRequest]++
}

// only reports whether the one outcome counted is o, once.
func (r *recorder) only(o session.Outcome) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.requests {
		n += c
	}
	return n == 1 && r.requests[o] == 1
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.requests)
}

// failingStore fails every Load while fail is set.
type failingStore struct {
	store.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) Load(ctx context.Context, id string) (store.Record, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return store.Record{}, errors.New("injected load failure")
	}
	return f.Store.Load(ctx, id)
}

// handOver is a session.Farm whose only other node is a manager in the
// same process: Fetch exports the session from it, as a holder would.
type handOver struct {
	from     *session.Manager
	restored bool // report the copy as restored from a backup
}

func (h *handOver) Fetch(ctx context.Context, id string) (*session.Fetched, error) {
	data, commit, abort, err := h.from.Export(ctx, id)
	if err != nil || data == nil {
		return nil, err
	}
	return &session.Fetched{Data: data, Restored: h.restored, Settle: func(take bool) error {
		if take {
			commit()
		} else {
			abort()
		}
		return nil
	}}, nil
}

func (*handOver) Claim(context.Context, string) (string, error)  { return "", nil }
func (*handOver) Released([]string)                              {}
func (*handOver) HeldHere(context.Context, string) (bool, error) { return true, nil }

// The filter reports exactly one outcome per request, the one that served
// it, and the manager's session count moves with the sessions.
func TestMetricsRequestOutcomes(t *testing.T) {
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := session.Existing(r.Context()); err != nil && !errors.Is(err, session.ErrNoSession) {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	untouched := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	tests := []struct {
		name string
		// setup returns the handler to send the request to and the cookie
		// it carries.
		setup        func(t *testing.T, rec *recorder) (http.Handler, string)
		want         session.Outcome
		wantSessions int // on the recorder after the request
	}{
		{"untouched", func(t *testing.T, rec *recorder) (http.Handler, string) {
			return withMetrics(t, rec, nil).Middleware(untouched), ""
		}, session.OutcomeNone, 0},
		{"created", func(t *testing.T, rec *recorder) (http.Handler, string) {
			return withMetrics(t, rec, nil).Middleware(http.HandlerFunc(counter)), ""
		}, session.OutcomeCreated, 1},
		{"local", func(t *testing.T, rec *recorder) (http.Handler, string) {
			h := withMetrics(t, rec, nil).Middleware(http.HandlerFunc(counter))
			return h, sessionCookie(t, do(t, h, "")).String()
		}, session.OutcomeLocal, 1},
		{"existing names none", func(t *testing.T, rec *recorder) (http.Handler, string) {
			// A session of another manager: a valid id unknown here.
			other := newManager(t, nil).Middleware(http.HandlerFunc(counter))
			return withMetrics(t, rec, nil).Middleware(read), sessionCookie(t, do(t, other, "")).String()
		}, session.OutcomeNone, 0},
		{"loaded", func(t *testing.T, rec *recorder) (http.Handler, string) {
			st := memstore.New()
			first := newManager(t, func(o *session.Options) { o.Store = st })
			c := sessionCookie(t, do(t, first.Middleware(http.HandlerFunc(counter)), ""))
			if err := first.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			return withMetrics(t, rec, func(o *session.Options) { o.Store = st }).Middleware(http.HandlerFunc(counter)), c.String()
		}, session.OutcomeLoaded, 1},
		{"error", func(t *testing.T, rec *recorder) (http.Handler, string) {
			st := &failingStore{Store: memstore.New(), fail: true}
			other := newManager(t, nil).Middleware(http.HandlerFunc(counter))
			c := sessionCookie(t, do(t, other, ""))
			return withMetrics(t, rec, func(o *session.Options) { o.Store = st }).Middleware(http.HandlerFunc(counter)), c.String()
		}, session.OutcomeError, 0},
		{"migrated in", func(t *testing.T, rec *recorder) (http.Handler, string) {
			holder := newManager(t, nil)
			c := sessionCookie(t, do(t, holder.Middleware(http.HandlerFunc(counter)), ""))
			return withMetrics(t, rec, func(o *session.Options) { o.Farm = &handOver{from: holder} }).Middleware(http.HandlerFunc(counter)), c.String()
		}, session.OutcomeMigratedIn, 1},
		{"restored", func(t *testing.T, rec *recorder) (http.Handler, string) {
			holder := newManager(t, nil)
			c := sessionCookie(t, do(t, holder.Middleware(http.HandlerFunc(counter)), ""))
			return withMetrics(t, rec, func(o *session.Options) { o.Farm = &handOver{from: holder, restored: true} }).Middleware(http.HandlerFunc(counter)), c.String()
		}, session.OutcomeRestored, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			h, cookie := tt.setup(t, rec)
			rec.reset()
			do(t, h, cookie)
			if !rec.only(tt.want) {
				t.Fatalf("outcomes %v, want one %v", rec.requests, tt.want)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.sessions != tt.wantSessions {
				t.Fatalf("sessions %d, want %d", rec.sessions, tt.wantSessions)
			}
			wantMig := 0
			if tt.want == session.OutcomeMigratedIn {
				wantMig = 1
			}
			if rec.migrations != wantMig {
				t.Fatalf("%d migrations observed, want %d", rec.migrations, wantMig)
			}
			wantRest := 0
			if tt.want == session.OutcomeRestored {
				wantRest = 1
			}
			if rec.restored[true] != wantRest || rec.restored[false] != 0 {
				t.Fatalf("restores observed %v, want %d by request", rec.restored, wantRest)
			}
		})
	}
}

func withMetrics(t *testing.T, rec *recorder, tweak func(*session.Options)) *session.Manager {
	t.Helper()
	return newManager(t, func(o *session.Options) {
		o.Metrics = rec
		if tweak != nil {
			tweak(o)
		}
	})
}

// Evicted counts what the sweeper writes out for memory, not what Close
// writes at shutdown; Destroyed counts invalidations; the session count
// follows both.
func TestMetricsEvictedAndDestroyed(t *testing.T) {
	rec := newRecorder()
	m := withMetrics(t, rec, func(o *session.Options) { o.MaxInMemory = 2 })
	h := m.Middleware(http.HandlerFunc(counter))
	var cookies []string
	for range 3 {
		cookies = append(cookies, sessionCookie(t, do(t, h, "")).String())
	}
	// The third session woke the trim: memory goes back under the limit.
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() > 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions in memory, want at most 2", m.Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	inv := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.Existing(r.Context())
		if err == nil {
			err = s.Invalidate(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	if rec := do(t, inv, cookies[2]); rec.Code != http.StatusOK {
		t.Fatalf("invalidate: %d %s", rec.Code, rec.Body)
	}
	rec.mu.Lock()
	evicted, sessions, destroyed := rec.evicted, rec.sessions, rec.destroyed[session.Invalidated]
	rec.mu.Unlock()
	if evicted < 1 || sessions != m.Len() || destroyed != 1 {
		t.Fatalf("evicted %d, sessions %d (Len %d), invalidated %d; want ≥1, Len, 1", evicted, sessions, m.Len(), destroyed)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.evicted != evicted || rec.sessions != 0 {
		t.Fatalf("after Close: evicted %d (was %d), sessions %d; want unchanged and 0", rec.evicted, evicted, rec.sessions)
	}
}

// Every outcome has a distinct label value, and no value is empty.
func TestOutcomeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range session.Outcomes() {
		s := o.String()
		if s == "" || s == "unknown" || seen[s] {
			t.Fatalf("outcome %d is named %q", o, s)
		}
		seen[s] = true
	}
	if got := session.Outcome(-1).String(); got != "unknown" {
		t.Fatalf("outcome -1 is %q", got)
	}
}
