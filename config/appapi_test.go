package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestParseUpstream covers http.upstream and the app_api block: what is
// accepted and how it is decoded, and that each mistake is one error
// pointing at the offending value.
func TestParseUpstream(t *testing.T) {
	const token = `token = "0123456789abcdef0123"`
	good := []struct {
		name     string
		src      string
		upstream string
		api      *AppAPI
	}{
		{"upstream only", `http { upstream = "http://127.0.0.1:9000" }`, "http://127.0.0.1:9000", nil},
		{"https upstream with path", `http { upstream = "https://app.internal:8443/base" }`, "https://app.internal:8443/base", nil},
		{"unix socket", `
http    { upstream = "http://127.0.0.1:9000" }
app_api { listen = "unix:///run/wadi/red.sock" }`, "http://127.0.0.1:9000",
			&AppAPI{Listen: "unix:///run/wadi/red.sock", Network: "unix", Address: "/run/wadi/red.sock"}},
		{"unix socket with token and unheld", `
app_api {
  listen       = "unix:///tmp/x.sock"
  ` + token + `
  allow_unheld = true
}`, "", &AppAPI{Listen: "unix:///tmp/x.sock", Network: "unix", Address: "/tmp/x.sock", Token: "0123456789abcdef0123", AllowUnheld: true}},
		{"loopback v4", `app_api {
  listen = "127.0.0.1:9001"
  ` + token + `
}`, "", &AppAPI{Listen: "127.0.0.1:9001", Network: "tcp", Address: "127.0.0.1:9001", Token: "0123456789abcdef0123"}},
		{"loopback v6", `app_api {
  listen = "[::1]:9001"
  ` + token + `
}`, "", &AppAPI{Listen: "[::1]:9001", Network: "tcp", Address: "[::1]:9001", Token: "0123456789abcdef0123"}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, diags := Parse([]byte(tt.src), "t.hcl", testOptions())
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if cfg.HTTP.Upstream != tt.upstream {
				t.Errorf("upstream = %q, want %q", cfg.HTTP.Upstream, tt.upstream)
			}
			switch {
			case tt.api == nil && cfg.AppAPI != nil:
				t.Errorf("app_api = %+v, want none", cfg.AppAPI)
			case tt.api != nil && (cfg.AppAPI == nil || *cfg.AppAPI != *tt.api):
				t.Errorf("app_api = %+v, want %+v", cfg.AppAPI, tt.api)
			}
		})
	}

	bad := []struct {
		name      string
		src       string
		summary   string
		detail    string
		line, col int
	}{
		{"upstream and app", `http {
  app      = "demo"
  upstream = "http://127.0.0.1:9000"
}`, "Invalid http.upstream", "cannot be set together with http.app", 3, 14},
		{"upstream scheme", `http { upstream = "ftp://127.0.0.1:9000" }`, "Invalid http.upstream", "must be an http:// or https:// URL", 1, 19},
		{"upstream no scheme", `http { upstream = "127.0.0.1:9000" }`, "Invalid http.upstream", "", 1, 19},
		{"upstream no host", `http { upstream = "http:///x" }`, "Invalid http.upstream", "names no host", 1, 19},
		{"upstream userinfo", `http { upstream = "http://u:p@127.0.0.1:9000" }`, "Invalid http.upstream", "user name or password", 1, 19},
		{"upstream query", `http { upstream = "http://127.0.0.1:9000/?a=b" }`, "Invalid http.upstream", "query or fragment", 1, 19},
		{"upstream garbage", `http { upstream = "http://[::1" }`, "Invalid http.upstream", "is not a URL", 1, 19},
		{"upstream wrong type", `http { upstream = 9000 }`, "Invalid http.upstream", "", 1, 19},
		{"api no listen", `app_api { ` + token + ` }`, "Missing required argument", `"listen" is required`, 1, 11},
		{"api tcp no token", `app_api { listen = "127.0.0.1:9001" }`, "Invalid app_api.listen", "needs a token", 1, 20},
		{"api not loopback", `app_api {
  listen = "0.0.0.0:9001"
  ` + token + `
}`, "Invalid app_api.listen", "not a loopback address", 2, 12},
		{"api all interfaces", `app_api {
  listen = ":9001"
  ` + token + `
}`, "Invalid app_api.listen", "not a loopback address", 2, 12},
		{"api hostname", `app_api {
  listen = "example.com:9001"
  ` + token + `
}`, "Invalid app_api.listen", "not a loopback address", 2, 12},
		{"api bad address", `app_api { listen = "9001" }`, "Invalid app_api.listen", `neither "unix:///path" nor a host:port`, 1, 20},
		{"api relative socket", `app_api { listen = "unix://run/x.sock" }`, "Invalid app_api.listen", "must be absolute", 1, 20},
		{"api long socket", `app_api { listen = "unix:///` + strings.Repeat("d", 120) + `" }`, "Invalid app_api.listen", "at most 103", 1, 20},
		{"api socket dir", `app_api { listen = "unix:///run/wadi/" }`, "Invalid app_api.listen", "names a directory", 1, 20},
		{"api short token", `app_api {
  listen = "unix:///tmp/x.sock"
  token  = "secret"
}`, "Invalid app_api.token", "at least 16 characters", 3, 12},
		{"api unheld not bool", `app_api {
  listen       = "unix:///tmp/x.sock"
  allow_unheld = "maybe"
}`, "Invalid app_api.allow_unheld", "a bool is required", 3, 18},
		{"api typo", `app_api {
  listen = "unix:///tmp/x.sock"
  tokn   = "x"
}`, "Unsupported argument", `Did you mean "token"?`, 3, 3},
		{"api duplicate", `app_api { listen = "unix:///tmp/x.sock" }
app_api { listen = "unix:///tmp/y.sock" }`, "Duplicate app_api block", "", 2, 1},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, diags := Parse([]byte(tt.src), "t.hcl", testOptions())
			if cfg != nil {
				t.Errorf("got a config despite errors: %+v", cfg)
			}
			var errs hcl.Diagnostics
			for _, d := range diags {
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), diags)
			}
			d := errs[0]
			if !strings.Contains(d.Summary, tt.summary) || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("got %q / %q, want %q / %q", d.Summary, d.Detail, tt.summary, tt.detail)
			}
			if strings.Contains(d.Detail, "0123456789abcdef") {
				t.Errorf("the token is in the message: %q", d.Detail)
			}
			if d.Subject == nil {
				t.Fatal("diagnostic has no subject")
			}
			if got := d.Subject.Start; got.Line != tt.line || got.Column != tt.col {
				t.Errorf("subject starts at %d:%d, want %d:%d", got.Line, got.Column, tt.line, tt.col)
			}
		})
	}
}
