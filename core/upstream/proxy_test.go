package upstream

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// TestNoInjection: whatever Wadi-* headers a client sends, the upstream
// sees only the node's own, and a response cannot carry them out either.
func TestNoInjection(t *testing.T) {
	r := newRig(t, rigOptions{})
	cookie, id := r.newSession()
	forged := strings.Repeat("F", len(id))
	type seen struct{ session, request []string }
	got := make(chan seen, 1)
	r.setApp(func(w http.ResponseWriter, req *http.Request) {
		got <- seen{req.Header.Values(SessionHeader), req.Header.Values(RequestHeader)}
		if other := req.Header.Get("Wadi-Other"); other != "" {
			t.Errorf("the upstream saw Wadi-Other: %q", other)
		}
		w.Header().Set(SessionHeader, forged)
	})
	for _, tt := range []struct {
		name   string
		cookie *http.Cookie
		hdr    http.Header
		want   string // the Wadi-Session the upstream must see
	}{
		{"no session, forged header", nil, http.Header{"Wadi-Session": {forged}}, ""},
		{"session, forged header", cookie, http.Header{"Wadi-Session": {forged, id}}, id},
		{"lower case and others", cookie, http.Header{"wadi-session": {forged}, "Wadi-Other": {"x"}, "Wadi-Request": {"mine"}}, id},
		{"hop-by-hop trick", nil, http.Header{"Connection": {"Wadi-Session"}, "Wadi-Session": {forged}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := r.get("GET", "/", tt.cookie, tt.hdr)
			s := <-got
			if tt.want == "" && len(s.session) != 0 || tt.want != "" && (len(s.session) != 1 || s.session[0] != tt.want) {
				t.Errorf("upstream saw Wadi-Session %q, want %q", s.session, tt.want)
			}
			if len(s.request) != 1 || s.request[0] == "mine" || s.request[0] == "" {
				t.Errorf("upstream saw Wadi-Request %q", s.request)
			}
			if v := resp.Header.Get(SessionHeader); v != "" {
				t.Errorf("the client got Wadi-Session %q from the upstream", v)
			}
		})
	}
}

// TestUpstreamDown: 502 with a log line naming the upstream; the session
// is neither changed nor dropped, and the client keeps its cookie.
func TestUpstreamDown(t *testing.T) {
	r := newRig(t, rigOptions{})
	cookie, id := r.newSession()
	v0, a0 := r.snapshot(id)
	sent0 := len(r.repl.sent())
	r.app.Close()
	resp, body := r.get("POST", "/api/incr", cookie, nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("got %s %q, want 502", resp.Status, body)
	}
	if c := sessionCookie(resp); c != nil {
		t.Errorf("the 502 set the cookie %v", c)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "upstream unreachable; answering 502") || !strings.Contains(logs, r.app.URL) {
		t.Errorf("no clear log line:\n%s", logs)
	}
	v1, a1 := r.snapshot(id)
	if v1 != v0 || fmt.Sprint(a1) != fmt.Sprint(a0) {
		t.Errorf("session changed: %d %q -> %d %q", v0, a0, v1, a1)
	}
	if n := len(r.repl.sent()); n != sent0 {
		t.Errorf("%d replication items for an unchanged session", n-sent0)
	}
}

// TestStreaming: server-sent events reach the client as they are written,
// before the upstream finishes, even though the filter (in synchronous
// replication mode) keeps small responses back.
func TestStreaming(t *testing.T) {
	r := newRig(t, rigOptions{})
	cookie, _ := r.newSession()
	release := make(chan struct{})
	r.setApp(func(w http.ResponseWriter, req *http.Request) {
		tok := req.Header.Get(RequestHeader)
		r.call("PUT", "/v1/sessions/current/attributes/streamed", tok, `"yes"`, nil)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: last\n\n")
	})
	req, _ := http.NewRequest("GET", r.front.URL+"/events", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); l != "" {
				lines <- l
			}
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "data: first" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the first event did not arrive while the upstream was still running")
	}
	close(release)
	if l := <-lines; l != "data: last" {
		t.Fatalf("last line %q", l)
	}
}

