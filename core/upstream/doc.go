// Package upstream puts the session filter in front of an application in
// any language: a reverse proxy that hands each request to the upstream
// application with the id of its session, and the node-local session API
// through which that application reads and changes the session while the
// request is held on this node.
//
// The proxy runs behind session.Manager.Middleware, which finds the
// session (moving it here or relocating the request), holds it for the
// request and writes the cookie. For each request the proxy registers a
// random request token in a Registry and passes it to the application in
// the RequestHeader header; API calls naming that token act on the
// request's session, so an application needs no session id to create one,
// and every change goes through the same Session the filter commits and
// replicates when the request ends.
package upstream

// The headers between the node and the application. Every header with the
// HeaderPrefix that a client sends is removed before the request reaches
// the application, so the application can trust them.
const (
	// HeaderPrefix starts every header the node owns.
	HeaderPrefix = "Wadi-"
	// SessionHeader names the request's session, when it has one.
	SessionHeader = "Wadi-Session"
	// RequestHeader carries the request token: the application sends it
	// back on API calls made on behalf of the request.
	RequestHeader = "Wadi-Request"
)
