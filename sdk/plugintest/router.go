package plugintest

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/wadi-go/wadi/sdk/router"
)

// TestRouter runs the router conformance tests.
//
// open is called once or more per subtest and must return a configured
// router. The kit uses only the Router interface, so it runs as well against
// a router in process as against its gRPC client.
func TestRouter(t *testing.T, open func(t *testing.T) router.Router) {
	t.Helper()
	k := routerKit{open: open}
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"Format", k.testFormat},
		{"FormatStable", k.testFormatStable},
		{"Relocate", k.testRelocate},
		{"Hostile", k.testHostile},
		{"Deterministic", k.testDeterministic},
		{"Concurrent", k.testConcurrent},
		{"Cancelled", k.testCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

type routerKit struct {
	open func(t *testing.T) router.Router
}

func (k routerKit) router(t *testing.T) router.Router {
	t.Helper()
	r := k.open(t)
	if r == nil {
		t.Fatal("open returned a nil router")
	}
	return r
}

// namedMiss is a Miss named for its subtest.
type namedMiss struct {
	name string
	m    router.Miss
}

// typicalMiss is a request for a session held by node-b that landed on
// node-a.
var typicalMiss = router.Miss{
	SessionID: "q7dT0pLx3v9KcW2mZrYb8A",
	RouteHint: "node-b",
	Here:      "node-a",
	Holder:    "node-b",
	HolderURL: "http://10.0.0.2:8080",
	Method:    "GET",
	Host:      "shop.example.com",
	Path:      "/cart",
}

// typicalMisses are misses the host sends in normal operation; a router must
// decide every one without an error.
func typicalMisses() []namedMiss {
	with := func(f func(m *router.Miss)) router.Miss {
		m := typicalMiss
		f(&m)
		return m
	}
	return []namedMiss{
		{"get", typicalMiss},
		{"post-without-hint", with(func(m *router.Miss) { m.Method, m.RouteHint, m.Path = "POST", "", "/checkout" })},
		{"hint-names-here", with(func(m *router.Miss) { m.RouteHint = "node-a" })},
		{"https-holder", with(func(m *router.Miss) {
			m.HolderURL, m.Holder, m.RouteHint = "https://node-c.internal:8443", "node-c", "node-c"
		})},
		{"holder-url-with-path", with(func(m *router.Miss) { m.HolderURL = "http://10.0.0.3:8080/app" })},
		{"root-path", with(func(m *router.Miss) { m.Path = "/" })},
		{"escaped-path", with(func(m *router.Miss) { m.Path = "/search/caf%C3%A9%20cr%C3%A8me" })},
		{"head-ipv6-holder", with(func(m *router.Miss) { m.Method, m.HolderURL = "HEAD", "http://[fd00::2]:8080" })},
	}
}

// hostileMisses are misses with fields a client controls set to hostile
// values, or fields the host fills left empty or malformed.
func hostileMisses() []namedMiss {
	with := func(f func(m *router.Miss)) router.Miss {
		m := typicalMiss
		f(&m)
		return m
	}
	const bad = "\xff\xfe\xc3\x28"
	return []namedMiss{
		{"zero", router.Miss{}},
		{"empty-session-id", with(func(m *router.Miss) { m.SessionID = "" })},
		{"empty-here", with(func(m *router.Miss) { m.Here = "" })},
		{"empty-holder", with(func(m *router.Miss) { m.Holder = "" })},
		{"empty-holder-url", with(func(m *router.Miss) { m.HolderURL = "" })},
		{"empty-method", with(func(m *router.Miss) { m.Method = "" })},
		{"empty-host", with(func(m *router.Miss) { m.Host = "" })},
		{"empty-path", with(func(m *router.Miss) { m.Path = "" })},
		{"holder-is-here", with(func(m *router.Miss) { m.Holder = "node-a" })},
		{"path-64KiB", with(func(m *router.Miss) { m.Path = "/" + strings.Repeat("a", 64<<10) })},
		{"session-id-64KiB", with(func(m *router.Miss) { m.SessionID = strings.Repeat("s", 64<<10) })},
		{"control-characters", with(func(m *router.Miss) {
			m.SessionID = "id\x00\x7f"
			m.RouteHint = "node-b\r\nSet-Cookie: a=b"
			m.Method = "GET\r\n"
			m.Host = "evil\r\n.example"
			m.Path = "/x\r\nLocation: http://evil.example/"
		})},
		{"forged-hint-other-node", with(func(m *router.Miss) { m.RouteHint = "node-evil" })},
		{"forged-hint-url", with(func(m *router.Miss) { m.RouteHint = "http://evil.example/" })},
		{"forged-hint-64KiB", with(func(m *router.Miss) { m.RouteHint = strings.Repeat("n", 64<<10) })},
		{"invalid-utf8", router.Miss{
			SessionID: bad, RouteHint: bad, Here: bad, Holder: bad,
			HolderURL: "http://10.0.0.2:8080/" + bad, Method: bad, Host: bad, Path: "/" + bad,
		}},
		{"path-without-slash", with(func(m *router.Miss) { m.Path = "cart" })},
		{"path-network-path", with(func(m *router.Miss) { m.Path = "//evil.example/x" })},
		{"path-absolute-url", with(func(m *router.Miss) { m.Path = "http://evil.example/x" })},
		{"path-dot-segments", with(func(m *router.Miss) { m.Path = "/../../etc/passwd" })},
		{"host-with-port-and-userinfo", with(func(m *router.Miss) { m.Host = "user:pw@evil.example:99999" })},
		{"holder-url-unparsable", with(func(m *router.Miss) { m.HolderURL = "http://[::1" })},
		{"holder-url-relative", with(func(m *router.Miss) { m.HolderURL = "/node-b" })},
		{"holder-url-no-scheme", with(func(m *router.Miss) { m.HolderURL = "10.0.0.2:8080" })},
		{"holder-url-javascript", with(func(m *router.Miss) { m.HolderURL = "javascript:alert(1)" })},
		{"holder-url-control", with(func(m *router.Miss) { m.HolderURL = "http://node-b\r\n:8080" })},
	}
}

// checkDecision reports a decision the host cannot carry out: an unknown
// action, a Redirect whose URL is not an absolute http(s) URL that can go in
// a Location header as it is (printable ASCII, no spaces), or a URL on a
// decision that is not a Redirect.
func checkDecision(d router.Decision) error {
	switch d.Action {
	case router.Migrate, router.Proxy:
		if d.URL != "" {
			return fmt.Errorf("a %v decision has URL %q; only Redirect has one", d.Action, d.URL)
		}
		return nil
	case router.Redirect:
	default:
		return fmt.Errorf("unknown action %v", d.Action)
	}
	for i := 0; i < len(d.URL); i++ {
		if c := d.URL[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("redirect URL %q has byte %#02x at %d; a Location header needs it escaped", short(d.URL), c, i)
		}
	}
	u, err := url.Parse(d.URL)
	switch {
	case err != nil:
		return fmt.Errorf("redirect URL %q: %v", short(d.URL), err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("redirect URL %q is not an absolute http or https URL", short(d.URL))
	case u.Host == "":
		return fmt.Errorf("redirect URL %q has no host", short(d.URL))
	}
	return nil
}

func (k routerKit) format(t *testing.T, r router.Router) router.Format {
	t.Helper()
	f, err := r.Format(t.Context())
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	return f
}

// testFormat checks that the token format is one the host can apply.
func (k routerKit) testFormat(t *testing.T) {
	f := k.format(t, k.router(t))
	if err := f.Validate(); err != nil {
		t.Errorf("Format() = %+v; Validate: %v", f, err)
	}
}

// testFormatStable checks that Format gives the same answer on every call:
// the host may ask again, after restarting the plugin.
func (k routerKit) testFormatStable(t *testing.T) {
	r := k.router(t)
	f := k.format(t, r)
	for i := range 2 {
		if again := k.format(t, r); again != f {
			t.Errorf("Format, call %d = %+v; the first call returned %+v", i+2, again, f)
		}
	}
}

// testRelocate checks that every typical miss gets a decision the host can
// carry out, and no error.
func (k routerKit) testRelocate(t *testing.T) {
	r := k.router(t)
	for _, tm := range typicalMisses() {
		t.Run(tm.name, func(t *testing.T) {
			d, err := r.Relocate(t.Context(), tm.m)
			if err != nil {
				t.Fatalf("Relocate(%+v): %v", tm.m, err)
			}
			if err := checkDecision(d); err != nil {
				t.Errorf("Relocate(%+v) = %+v: %v", tm.m, d, err)
			}
		})
	}
}

// testHostile checks that a miss with hostile or malformed fields gets a
// decision the host can carry out or an error, promptly and without a panic:
// most of a Miss comes from the client, and a forged route or path must not
// make the router misbehave.
func (k routerKit) testHostile(t *testing.T) {
	r := k.router(t)
	for _, hm := range hostileMisses() {
		t.Run(hm.name, func(t *testing.T) {
			var d router.Decision
			var err error
			if !guard(t, "Relocate", promptly, func() { d, err = r.Relocate(t.Context(), hm.m) }) {
				return
			}
			if err != nil {
				t.Logf("Relocate: %v", err)
				return
			}
			if err := checkDecision(d); err != nil {
				t.Errorf("Relocate(%s miss) = %+v: %v", hm.name, d, err)
			}
		})
	}
}

// relocation is a Relocate answer, comparable.
type relocation struct {
	d   router.Decision
	err bool
}

func (o relocation) String() string {
	if o.err {
		return "an error"
	}
	return fmt.Sprintf("%v %q", o.d.Action, o.d.URL)
}

func relocate(t *testing.T, r router.Router, m router.Miss) relocation {
	d, err := r.Relocate(t.Context(), m)
	return relocation{d: d, err: err != nil}
}

// testDeterministic checks that the same miss gets the same answer every
// time, so that a client is not bounced between policies.
func (k routerKit) testDeterministic(t *testing.T) {
	r := k.router(t)
	for _, nm := range typicalMisses() {
		first := relocate(t, r, nm.m)
		for i := range 3 {
			if again := relocate(t, r, nm.m); again != first {
				t.Errorf("Relocate(%s miss), call %d = %v; the first call gave %v", nm.name, i+2, again, first)
			}
		}
	}
}

// testConcurrent has goroutines relocate misses through one router; every
// answer must be the one a lone caller gets.
func (k routerKit) testConcurrent(t *testing.T) {
	r := k.router(t)
	misses := typicalMisses()
	want := make([]relocation, len(misses))
	for i, nm := range misses {
		want[i] = relocate(t, r, nm.m)
	}
	const workers, calls = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				i := (w + c) % len(misses)
				if got := relocate(t, r, misses[i].m); got != want[i] {
					t.Errorf("worker %d: Relocate(%s miss) = %v; alone it gave %v", w, misses[i].name, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

// testCancelled checks that Format and Relocate given a done context return
// promptly, with an error wrapping the context's error or a valid answer,
// and that the router still works afterwards.
func (k routerKit) testCancelled(t *testing.T) {
	for _, tt := range doneContexts(t) {
		t.Run(tt.name, func(t *testing.T) {
			r := k.router(t)
			var f router.Format
			var err error
			if guard(t, "Format", promptly, func() { f, err = r.Format(tt.ctx) }) {
				checkDoneErr(t, "Format", err, tt.want)
				if err == nil {
					if verr := f.Validate(); verr != nil {
						t.Errorf("Format with a done context = %+v: %v", f, verr)
					}
				}
			}
			var d router.Decision
			if guard(t, "Relocate", promptly, func() { d, err = r.Relocate(tt.ctx, typicalMiss) }) {
				checkDoneErr(t, "Relocate", err, tt.want)
				if err == nil {
					if derr := checkDecision(d); derr != nil {
						t.Errorf("Relocate with a done context = %+v: %v", d, derr)
					}
				}
			}
			if _, err := r.Relocate(t.Context(), typicalMiss); err != nil {
				t.Errorf("Relocate after calls with a done context: %v", err)
			}
		})
	}
}
