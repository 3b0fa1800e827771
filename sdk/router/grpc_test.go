package router_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/sdk/internal/testimpl"
	"github.com/wadi-go/wadi/sdk/internal/wiretest"
	"github.com/wadi-go/wadi/sdk/router"
)

func dial(t *testing.T, impl router.Plugin) router.Plugin {
	t.Helper()
	return wiretest.Dispense(t, &router.GRPCPlugin{Impl: impl}, nil).(router.Plugin)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echo answers every Miss with a Redirect whose URL is the whole Miss, so
// the test sees exactly what reached the implementation.
type echo struct{ *testimpl.Router }

func (echo) Relocate(_ context.Context, m router.Miss) (router.Decision, error) {
	return router.Decision{Action: router.Redirect, URL: strings.Join([]string{m.SessionID, m.RouteHint, m.Here, m.Holder, m.HolderURL, m.Method, m.Host, m.Path}, "|")}, nil
}

func TestGRPCRoundTrip(t *testing.T) {
	ctx := ctxT(t)
	impl := testimpl.NewRouter(nil)
	r := dial(t, impl)

	f, err := r.Format(ctx)
	want, _ := impl.Format(ctx)
	if err != nil || f != want {
		t.Errorf("Format = %+v, %v; want %+v", f, err, want)
	}

	for _, tt := range []struct {
		miss router.Miss
		want router.Decision
	}{
		{router.Miss{SessionID: "s1", Here: "n1"}, router.Decision{Action: router.Migrate}},
		{router.Miss{SessionID: "s1", Holder: "n2", HolderURL: "http://n2", Method: "GET", Path: "/a?b"}, router.Decision{Action: router.Redirect, URL: "http://n2/a?b"}},
		{router.Miss{SessionID: "s1", Holder: "n2", HolderURL: "http://n2", Method: "POST"}, router.Decision{Action: router.Proxy}},
	} {
		got, err := r.Relocate(ctx, tt.miss)
		if err != nil || got != tt.want {
			t.Errorf("Relocate(%+v) = %+v, %v; want %+v", tt.miss, got, err, tt.want)
		}
	}
}

// Every field of a Miss arrives byte for byte, invalid UTF-8 included: they
// come from clients and travel as bytes.
func TestGRPCMissFields(t *testing.T) {
	ctx := ctxT(t)
	r := dial(t, echo{testimpl.NewRouter(nil)})
	m := router.Miss{
		SessionID: "id\xff", RouteHint: "hint\xc3\x28", Here: "here", Holder: "holder",
		HolderURL: "http://holder:8080", Method: "PATCH", Host: "h\x00st", Path: "/p\xe2\x28",
	}
	d, err := r.Relocate(ctx, m)
	want := strings.Join([]string{m.SessionID, m.RouteHint, m.Here, m.Holder, m.HolderURL, m.Method, m.Host, m.Path}, "|")
	if err != nil || d.Action != router.Redirect || d.URL != want {
		t.Errorf("Relocate = %+v, %v; want URL %q", d, err, want)
	}
}

// badAction answers with an Action the protocol does not know.
type badAction struct{ *testimpl.Router }

func (badAction) Relocate(context.Context, router.Miss) (router.Decision, error) {
	return router.Decision{Action: 42}, nil
}

// panicky panics in Format.
type panicky struct{ *testimpl.Router }

func (panicky) Format(context.Context) (router.Format, error) {
	var f *router.Format
	return *f, nil
}

func TestGRPCInvalid(t *testing.T) {
	ctx := ctxT(t)
	r := dial(t, testimpl.NewRouter(nil))
	huge := strings.Repeat("p", 1<<20+1)
	if _, err := r.Relocate(ctx, router.Miss{Path: huge}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Relocate with a path over 1 MiB = %v, want InvalidArgument", err)
	}
	if _, err := r.Relocate(ctx, router.Miss{Path: huge[:1<<20]}); err != nil {
		t.Errorf("Relocate with a 1 MiB path = %v", err)
	}

	b := dial(t, badAction{testimpl.NewRouter(nil)})
	if d, err := b.Relocate(ctx, router.Miss{}); err == nil {
		t.Errorf("Relocate answering Action(42) = %+v, want an error", d)
	}

	p := dial(t, panicky{testimpl.NewRouter(nil)})
	if _, err := p.Format(ctx); status.Code(err) != codes.Internal {
		t.Errorf("Format panicking = %v, want Internal", err)
	}
	if _, err := p.Relocate(ctx, router.Miss{}); err != nil {
		t.Errorf("Relocate after a panic: %v", err)
	}
}
