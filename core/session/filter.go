package session

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// Errors returned by From and Existing.
var (
	// ErrNoMiddleware is returned when the request did not pass through the
	// manager's Middleware.
	ErrNoMiddleware = errors.New("session: the request did not pass through the session middleware")
	// ErrNoSession is returned by Existing when the request names no session.
	ErrNoSession = errors.New("session: the request has no session")
	// ErrHeadersWritten is returned when a session would be created after the
	// response headers were sent, too late for its cookie.
	ErrHeadersWritten = errors.New("session: response headers already written")
)

type ctxKey struct{}

// From returns the request's session, creating one if the request names none
// (or names one that does not exist or has expired). It is cheap to call
// again: the session is looked up once per request.
func From(ctx context.Context) (*Session, error) {
	w, ok := ctx.Value(ctxKey{}).(*writer)
	if !ok {
		return nil, ErrNoMiddleware
	}
	return w.session(ctx, true)
}

// Existing returns the request's session, or ErrNoSession if it names none
// that exists; it never creates one.
func Existing(ctx context.Context) (*Session, error) {
	w, ok := ctx.Value(ctxKey{}).(*writer)
	if !ok {
		return nil, ErrNoMiddleware
	}
	return w.session(ctx, false)
}

// Middleware is the session filter. It finds the request's session lazily, on
// the first From or Existing, so a request that never touches the session
// costs no lookup and sets no cookie. It holds the session for the request,
// writes the cookie before the first byte of the body, and releases the
// session when the handler returns.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &writer{ResponseWriter: rw, m: m, req: r, hold: m.replicating() && !m.opts.Replication.Async}
		if m.relocate(w) {
			return
		}
		defer w.release()
		returned := false
		defer func() {
			// Not recovered: the panic goes on to net/http as it came,
			// which aborts the connection.
			if !returned {
				w.aborted()
			}
		}()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, w)))
		returned = true
		w.mu.Lock()
		w.commitLocked()
		w.mu.Unlock()
		w.finish()
	})
}

// holdLimit is how much of a response the filter keeps back while the
// session's backups acknowledge its changes; a larger or flushed response
// is released in parts, each after the changes made before it.
const holdLimit = 64 << 10

// writer wraps the ResponseWriter to commit the session before the response
// starts, and carries the request's session state.
type writer struct {
	http.ResponseWriter
	m   *Manager
	req *http.Request

	mu sync.Mutex
	// cookies are the request's session cookies, nil until parsed: the
	// relocation check and the lookup share one parse.
	cookies []*http.Cookie
	// cookieID is the id the client presented and we found, if any;
	// before the lookup, the one the relocation check found in memory,
	// checked.
	cookieID    string
	cookieValue string   // the whole cookie value it came in, route included
	checked     *Session // not locked: the lookup starts from it
	sess        *Session // held (locked for this request) until release
	// outcome is how the request's session was first found (or not), for
	// the metrics, reported once when the request ends.
	outcome Outcome

	// In synchronous replication, the response is kept back (up to
	// holdLimit) until the backups have the session's changes.
	held   []byte
	status int // the status the handler wrote, not yet sent

	// The flags sit together, so that the writer, allocated on every
	// request, stays in its size class.
	looked    bool // the cookie was read and looked up
	committed bool // headers are out: the cookie can no longer change
	hold      bool // keep the response back, as above
	released  bool // the response passes straight through from now on
	upgraded  bool // a 101 went out: no status can follow
}

