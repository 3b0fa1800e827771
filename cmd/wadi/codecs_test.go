package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/core/session"
)

// codecNode is a node's configuration with the codec blocks given (and
// anything else in extra) over a data directory that outlives the node, so
// that the next node reads what this one wrote.
func codecNode(t *testing.T, dir, codecs, extra string) *config.Config {
	t.Helper()
	src := fmt.Sprintf("node {\n  name     = \"red\"\n  data_dir = %q\n}\n%s\n%s\n", dir, extra, codecs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, _, diags := config.Parse([]byte(src), "wadi.hcl", config.Options{Schemas: schemas(ctx, hclog.NewNullLogger())})
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags, src)
	}
	return cfg
}

// withManager runs f with the session manager `wadi run` builds for cfg,
// then writes every session to the store and stops.
func withManager(t *testing.T, cfg *config.Config, f func(m *session.Manager)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	strats, err := startStrategies(ctx, cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer strats.Close()
	m, err := session.New(managerOptions(cfg, strats, hclog.NewNullLogger()))
	if err != nil {
		t.Fatal(err)
	}
	f(m)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// newStoredSession makes a session with k = v through the filter, as a
// request would, and returns its id.
func newStoredSession(t *testing.T, m *session.Manager) string {
	t.Helper()
	var id string
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err == nil {
			err = s.PutString("k", "v")
		}
		if err != nil {
			t.Error(err)
			return
		}
		id = s.ID()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if id == "" {
		t.Fatal("no session made")
	}
	return id
}

// The node wires what its codecs declare and the retired builtins into its
// session manager: records of a removed or switched compressor still read,
// and once aesgcm is configured (in process or as a plugin) a record that
// skips it is refused unless the migration setting says otherwise.
func TestCodecConfigurationChanges(t *testing.T) {
	const aes = `codec "aesgcm" {
  keys    = { k1 = "` + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" + `" }
  primary = "k1"
}`
	aesPlugin := func(t *testing.T) string {
		return fmt.Sprintf("plugin \"aesgcm\" {\n  path = %q\n  args = [\"plugin\", \"serve\", \"codec/aesgcm\"]\n}\n%s", needWadi(t), aes)
	}
	const accept = "session {\n  accept_unauthenticated_records = true\n}"
	tests := []struct {
		name          string
		before, after func(t *testing.T) string
		extra         string // for the node that reads
		found         bool
	}{
		{"s2 removed", func(*testing.T) string { return `codec "s2" {}` }, func(*testing.T) string { return "" }, "", true},
		{"gzip+aesgcm to zstd+aesgcm", func(*testing.T) string { return "codec \"gzip\" {}\n" + aes },
			func(*testing.T) string { return "codec \"zstd\" {}\n" + aes }, "", true},
		{"aesgcm added", func(*testing.T) string { return `codec "gzip" {}` },
			func(*testing.T) string { return "codec \"gzip\" {}\n" + aes }, "", false},
		{"aesgcm added as a plugin", func(*testing.T) string { return "" }, aesPlugin, "", false},
		{"aesgcm added, migrating", func(*testing.T) string { return `codec "gzip" {}` },
			func(*testing.T) string { return "codec \"gzip\" {}\n" + aes }, accept, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var id string
			withManager(t, codecNode(t, dir, tt.before(t), ""), func(m *session.Manager) { id = newStoredSession(t, m) })
			withManager(t, codecNode(t, dir, tt.after(t), tt.extra), func(m *session.Manager) {
				s, release, err := m.Hold(context.Background(), id)
				if !tt.found {
					if !errors.Is(err, session.ErrNoSession) {
						t.Fatalf("Hold = %v, want the record refused (ErrNoSession)", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Hold: %v", err)
				}
				got := s.GetString("k")
				if err := release(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got != "v" {
					t.Fatalf("k = %q, want v", got)
				}
			})
		})
	}
}
