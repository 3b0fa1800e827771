package session

import (
	"context"
	"net/http"
)

// RelocatedHeader marks a request that a node of the farm already sent on
// to the session's holder, so that the holder serves it rather than
// sending it on again. A client that sends it only makes the node move the
// session here instead of forwarding the request.
const RelocatedHeader = "Wadi-Relocated"

// Relocator sends a request to the node that holds its session instead of
// moving the session here, when the router's policy says so (proxy,
// redirect). core/cluster implements it.
type Relocator interface {
	// Relocate is called before the application runs, for a request whose
	// session id (from its cookie) is not in memory here. It returns true
	// if it answered the request; false lets the request go on here, where
	// the session is fetched. A request it answers is not counted in
	// Metrics.Request: the Relocator reports its outcome (proxied,
	// redirected) to its own metrics.
	Relocate(ctx context.Context, w http.ResponseWriter, r *http.Request, id, hint string) bool
}

// relocate offers a request whose session is elsewhere to the relocator,
// before the handler runs. A local hit costs it nothing the filter would
// not do anyway: the cookies it parses, and the token and session it found
// in memory, are where the filter's lookup starts.
func (m *Manager) relocate(w *writer) bool {
	if m.opts.Relocator == nil {
		return false
	}
	r := w.req
	for _, c := range w.sessionCookies() {
		id, hint := m.opts.Routing.parseToken(c.Value)
		if !ValidID(id) {
			continue
		}
		if s := m.get(id); s != nil {
			w.cookieID, w.cookieValue, w.checked = id, c.Value, s
			return false
		}
		// Read only on a miss, the only case it changes.
		if r.Header.Get(RelocatedHeader) != "" {
			return false
		}
		return m.opts.Relocator.Relocate(r.Context(), w.ResponseWriter, r, id, hint)
	}
	return false
}
