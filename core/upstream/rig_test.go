package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/sdk/router"
)

// fakeReplicas acknowledges every item and records what it was sent, so
// tests run with the filter in synchronous replication mode (which keeps
// responses back) and can see what reached the backups.
type fakeReplicas struct {
	mu    sync.Mutex
	items []session.ReplicaItem
}

func (f *fakeReplicas) Targets(string) []string { return []string{"backup"} }

func (f *fakeReplicas) Send(_ context.Context, _ string, items []session.ReplicaItem) ([]session.ReplicaStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, items...)
	out := make([]session.ReplicaStatus, len(items))
	for i := range out {
		out[i] = session.ReplicaOK
	}
	return out, nil
}

func (f *fakeReplicas) sent() []session.ReplicaItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]session.ReplicaItem(nil), f.items...)
}

// syncBuffer is a log sink safe for the goroutines of a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rigOptions struct {
	token       string // API token; with it the API listens on TCP
	allowUnheld bool
	target      string // upstream URL; "" means the rig's app server
	maxAttr     int
	cookieName  string // the session cookie's name; "" the default
	// noReplication runs without the fake backups (benchmarks).
	noReplication bool
	// routeCookie, if set, has the node (route "red") set a route cookie
	// of that name, as the "cookie" router does, and the proxy protect it.
	routeCookie string
	// exclusive runs the manager in exclusive mode with a short lock
	// timeout, so that a session left locked makes snapshot fail.
	exclusive bool
}

// rig is a node in upstream mode in one process: the filter and the proxy
// on front, the application on app (its handler set per test in handle),
// the API on a unix socket (or TCP with a token).
type rig struct {
	t     testing.TB
	mgr   *session.Manager
	reg   *Registry
	repl  *fakeReplicas
	logs  *syncBuffer
	front *httptest.Server
	app   *httptest.Server
	// api reaches the API; apiBase is its URL prefix.
	api     *http.Client
	apiBase string
	token   string

	mu     sync.Mutex
	handle http.HandlerFunc
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, repl: &fakeReplicas{}, logs: &syncBuffer{}, token: o.token}
	log := hclog.New(&hclog.LoggerOptions{Output: r.logs, Level: hclog.Debug})
	opts := session.DefaultOptions()
	opts.Store = memstore.New()
	opts.Logger = log
	if !o.noReplication {
		opts.Replication = session.Replication{Replicas: r.repl}
	}
	if o.cookieName != "" {
		opts.Cookie.Name = o.cookieName
	}
	var protected []string
	if o.routeCookie != "" {
		opts.Routing = session.Routing{Route: "red", Format: router.Format{RouteCookie: o.routeCookie}}
		protected = []string{o.routeCookie}
	}
	if o.exclusive {
		opts.Exclusive = true
		opts.LockTimeout = time.Second
	}
	if o.maxAttr > 0 {
		opts.MaxAttributeSize = o.maxAttr
		opts.MaxSessionSize = 4 * o.maxAttr
	}
	mgr, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.mgr = mgr
	t.Cleanup(func() { _ = mgr.Close(context.Background()) })
	r.reg = NewRegistry()

	r.app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		h := r.handle
		r.mu.Unlock()
		if h == nil {
			http.NotFound(w, req)
			return
		}
		h(w, req)
	}))
	t.Cleanup(r.app.Close)
	target := o.target
	if target == "" {
		target = r.app.URL
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(ProxyOptions{Target: u, Registry: r.reg, CookieName: opts.Cookie.Name, ProtectedCookies: protected, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	r.front = httptest.NewServer(mgr.Middleware(p))
	t.Cleanup(r.front.Close)

	api, err := NewAPI(APIOptions{Manager: mgr, Registry: r.reg, Token: o.token, AllowUnheld: o.allowUnheld, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if o.token != "" {
		ln, err = Listen("tcp", "127.0.0.1:0")
		r.api = &http.Client{}
		r.apiBase = "http://" + ln.Addr().String()
	} else {
		sock := filepath.Join(t.TempDir(), "api.sock")
		ln, err = Listen("unix", sock)
		r.api = unixClient(sock)
		r.apiBase = "http://wadi"
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

func (r *rig) setApp(h http.HandlerFunc) {
	r.mu.Lock()
	r.handle = h
	r.mu.Unlock()
}

// answer is an API response.
type answer struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (a answer) code() string { s, _ := a.Body["code"].(string); return s }

// call makes an API call; reqToken is the Wadi-Request token ("" none).
// auth overrides the Authorization header when not nil.
func (r *rig) call(method, path, reqToken, body string, auth *string) answer {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.apiBase+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if reqToken != "" {
		req.Header.Set(RequestHeader, reqToken)
	}
	switch {
	case auth != nil:
		if *auth != "" {
			req.Header.Set("Authorization", *auth)
		}
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.api.Do(req)
	if err != nil {
		r.t.Errorf("API %s %s: %v", method, path, err)
		return answer{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &a.Body)
	return a
}

// get sends a request through the front with the cookie (if any) and
// returns the response and its body.
func (r *rig) get(method, path string, cookie *http.Cookie, hdr http.Header) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.front.URL+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "WADISESSIONID" {
			return c
		}
	}
	return nil
}

// newSession makes a session through the front whose count attribute is
// "1" and returns its cookie and id.
func (r *rig) newSession() (*http.Cookie, string) {
	r.t.Helper()
	r.setApp(func(w http.ResponseWriter, req *http.Request) {
		tok := req.Header.Get(RequestHeader)
		if a := r.call("POST", "/v1/sessions", tok, "", nil); a.Status != http.StatusCreated {
			r.t.Errorf("create: %d %s", a.Status, a.Raw)
		}
		if a := r.call("PUT", "/v1/sessions/current/attributes/count", tok, `"1"`, nil); a.Status != http.StatusOK {
			r.t.Errorf("put: %d %s", a.Status, a.Raw)
		}
	})
	resp, _ := r.get("GET", "/", nil, nil)
	c := sessionCookie(resp)
	if c == nil {
		r.t.Fatalf("no session cookie: %v", resp.Header)
	}
	id, _, _ := strings.Cut(c.Value, ".")
	return c, id
}

// snapshot reads the session outside any request.
func (r *rig) snapshot(id string) (uint64, map[string][]byte) {
	r.t.Helper()
	s, release, err := r.mgr.Hold(context.Background(), id)
	if err != nil {
		r.t.Fatalf("hold %s: %v", id, err)
	}
	defer func() { _ = release(context.Background()) }()
	return s.Version(), s.Attributes()
}
