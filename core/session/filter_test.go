package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/sdk/store"
)

func newManager(t testing.TB, tweak func(*session.Options)) *session.Manager {
	t.Helper()
	opts := session.DefaultOptions()
	opts.Store = memstore.New()
	if tweak != nil {
		tweak(&opts)
	}
	m, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// counter increments "n" and writes it, like the demo's /api/incr.
func counter(w http.ResponseWriter, r *http.Request) {
	s, err := session.From(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	n, _ := s.GetInt("n")
	if err := s.PutInt("n", n+1); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, n+1)
}

func do(t *testing.T, h http.Handler, cookie string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == "WADISESSIONID" {
			return c
		}
	}
	return nil
}

func TestFilterSessionAcrossRequests(t *testing.T) {
	m := newManager(t, nil)
	h := m.Middleware(http.HandlerFunc(counter))
	first := do(t, h, "")
	c := sessionCookie(t, first)
	if c == nil || first.Body.String() != "1" {
		t.Fatalf("first request: cookie %v body %q", c, first.Body)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || !c.Expires.IsZero() || c.Secure {
		t.Fatalf("cookie attributes %+v", c)
	}
	if !session.ValidID(c.Value) {
		t.Fatalf("cookie value %q is not an id", c.Value)
	}
	second := do(t, h, "WADISESSIONID="+c.Value)
	if second.Body.String() != "2" {
		t.Fatalf("second request body %q, want 2", second.Body)
	}
	if sessionCookie(t, second) != nil {
		t.Fatal("an unchanged session cookie was sent again")
	}
}

// loadCounter counts the store loads a request causes.
type loadCounter struct {
	store.Store
	loads atomic.Int64
}

func (c *loadCounter) Load(ctx context.Context, id string) (store.Record, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, id)
}

func TestFilterUntouchedRequestCostsNothing(t *testing.T) {
	st := &loadCounter{Store: memstore.New()}
	m := newManager(t, func(o *session.Options) { o.Store = st })
	untouched := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	touching := m.Middleware(http.HandlerFunc(counter))
	live := sessionCookie(t, do(t, touching, "")).Value
	// An id of the right shape that is not in memory: looking it up would
	// go to the store.
	unknown := strings.Repeat("A", len(live))
	tests := []struct{ name, cookie string }{
		{"no cookie", ""},
		{"live session", "WADISESSIONID=" + live},
		{"unknown id", "WADISESSIONID=" + unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := st.loads.Load()
			rec := do(t, untouched, tt.cookie)
			if n := len(rec.Result().Cookies()); n != 0 || m.Len() != 1 || rec.Header().Get("Vary") != "" {
				t.Errorf("untouched request: %d cookies, Vary %q, %d sessions (want 0, none, 1)", n, rec.Header().Get("Vary"), m.Len())
			}
			if n := st.loads.Load() - before; n != 0 {
				t.Errorf("untouched request caused %d store loads", n)
			}
		})
	}
	// The same unknown id does cost a load when the handler asks: the
	// counter above could have seen one.
	before := st.loads.Load()
	do(t, touching, "WADISESSIONID="+unknown)
	if st.loads.Load() == before {
		t.Fatal("a request using the session loaded nothing for an unknown id")
	}
}

func TestFilterBadCookies(t *testing.T) {
	m := newManager(t, nil)
	h := m.Middleware(http.HandlerFunc(counter))
	valid := sessionCookie(t, do(t, h, "")).Value
	unknown := strings.Repeat("A", len(valid))
	tests := []struct {
		name   string
		cookie string
		want   string // body
	}{
		{"malformed", "WADISESSIONID=%%%;", "1"},
		{"oversized", "WADISESSIONID=" + strings.Repeat("x", 8000), "1"},
		{"unknown id", "WADISESSIONID=" + unknown, "1"},
		{"forged shape", "WADISESSIONID=" + valid[:len(valid)-1] + ".", "1"},
		{"garbage header", "\x00\x01;;==;WADISESSIONID", "1"},
		{"duplicate names, second valid", "WADISESSIONID=" + unknown + "; WADISESSIONID=" + valid, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, tt.cookie)
			if rec.Code != 200 || rec.Body.String() != tt.want {
				t.Fatalf("code %d body %q, want 200 %q", rec.Code, rec.Body, tt.want)
			}
			if c := sessionCookie(t, rec); tt.want == "1" && (c == nil || c.Value == unknown) {
				t.Fatalf("cookie %v: want a fresh id", c)
			}
		})
	}
}

