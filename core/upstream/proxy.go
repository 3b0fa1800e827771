package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/core/session"
)

// ProxyOptions configure a Proxy.
type ProxyOptions struct {
	// Target is the application's base URL (http or https). Required.
	Target *url.URL
	// Registry records each request for the API. Required.
	Registry *Registry
	// CookieName is the session cookie's name, as the manager in front is
	// configured (session.Options.Cookie.Name). Required: the node alone
	// sets that cookie, so the application's Set-Cookie headers for it are
	// dropped; one would let the application fix a client's session.
	CookieName string
	// ProtectedCookies name the other cookies the node alone sets, such
	// as the route cookie of the "cookie" router
	// (session.Options.Routing.Format.RouteCookie). The application's
	// Set-Cookie headers for them are dropped too: a forged route would
	// send the client's next requests to another node.
	ProtectedCookies []string
	// Logger receives the proxy's logs; nil discards them.
	Logger hclog.Logger
	// Transport reaches the upstream; nil means one tuned for a single
	// local application.
	Transport http.RoundTripper
}

// Proxy is the http.Handler of upstream mode. It must run behind the
// session middleware.
type Proxy struct {
	reg *Registry
	log hclog.Logger
	// cookies are the cookies the node alone sets: the session cookie
	// first, then the protected ones.
	cookies []string
	rp      *httputil.ReverseProxy
}

type heldKey struct{}

// NewProxy returns the upstream-mode handler for the options.
func NewProxy(o ProxyOptions) (*Proxy, error) {
	if o.Target == nil || (o.Target.Scheme != "http" && o.Target.Scheme != "https") || o.Target.Host == "" {
		return nil, fmt.Errorf("upstream: the target must be an absolute http(s) URL, got %v", o.Target)
	}
	if o.Registry == nil {
		return nil, errors.New("upstream: a registry is required")
	}
	if o.CookieName == "" {
		// Guessing the default would leave a differently named session
		// cookie open to the application.
		return nil, errors.New("upstream: the session cookie's name is required")
	}
	p := &Proxy{reg: o.Registry, log: o.Logger, cookies: []string{o.CookieName}}
	for _, c := range o.ProtectedCookies {
		if c != "" && !slices.Contains(p.cookies, c) {
			p.cookies = append(p.cookies, c)
		}
	}
	if p.log == nil {
		p.log = hclog.NewNullLogger()
	}
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:       nil, // the upstream is local: never through HTTP_PROXY
			DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			// Every request goes to the one application: keep enough idle
			// connections that a busy node does not redial.
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			// Non-zero, so that a client's Expect: 100-continue reaches the
			// application and its answer comes back before the body is sent.
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     false,
		}
	}
	target := *o.Target
	p.rp = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { p.rewrite(pr, &target) },
		Transport:      tr,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       p.log.Named("proxy").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		// FlushInterval stays 0: ReverseProxy flushes every write of a
		// text/event-stream or unknown-length response by itself, and
		// batching the rest lets the filter keep back a small response
		// until its session changes are replicated.
	}
	return p, nil
}

// ServeHTTP holds the request's session (if it names one) and proxies the
// request to the application.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var id string
	s, err := session.Existing(ctx)
	switch {
	case err == nil:
		id = s.ID()
	case errors.Is(err, session.ErrNoSession):
	default:
		// The session exists but cannot be had now: proxying without it
		// would let the application start a new one in its place.
		code := http.StatusInternalServerError
		if errors.Is(err, session.ErrLockTimeout) || errors.Is(err, session.ErrClosed) {
			code = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
		p.log.Warn("session not available; not proxying", "status", code, "method", r.Method, "path", r.URL.Path, "error", err)
		http.Error(w, "session not available; try again", code)
		return
	}
	h := p.reg.register(ctx, id)
	defer p.reg.unregister(h)
	rw := &respWriter{ResponseWriter: w, p: p, h: h, req: r}
	p.rp.ServeHTTP(rw, r.WithContext(context.WithValue(ctx, heldKey{}, h)))
}

// respWriter is what ReverseProxy writes the client's response to. It
// copies an informational (1xx) response from the application's on the
// transport's goroutine, while the application may be calling the API,
// which writes the client's headers (Vary, for a new session): until the
// final response starts, ReverseProxy gets a header map of its own, and
// each 1xx goes out under the request's lock.
type respWriter struct {
	http.ResponseWriter
	p     *Proxy
	h     *held
	req   *http.Request
	early http.Header // the next 1xx's headers, made when first asked for
}

func (w *respWriter) Header() http.Header {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	if w.h.responding {
		return w.ResponseWriter.Header()
	}
	if w.early == nil {
		w.early = make(http.Header)
	}
	return w.early
}

func (w *respWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	stripOwn(w.early)
	w.p.dropCookies(w.early, w.req, "1xx")
	// net/http sends the whole header map with a 1xx and keeps it for the
	// final response (RFC 8297): the 1xx carries the application's
	// headers alone, and what the node put there so far stays for the
	// final response.
	dst := w.ResponseWriter.Header()
	kept := maps.Clone(dst)
	clear(dst)
	maps.Copy(dst, w.early)
	w.ResponseWriter.WriteHeader(code)
	clear(dst)
	maps.Copy(dst, kept)
}

