package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"

	"github.com/wadi-go/wadi/core/session"
)

// The benchmarks compare a request whose session is already in memory on
// this node (a local hit) through WADI's filter with the same request through
// a bare handler and through scs with its memstore. Each pair of sub-benchmarks
// runs in the same `go test -bench` invocation so their ratio is meaningful.

// discard is a reusable ResponseWriter, so that the benchmarks measure the
// session layers and not httptest's recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func (d *discard) reset() { clear(d.h) }

func runRequests(b *testing.B, h http.Handler, cookie *http.Cookie) {
	b.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := &discard{h: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
	}
}

func BenchmarkLocalHit(b *testing.B) {
	for _, mode := range []string{"read", "readwrite"} {
		b.Run("bare/"+mode, func(b *testing.B) {
			n := 0
			runRequests(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n++
				w.Write(strconv.AppendInt(nil, int64(n), 10))
			}), nil)
		})

		b.Run("wadi/"+mode, func(b *testing.B) {
			m := newManager(b, nil)
			h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := session.From(r.Context())
				if err != nil {
					b.Fatal(err)
				}
				n, _ := s.GetInt("count")
				if mode == "readwrite" {
					n++
					if err := s.PutInt("count", n); err != nil {
						b.Fatal(err)
					}
				}
				w.Write(strconv.AppendInt(nil, int64(n), 10))
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			runRequests(b, h, rec.Result().Cookies()[0])
		})

		b.Run("scs/"+mode, func(b *testing.B) {
			sm := scs.New()
			sm.Store = memstore.NewWithCleanupInterval(0)
			h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := sm.GetInt(r.Context(), "count")
				if mode == "readwrite" || n == 0 {
					n++
					sm.Put(r.Context(), "count", n)
				}
				w.Write(strconv.AppendInt(nil, int64(n), 10))
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			runRequests(b, h, rec.Result().Cookies()[0])
		})
	}
}

// BenchmarkCreate measures a request that starts a new session.
func BenchmarkCreate(b *testing.B) {
	m := newManager(b, func(o *session.Options) { o.MaxInMemory = 1 << 30 })
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := session.From(r.Context()); err != nil {
			b.Fatal(err)
		}
	}))
	runRequests(b, h, nil)
	_ = m.Close(context.Background())
}
