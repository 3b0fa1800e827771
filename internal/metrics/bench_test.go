package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wadi-go/wadi/core/session"
)

// discard is a reusable ResponseWriter, so that the benchmark measures the
// filter and its metrics, not httptest's recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkLocalHit is the cost of the Prometheus hooks on the hot path:
// a request whose session is in memory here, through the filter without
// metrics and with them. Run both in one invocation to compare.
func BenchmarkLocalHit(b *testing.B) {
	for _, tc := range []struct {
		name    string
		metrics bool
	}{{"without", false}, {"prometheus", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var met session.Metrics // nil: the manager's no-op
			if tc.metrics {
				met = newMetrics(b)
			}
			mgr := newManager(b, met)
			h := mgr.Middleware(http.HandlerFunc(count))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(rec.Result().Cookies()[0])
			w := &discard{h: make(http.Header)}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkRequestHook is the hook alone, the part of a request's cost the
// metrics add, with every core busy on requests.
func BenchmarkRequestHook(b *testing.B) {
	m := newMetrics(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(session.OutcomeLocal)
		}
	})
}
