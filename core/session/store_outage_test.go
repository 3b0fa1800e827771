package session

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/internal/testservers"
	"github.com/wadi-go/wadi/plugins/builtin/pgstore"
	"github.com/wadi-go/wadi/plugins/builtin/redisstore"
	"github.com/wadi-go/wadi/sdk/store"
)

// outageStore is a real store whose server the test can stop and start
// again, keeping its data.
type outageStore struct {
	store       store.Store
	stop, start func()
}

// TestManagerKeepsSessionsWhileStoreIsDown runs a manager on a real Redis and
// a real PostgreSQL that stop under it (the fault injection of
// TestStoreFailureKeepsSessions, but with real servers and drivers): a
// session stays in memory while its eviction fails, and the eviction is
// retried; a session only the store has is an error, not a fresh session;
// Close retries until the store is back; and once it is, no session is lost.
// No log line and no error names a whole session id.
func TestManagerKeepsSessionsWhileStoreIsDown(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) outageStore
	}{
		{"redis", func(t *testing.T) outageStore {
			r := testservers.NewRedis(t)
			st := openOutageStore(t, redisstore.FromConfig, map[string]any{
				"address": r.Addr, "url": nil, "username": nil, "password": nil, "database": 0,
				"key_prefix": "outage:", "tls": false, "tls_ca_file": nil, "tls_server_name": nil, "timeout": "2s",
			})
			// Stop saves the data, as a server with persistence keeps it.
			return outageStore{st, func() { r.Stop(t) }, func() { r.Restart(t) }}
		}},
		{"postgres", func(t *testing.T) outageStore {
			p := testservers.NewPostgres(t)
			st := openOutageStore(t, pgstore.FromConfig, map[string]any{
				"dsn": p.Database(t), "table": "wadi_sessions", "max_conns": 4, "timeout": "2s",
			})
			return outageStore{st, func() { p.StopImmediate(t) }, func() { p.Start(t) }}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkStoreOutage(t, tt.open(t)) })
	}
}

func openOutageStore[S store.Store](t *testing.T, fromConfig func([]byte) (S, error), cfg map[string]any) store.Store {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := fromConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// syncBuffer is a log destination the test reads while the manager writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// storeHarness is a manager on st that logs into log.
func storeHarness(t *testing.T, st store.Store, log *syncBuffer) *harness {
	t.Helper()
	h := &harness{clock: newFakeClock(), ev: &eventLog{}}
	opts := DefaultOptions()
	opts.Store = st
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: log, Level: hclog.Debug})
	opts.clock = h.clock.Now
	opts.SweepInterval = time.Hour // the test sweeps by hand
	opts.EvictAfter = time.Minute
	opts.StoreTimeout = 2 * time.Second
	opts.Listeners = []Listener{h.ev.listen}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() {
		if !m.closing.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = m.Close(ctx)
		}
	})
	return h
}

func checkStoreOutage(t *testing.T, srv outageStore) {
	ctx := context.Background()
	log := &syncBuffer{}
	h := storeHarness(t, srv.store, log)
	idle := func() {
		h.clock.Advance(2 * time.Minute) // past EvictAfter
		h.m.sweep(ctx)
	}

	// b is evicted while the store is up: the store alone has it.
	b := h.newSession(t, map[string]string{"k": "b"})
	idle()
	if h.m.get(b) != nil {
		t.Fatal("b was not evicted while the store was up")
	}
	a := h.newSession(t, map[string]string{"k": "a"})

	srv.stop()
	if got, ok := h.get(t, a, "k"); !ok || got != "a" {
		t.Errorf("a, in memory, while the store is down: %q, %v", got, ok)
	}
	idle()
	if h.m.get(a) == nil {
		t.Fatal("a was dropped from memory while its eviction failed")
	}
	s, err := h.m.lookup(ctx, b)
	if err == nil || s != nil {
		t.Fatalf("lookup of b, which only the store has, while it is down = %v, %v; want an error, not a fresh session", s, err)
	}
	if strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), logID(b)) {
		t.Errorf("lookup error %q: want b named as %s, never whole", err, logID(b))
	}
	t.Logf("lookup with the store down: %v", err)

	srv.start()
	idle()
	if h.m.get(a) != nil {
		t.Fatal("the eviction of a was not retried once the store was back")
	}
	for id, want := range map[string]string{a: "a", b: "b"} {
		if got, ok := h.get(t, id, "k"); !ok || got != want {
			t.Errorf("%s once the store is back: %q, %v; want %q", logID(id), got, ok, want)
		}
	}

	// Close, with the store down, retries until it is back.
	c := h.newSession(t, map[string]string{"k": "c"})
	srv.stop()
	closed := make(chan error, 1)
	go func() {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		closed <- h.m.Close(cctx)
	}()
	const retrying = "writing sessions out failed; retrying"
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(log.String(), retrying); {
		if time.Now().After(deadline) {
			t.Fatalf("Close logged no failed attempt while the store was down; log:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.start()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}

	// A new node on the store finds every session.
	h2 := storeHarness(t, srv.store, log)
	for id, want := range map[string]string{a: "a", b: "b", c: "c"} {
		if got, ok := h2.get(t, id, "k"); !ok || got != want {
			t.Errorf("%s after Close: %q, %v; want %q", logID(id), got, ok, want)
		}
	}
	for _, id := range []string{a, b, c} {
		if strings.Contains(log.String(), id) {
			t.Errorf("the log names session %s whole:\n%s", logID(id), log.String())
		}
	}
}
