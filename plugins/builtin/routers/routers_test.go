package routers

import (
	"context"
	"strings"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/router"
)

var variants = []struct {
	name    string
	new     func() *Router
	configs plugintest.Configs
}{
	{"jvmroute", NewJVMRoute, plugintest.Configs{
		Valid: [][]byte{
			[]byte(`{"policy":"migrate","separator":".","route_header":null}`),
			[]byte(`{"policy":"redirect","separator":":","route_header":"X-Route"}`),
			[]byte(`{"policy":"proxy","separator":"~","route_header":null}`),
		},
		Invalid: [][]byte{
			[]byte(`{"policy":"teleport","separator":".","route_header":null}`),
			[]byte(`{"policy":"migrate","separator":"","route_header":null}`),
			[]byte(`{"policy":"migrate","separator":"-","route_header":null}`),
			[]byte(`{"policy":"migrate","separator":"..","route_header":null}`),
			[]byte(`{"policy":"migrate","separator":".","route_header":"bad header"}`),
			[]byte(`{"policy":"migrate","separator":".","route_header":null,"cookie_name":"X"}`),
		},
	}},
	{"cookie", NewCookie, plugintest.Configs{
		Valid: [][]byte{
			[]byte(`{"policy":"migrate","cookie_name":"SERVERID","route_header":null}`),
			[]byte(`{"policy":"proxy","cookie_name":"route","route_header":"X-Route"}`),
		},
		Invalid: [][]byte{
			[]byte(`{"policy":"migrate","cookie_name":"","route_header":null}`),
			[]byte(`{"policy":"migrate","cookie_name":"a;b","route_header":null}`),
			[]byte(`{"policy":"migrate","cookie_name":"SERVERID","route_header":null,"separator":"."}`),
		},
	}},
	{"none", NewNone, plugintest.Configs{
		Valid:   [][]byte{[]byte(`{"policy":"migrate"}`), []byte(`{"policy":"redirect"}`)},
		Invalid: [][]byte{[]byte(`{"policy":""}`), []byte(`{"policy":"migrate","separator":"."}`)},
	}},
}

func TestConformance(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			plugintest.TestPlugin(t, v.new(), base.KindRouter, v.configs)
			for i, cfg := range v.configs.Valid {
				t.Run("config"+string(rune('0'+i)), func(t *testing.T) {
					plugintest.TestRouter(t, func(t *testing.T) router.Router {
						r := v.new()
						if err := r.Configure(t.Context(), cfg, base.Node{Name: "node-a"}); err != nil {
							t.Fatal(err)
						}
						return r
					})
				})
			}
		})
	}
}

// The configuration decides the token format and the policy.
func TestFormatAndPolicy(t *testing.T) {
	tests := []struct {
		name       string
		r          *Router
		cfg        string
		wantFormat router.Format
		wantAction router.Action
	}{
		{"jvmroute defaults", NewJVMRoute(), `{"policy":null,"separator":null,"route_header":null}`, router.Format{RouteSeparator: "."}, router.Migrate},
		{"jvmroute colon proxy", NewJVMRoute(), `{"policy":"proxy","separator":":","route_header":"X-Route"}`, router.Format{RouteSeparator: ":", RouteHeader: "X-Route"}, router.Proxy},
		{"cookie defaults", NewCookie(), `{"policy":null,"cookie_name":null,"route_header":null}`, router.Format{RouteCookie: "SERVERID"}, router.Migrate},
		{"cookie redirect", NewCookie(), `{"policy":"redirect","cookie_name":"lb","route_header":null}`, router.Format{RouteCookie: "lb"}, router.Redirect},
		{"none", NewNone(), `{"policy":"proxy"}`, router.Format{}, router.Proxy},
		{"empty config", NewNone(), ``, router.Format{}, router.Migrate},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Configure(ctx, []byte(tt.cfg), base.Node{}); err != nil {
				t.Fatal(err)
			}
			f, err := tt.r.Format(ctx)
			if err != nil || f != tt.wantFormat {
				t.Fatalf("Format = %+v, %v; want %+v", f, err, tt.wantFormat)
			}
			d, err := tt.r.Relocate(ctx, router.Miss{SessionID: "s", Holder: "b", HolderURL: "http://127.0.0.1:8081", Path: "/cart"})
			if err != nil || d.Action != tt.wantAction {
				t.Fatalf("Relocate = %+v, %v; want %v", d, err, tt.wantAction)
			}
		})
	}
}

// A redirect goes to the holder's origin with the request's path, and
// nowhere a client's path could send it.
func TestRedirect(t *testing.T) {
	r := NewJVMRoute()
	if err := r.Configure(context.Background(), []byte(`{"policy":"redirect","separator":".","route_header":null}`), base.Node{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		holderURL, path string
		want            string // "" for an error
	}{
		{"http://127.0.0.1:8081", "/cart", "http://127.0.0.1:8081/cart"},
		{"https://node-b.internal:8443/app/", "/cart", "https://node-b.internal:8443/app/cart"},
		{"http://127.0.0.1:8081", "", "http://127.0.0.1:8081/"},
		{"http://127.0.0.1:8081", "/a b\r\nLocation: x", "http://127.0.0.1:8081/a%20b%0D%0ALocation:%20x"},
		{"http://127.0.0.1:8081", "//evil.example/x", ""},
		{"http://127.0.0.1:8081", "http://evil.example/x", ""},
		{"ftp://127.0.0.1", "/x", ""},
		{"http://[::1", "/x", ""},
	}
	for _, tt := range tests {
		d, err := r.Relocate(context.Background(), router.Miss{HolderURL: tt.holderURL, Path: tt.path})
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("Relocate(%q, %q) = %+v, want an error", tt.holderURL, tt.path, d)
		case tt.want != "" && (err != nil || d.URL != tt.want):
			t.Errorf("Relocate(%q, %q) = %+v, %v; want %s", tt.holderURL, tt.path, d, err, tt.want)
		case err != nil && !strings.Contains(err.Error(), "router jvmroute"):
			t.Errorf("error %q does not name the router", err)
		}
	}
}