func TestFromWithoutMiddleware(t *testing.T) {
	if _, err := session.From(context.Background()); !errors.Is(err, session.ErrNoMiddleware) {
		t.Fatalf("From: %v", err)
	}
	if _, err := session.Existing(context.Background()); !errors.Is(err, session.ErrNoMiddleware) {
		t.Fatalf("Existing: %v", err)
	}
}

func TestExistingNeverCreates(t *testing.T) {
	m := newManager(t, nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := session.Existing(r.Context())
		fmt.Fprint(w, errors.Is(err, session.ErrNoSession))
	}))
	if rec := do(t, h, ""); rec.Body.String() != "true" || m.Len() != 0 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("Existing created a session: %q, %d", rec.Body, m.Len())
	}
}

func TestCookieBeforeBody(t *testing.T) {
	m := newManager(t, nil)
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"write", func(w http.ResponseWriter, r *http.Request) {
			_, _ = session.From(r.Context())
			io.WriteString(w, "body")
		}},
		{"write header", func(w http.ResponseWriter, r *http.Request) {
			_, _ = session.From(r.Context())
			w.WriteHeader(201)
		}},
		{"flush", func(w http.ResponseWriter, r *http.Request) {
			_, _ = session.From(r.Context())
			w.(http.Flusher).Flush()
		}},
		{"response controller flush", func(w http.ResponseWriter, r *http.Request) {
			_, _ = session.From(r.Context())
			if err := http.NewResponseController(w).Flush(); err != nil {
				panic(err)
			}
		}},
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {
			_, _ = session.From(r.Context())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(m.Middleware(tt.handler))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(resp.Cookies()) != 1 {
				t.Fatalf("cookies %v: want the session cookie in the headers", resp.Cookies())
			}
		})
	}
}

func TestCreateAfterHeadersIsAnError(t *testing.T) {
	m := newManager(t, nil)
	var got error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "x")
		_, got = session.From(r.Context())
	}))
	do(t, h, "")
	if !errors.Is(got, session.ErrHeadersWritten) || m.Len() != 0 {
		t.Fatalf("From after the body: %v, %d sessions", got, m.Len())
	}
}

func TestHijackAndDeadlinesThroughWrapper(t *testing.T) {
	m := newManager(t, nil)
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := session.From(r.Context()); err != nil {
			panic(err)
		}
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			panic(err)
		}
		conn, buf, err := rc.Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		buf.Flush()
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hijacked" {
		t.Fatalf("body %q", body)
	}
	// The session was released despite the hijack: a manager-side operation
	// can take it exclusively.
	if m.Len() != 1 {
		t.Fatalf("sessions %d", m.Len())
	}
}

func TestInvalidateAndRenewCookies(t *testing.T) {
	m := newManager(t, nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			panic(err)
		}
		switch r.URL.Path {
		case "/logout":
			if err := s.Invalidate(r.Context()); err != nil {
				panic(err)
			}
		case "/login":
			if err := s.RenewID(r.Context()); err != nil {
				panic(err)
			}
		}
		fmt.Fprint(w, s.GetString("who"))
	}))
	id := sessionCookie(t, do(t, h, "")).Value
	req := func(path, id string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Cookie", "WADISESSIONID="+id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	login := req("/login", id)
	renewed := sessionCookie(t, login)
	if renewed == nil || renewed.Value == id {
		t.Fatalf("login did not renew the cookie: %v", renewed)
	}
	if c := sessionCookie(t, req("/", id)); c == nil || c.Value == id || c.Value == renewed.Value {
		t.Fatal("the old id still reaches the session")
	}
	logout := req("/logout", renewed.Value)
	if c := sessionCookie(t, logout); c == nil || c.MaxAge >= 0 {
		t.Fatalf("logout cookie %v: want a deletion", c)
	}
}