// checkpoint replicates the session's changes so far and releases what
// the response kept back. With a replication failure before anything was
// released, the client gets a 503 instead: its change is not durable.
func (w *writer) checkpoint() error {
	w.mu.Lock()
	s := w.sess
	w.mu.Unlock()
	var err error
	if s != nil {
		err = w.m.finish(w.req.Context(), s)
	}
	if !w.hold || w.released {
		return err
	}
	w.released = true
	if err != nil && !w.upgraded {
		w.m.log.Error("session change not replicated; answering 503", "session", logID(s.ID()), "error", err)
		h := w.ResponseWriter.Header()
		for _, k := range []string{"Content-Length", "Content-Type", "Content-Encoding", "Etag", "Last-Modified"} {
			h.Del(k)
		}
		h.Set("Retry-After", "1")
		http.Error(w.ResponseWriter, "session not replicated; try again", http.StatusServiceUnavailable)
		return err
	}
	if w.status != 0 {
		w.ResponseWriter.WriteHeader(w.status)
	}
	if len(w.held) > 0 {
		_, _ = w.ResponseWriter.Write(w.held)
	}
	w.held = nil
	return err
}

// finish runs after the handler: the session's changes reach its backups
// (or are queued for them), then the response is released.
func (w *writer) finish() {
	if err := w.checkpoint(); err != nil && !w.hold {
		w.m.log.Warn("session change not replicated", "error", err)
	}
}

// aborted runs when the handler panicked, as ReverseProxy does with
// http.ErrAbortHandler when a response breaks off: the changes it made are
// in memory already and the next request sees them, so they go to the
// backups too, even if the client is gone. What the response kept back
// stays unsent: the connection is aborted, and a part must not pass for
// the whole.
func (w *writer) aborted() {
	w.mu.Lock()
	s := w.sess
	w.mu.Unlock()
	if s == nil {
		return
	}
	if err := w.m.finish(context.WithoutCancel(w.req.Context()), s); err != nil {
		w.m.log.Warn("session change of an aborted request not replicated", "session", logID(s.ID()), "error", err)
	}
}

func (w *writer) session(ctx context.Context, create bool) (*Session, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sess != nil && w.sess.live() {
		return w.sess, nil
	}
	if !w.looked {
		w.looked = true
		s, o, err := w.findFromCookie(ctx)
		if err != nil {
			w.outcome = OutcomeError
			return nil, err
		}
		if s != nil {
			w.outcome = o
			w.sess = s
			w.ResponseWriter.Header().Add("Vary", "Cookie")
			return s, nil
		}
	}
	if !create {
		return nil, ErrNoSession
	}
	if w.committed {
		return nil, ErrHeadersWritten
	}
	s, err := w.m.create(ctx)
	if err != nil {
		if w.outcome == OutcomeNone {
			w.outcome = OutcomeError
		}
		return nil, err
	}
	if w.outcome == OutcomeNone {
		w.outcome = OutcomeCreated
	}
	if w.sess != nil {
		// The request invalidated its session and now starts another.
		w.m.unlockRequest(w.sess)
	}
	w.sess = s
	w.ResponseWriter.Header().Add("Vary", "Cookie")
	return s, nil
}

// maxCookieCandidates bounds how many same-named cookies a request may make
// us look up.
const maxCookieCandidates = 4

// sessionCookies returns the request's cookies of the session's name,
// parsing them on the first call only.
func (w *writer) sessionCookies() []*http.Cookie {
	if w.cookies == nil {
		w.cookies = w.req.CookiesNamed(w.m.opts.Cookie.Name)
		if w.cookies == nil {
			w.cookies = []*http.Cookie{} // parsed: none
		}
	}
	return w.cookies
}

