package upstream

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/core/session"
)

// APIOptions configure an API.
type APIOptions struct {
	// Manager owns the sessions. Required.
	Manager *session.Manager
	// Registry is the proxy's, naming the requests held here. Required.
	Registry *Registry
	// Token, if set, must be presented as "Authorization: Bearer TOKEN".
	// The caller requires it on TCP, where anything local can connect.
	Token string
	// AllowUnheld lets a call reach a session no request holds here; the
	// API then holds it for the duration of the call.
	AllowUnheld bool
	// Logger receives the API's logs; nil discards them.
	Logger hclog.Logger
}

// API is the node-local session API: JSON over HTTP, served on the
// app_api listener. examples/python-visits/README.md documents the wire
// format; in short, sessions are addressed as /v1/sessions/{id}, where the
// id may be "current" for the session of the request named by the
// Wadi-Request header.
type API struct {
	mgr     *session.Manager
	reg     *Registry
	token   []byte
	unheld  bool
	log     hclog.Logger
	maxBody int64
	mux     *http.ServeMux
}

// currentID addresses the session of the request the call names.
const currentID = "current"

// NewAPI returns the API handler.
func NewAPI(o APIOptions) (*API, error) {
	if o.Manager == nil || o.Registry == nil {
		return nil, errors.New("upstream: the API needs a manager and a registry")
	}
	a := &API{mgr: o.Manager, reg: o.Registry, unheld: o.AllowUnheld, log: o.Logger}
	if o.Token != "" {
		a.token = []byte(o.Token)
	}
	if a.log == nil {
		a.log = hclog.NewNullLogger()
	}
	// A batch may set a whole session's worth of attributes, base64 grows
	// them by a third and JSON escaping a little more: twice the session
	// limit, plus room for the names and the structure, is enough for
	// anything the manager would accept and no more.
	_, maxSession := o.Manager.Limits()
	a.maxBody = 2*int64(maxSession) + 64<<10
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/sessions", a.sessions)
	mux.HandleFunc("/v1/sessions/{id}", a.session)
	mux.HandleFunc("/v1/sessions/{id}/attributes", a.attributes)
	mux.HandleFunc("/v1/sessions/{id}/attributes/{name}", a.attribute)
	mux.HandleFunc("/v1/sessions/{id}/renew", a.renew)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, errorf(http.StatusNotFound, "not_found", "no such endpoint %s", r.URL.Path))
	})
	a.mux = mux
	return a, nil
}

// ServeHTTP checks the caller's token, then routes the call.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.token != nil {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), a.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wadi"`)
			a.fail(w, errorf(http.StatusUnauthorized, "unauthorized", "a valid \"Authorization: Bearer TOKEN\" header is required"))
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
	a.mux.ServeHTTP(w, r)
}

// apiError is an answer other than success: its status, a stable code
// for programs and a message for people.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// sessionError turns a session package error into an answer.
func sessionError(err error) *apiError {
	switch {
	case errors.Is(err, session.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "%v", err)
	case errors.Is(err, session.ErrInvalidated), errors.Is(err, session.ErrNoSession):
		return errorf(http.StatusNotFound, "not_found", "the session no longer exists")
	case errors.Is(err, session.ErrHeadersWritten):
		return errorf(http.StatusConflict, "response_started", "the response's headers are already out: the cookie can no longer change")
	case errors.Is(err, session.ErrLockTimeout), errors.Is(err, session.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "unavailable", "%v", err)
	}
	return errorf(http.StatusInternalServerError, "internal", "%v", err)
}

// target is the session a call acts on, and how it is held.
type target struct {
	s *session.Session
	h *held // the request holding it; nil for an unheld call
	// release gives back a session the call itself holds (allow_unheld).
	release func(context.Context) error
}

// done ends the call's hold. For a session the call held itself, its
// changes are replicated first; an error means they may not be durable.
func (t *target) done(ctx context.Context) error {
	if t.h != nil {
		t.h.mu.Unlock()
		return nil
	}
	if t.release != nil {
		return t.release(ctx)
	}
	return nil
}