func TestPersistentCookie(t *testing.T) {
	m := newManager(t, func(o *session.Options) {
		o.Cookie.Persist = true
		o.Cookie.Secure = true
		o.Cookie.Domain = "example.com"
	})
	h := m.Middleware(http.HandlerFunc(counter))
	first := sessionCookie(t, do(t, h, ""))
	if first.Expires.Before(time.Now().Add(29*time.Minute)) || !first.Secure || first.Domain != "example.com" {
		t.Fatalf("persistent cookie %+v", first)
	}
	// Each request extends it.
	if c := sessionCookie(t, do(t, h, "WADISESSIONID="+first.Value)); c == nil || c.Value != first.Value {
		t.Fatalf("persistent cookie not refreshed: %v", c)
	}
}

func TestPanicReleasesSession(t *testing.T) {
	m := newManager(t, func(o *session.Options) { o.Exclusive = true; o.LockTimeout = time.Second })
	var id string
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		id = s.ID()
		if r.URL.Path == "/panic" {
			panic("boom")
		}
	}))
	func() {
		defer func() { _ = recover() }()
		do(t, h, "")
	}()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", "WADISESSIONID="+id)
	r2 := httptest.NewRequest("GET", "/panic", nil)
	r2.Header.Set("Cookie", "WADISESSIONID="+id)
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), r2)
	}()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("after a panic the session stayed locked: %d %s", rec.Code, rec.Body)
	}
}

func TestSizeLimits(t *testing.T) {
	m := newManager(t, func(o *session.Options) { o.MaxAttributeSize = 100; o.MaxSessionSize = 250 })
	var errs []error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.From(r.Context())
		errs = append(errs,
			s.Put("a", make([]byte, 99)),  // 100 with the name: fits
			s.Put("b", make([]byte, 100)), // 101: too large
			s.Put("c", make([]byte, 99)),  // session 200
			s.Put("d", make([]byte, 99)),  // session 300: too large
			s.Put("a", make([]byte, 10)),  // replacing shrinks it
			s.Put("d", make([]byte, 99)),  // 211: fits now
		)
	}))
	do(t, h, "")
	want := []bool{false, true, false, true, false, false}
	for i, e := range errs {
		if errors.Is(e, session.ErrTooLarge) != want[i] {
			t.Errorf("put %d: %v, want too large = %v", i, e, want[i])
		}
	}
}

// FuzzCookieHeader feeds arbitrary Cookie headers through the filter: none
// may crash it or reach a session it did not issue.
func FuzzCookieHeader(f *testing.F) {
	m := newManager(f, nil)
	h := m.Middleware(http.HandlerFunc(counter))
	f.Add("WADISESSIONID=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("WADISESSIONID=; WADISESSIONID=\"x\"")
	f.Add(";;=;WADISESSIONID=%00")
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Cookie"] = []string{header}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != "1" {
			t.Fatalf("cookie %q: code %d body %q, want a fresh session", header, rec.Code, rec.Body)
		}
	})
}

// ackReplicas is one backup, "b", that acknowledges every item it is sent
// while the sender's context is live, as a peer over the network would.
type ackReplicas struct {
	mu    sync.Mutex
	items []session.ReplicaItem
}

func (r *ackReplicas) Targets(string) []string { return []string{"b"} }

func (r *ackReplicas) Send(ctx context.Context, _ string, items []session.ReplicaItem) ([]session.ReplicaStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending to b: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, items...)
	out := make([]session.ReplicaStatus, len(items))
	for i := range out {
		out[i] = session.ReplicaOK
	}
	return out, nil
}

// version is the highest version of the session id the backup got.
func (r *ackReplicas) version(id string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var v uint64
	for _, it := range r.items {
		if it.ID == id {
			v = max(v, it.Version)
		}
	}
	return v
}

