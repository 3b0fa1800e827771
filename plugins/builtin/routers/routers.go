// Package routers holds the builtin router strategies: how the session token
// carries the route of the node that holds the session, so that a load
// balancer keeps a session's requests on that node, and how a request that
// lands elsewhere is relocated.
//
//   - jvmroute: the token is ID.ROUTE, the mod_jk / Tomcat jvmRoute
//     convention that HAProxy (`balance url_param` / `appsession`-style
//     rules, or `use-server` on the suffix) and nginx can route on.
//   - cookie: the route travels in a cookie of its own, the way HAProxy's
//     `cookie SERVERID` persistence reads it.
//   - none: no route, for load balancers that hash on something else.
//
// The host applies the Format in process on every request; these types are
// only asked for it once, and consulted again only for a misrouted request.
package routers

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/schema"
)

// Version is the builtin routers' plugin version.
const Version = "0.1.0"

// Router is one of the builtin routers; New* return them unconfigured.
type Router struct {
	name string
	// attrs are the variant's own attributes, after the common policy.
	attrs []schema.Attribute
	// format turns a decoded configuration into the variant's token format.
	format func(cfg config) (router.Format, error)

	mu     sync.RWMutex
	policy router.Action
	fmt    router.Format
}

var _ router.Plugin = (*Router)(nil)

// config is the union of the variants' attributes; each variant's schema
// declares only its own, and schema.Decode refuses any other.
type config struct {
	Policy     *string `json:"policy"`
	Separator  *string `json:"separator"`
	CookieName *string `json:"cookie_name"`
	Header     *string `json:"route_header"`
}

var policyAttr = schema.Attribute{
	Name: "policy", Type: schema.String, Default: `"migrate"`,
	Doc: "a request that lands on another node than its session's: migrate the session here, proxy the request there, or redirect the client",
}

var headerAttr = schema.Attribute{
	Name: "route_header", Type: schema.String,
	Doc: "also name the route in this response header, for load balancers that learn routes from responses",
}

// NewJVMRoute returns the jvmroute router: ID + separator + route.
func NewJVMRoute() *Router {
	return &Router{
		name: "jvmroute",
		attrs: []schema.Attribute{
			{Name: "separator", Type: schema.String, Default: `"."`, Doc: "between the session id and the route: one of . : ~ ! * |"},
			headerAttr,
		},
		format: func(c config) (router.Format, error) {
			f := router.Format{RouteSeparator: "."}
			if c.Separator != nil {
				f.RouteSeparator = *c.Separator
			}
			if f.RouteSeparator == "" {
				return router.Format{}, fmt.Errorf("separator is empty; use router \"none\" for no route")
			}
			if c.Header != nil {
				f.RouteHeader = *c.Header
			}
			return f, nil
		},
	}
}

// NewCookie returns the cookie router: the route in a cookie of its own.
func NewCookie() *Router {
	return &Router{
		name: "cookie",
		attrs: []schema.Attribute{
			{Name: "cookie_name", Type: schema.String, Default: `"SERVERID"`, Doc: "the cookie that carries the route"},
			headerAttr,
		},
		format: func(c config) (router.Format, error) {
			f := router.Format{RouteCookie: "SERVERID"}
			if c.CookieName != nil {
				f.RouteCookie = *c.CookieName
			}
			if f.RouteCookie == "" {
				return router.Format{}, fmt.Errorf("cookie_name is empty")
			}
			if c.Header != nil {
				f.RouteHeader = *c.Header
			}
			return f, nil
		},
	}
}

// NewNone returns the router that carries no route.
func NewNone() *Router {
	return &Router{
		name:   "none",
		format: func(config) (router.Format, error) { return router.Format{}, nil },
	}
}

// Info implements base.Plugin.
func (r *Router) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, fmt.Errorf("router %s: %w", r.name, err)
	}
	return base.Info{Name: r.name, Kind: base.KindRouter, Version: Version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (r *Router) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, fmt.Errorf("router %s: %w", r.name, err)
	}
	return schema.Schema{Attributes: append([]schema.Attribute{policyAttr}, r.attrs...)}, nil
}

// Configure implements base.Plugin. A rejected configuration leaves the
// previous one in force.
func (r *Router) Configure(ctx context.Context, cfgJSON []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("router %s: configure: %w", r.name, err)
	}
	var c config
	if err := r.decode(cfgJSON, &c); err != nil {
		return fmt.Errorf("router %s: %w", r.name, err)
	}
	policy := router.Migrate
	if c.Policy != nil {
		var err error
		if policy, err = parsePolicy(*c.Policy); err != nil {
			return fmt.Errorf("router %s: %w", r.name, err)
		}
	}
	f, err := r.format(c)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		return fmt.Errorf("router %s: %w", r.name, err)
	}
	r.mu.Lock()
	r.policy, r.fmt = policy, f
	r.mu.Unlock()
	return nil
}

// decode is schema.Decode restricted to the variant's attributes: the
// shared config struct knows all of them, so each variant checks the names.
func (r *Router) decode(cfgJSON []byte, c *config) error {
	var raw map[string]any
	if err := schema.Decode(cfgJSON, &raw); err != nil {
		return err
	}
	allowed := map[string]bool{policyAttr.Name: true}
	for _, a := range r.attrs {
		allowed[a.Name] = true
	}
	for k := range raw {
		if !allowed[k] {
			return fmt.Errorf("config: unknown attribute %q", k)
		}
	}
	return schema.Decode(cfgJSON, c)
}

func parsePolicy(s string) (router.Action, error) {
	switch s {
	case "migrate":
		return router.Migrate, nil
	case "proxy":
		return router.Proxy, nil
	case "redirect":
		return router.Redirect, nil
	}
	return 0, fmt.Errorf("policy %q is not migrate, proxy or redirect", s)
}

// Format implements router.Router.
func (r *Router) Format(ctx context.Context) (router.Format, error) {
	if err := ctx.Err(); err != nil {
		return router.Format{}, fmt.Errorf("router %s: %w", r.name, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.fmt, nil
}

// Relocate implements router.Router: the configured policy, and for a
// redirect the holder's origin with the request's path. Everything in the
// Miss but HolderURL comes from the client, so the path is checked and
// escaped rather than trusted.
func (r *Router) Relocate(ctx context.Context, m router.Miss) (router.Decision, error) {
	if err := ctx.Err(); err != nil {
		return router.Decision{}, fmt.Errorf("router %s: %w", r.name, err)
	}
	r.mu.RLock()
	policy := r.policy
	r.mu.RUnlock()
	if policy != router.Redirect {
		return router.Decision{Action: policy}, nil
	}
	holder, err := url.Parse(m.HolderURL)
	if err != nil {
		return router.Decision{}, fmt.Errorf("router %s: holder URL: %w", r.name, err)
	}
	if (holder.Scheme != "http" && holder.Scheme != "https") || holder.Host == "" {
		return router.Decision{}, fmt.Errorf("router %s: holder URL %q is not an absolute http(s) URL", r.name, m.HolderURL)
	}
	path := m.Path
	if path == "" {
		path = "/"
	}
	// "//host" would make the redirect leave the farm.
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return router.Decision{}, fmt.Errorf("router %s: request path %q is not an absolute path", r.name, path)
	}
	u := url.URL{Scheme: holder.Scheme, Host: holder.Host, Path: strings.TrimSuffix(holder.Path, "/") + path}
	return router.Decision{Action: router.Redirect, URL: u.String()}, nil
}
