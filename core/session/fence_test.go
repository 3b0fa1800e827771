package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wadi-go/wadi/core/session"
)

// refusingReplicas is one backup, "b", that answers Fenced (it keeps
// another holder's copy) until it is sent a takeover.
type refusingReplicas struct {
	mu        sync.Mutex
	takenOver bool
}

func (r *refusingReplicas) Targets(string) []string { return []string{"b"} }

func (r *refusingReplicas) Send(_ context.Context, _ string, items []session.ReplicaItem) ([]session.ReplicaStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]session.ReplicaStatus, len(items))
	for i, it := range items {
		if it.Kind == session.ReplicaTakeover {
			r.takenOver = true
		}
		out[i] = session.ReplicaFenced
		if r.takenOver {
			out[i] = session.ReplicaOK
		}
	}
	return out, nil
}

// directory is a session.Farm that only answers HeldHere: with an error
// for the first fails calls, then with here.
type directory struct {
	mu    sync.Mutex
	fails int
	here  bool
}

func (*directory) Fetch(context.Context, string) (*session.Fetched, error) { return nil, nil }
func (*directory) Claim(context.Context, string) (string, error)           { return "", nil }
func (*directory) Released([]string)                                       {}
func (d *directory) HeldHere(context.Context, string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fails > 0 {
		d.fails--
		return false, errors.New("directory being rebuilt")
	}
	return d.here, nil
}

// A backup that refuses a change because it keeps another holder's copy
// makes the directory the judge: if it names this node, the backup gets
// the session as a takeover and the request succeeds; if it names
// another, this copy is the stale one and is dropped; if it does not
// answer, neither copy is taken for stale: the request fails (503) but the
// session stays here.
func TestRefusedChangeAsksTheDirectory(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dir      *directory
		wantCode int
		wantKept bool
	}{
		{"named here", &directory{here: true}, http.StatusOK, true},
		{"named here after a silence", &directory{fails: 2, here: true}, http.StatusOK, true},
		{"named elsewhere", &directory{}, http.StatusServiceUnavailable, false},
		{"no answer", &directory{fails: 1 << 30}, http.StatusServiceUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, func(o *session.Options) {
				o.Farm = tc.dir
				o.Replication = session.Replication{Replicas: &refusingReplicas{}, Timeout: 500 * time.Millisecond}
			})
			h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := session.From(r.Context())
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				if err := s.PutInt("n", 1); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				fmt.Fprint(w, "ok")
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
			if kept := m.Len() == 1; kept != tc.wantKept {
				t.Fatalf("session kept here: %v, want %v", kept, tc.wantKept)
			}
		})
	}
}
