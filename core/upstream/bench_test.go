package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
)

// BenchmarkRequest is the cost of one visit (one session read and one
// write) three ways: through upstream mode, where the application reads and
// writes through the API over the unix socket; the same application reached
// directly, keeping its count in a local map instead; and a Go application
// embedding the middleware. Each runs on one client session over keep-alive
// connections, without replication.
func BenchmarkRequest(b *testing.B) {
	b.Run("upstream", func(b *testing.B) {
		r := benchRig(b)
		r.setApp(func(w http.ResponseWriter, req *http.Request) {
			tok := req.Header.Get(RequestHeader)
			a := r.call("POST", "/v1/sessions", tok, "", nil)
			attrs, _ := a.Body["attributes"].(map[string]any)
			n, _ := strconv.Atoi(str(attrs["count"]))
			r.call("PUT", "/v1/sessions/current/attributes/count", tok, strconv.Quote(strconv.Itoa(n+1)), nil)
			w.Write([]byte(strconv.Itoa(n + 1)))
		})
		cookie, _ := r.newSessionB()
		runVisits(b, r.front.URL, cookie)
	})
	b.Run("direct", func(b *testing.B) {
		var mu sync.Mutex
		counts := map[string]int{}
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			// The same work without a session API: read, bump, answer.
			mu.Lock()
			counts["c"]++
			n := counts["c"]
			mu.Unlock()
			w.Write([]byte(strconv.Itoa(n)))
		}))
		defer app.Close()
		runVisits(b, app.URL, nil)
	})
	b.Run("embedded", func(b *testing.B) {
		opts := session.DefaultOptions()
		opts.Store = memstore.New()
		m, err := session.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close(context.Background())
		srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			s, err := session.From(req.Context())
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			n, _ := s.GetInt("count")
			_ = s.PutInt("count", n+1)
			w.Write([]byte(strconv.Itoa(n + 1)))
		})))
		defer srv.Close()
		resp, err := http.Post(srv.URL, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		runVisits(b, srv.URL, sessionCookie(resp))
	})
}

func str(v any) string { s, _ := v.(string); return s }

func runVisits(b *testing.B, url string, cookie *http.Cookie) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", url+"/api/incr", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// benchRig is a rig without replication, as the embedded case runs.
func benchRig(b *testing.B) *rig {
	return newRig(b, rigOptions{noReplication: true})
}

func (r *rig) newSessionB() (*http.Cookie, string) {
	resp, _ := r.get("POST", "/api/incr", nil, nil)
	c := sessionCookie(resp)
	if c == nil {
		r.t.Fatalf("no session cookie: %v", resp.Header)
	}
	id, _, _ := strings.Cut(c.Value, ".")
	return c, id
}
