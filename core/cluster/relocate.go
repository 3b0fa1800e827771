package cluster

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/sdk/router"
)

// Relocator carries out the router's decision for a request whose session
// another member holds: proxy it there, redirect the client there, or let
// the session move here (migrate). It implements session.Relocator.
type Relocator struct {
	node   *Node
	router router.Router

	mu      sync.Mutex
	proxies map[string]*httputil.ReverseProxy // by holder URL
}

var _ session.Relocator = (*Relocator)(nil)

// NewRelocator returns a relocator that asks r what to do.
func NewRelocator(n *Node, r router.Router) *Relocator {
	return &Relocator{node: n, router: r, proxies: make(map[string]*httputil.ReverseProxy)}
}

// Relocate implements session.Relocator.
func (rl *Relocator) Relocate(ctx context.Context, w http.ResponseWriter, r *http.Request, id, hint string) bool {
	n := rl.node
	h, err := n.lookup(ctx, id)
	holder := h.name
	if err != nil || holder == "" || holder == n.self || !n.aliveIncarnation(holder, h.started) {
		// Not decidable, or nobody else: the request goes on here, where
		// fetching the session decides (and answers an error rather than
		// a fresh session if it cannot).
		return false
	}
	m, ok := n.ms.Member(holder)
	if !ok {
		return false
	}
	d, err := rl.router.Relocate(ctx, router.Miss{
		SessionID: id, RouteHint: hint, Here: n.self, Holder: holder, HolderURL: m.HTTP,
		Method: r.Method, Host: r.Host, Path: r.URL.Path,
	})
	if err != nil {
		n.log.Warn("router could not decide; moving the session here", "session", logID(id), "error", err)
		return false
	}
	switch d.Action {
	case router.Proxy:
		p, err := rl.proxy(m.HTTP)
		if err != nil {
			n.log.Error("cannot proxy to the session's holder; moving the session here", "holder", holder, "error", err)
			return false
		}
		rl.serveProxied(p, w, r)
		return true
	case router.Redirect:
		target := d.URL
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		// 307 keeps the method and body.
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
		n.cfg.Metrics.Request(session.OutcomeRedirected)
		return true
	}
	return false
}

// proxyFailedKey carries, in a proxied request's context, the flag the
// proxy's ErrorHandler raises: the holder gave no answer to pass on.
type proxyFailedKey struct{}

// serveProxied proxies the request and counts it proxied only if the
// holder answered it whole; a 502 for an unreachable holder, or a response
// cut short (ReverseProxy panics with http.ErrAbortHandler, which goes on
// up to net/http), counts as an error.
func (rl *Relocator) serveProxied(p *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) {
	var failed atomic.Bool
	outcome := session.OutcomeError
	defer func() { rl.node.cfg.Metrics.Request(outcome) }()
	p.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), proxyFailedKey{}, &failed)))
	if !failed.Load() {
		outcome = session.OutcomeProxied
	}
}

// proxy returns the reverse proxy to a holder's HTTP address.
func (rl *Relocator) proxy(base string) (*httputil.ReverseProxy, error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if p, ok := rl.proxies[base]; ok {
		return p, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	log := rl.node.log
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
			// The holder serves it: no second relocation.
			pr.Out.Header.Set(session.RelocatedHeader, rl.node.self)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if f, ok := r.Context().Value(proxyFailedKey{}).(*atomic.Bool); ok {
				f.Store(true)
			}
			log.Error("proxying to the session's holder failed", "holder", base, "error", err)
			http.Error(w, "the node holding this session did not answer", http.StatusBadGateway)
		},
		// A response cut short is logged here, not on the process's stderr.
		ErrorLog: log.Named("relocate").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	rl.proxies[base] = p
	return p, nil
}