// A handler that panics after changing its session — ReverseProxy does,
// with http.ErrAbortHandler, when the upstream's response breaks off —
// still has the change sent to the backups (even if the client is gone),
// the session released, and the panic passed on unchanged to net/http;
// the response the filter kept back is not released as if whole.
func TestPanicCommitsSession(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name       string
		value      any // the handler panics with it; nil: it returns
		async      bool
		clientGone bool // the request's context is cancelled first
	}{
		{name: "returns", value: nil},
		{name: "abort, sync", value: http.ErrAbortHandler},
		{name: "abort, async", value: http.ErrAbortHandler, async: true},
		{name: "abort, client gone", value: http.ErrAbortHandler, clientGone: true},
		{name: "other panic", value: boom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repl := &ackReplicas{}
			m := newManager(t, func(o *session.Options) {
				o.Exclusive = true // a session left locked blocks Hold below
				o.LockTimeout = 200 * time.Millisecond
				o.Replication = session.Replication{Replicas: repl, Async: tt.async, Timeout: time.Second}
			})
			var id string
			var version uint64
			h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := session.From(r.Context())
				if err != nil {
					t.Errorf("From: %v", err)
					return
				}
				if err := s.Put("n", []byte("2")); err != nil {
					t.Errorf("Put: %v", err)
				}
				id, version = s.ID(), s.Version()
				fmt.Fprint(w, "part of the body")
				if tt.value != nil {
					panic(tt.value)
				}
			}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.clientGone {
				cancel()
			}
			rec := httptest.NewRecorder()
			got := func() (v any) {
				defer func() { v = recover() }()
				h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "GET", "/", nil))
				return nil
			}()
			if got != tt.value {
				t.Fatalf("the filter let through the panic %v, want %v", got, tt.value)
			}
			if id == "" {
				t.Fatal("the handler did not run")
			}
			deadline := time.Now().Add(5 * time.Second)
			for repl.version(id) != version && time.Now().Before(deadline) && tt.async {
				time.Sleep(5 * time.Millisecond)
			}
			if v := repl.version(id); v != version {
				t.Errorf("the backup has version %d of the session, want %d", v, version)
			}
			if tt.value != nil && !tt.async && rec.Body.Len() > 0 {
				t.Errorf("a panicking request's held response was released: %q", rec.Body)
			}
			s, release, err := m.Hold(context.Background(), id)
			if err != nil {
				t.Fatalf("the session after the request: %v", err)
			}
			defer func() { _ = release(context.Background()) }()
			if v, _ := s.Get("n"); string(v) != "2" {
				t.Errorf("the session holds n=%q, want 2", v)
			}
		})
	}
}

// TestRenewIDAfterResponseStarted: once the response has started, the new
// cookie could never reach the client, so RenewID refuses and the session
// keeps its id (renewing would strand the client with a dead cookie).
func TestRenewIDAfterResponseStarted(t *testing.T) {
	m := newManager(t, nil)
	var renewErr error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			panic(err)
		}
		if err := s.PutString("who", "ann"); err != nil {
			panic(err)
		}
		switch r.URL.Path {
		case "/late":
			fmt.Fprint(w, "started")
			renewErr = s.RenewID(r.Context())
		case "/who":
			fmt.Fprint(w, s.GetString("who"))
		}
	}))
	id := sessionCookie(t, do(t, h, "")).Value
	r := httptest.NewRequest("GET", "/late", nil)
	r.Header.Set("Cookie", "WADISESSIONID="+id)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !errors.Is(renewErr, session.ErrHeadersWritten) {
		t.Fatalf("RenewID after the body started: %v, want ErrHeadersWritten", renewErr)
	}
	if c := sessionCookie(t, rec); c != nil {
		t.Errorf("a cookie went out after the body: %v", c)
	}
	r = httptest.NewRequest("GET", "/who", nil)
	r.Header.Set("Cookie", "WADISESSIONID="+id)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if c := sessionCookie(t, rec); c != nil || rec.Body.String() != "ann" {
		t.Fatalf("the old id no longer reaches the session: cookie %v, body %q", c, rec.Body.String())
	}
}