func (w *writer) findFromCookie(ctx context.Context) (*Session, Outcome, error) {
	// The relocation check may have parsed the first valid cookie and
	// found its session in memory already: that cookie's token is not
	// parsed again, nor its session looked up again in memory (on a local
	// hit, the only cookie looked at).
	checkedID, checkedValue, checked := w.cookieID, w.cookieValue, w.checked
	w.cookieID, w.cookieValue, w.checked = "", "", nil
	tried := 0
	for _, c := range w.sessionCookies() {
		var id string
		var here *Session
		if checkedID != "" && c.Value == checkedValue {
			id, here, checkedID = checkedID, checked, ""
		} else {
			id, _ = w.m.opts.Routing.parseToken(c.Value)
			// Anything that is not an id we could have issued is no
			// session: a malformed or oversized cookie never reaches the
			// store. The route hint decides nothing here: only the id
			// names a session.
			if !ValidID(id) {
				continue
			}
		}
		if tried++; tried > maxCookieCandidates {
			break
		}
		s, o, err := w.m.lookupOutcome(ctx, id, here)
		if err != nil {
			return nil, OutcomeNone, err
		}
		if s != nil {
			w.cookieID, w.cookieValue = id, c.Value
			return s, o, nil
		}
		if _, hint := w.m.opts.Routing.parseToken(c.Value); hint != "" && hint != w.m.opts.Routing.Route {
			w.m.log.Debug("no such session here; its route names another node", "session", logID(id), "route_hint", hint)
		}
	}
	return nil, OutcomeNone, nil
}

// commitLocked runs once, before the response's headers go out: it writes the
// session cookie if the client's is missing, stale or persistent.
func (w *writer) commitLocked() {
	if w.committed {
		return
	}
	w.committed = true
	s := w.sess
	if s == nil {
		return
	}
	o := &w.m.opts.Cookie
	c := http.Cookie{
		Name:     o.Name,
		Path:     o.Path,
		Domain:   o.Domain,
		Secure:   o.Secure,
		HttpOnly: o.HTTPOnly,
		SameSite: o.SameSite,
	}
	if !s.live() {
		if w.cookieID == "" {
			return
		}
		c.MaxAge = -1 // tell the client to forget the dead id
	} else {
		h := w.ResponseWriter.Header()
		rt := &w.m.opts.Routing
		if rt.Route != "" && rt.Format.RouteHeader != "" {
			h.Set(rt.Format.RouteHeader, rt.Route)
		}
		if rc := rt.routeCookie(w.req, o); rc != nil {
			h.Add("Set-Cookie", rc.String())
		}
		// The value carries the route: a session that moved here, or a
		// client that sent a stale or forged route, gets it rewritten.
		c.Value = rt.token(s.ID())
		if c.Value == w.cookieValue && !o.Persist {
			return
		}
		if o.Persist {
			c.Expires = s.Expires()
		}
	}
	h := w.ResponseWriter.Header()
	h.Add("Set-Cookie", c.String())
	h.Add("Cache-Control", `no-cache="Set-Cookie"`)
}

func (w *writer) commit() {
	w.mu.Lock()
	w.commitLocked()
	w.mu.Unlock()
}

// release gives the session back when the request is over, even if the
// handler panicked, and reports the request's outcome.
func (w *writer) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m.metrics.Request(w.outcome)
	if w.sess != nil {
		w.m.unlockRequest(w.sess)
		w.sess = nil
	}
}

func (w *writer) WriteHeader(code int) {
	// Informational responses leave the real headers still to come.
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.commit()
	}
	if w.hold && !w.released && code >= 200 && code != http.StatusSwitchingProtocols {
		if w.status == 0 {
			w.status = code
		}
		return
	}
	if code == http.StatusSwitchingProtocols {
		w.upgraded = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	w.commit()
	if w.hold && !w.released {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		if len(w.held)+len(b) <= holdLimit {
			w.held = append(w.held, b...)
			return len(b), nil
		}
		_ = w.checkpoint()
	}
	return w.ResponseWriter.Write(b)
}

// Flush and FlushError commit first: flushing sends the headers.
func (w *writer) Flush() {
	_ = w.FlushError()
}

func (w *writer) FlushError() error {
	w.commit()
	if w.hold && !w.released {
		_ = w.checkpoint()
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over; whatever the session needed to say in
// headers has been decided by then.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.commit()
	if w.hold && !w.released {
		_ = w.checkpoint()
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer's optional
// methods (deadlines, full duplex).
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