// resolve finds the session the call names and holds it for the call. The
// caller must call done on the result.
func (a *API) resolve(r *http.Request, id string) (*target, *apiError) {
	token := r.Header.Get(RequestHeader)
	if id != currentID && !session.ValidID(id) {
		return nil, errorf(http.StatusBadRequest, "bad_request", "%q is not a session id", id)
	}
	if token != "" {
		h := a.reg.byRequest(token)
		if h == nil {
			return nil, errorf(http.StatusConflict, "not_held", "no request with that %s token is in flight on this node", RequestHeader)
		}
		s, err := session.Existing(h.ctx)
		if err != nil {
			h.mu.Unlock()
			if errors.Is(err, session.ErrNoSession) {
				return nil, errorf(http.StatusNotFound, "no_session", "the request has no session; create one with POST /v1/sessions")
			}
			return nil, sessionError(err)
		}
		if id != currentID && s.ID() != id {
			h.mu.Unlock()
			return nil, errorf(http.StatusConflict, "not_held", "the request holds another session than the one named")
		}
		return &target{s: s, h: h}, nil
	}
	if id == currentID {
		return nil, errorf(http.StatusBadRequest, "bad_request", "%q needs the request's %s header", currentID, RequestHeader)
	}
	if h := a.reg.bySession(id); h != nil {
		s, err := session.Existing(h.ctx)
		if err != nil {
			h.mu.Unlock()
			return nil, sessionError(err)
		}
		return &target{s: s, h: h}, nil
	}
	if !a.unheld {
		return nil, errorf(http.StatusConflict, "not_held", "no request holds that session on this node (app_api.allow_unheld is off)")
	}
	s, release, err := a.mgr.Hold(r.Context(), id)
	if err != nil {
		return nil, sessionError(err)
	}
	return &target{s: s, release: release}, nil
}

// finish ends the call: releases the hold, then answers with the
// session's view (or code's error).
func (a *API) finish(w http.ResponseWriter, r *http.Request, t *target, status int, aerr *apiError) {
	if err := t.done(r.Context()); err != nil && aerr == nil {
		a.log.Error("session change not replicated", "error", err)
		aerr = errorf(http.StatusServiceUnavailable, "not_replicated", "the change was made but its backups did not acknowledge it: %v", err)
	}
	if aerr != nil {
		a.fail(w, aerr)
		return
	}
	a.reply(w, status, viewOf(t.s))
}

// View is a session as the API shows it.
type View struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Version uint64    `json:"version"`
	// Attributes are the values as UTF-8 text, except those named in
	// Base64, which are not valid UTF-8 and are given in standard base64.
	Attributes map[string]string `json:"attributes"`
	Base64     []string          `json:"base64,omitempty"`
}

func viewOf(s *session.Session) View {
	attrs := s.Attributes()
	v := View{ID: s.ID(), Created: s.Created().UTC(), Expires: s.Expires().UTC(), Version: s.Version(), Attributes: make(map[string]string, len(attrs))}
	for k, b := range attrs {
		if utf8.Valid(b) {
			v.Attributes[k] = string(b)
			continue
		}
		v.Attributes[k] = base64.StdEncoding.EncodeToString(b)
		v.Base64 = append(v.Base64, k)
	}
	slices.Sort(v.Base64)
	return v
}

// Value is an attribute value as written: a JSON string of UTF-8 text, or
// {"value": "...", "encoding": "base64"} for bytes.
type Value []byte

