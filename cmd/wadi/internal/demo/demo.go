// Package demo is the demonstration application of `wadi run -dev`: a visit
// counter that shows which node served the request and what the session
// holds. The quick start and the end-to-end tests drive it.
package demo

import (
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/core/session"
)

//go:embed index.html
var indexHTML string

var indexTemplate = template.Must(template.New("index").Parse(indexHTML))

// App is the demo application of one node.
type App struct {
	node string
	log  hclog.Logger
}

// New returns the demo application of the node named node.
func New(node string, log hclog.Logger) *App {
	return &App{node: node, log: log}
}

// Handler routes the demo's endpoints. It expects to run behind the session
// middleware.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("POST /incr", a.incrForm)
	mux.HandleFunc("POST /api/incr", a.incrAPI)
	mux.HandleFunc("GET /api/session", a.sessionAPI)
	mux.HandleFunc("POST /api/logout", a.logoutAPI)
	return mux
}

// view is what the page and /api/session show of a session.
type view struct {
	Node       string            `json:"node"`
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes"`
}

func (a *App) view(s *session.Session) view {
	attrs := s.Attributes()
	v := view{Node: a.node, ID: s.ID(), Attributes: make(map[string]string, len(attrs))}
	for k, b := range attrs {
		v.Attributes[k] = string(b)
	}
	return v
}

func (a *App) index(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := indexTemplate.Execute(w, a.view(s)); err != nil {
		a.log.Warn("demo: writing the page", "error", err)
	}
}

func (a *App) sessionAPI(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	a.json(w, http.StatusOK, a.view(s))
}

func (a *App) incrAPI(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	n, err := increment(s)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, err)
		return
	}
	a.json(w, http.StatusOK, struct {
		Node  string `json:"node"`
		Count int    `json:"count"`
	}{a.node, n})
}

// logoutAPI invalidates the request's session, if it has one: its copy
// here, its backups and its stored copy go.
func (a *App) logoutAPI(w http.ResponseWriter, r *http.Request) {
	s, err := session.Existing(r.Context())
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		a.fail(w, http.StatusInternalServerError, err)
		return
	}
	if s != nil {
		if err := s.Invalidate(r.Context()); err != nil {
			a.fail(w, http.StatusInternalServerError, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// incrForm serves the page's button, which works without JavaScript.
func (a *App) incrForm(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	if _, err := increment(s); err != nil {
		a.fail(w, http.StatusInternalServerError, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func increment(s *session.Session) (int, error) {
	n, err := s.GetInt("count")
	if err != nil {
		return 0, err
	}
	n++
	return n, s.PutInt("count", n)
}

func (a *App) session(w http.ResponseWriter, r *http.Request) (*session.Session, bool) {
	s, err := session.From(r.Context())
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, session.ErrLockTimeout) || errors.Is(err, session.ErrClosed) {
			code = http.StatusServiceUnavailable
		}
		a.fail(w, code, err)
		return nil, false
	}
	return s, true
}

func (a *App) fail(w http.ResponseWriter, code int, err error) {
	a.log.Warn("demo: request failed", "status", code, "error", err)
	a.json(w, code, map[string]string{"error": err.Error()})
}

func (a *App) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		a.log.Warn("demo: writing the response", "error", err)
	}
}
