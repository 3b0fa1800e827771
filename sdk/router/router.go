// Package router defines the router strategy: how a session's token carries
// the route of the node that holds it, so that the load balancer sends the
// session's requests there, and how a request that lands on another node is
// relocated.
//
// Reading and writing tokens happens on every request, so a router describes
// its token as data (Format) that the host applies in process: an
// out-of-process router costs nothing on a request whose session is local.
// The router is called only when a request lands on a node that does not
// hold its session (Relocate).
package router

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/wadi-go/wadi/sdk/base"
)

// Format says where the route travels.
type Format struct {
	// RouteSeparator, if set, appends the route to the session cookie's
	// value: ID + RouteSeparator + route (mod_jk's jvmRoute uses ".").
	RouteSeparator string
	// RouteCookie, if set, carries the route in a cookie of its own
	// (HAProxy's `cookie SERVERID insert`).
	RouteCookie string
	// RouteHeader, if set, is a response header that names the route for a
	// load balancer that reads headers.
	RouteHeader string
}

var (
	separatorRE = regexp.MustCompile(`^[.:~!*|]$`)
	tokenRE     = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]{1,128}$`)
)

// Validate reports a format the host cannot apply: a separator that can
// occur in a session id or is not cookie-safe, or a cookie or header name
// that is not an HTTP token.
func (f Format) Validate() error {
	var errs []error
	if f.RouteSeparator != "" && !separatorRE.MatchString(f.RouteSeparator) {
		errs = append(errs, fmt.Errorf("router: route separator %q must be one of . : ~ ! * |", f.RouteSeparator))
	}
	if f.RouteCookie != "" && !tokenRE.MatchString(f.RouteCookie) {
		errs = append(errs, fmt.Errorf("router: route cookie name %q is not a valid cookie name", f.RouteCookie))
	}
	if f.RouteHeader != "" && !tokenRE.MatchString(f.RouteHeader) {
		errs = append(errs, fmt.Errorf("router: route header %q is not a valid header name", f.RouteHeader))
	}
	return errors.Join(errs...)
}

// Action is how a misrouted request is relocated.
type Action int

// The relocation actions.
const (
	// Migrate moves the session to the node the request landed on.
	Migrate Action = iota + 1
	// Proxy forwards the request to the node that holds the session.
	Proxy
	// Redirect sends the client to the holder (Decision.URL).
	Redirect
)

func (a Action) String() string {
	switch a {
	case Migrate:
		return "migrate"
	case Proxy:
		return "proxy"
	case Redirect:
		return "redirect"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Miss describes a request that landed on a node that does not hold its
// session.
type Miss struct {
	SessionID string
	// RouteHint is the route the client sent, unverified.
	RouteHint string
	// Here is the node the request landed on; Holder the node that holds the
	// session, and HolderURL its HTTP address.
	Here, Holder, HolderURL string
	Method, Host, Path      string
}

// Decision is a router's answer to a Miss.
type Decision struct {
	Action Action
	// URL is where Redirect sends the client.
	URL string
}

// Router is what the host calls of a router strategy.
type Router interface {
	// Format describes the token; the host asks once, after Configure.
	Format(ctx context.Context) (Format, error)
	// Relocate decides how to relocate a misrouted request.
	Relocate(ctx context.Context, m Miss) (Decision, error)
}

// Plugin is a router strategy as a plugin: the Router and the base
// every plugin implements. Builtins implement it too, so that any of them can
// also run out of process.
type Plugin interface {
	base.Plugin
	Router
}