// UnmarshalJSON decodes either form.
func (v *Value) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = Value(s)
		return nil
	}
	var obj struct {
		Value    *string `json:"value"`
		Encoding string  `json:"encoding"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("a value is a JSON string or {\"value\": ..., \"encoding\": \"base64\"}: %w", err)
	}
	if obj.Value == nil {
		return errors.New(`a value object needs "value"`)
	}
	switch obj.Encoding {
	case "", "text":
		*v = Value(*obj.Value)
	case "base64":
		raw, err := base64.StdEncoding.DecodeString(*obj.Value)
		if err != nil {
			return fmt.Errorf("value is not standard base64: %w", err)
		}
		*v = raw
	default:
		return fmt.Errorf("unknown encoding %q; use \"base64\" or leave it out for text", obj.Encoding)
	}
	return nil
}

// decode reads the call's body as exactly one JSON value into v.
func decode(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value in the body")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "the body is over %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "bad_json", "the body is empty; a JSON value is required")
	}
	return errorf(http.StatusBadRequest, "bad_json", "bad JSON body: %v", err)
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	return false
}

func (a *API) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	a.fail(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", r.Method, r.URL.Path))
}

// sessions: POST creates the session of the request named by the
// Wadi-Request header (201), or returns the one it has (200).
func (a *API) sessions(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		a.methodNotAllowed(w, r)
		return
	}
	token := r.Header.Get(RequestHeader)
	if token == "" {
		a.fail(w, errorf(http.StatusBadRequest, "bad_request", "creating a session needs the request's %s header: the session is the request's, and its response carries the cookie", RequestHeader))
		return
	}
	h := a.reg.byRequest(token)
	if h == nil {
		a.fail(w, errorf(http.StatusConflict, "not_held", "no request with that %s token is in flight on this node", RequestHeader))
		return
	}
	t := &target{h: h}
	status := http.StatusOK
	s, err := session.Existing(h.ctx)
	if errors.Is(err, session.ErrNoSession) {
		if h.responding {
			a.finish(w, r, t, 0, errorf(http.StatusConflict, "response_started", "the response's headers are already out: the cookie can no longer be set"))
			return
		}
		status = http.StatusCreated
		s, err = session.From(h.ctx)
	}
	if err != nil {
		a.finish(w, r, t, 0, sessionError(err))
		return
	}
	t.s = s
	a.reg.setSession(h, s.ID())
	a.finish(w, r, t, status, nil)
}

// session: GET reads it, DELETE invalidates it.
func (a *API) session(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodDelete) {
		a.methodNotAllowed(w, r)
		return
	}
	t, aerr := a.resolve(r, r.PathValue("id"))
	if aerr != nil {
		a.fail(w, aerr)
		return
	}
	if r.Method == http.MethodGet {
		a.finish(w, r, t, http.StatusOK, nil)
		return
	}
	id := t.s.ID()
	err := t.s.Invalidate(r.Context())
	a.reg.dropped(id)
	if derr := t.done(r.Context()); derr != nil {
		a.log.Warn("invalidated session: releasing it", "error", derr)
	}
	if err != nil {
		// Gone from memory and from the farm; only its store copy's
		// deletion failed, and the manager retries that.
		a.log.Warn("invalidated session: store copy not yet deleted", "error", err)
	}
	a.reply(w, http.StatusOK, map[string]any{"id": id, "invalidated": true})
}

// batch is the body of PATCH /v1/sessions/{id}/attributes.
type batch struct {
	Set    map[string]Value `json:"set"`
	Remove []string         `json:"remove"`
}

// attributes: PATCH sets and removes several attributes as one change.
func (a *API) attributes(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPatch) {
		a.methodNotAllowed(w, r)
		return
	}
	// The body is read before the session is held: a slow client must
	// not keep the session (or the request's calls) waiting.
	var b batch
	if aerr := decode(r, &b); aerr != nil {
		a.fail(w, aerr)
		return
	}
	set := make(map[string][]byte, len(b.Set))
	for k, v := range b.Set {
		if k == "" {
			a.fail(w, errorf(http.StatusBadRequest, "bad_request", "an attribute name must not be empty"))
			return
		}
		set[k] = v
	}
	t, aerr := a.resolve(r, r.PathValue("id"))
	if aerr != nil {
		a.fail(w, aerr)
		return
	}
	if err := t.s.Update(set, b.Remove); err != nil {
		a.finish(w, r, t, 0, sessionError(err))
		return
	}
	a.finish(w, r, t, http.StatusOK, nil)
}

// attribute: PUT sets one attribute, DELETE removes it.
func (a *API) attribute(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPut, http.MethodDelete) {
		a.methodNotAllowed(w, r)
		return
	}
	name := r.PathValue("name")
	if name == "" {
		a.fail(w, errorf(http.StatusBadRequest, "bad_request", "an attribute name must not be empty"))
		return
	}
	var v Value
	if r.Method == http.MethodPut {
		if aerr := decode(r, &v); aerr != nil {
			a.fail(w, aerr)
			return
		}
	}
	t, aerr := a.resolve(r, r.PathValue("id"))
	if aerr != nil {
		a.fail(w, aerr)
		return
	}
	var err error
	if r.Method == http.MethodPut {
		err = t.s.Put(name, v)
	} else {
		err = t.s.Remove(name)
	}
	if err != nil {
		a.finish(w, r, t, 0, sessionError(err))
		return
	}
	a.finish(w, r, t, http.StatusOK, nil)
}

// renew: POST gives the session a new id; the in-flight response of the
// request holding it carries the new cookie.
func (a *API) renew(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		a.methodNotAllowed(w, r)
		return
	}
	t, aerr := a.resolve(r, r.PathValue("id"))
	if aerr != nil {
		a.fail(w, aerr)
		return
	}
	switch {
	case t.h == nil:
		// No response would carry the new id: the client would keep the
		// retired one and lose its session.
		a.finish(w, r, t, 0, errorf(http.StatusConflict, "not_held", "renewing an id needs a request in flight to carry the new cookie"))
		return
	case t.h.responding:
		a.finish(w, r, t, 0, errorf(http.StatusConflict, "response_started", "the response's headers are already out: the cookie can no longer change"))
		return
	}
	old := t.s.ID()
	if err := t.s.RenewID(r.Context()); err != nil {
		if t.s.ID() == old {
			a.finish(w, r, t, 0, sessionError(err))
			return
		}
		// Renewed; only the old id's store copy is still to be deleted,
		// which the manager retries.
		a.log.Warn("renewed session: old store copy not yet deleted", "error", err)
	}
	a.reg.renamed(old, t.s.ID())
	a.finish(w, r, t, http.StatusOK, nil)
}

func (a *API) fail(w http.ResponseWriter, e *apiError) {
	if e.status >= 500 {
		a.log.Warn("session API call failed", "status", e.status, "code", e.code, "error", e.message)
	}
	a.reply(w, e.status, map[string]string{"error": e.message, "code": e.code})
}

func (a *API) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		a.log.Debug("writing a session API answer", "error", err)
	}
}