// TestExpectContinue: the client's Expect: 100-continue reaches the
// upstream, whose 100 Continue comes back before the body is sent.
func TestExpectContinue(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.setApp(func(w http.ResponseWriter, req *http.Request) {
		if e := req.Header.Get("Expect"); e != "100-continue" {
			t.Errorf("the upstream saw Expect %q", e)
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(w, "got %d bytes", len(b))
	})
	c, err := net.Dial("tcp", strings.TrimPrefix(r.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	body := strings.Repeat("x", 1000)
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100") {
		t.Fatalf("before the body: %q, %v", status, err)
	}
	for { // the 100's (empty) header block
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	fmt.Fprint(c, body)
	// The front server and the upstream's own 100 (forwarded by the proxy)
	// may both reach the client; HTTP lets a client skip extra 1xx.
	var resp *http.Response
	for range 3 {
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 200 {
			break
		}
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "got 1000 bytes" {
		t.Fatalf("got %s %q", resp.Status, b)
	}
}

// TestWebSocket: an Upgrade passes through the filter (which hijacks the
// connection after committing the cookie) and the proxy, both ways.
func TestWebSocket(t *testing.T) {
	r := newRig(t, rigOptions{})
	cookie, id := r.newSession()
	seen := make(chan string, 1)
	ws := websocket.Handler(func(c *websocket.Conn) {
		seen <- c.Request().Header.Get(SessionHeader)
		_, _ = io.Copy(c, c) // echo
	})
	r.setApp(ws.ServeHTTP)
	cfg, err := websocket.NewConfig(strings.Replace(r.front.URL, "http", "ws", 1)+"/ws", r.front.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header = http.Header{"Cookie": {cookie.String()}}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, msg := range []string{"hello", strings.Repeat("big", 50000)} {
		if err := websocket.Message.Send(conn, msg); err != nil {
			t.Fatal(err)
		}
		// The echo may come back in several frames.
		back := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, back); err != nil {
			t.Fatal(err)
		}
		if string(back) != msg {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(msg), len(back))
		}
	}
	if got := <-seen; got != id {
		t.Fatalf("the upgrade request carried Wadi-Session %q, want %q", got, id)
	}
}

// TestLargeBodies: 20 MiB each way, streamed, intact.
func TestLargeBodies(t *testing.T) {
	r := newRig(t, rigOptions{})
	cookie, _ := r.newSession()
	const size = 20 << 20
	r.setApp(func(w http.ResponseWriter, req *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, req.Body)
		if err != nil || n != size {
			t.Errorf("upstream read %d bytes, %v", n, err)
		}
		w.Header().Set("X-Sum", fmt.Sprintf("%x", h.Sum(nil)))
		_, _ = io.Copy(w, io.LimitReader(newPattern(), size))
	})
	req, _ := http.NewRequest("POST", r.front.URL+"/upload", io.LimitReader(newPattern(), size))
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	want := sha256.New()
	_, _ = io.Copy(want, io.LimitReader(newPattern(), size))
	sum := fmt.Sprintf("%x", want.Sum(nil))
	if err != nil || n != size || fmt.Sprintf("%x", h.Sum(nil)) != sum || resp.Header.Get("X-Sum") != sum {
		t.Fatalf("response %d bytes (%v); sums match: down %v, up %v", n, err, fmt.Sprintf("%x", h.Sum(nil)) == sum, resp.Header.Get("X-Sum") == sum)
	}
}

// pattern is an endless byte stream that does not repeat every few bytes,
// the same however it is read.
type pattern struct{ off *int }

func newPattern() pattern { return pattern{off: new(int)} }

func (p pattern) Read(b []byte) (int, error) {
	for i := range b {
		o := *p.off + i
		b[i] = byte(o*7 + o>>8)
	}
	*p.off += len(b)
	return len(b), nil
}

// TestListenUnix: the socket is 0600 in a 0700 directory, a stale socket
// is replaced, a live one or another file is refused, and Close removes it.
func TestListenUnix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(dir, "api.sock")
	ln, err := Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", di.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left over in the directory: %v", entries)
	}
	if _, err := Listen("unix", sock); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a live socket: %v", err)
	}
	ln.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("the socket survived Close: %v", err)
	}

	// A stale socket, as a crash leaves it.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	ln, err = Listen("unix", sock)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	ln.Close()

	if err := os.WriteFile(sock, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix", sock); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "data" {
		t.Fatal("the regular file was touched")
	}
}

