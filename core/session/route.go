package session

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/wadi-go/wadi/sdk/router"
)

// Routing says how the session token carries the route of the node that
// holds the session, so that a load balancer keeps the session's requests
// there. The router strategy describes the format once; the filter applies
// it in process on every request, so routing costs no strategy call.
type Routing struct {
	// Route is this node's route, usually its name. Empty disables routing.
	Route string
	// Format is where the route travels.
	Format router.Format
}

// maxRouteLen bounds a route, ours or a client's.
const maxRouteLen = 64

func (r Routing) validate() error {
	if r.Route == "" {
		if r.Format != (router.Format{}) {
			return fmt.Errorf("routing: a route format needs this node's route")
		}
		return nil
	}
	if !validRoute(r.Route) {
		return fmt.Errorf("routing: route %q must be 1 to %d letters, digits, '-' or '_'", r.Route, maxRouteLen)
	}
	return r.Format.Validate()
}

// validRoute accepts what a node name may be and what survives in a cookie
// value unquoted; it never contains a route separator.
func validRoute(s string) bool {
	if len(s) == 0 || len(s) > maxRouteLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// parseToken splits a session cookie's value into the session id and the
// route hint the client sent. The hint is only a hint: it is returned only
// if well-formed, and nothing decides which session a request gets but the
// id. A value without a separator is a bare id, as written before routing
// was configured.
func (r Routing) parseToken(v string) (id, hint string) {
	sep := r.Format.RouteSeparator
	if sep == "" {
		return v, ""
	}
	id, hint, found := strings.Cut(v, sep)
	if !found || !validRoute(hint) {
		return id, ""
	}
	return id, hint
}

// token is the session cookie's value for id on this node.
func (r Routing) token(id string) string {
	if r.Route == "" || r.Format.RouteSeparator == "" {
		return id
	}
	return id + r.Format.RouteSeparator + r.Route
}

// routeCookie returns the route cookie to set, or nil when the client's is
// already right. It follows the session cookie's scope and security.
func (r Routing) routeCookie(req *http.Request, o *CookieOptions) *http.Cookie {
	if r.Route == "" || r.Format.RouteCookie == "" {
		return nil
	}
	if c, err := req.Cookie(r.Format.RouteCookie); err == nil && c.Value == r.Route {
		return nil
	}
	return &http.Cookie{
		Name:     r.Format.RouteCookie,
		Value:    r.Route,
		Path:     o.Path,
		Domain:   o.Domain,
		Secure:   o.Secure,
		HttpOnly: true,
		SameSite: o.SameSite,
	}
}
