package testimpl

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/router"
)

// Router is a router.Plugin in the style of mod_jk: the route follows the
// session id after a dot. Safe requests are redirected to the holder,
// others proxied; with no holder known the session migrates here.
type Router struct {
	*Base
}

var _ router.Plugin = (*Router)(nil)

// NewRouter returns a router logging to logger (nil: nowhere).
func NewRouter(logger hclog.Logger) *Router {
	return &Router{Base: newBase(base.KindRouter, logger)}
}

// Format implements router.Router.
func (r *Router) Format(ctx context.Context) (router.Format, error) {
	if err := ctx.Err(); err != nil {
		return router.Format{}, err
	}
	return router.Format{RouteSeparator: ".", RouteCookie: "SERVERID", RouteHeader: "X-Route"}, nil
}

// Relocate implements router.Router.
func (r *Router) Relocate(ctx context.Context, m router.Miss) (router.Decision, error) {
	if err := ctx.Err(); err != nil {
		return router.Decision{}, fmt.Errorf("test-router: relocate: %w", err)
	}
	switch {
	case m.Holder == "" || m.HolderURL == "":
		return router.Decision{Action: router.Migrate}, nil
	case m.Method == "GET" || m.Method == "HEAD":
		return router.Decision{Action: router.Redirect, URL: m.HolderURL + m.Path}, nil
	}
	return router.Decision{Action: router.Proxy}, nil
}
