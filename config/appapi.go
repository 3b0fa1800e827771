package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
)

type appAPIBlock struct {
	Listen      hcl.Expression `hcl:"listen,optional"`
	Token       hcl.Expression `hcl:"token,optional"`
	AllowUnheld hcl.Expression `hcl:"allow_unheld,optional"`
}

// minTokenLen is the shortest app_api token accepted: a token is the only
// thing between any local process and every session on a TCP listener, so
// a short, guessable one is refused before the node starts.
const minTokenLen = 16

// maxSocketPath is the longest unix socket path every supported kernel
// binds (sun_path is 104 bytes on the BSDs and macOS, 108 on Linux).
const maxSocketPath = 103

// checkUpstream says what is wrong with an upstream URL, or "".
func checkUpstream(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL (%v).", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must be an http:// or https:// URL, such as \"http://127.0.0.1:9000\".", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("%q names no host; write it as \"http://127.0.0.1:9000\".", s)
	case u.User != nil:
		// Credentials would be sent to the application on every request
		// and show up in logs.
		return fmt.Sprintf("%q must not carry a user name or password.", s)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Sprintf("%q must not have a query or fragment: each request brings its own.", s)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return fmt.Sprintf("%q has an invalid port %q.", s, p)
		}
	}
	return ""
}

func (d *decoder) decodeAppAPI(body hcl.Body) *AppAPI {
	var b appAPIBlock
	diags := gohcl.DecodeBody(body, d.ctx, &b)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	a := &AppAPI{}
	d.bool("app_api.allow_unheld", b.AllowUnheld, &a.AllowUnheld)
	tokenSet := d.str("app_api.token", b.Token, &a.Token)
	if tokenSet && len(a.Token) < minTokenLen {
		// The token itself never goes into the message.
		d.invalid("app_api.token", b.Token, "must be at least %d characters; generate one with `openssl rand -hex 32`.", minTokenLen)
	}
	if !d.str("app_api.listen", b.Listen, &a.Listen) {
		d.require(body, "app_api", "listen", a.Listen)
		return a
	}
	if path, ok := strings.CutPrefix(a.Listen, "unix://"); ok {
		a.Network, a.Address = "unix", path
		switch {
		case !filepath.IsAbs(path):
			d.invalid("app_api.listen", b.Listen, "%q: the socket path must be absolute, as in \"unix:///run/wadi/app.sock\".", a.Listen)
		case len(path) > maxSocketPath:
			d.invalid("app_api.listen", b.Listen, "the socket path is %d bytes; unix sockets allow at most %d.", len(path), maxSocketPath)
		case strings.HasSuffix(path, "/"):
			d.invalid("app_api.listen", b.Listen, "%q names a directory, not a socket file.", a.Listen)
		}
		return a
	}
	a.Network, a.Address = "tcp", a.Listen
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		d.invalid("app_api.listen", b.Listen, "%q is neither \"unix:///path\" nor a host:port address (%v).", a.Listen, err)
		return a
	}
	if !d.listenAddr("app_api.listen", b.Listen, a.Listen) {
		return a
	}
	// Only the local application may reach the API: anything but a literal
	// loopback address could be reachable from another machine.
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		d.invalid("app_api.listen", b.Listen, "%q is not a loopback address; the session API listens only on 127.0.0.1, ::1 or a unix socket.", a.Listen)
		return a
	}
	if a.Token == "" {
		d.invalid("app_api.listen", b.Listen, "a loopback TCP listener needs a token (app_api.token), since any local process can connect; or use a unix socket.")
	}
	return a
}
