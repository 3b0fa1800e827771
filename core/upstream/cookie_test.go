package upstream

import (
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
	const dropped = "dropped the application's Set-Cookie for the session cookie"
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
					a := r.call("POST", "/v1/sessions", req.Header.Get(RequestHeader), "", nil)
					if a.Status != http.StatusCreated {
						t.Errorf("create: %d %s", a.Status, a.Raw)
					}
					s, _ := a.Body["id"].(string)
					created <- s
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
