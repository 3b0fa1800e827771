package upstream

import (
	"context"
	"crypto/rand"
	"sync"

	"github.com/wadi-go/wadi/core/session"
)

// Registry knows the requests this node is serving through the proxy, by
// request token and by the id of the session each holds, so that an API
// call can reach a session only while a request holds it here. The zero
// value is not usable; use NewRegistry.
type Registry struct {
	mu      sync.Mutex
	byToken map[string]*held
	byID    map[string]map[*held]struct{}
}

// NewRegistry returns an empty registry, shared by a Proxy and an API.
func NewRegistry() *Registry {
	return &Registry{byToken: make(map[string]*held), byID: make(map[string]map[*held]struct{})}
}

// held is one in-flight request. Its mu is held for the whole of each API
// call made on its behalf, so that calls on one request run one at a time,
// never overlap the proxy writing the response's headers, and are over
// before the request is released.
type held struct {
	token string
	// ctx is the request's context inside the session middleware: what
	// session.From and session.Existing need.
	ctx context.Context

	mu sync.Mutex
	// closed: the request is over; calls naming it are refused.
	closed bool
	// responding: the upstream's response headers are being written; the
	// cookie can no longer change, so creating or renewing is refused.
	responding bool
	// id is the session id the registry indexes the request under; "" for
	// none. Guarded by Registry.mu.
	id string
}

// register adds a request whose context is ctx and returns it; id names
// its session, or is "".
func (r *Registry) register(ctx context.Context, id string) *held {
	h := &held{token: rand.Text(), ctx: ctx}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byToken[h.token] = h
	r.indexLocked(h, id)
	return h
}

// unregister removes the request, waiting for an API call on its behalf to
// finish first.
func (r *Registry) unregister(h *held) {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byToken, h.token)
	r.indexLocked(h, "")
}

// indexLocked moves h from the index entry of its old session id to id's.
func (r *Registry) indexLocked(h *held, id string) {
	if h.id != "" {
		if set := r.byID[h.id]; set != nil {
			delete(set, h)
			if len(set) == 0 {
				delete(r.byID, h.id)
			}
		}
	}
	h.id = id
	if id == "" {
		return
	}
	set := r.byID[id]
	if set == nil {
		set = make(map[*held]struct{})
		r.byID[id] = set
	}
	set[h] = struct{}{}
}

// byRequest returns the live request with the token, locked for a call;
// the caller unlocks h.mu.
func (r *Registry) byRequest(token string) *held {
	r.mu.Lock()
	h := r.byToken[token]
	r.mu.Unlock()
	if h == nil {
		return nil
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	return h
}

// bySession returns a live request holding the session with the id, locked
// for a call, or nil if no request holds it here.
func (r *Registry) bySession(id string) *held {
	// A request found may finish before it is locked; another may still
	// hold the session, so look again, a bounded number of times.
	for range 4 {
		r.mu.Lock()
		var h *held
		for c := range r.byID[id] {
			h = c
			break
		}
		r.mu.Unlock()
		if h == nil {
			return nil
		}
		h.mu.Lock()
		if !h.closed {
			if s, err := session.Existing(h.ctx); err == nil && s.ID() == id {
				return h
			}
		}
		h.mu.Unlock()
	}
	return nil
}

// renamed moves every request indexed under old to new: a renewed id.
func (r *Registry) renamed(old, new string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h := range r.byID[old] {
		r.indexLocked(h, new)
	}
}

// dropped forgets the session id: it was invalidated.
func (r *Registry) dropped(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h := range r.byID[id] {
		r.indexLocked(h, "")
	}
}

// setSession indexes h under id: its request now has that session.
func (r *Registry) setSession(h *held, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.indexLocked(h, id)
}

// Len returns the number of requests registered.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byToken)
}