// Unwrap lets http.ResponseController (ReverseProxy's flushes, a 101's
// hijack) reach the filter's writer.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rewrite builds the outgoing request: the client's own Wadi-* headers go,
// the node's come in.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest, target *url.URL) {
	pr.SetURL(target)
	pr.SetXForwarded()
	// The application sees the host the client asked for (virtual hosts,
	// absolute links), as it would without the node in front.
	pr.Out.Host = pr.In.Host
	stripOwn(pr.Out.Header)
	// ReverseProxy passes on the names a request announces as trailers
	// (Go 1.26 sends no values: they arrive in pr.In.Trailer, after this);
	// a client's Wadi-* name goes, so the application never waits for one.
	stripOwn(pr.Out.Trailer)
	h, _ := pr.In.Context().Value(heldKey{}).(*held)
	if h == nil {
		return
	}
	pr.Out.Header.Set(RequestHeader, h.token)
	if s, err := session.Existing(h.ctx); err == nil {
		pr.Out.Header.Set(SessionHeader, s.ID())
	}
}

// stripOwn removes every header a client may have sent in the node's name.
func stripOwn(h http.Header) {
	for k := range h {
		if len(k) >= len(HeaderPrefix) && strings.EqualFold(k[:len(HeaderPrefix)], HeaderPrefix) {
			delete(h, k)
		}
	}
}

// stripCookies removes from h every Set-Cookie that sets one of the
// cookies named, and returns how many it removed.
func stripCookies(h http.Header, names []string) int {
	n := 0
	for k, vs := range h {
		if !strings.EqualFold(k, "Set-Cookie") {
			continue
		}
		kept := vs[:0:0]
		for _, v := range vs {
			if slices.Contains(names, setCookieName(v)) {
				n++
				continue
			}
			kept = append(kept, v)
		}
		if len(kept) == 0 {
			delete(h, k)
		} else {
			h[k] = kept
		}
	}
	return n
}

// setCookieName returns the name of the cookie a Set-Cookie value sets, as
// a browser reads it (RFC 6265bis 5.6): the part of the first name=value
// pair before its "=", without surrounding spaces and tabs; "" when the
// pair has no "=" (a nameless cookie).
func setCookieName(v string) string {
	pair, _, _ := strings.Cut(v, ";")
	name, _, ok := strings.Cut(pair, "=")
	if !ok {
		return ""
	}
	return strings.Trim(name, " \t")
}

// modifyResponse marks the request as responding before ReverseProxy
// copies the response's headers: from then on no API call may touch the
// cookie, so the headers are never written by two goroutines.
func (p *Proxy) modifyResponse(res *http.Response) error {
	// A response carrying the node's headers would let the application
	// speak for the node towards the client; they are the node's alone.
	stripOwn(res.Header)
	// The session cookie is the node's too: an application that set it
	// could hand a client a session of its choosing (fixation) or end one
	// behind the filter's back; so is a route cookie. The filter adds its
	// own Set-Cookie later, to the client's header, so only the
	// application's are removed here.
	p.dropCookies(res.Header, res.Request, "header")
	// Trailers have only their announced names yet; the values come with
	// the end of the body, which ReverseProxy closes before it copies them.
	stripOwn(res.Trailer)
	// Announced, Set-Cookie would have net/http send every Set-Cookie of
	// the response again at its end, the node's among them. Unannounced,
	// the application's own still pass (ReverseProxy sends them under
	// http.TrailerPrefix).
	delete(res.Trailer, "Set-Cookie")
	if res.StatusCode != http.StatusSwitchingProtocols && res.Body != nil {
		// (A 101's body is the upgraded connection, which must stay an
		// io.ReadWriteCloser.)
		res.Body = &trailerGuard{ReadCloser: res.Body, p: p, res: res}
	}
	responding(res.Request)
	return nil
}

// responding marks the request's response as started, under the lock of
// its API calls: the cookie can no longer change, and the client's header
// map is ReverseProxy's to write.
func responding(r *http.Request) {
	if h, _ := r.Context().Value(heldKey{}).(*held); h != nil {
		h.mu.Lock()
		h.responding = true
		h.mu.Unlock()
	}
}

// dropCookies drops the application's Set-Cookie for the node's cookies
// from h, a response's header or trailer (where says which).
func (p *Proxy) dropCookies(h http.Header, req *http.Request, where string) {
	if n := stripCookies(h, p.cookies); n > 0 {
		p.log.Debug("dropped the application's Set-Cookie for a cookie the node sets", "cookies", p.cookies, "in", where, "dropped", n, "method", req.Method, "path", req.URL.Path)
	}
}

// trailerGuard is the upstream response's body: when ReverseProxy closes
// it, the trailers are in, and what the application may not send is taken
// out of them before ReverseProxy copies them to the client.
type trailerGuard struct {
	io.ReadCloser
	p   *Proxy
	res *http.Response
}

func (g *trailerGuard) Close() error {
	err := g.ReadCloser.Close()
	stripOwn(g.res.Trailer)
	g.p.dropCookies(g.res.Trailer, g.res.Request, "trailer")
	return err
}

// errorHandler answers a request the upstream did not: 502, logged with
// the reason. The session is left as it was: nothing is committed for it
// but what the application did through the API before failing.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	responding(r)
	if r.Context().Err() != nil {
		// The client went away; there is nobody to answer.
		p.log.Debug("client gone before the upstream answered", "method", r.Method, "path", r.URL.Path, "error", err)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	p.log.Error("upstream unreachable; answering 502", "upstream", r.URL.Scheme+"://"+r.URL.Host, "method", r.Method, "path", r.URL.Path, "error", err)
	http.Error(w, "upstream application unavailable", http.StatusBadGateway)
}
