package session_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/sdk/router"
)

func routed(route string, f router.Format) func(*session.Options) {
	return func(o *session.Options) { o.Routing = session.Routing{Route: route, Format: f} }
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// jvmroute: the token is ID.ROUTE; the route a client sends is a hint that
// decides nothing, and a token with another node's route is rewritten to
// this node's.
func TestRoutingSuffix(t *testing.T) {
	m := newManager(t, routed("red", router.Format{RouteSeparator: ".", RouteHeader: "X-Route"}))
	h := m.Middleware(http.HandlerFunc(counter))
	first := do(t, h, "")
	c := sessionCookie(t, first)
	id, route, ok := strings.Cut(c.Value, ".")
	if !ok || route != "red" || !session.ValidID(id) {
		t.Fatalf("cookie value %q, want ID.red", c.Value)
	}
	if got := first.Header().Get("X-Route"); got != "red" {
		t.Fatalf("X-Route %q", got)
	}
	other := strings.Repeat("B", len(id))
	tests := []struct {
		name       string
		cookie     string
		wantBody   string
		wantCookie string // "" for no Set-Cookie, "fresh" for a new session
	}{
		{"same route", id + ".red", "2", ""},
		{"other node's route", id + ".blue", "3", id + ".red"},
		{"bare id (before routing)", id, "4", id + ".red"},
		{"empty route", id + ".", "5", id + ".red"},
		{"malformed route", id + ".r%0d%0aX", "6", id + ".red"},
		{"oversized route", id + "." + strings.Repeat("r", 500), "7", id + ".red"},
		{"two separators", id + ".red.red", "8", id + ".red"},
		{"forged route on an unknown id", other + ".red", "1", "fresh"},
		{"route only", ".red", "1", "fresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, "WADISESSIONID="+tt.cookie)
			if rec.Code != 200 || rec.Body.String() != tt.wantBody {
				t.Fatalf("code %d body %q, want %q", rec.Code, rec.Body, tt.wantBody)
			}
			got := sessionCookie(t, rec)
			switch {
			case tt.wantCookie == "" && got != nil:
				t.Fatalf("Set-Cookie %q for an unchanged token", got.Value)
			case tt.wantCookie == "fresh" && (got == nil || strings.HasPrefix(got.Value, id) || !strings.HasSuffix(got.Value, ".red")):
				t.Fatalf("cookie %v, want a fresh ID.red", got)
			case tt.wantCookie != "" && tt.wantCookie != "fresh" && (got == nil || got.Value != tt.wantCookie):
				t.Fatalf("cookie %v, want %q", got, tt.wantCookie)
			}
		})
	}
}

// cookie router: the route in a cookie of its own, set when the client's
// is missing or names another node.
func TestRoutingCookie(t *testing.T) {
	m := newManager(t, routed("red", router.Format{RouteCookie: "SERVERID"}))
	h := m.Middleware(http.HandlerFunc(counter))
	first := do(t, h, "")
	sc, rc := sessionCookie(t, first), cookieNamed(first, "SERVERID")
	if sc == nil || !session.ValidID(sc.Value) || rc == nil || rc.Value != "red" || !rc.HttpOnly || rc.Path != "/" {
		t.Fatalf("session cookie %v, route cookie %v", sc, rc)
	}
	tests := []struct {
		name      string
		cookie    string
		wantRoute bool
	}{
		{"route right", "WADISESSIONID=" + sc.Value + "; SERVERID=red", false},
		{"route stale", "WADISESSIONID=" + sc.Value + "; SERVERID=blue", true},
		{"route missing", "WADISESSIONID=" + sc.Value, true},
		{"route garbage", "WADISESSIONID=" + sc.Value + "; SERVERID=%%%", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, tt.cookie)
			if rec.Code != 200 {
				t.Fatalf("code %d", rec.Code)
			}
			got := cookieNamed(rec, "SERVERID")
			if (got != nil) != tt.wantRoute || (got != nil && got.Value != "red") {
				t.Fatalf("route cookie %v, want set: %v", got, tt.wantRoute)
			}
			if sessionCookie(t, rec) != nil {
				t.Fatal("the session cookie was rewritten; only the route changed")
			}
		})
	}
	// A request that never touches the session sets neither cookie.
	bare := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if rec := do(t, bare, ""); len(rec.Result().Cookies()) != 0 {
		t.Fatalf("cookies on an untouched request: %v", rec.Result().Cookies())
	}
}

func TestRoutingOptionsRefused(t *testing.T) {
	tests := []struct {
		name string
		r    session.Routing
	}{
		{"format without route", session.Routing{Format: router.Format{RouteSeparator: "."}}},
		{"route with the separator", session.Routing{Route: "a.b", Format: router.Format{RouteSeparator: "."}}},
		{"route with a space", session.Routing{Route: "a b", Format: router.Format{RouteCookie: "R"}}},
		{"bad separator", session.Routing{Route: "red", Format: router.Format{RouteSeparator: "-"}}},
		{"route cookie is the session cookie", session.Routing{Route: "red", Format: router.Format{RouteCookie: "WADISESSIONID"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := session.DefaultOptions()
			opts.Store = memstore.New()
			opts.Routing = tt.r
			if m, err := session.New(opts); err == nil {
				_ = m.Close(t.Context())
				t.Fatal("accepted")
			}
		})
	}
}

// FuzzRouteToken feeds arbitrary session cookie values through a routed
// filter: none may crash it, and each gets either the session it names by
// id or a fresh one, never another.
func FuzzRouteToken(f *testing.F) {
	m := newManager(f, routed("red", router.Format{RouteSeparator: "."}))
	h := m.Middleware(http.HandlerFunc(counter))
	req := httptest.NewRequest("GET", "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var known string
	for _, c := range rec.Result().Cookies() {
		known = c.Value
	}
	id, _, _ := strings.Cut(known, ".")
	f.Add(known)
	f.Add(id + ".blue")
	f.Add(id + "..")
	f.Add("." + id)
	f.Add(id + ".\x00")
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Cookie"] = []string{"WADISESSIONID=" + value}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("value %q: code %d", value, rec.Code)
		}
		if rec.Body.String() == "1" {
			return
		}
		// It reached the session: only its id, as net/http parses the
		// cookie, may do that.
		for _, c := range req.CookiesNamed("WADISESSIONID") {
			if named, _, _ := strings.Cut(c.Value, "."); named == id {
				return
			}
		}
		t.Fatalf("value %q reached the session of %q", value, id)
	})
}