// TestUpstreamBreaksOff: the application changes the session through the
// API, then its response breaks off halfway; ReverseProxy panics with
// http.ErrAbortHandler. The client's connection is cut, and yet the
// change reached the backups, the request left the registry and the
// session is not left locked — whether the filter kept all of the
// response back (the abort is the only commit) or had replicated and
// released part of it (more than it keeps back).
func TestUpstreamBreaksOff(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int // the body the application announces; it sends half
	}{
		{"kept back", 1 << 10},
		{"partly released", 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, rigOptions{exclusive: true})
			cookie, id := r.newSession()
			r.setApp(func(w http.ResponseWriter, req *http.Request) {
				if a := r.call("PUT", "/v1/sessions/current/attributes/count", req.Header.Get(RequestHeader), `"2"`, nil); a.Status != http.StatusOK {
					t.Errorf("put: %d %s", a.Status, a.Raw)
				}
				w.Header().Set("Content-Length", fmt.Sprint(tt.size))
				_, _ = w.Write([]byte(strings.Repeat("x", tt.size/2)))
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // the application's connection is cut
			})
			// POST: a GET cut off before its response would be retried.
			req, _ := http.NewRequest("POST", r.front.URL+"/", nil)
			req.AddCookie(cookie)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				var n int64
				n, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Fatalf("the client got a whole response: %s, %d bytes", resp.Status, n)
				}
			}
			if n := r.reg.Len(); n != 0 {
				t.Errorf("%d requests left in the registry", n)
			}
			// Read before snapshot, whose release replicates too.
			var backed uint64
			for _, it := range r.repl.sent() {
				if it.ID == id {
					backed = max(backed, it.Version)
				}
			}
			v, attrs := r.snapshot(id) // fails if the session stayed locked
			if string(attrs["count"]) != "2" || v != 2 {
				t.Fatalf("the session's attributes at version %d: %q; want count 2 at version 2", v, attrs)
			}
			if backed != v {
				t.Errorf("the backups have version %d of the session, memory %d", backed, v)
			}
		})
	}
}

// TestEarlyHints: an application that sends 103 Early Hints and creates
// the request's session through the API (before the hints, after them, or
// while they are on their way) gets its hints to the client without the
// cookies and Wadi-* headers it may not set, and the final response
// carries the new session's cookie and the filter's Vary; under -race,
// the API writing the client's headers and the proxy copying the hints
// do not race.
func TestEarlyHints(t *testing.T) {
	const link = "</style.css>; rel=preload; as=style"
	for _, tt := range []struct {
		name   string
		create string // when the session is created: "before", "after" or "during" the hints
	}{
		{"created before the hints", "before"},
		{"created after the hints", "after"},
		{"created while the hints go out", "during"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, rigOptions{routeCookie: "SERVERID"})
			created := make(chan string, 1)
			r.setApp(func(w http.ResponseWriter, req *http.Request) {
				tok := req.Header.Get(RequestHeader)
				create := func() {
					a := r.call("POST", "/v1/sessions", tok, "", nil)
					if a.Status != http.StatusCreated {
						t.Errorf("create: %d %s", a.Status, a.Raw)
					}
					s, _ := a.Body["id"].(string)
					created <- s
				}
				var done chan struct{}
				switch tt.create {
				case "before":
					create()
				case "during":
					done = make(chan struct{})
					go func() { defer close(done); create() }()
				}
				h := w.Header()
				h.Set("Link", link)
				h.Add("Set-Cookie", "WADISESSIONID=forged")
				h.Add("Set-Cookie", "SERVERID=blue")
				h.Set(SessionHeader, "forged")
				w.WriteHeader(http.StatusEarlyHints)
				clear(h)
				switch tt.create {
				case "after":
					create()
				case "during":
					<-done
				}
				_, _ = w.Write([]byte("done"))
			})
			var mu sync.Mutex
			var hints []http.Header
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				if code == http.StatusEarlyHints {
					hints = append(hints, http.Header(h).Clone())
				}
				return nil
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", r.front.URL+"/", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if len(hints) != 1 || hints[0].Get("Link") != link {
				t.Fatalf("the client got the hints %v, want one 103 with the Link", hints)
			}
			if v := hints[0].Values("Set-Cookie"); len(v) != 0 {
				t.Errorf("the 103 set cookies %q", v)
			}
			if v := hints[0].Values(SessionHeader); len(v) != 0 {
				t.Errorf("the 103 carried Wadi-Session %q", v)
			}
			id := <-created
			if c := sessionCookie(resp); c == nil || c.Value != id {
				t.Errorf("the final response's session cookie %v, want one for %s", c, id)
			}
			if !slices.Contains(resp.Header.Values("Vary"), "Cookie") {
				t.Errorf("the final response varies on %q, not on Cookie", resp.Header.Values("Vary"))
			}
			if v := resp.Header.Get("Link"); v != "" {
				t.Errorf("the hints' Link leaked into the final response: %q", v)
			}
		})
	}
}
