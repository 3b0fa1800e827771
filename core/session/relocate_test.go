package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/sdk/router"
)

// relocator records the misses it is offered and answers them with 299 if
// answer is set.
type relocator struct {
	mu     sync.Mutex
	answer bool
	misses []string // id/hint
}

func (rl *relocator) Relocate(_ context.Context, w http.ResponseWriter, _ *http.Request, id, hint string) bool {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.misses = append(rl.misses, id+"/"+hint)
	if rl.answer {
		w.WriteHeader(299)
	}
	return rl.answer
}

func (rl *relocator) offered() []string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return append([]string(nil), rl.misses...)
}

// farmless is a session.Farm in which no other node holds anything.
type farmless struct{}

func (farmless) Fetch(context.Context, string) (*session.Fetched, error) { return nil, nil }
func (farmless) Claim(context.Context, string) (string, error)           { return "", nil }
func (farmless) Released([]string)                                       {}
func (farmless) HeldHere(context.Context, string) (bool, error)          { return true, nil }

var jvmroute = router.Format{RouteSeparator: "."}

// newSessionHere creates a session on m and returns its id.
func newSessionHere(t *testing.T, h http.Handler) string {
	t.Helper()
	c := sessionCookie(t, do(t, h, ""))
	id, _, _ := strings.Cut(c.Value, ".")
	return id
}

// The relocator is offered the first valid id only when its session is
// not here, never for a session in memory or a request relocated already;
// what it declines goes on to the lookup, which tries every cookie.
func TestRelocateOnlyMisses(t *testing.T) {
	rl := &relocator{}
	m := newManager(t, func(o *session.Options) {
		o.Farm = farmless{}
		o.Relocator = rl
		o.Routing = session.Routing{Route: "red", Format: jvmroute}
	})
	h := m.Middleware(http.HandlerFunc(counter))
	here := newSessionHere(t, h)
	gone := strings.Repeat("G", len(here))
	tests := []struct {
		name     string
		cookie   string
		relayed  bool // the request carries RelocatedHeader
		answer   bool
		wantCode int
		wantBody string
		want     []string // offered to the relocator
	}{
		{"local hit", "WADISESSIONID=" + here + ".red", false, false, 200, "2", nil},
		{"local hit, another route", "WADISESSIONID=" + here + ".blue", false, false, 200, "3", nil},
		{"malformed, then here", "WADISESSIONID=x.blue; WADISESSIONID=" + here + ".red", false, false, 200, "4", nil},
		{"miss, answered", "WADISESSIONID=" + gone + ".blue", false, true, 299, "", []string{gone + "/blue"}},
		{"miss, declined", "WADISESSIONID=" + gone + ".blue", false, false, 200, "1", []string{gone + "/blue"}},
		{"miss, relocated already", "WADISESSIONID=" + gone + ".blue", true, true, 200, "1", nil},
		{"miss declined, then here", "WADISESSIONID=" + gone + "; WADISESSIONID=" + here + ".red", false, false, 200, "5", []string{gone + "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl.mu.Lock()
			rl.answer, rl.misses = tt.answer, nil
			rl.mu.Unlock()
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Cookie", tt.cookie)
			if tt.relayed {
				req.Header.Set(session.RelocatedHeader, "blue")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
				t.Fatalf("code %d body %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if got := rl.offered(); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("relocator offered %q, want %q", got, tt.want)
			}
		})
	}
}

// A session the relocation check found in memory may be gone by the time
// the handler asks for it: the lookup then goes on to the request's other
// cookies rather than starting a session.
func TestRelocateCheckedSessionGone(t *testing.T) {
	rl := &relocator{}
	m := newManager(t, func(o *session.Options) {
		o.Farm = farmless{}
		o.Relocator = rl
		o.Routing = session.Routing{Route: "red", Format: jvmroute}
	})
	plain := m.Middleware(http.HandlerFunc(counter))
	first, second := newSessionHere(t, plain), newSessionHere(t, plain)
	invalidate := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.Existing(r.Context())
		if err == nil {
			err = s.Invalidate(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Between the check and the lookup, another request ends the
		// first session.
		if rec := do(t, invalidate, "WADISESSIONID="+first+".red"); rec.Code != 200 {
			t.Errorf("invalidating: %d %s", rec.Code, rec.Body)
		}
		counter(w, r)
	}))
	rec := do(t, h, "WADISESSIONID="+first+".red; WADISESSIONID="+second+".red")
	if rec.Code != 200 || rec.Body.String() != "2" {
		t.Fatalf("code %d body %q, want the second session's count 2", rec.Code, rec.Body)
	}
	// The token it came in is the one found, so it is not rewritten.
	if c := sessionCookie(t, rec); c != nil {
		t.Fatalf("Set-Cookie %q; the second session's token was right", c.Value)
	}
	if got := rl.offered(); len(got) != 0 {
		t.Fatalf("relocator offered %q for a session that was here", got)
	}
}

// A local hit on a farm node with a relocator allocates no more than on a
// single node with the same routing: the relocation check shares the
// filter's cookie parse.
func TestRelocateLocalHitAllocs(t *testing.T) {
	routing := session.Routing{Route: "red", Format: jvmroute}
	allocs := func(farm bool) float64 {
		m := newManager(t, func(o *session.Options) {
			o.Routing = routing
			if farm {
				o.Farm = farmless{}
				o.Relocator = &relocator{}
			}
		})
		h := m.Middleware(http.HandlerFunc(counter))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", "WADISESSIONID="+newSessionHere(t, h)+".red")
		w := &discard{h: make(http.Header)}
		return testing.AllocsPerRun(200, func() {
			w.reset()
			h.ServeHTTP(w, req)
		})
	}
	single, farm := allocs(false), allocs(true)
	if farm > single {
		t.Fatalf("a local hit allocates %v times on a farm node, %v on a single node", farm, single)
	}
}
