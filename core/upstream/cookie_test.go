package upstream

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestSetCookieName: the name a browser would read from a Set-Cookie
// value.
func TestSetCookieName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"WADISESSIONID=abc; Path=/", "WADISESSIONID"},
		{"WADISESSIONID=", "WADISESSIONID"},
		{" \tWADISESSIONID \t=abc", "WADISESSIONID"},
		{"WADISESSIONID=a=b", "WADISESSIONID"},
		{"wadisessionid=abc", "wadisessionid"}, // names are case-sensitive
		{"theme=dark; WADISESSIONID=abc", "theme"},
		{"WADISESSIONID", ""}, // no "=": a nameless cookie
		{"; WADISESSIONID=abc", ""},
		{"", ""},
	} {
		if got := setCookieName(tt.in); got != tt.want {
			t.Errorf("setCookieName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAppCannotSetSessionCookie: a Set-Cookie for the session cookie (by
// the manager's configured name) in the application's response never
// reaches the client, whether the request had a session, created one or
// has none; the application's other cookies pass, and the session is the
// node's.
func TestAppCannotSetSessionCookie(t *testing.T) {
	const dropped = "dropped the application's Set-Cookie for a cookie the node sets"
	for _, tt := range []struct {
		name    string
		cookie  string // the manager's session cookie name
		session bool   // the client comes with a session
		create  bool   // the application creates a session through the API
		app     []string
		kept    []string // the application's Set-Cookie values the client must get
		// newSession: the client must get exactly one session cookie, the
		// node's, for the session the application created; otherwise none.
		newSession bool
	}{
		{
			name: "no session: forged cookie dropped",
			app:  []string{"WADISESSIONID=forged.red; Path=/; HttpOnly"},
		},
		{
			name:   "existing session: cannot be replaced or ended",
			cookie: "", session: true,
			app: []string{"WADISESSIONID=forged.red; Path=/", "WADISESSIONID=; Max-Age=0"},
		},
		{
			name:   "created session: only the node's cookie",
			create: true, newSession: true,
			app: []string{"WADISESSIONID=forged; Path=/"},
		},
		{
			name: "other cookies pass",
			app: []string{
				"theme=dark; Path=/",
				" WADISESSIONID =forged",
				"wadisessionid=x",
				"WADISESSIONID2=x",
				"Path=/; WADISESSIONID=x",
			},
			kept: []string{"theme=dark; Path=/", "wadisessionid=x", "WADISESSIONID2=x", "Path=/; WADISESSIONID=x"},
		},
		{
			name:   "configured name: SID dropped, WADISESSIONID is just a cookie",
			cookie: "SID", session: true,
			app:  []string{"SID=forged", "WADISESSIONID=x"},
			kept: []string{"WADISESSIONID=x"},
		},
		{
			name:   "configured name, created session",
			cookie: "SID", create: true, newSession: true,
			app: []string{"SID=forged; Path=/"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, rigOptions{cookieName: tt.cookie})
			name := tt.cookie
			if name == "" {
				name = "WADISESSIONID"
			}
			var cookie *http.Cookie
			var id string
			if tt.session {
				cookie, id = r.newNamedSession(name)
			}
			created := make(chan string, 1)
			r.setApp(func(w http.ResponseWriter, req *http.Request) {
				if tt.create {
					created <- r.createFor(t, req)
				}
				for _, c := range tt.app {
					w.Header().Add("Set-Cookie", c)
				}
			})
			resp, _ := r.get("GET", "/", cookie, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			var session, others []string
			for _, v := range resp.Header.Values("Set-Cookie") {
				if setCookieName(v) == name {
					session = append(session, v)
				} else {
					others = append(others, v)
				}
			}
			if !slices.Equal(others, tt.kept) {
				t.Errorf("the client got the application's cookies %q, want %q", others, tt.kept)
			}
			if tt.newSession {
				want := <-created
				if len(session) != 1 || !strings.HasPrefix(session[0], name+"="+want) {
					t.Errorf("session cookies %q, want one for the created session %q", session, want)
				}
			} else if len(session) != 0 {
				t.Errorf("the client got session cookies %q", session)
			}
			if !strings.Contains(r.logs.String(), dropped) {
				t.Errorf("no debug line for the dropped cookie:\n%s", r.logs)
			}
			if tt.session {
				// The client's session is still there, as it was.
				if _, attrs := r.snapshot(id); string(attrs["count"]) != "1" {
					t.Errorf("the session's attributes after the response: %q", attrs)
				}
			}
		})
	}
}

// newNamedSession is newSession for a manager whose session cookie is
// called name.
func (r *rig) newNamedSession(name string) (*http.Cookie, string) {
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
	for _, c := range resp.Cookies() {
		if c.Name == name {
			id, _, _ := strings.Cut(c.Value, ".")
			return c, id
		}
	}
	r.t.Fatalf("no %s cookie: %v", name, resp.Header)
	return nil, ""
}

// TestAppCannotSetNodeCookies: the route cookie the node sets (router
// "cookie", under its configured name) is as much the node's as the
// session cookie, and neither can come from the application in its
// response's header or trailers, announced or not; nor can a Wadi-*
// trailer. The node's own route cookie reaches the client, and the
// application's other cookies pass.
func TestAppCannotSetNodeCookies(t *testing.T) {
	const (
		header = iota
		announced
		unannounced
	)
	for _, tt := range []struct {
		name        string
		routeCookie string // the node's route cookie; "" none
		create      bool   // the application creates a session through the API
		in          int    // where the application puts its Set-Cookie values
		app         []string
		kept        []string // the application's Set-Cookie values the client must get
	}{
		{
			name: "route cookie in the header", routeCookie: "SERVERID", create: true, in: header,
			app:  []string{"SERVERID=blue; Path=/", "theme=dark"},
			kept: []string{"theme=dark"},
		},
		{
			name: "route cookie of another name; SERVERID is just a cookie", routeCookie: "ROUTE", in: header,
			app:  []string{"ROUTE=blue", "SERVERID=blue"},
			kept: []string{"SERVERID=blue"},
		},
		{
			name: "no route cookie: SERVERID is just a cookie", in: header,
			app:  []string{"SERVERID=blue"},
			kept: []string{"SERVERID=blue"},
		},
		{
			name: "announced trailers", routeCookie: "SERVERID", create: true, in: announced,
			app:  []string{"WADISESSIONID=forged", "SERVERID=blue", "theme=dark"},
			kept: []string{"theme=dark"},
		},
		{
			name: "trailers not announced", routeCookie: "SERVERID", in: unannounced,
			app:  []string{"WADISESSIONID=forged", "SERVERID=blue", "theme=dark"},
			kept: []string{"theme=dark"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, rigOptions{routeCookie: tt.routeCookie})
			created := make(chan string, 1)
			r.setApp(func(w http.ResponseWriter, req *http.Request) {
				if tt.create {
					created <- r.createFor(t, req)
				}
				switch tt.in {
				case header:
					for _, c := range tt.app {
						w.Header().Add("Set-Cookie", c)
					}
					return
				case announced:
					w.Header().Set("Trailer", "Set-Cookie, Wadi-Session")
				}
				_, _ = w.Write([]byte("body"))
				w.(http.Flusher).Flush() // chunked: no trailers after a Content-Length
				prefix := ""
				if tt.in == unannounced {
					prefix = http.TrailerPrefix
				}
				for _, c := range tt.app {
					w.Header().Add(prefix+"Set-Cookie", c)
				}
				w.Header().Set(prefix+SessionHeader, "forged")
			})
			resp, _ := r.get("GET", "/", nil, nil) // reads the body: the trailers are in
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			var fromApp, session, route []string
			for _, v := range append(resp.Header.Values("Set-Cookie"), resp.Trailer.Values("Set-Cookie")...) {
				switch n := setCookieName(v); {
				case n == "WADISESSIONID":
					session = append(session, v)
				case n == tt.routeCookie:
					route = append(route, v)
				default:
					fromApp = append(fromApp, v)
				}
			}
			if !slices.Equal(fromApp, tt.kept) {
				t.Errorf("the client got the application's cookies %q, want %q", fromApp, tt.kept)
			}
			if tt.create {
				id := <-created
				if len(session) != 1 || !strings.HasPrefix(session[0], "WADISESSIONID="+id+";") {
					t.Errorf("session cookies %q, want the node's one for %s", session, id)
				}
				if len(route) != 1 || !strings.HasPrefix(route[0], tt.routeCookie+"=red;") {
					t.Errorf("route cookies %q, want the node's one for red", route)
				}
			} else if len(session)+len(route) != 0 {
				t.Errorf("the client got session cookies %q and route cookies %q", session, route)
			}
			if v := resp.Trailer.Values(SessionHeader); len(v) != 0 {
				t.Errorf("the client got a Wadi-Session trailer %q", v)
			}
		})
	}
}

// TestNoInjectionInTrailers: the names of Wadi-* trailers a client
// announces do not reach the application; its other trailers do.
func TestNoInjectionInTrailers(t *testing.T) {
	r := newRig(t, rigOptions{})
	got := make(chan http.Header, 1)
	r.setApp(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		got <- req.Trailer.Clone()
	})
	for _, tt := range []struct {
		name    string
		trailer http.Header
		want    []string // the trailer names the application must see
	}{
		{"forged session", http.Header{"Wadi-Session": {"forged"}, "X-Checksum": {"1"}}, []string{"X-Checksum"}},
		{"forged request and others", http.Header{"Wadi-Request": {"mine"}, "Wadi-Other": {"x"}, "X-Checksum": {"1"}}, []string{"X-Checksum"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", r.front.URL+"/upload", io.NopCloser(strings.NewReader("body")))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = -1 // chunked, so that trailers can follow
			req.Trailer = tt.trailer
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var names []string
			for k := range <-got {
				names = append(names, k)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Errorf("the application saw trailers %q, want %q", names, tt.want)
			}
		})
	}
}

// createFor creates a session through the API for the request the app is
// answering, and returns its id.
func (r *rig) createFor(t *testing.T, req *http.Request) string {
	t.Helper()
	a := r.call("POST", "/v1/sessions", req.Header.Get(RequestHeader), "", nil)
	if a.Status != http.StatusCreated {
		t.Errorf("create: %d %s", a.Status, a.Raw)
	}
	id, _ := a.Body["id"].(string)
	return id
}
