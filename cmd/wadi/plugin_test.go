package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/wadi-go/wadi/core/pluginhost"
	"github.com/wadi-go/wadi/internal/testservers"
	"github.com/wadi-go/wadi/plugins/builtin"
	"github.com/wadi-go/wadi/sdk"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/store"
)

// wadiBinary builds this command once per test binary, for the tests that
// run builtins out of process (`wadi plugin serve`).
var wadiBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wadi-cmd-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "wadi")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", &buildError{err: err, out: out}
	}
	return bin, nil
})

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

func TestMain(m *testing.M) {
	// Run stops the Redis and PostgreSQL servers the store kits started.
	code := testservers.Run(m)
	if bin, err := wadiBinary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func needWadi(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds wadi and runs plugin processes")
	}
	bin, err := wadiBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// outOfProcessConfigs are the configurations the base kit gives each
// builtin when it runs as a plugin process; plugins/builtin keeps the same
// table for the in-process run.
var outOfProcessConfigs = map[string]plugintest.Configs{
	"store/file": {
		Valid:   [][]byte{[]byte(`{"path":"sessions.db"}`)},
		Invalid: [][]byte{[]byte(`{"path":""}`)},
	},
	// Accepted with no server there: a node starts while its store is down.
	"store/postgres": {
		Valid:   [][]byte{[]byte(`{"dsn":"postgres://wadi@127.0.0.1:1/wadi?sslmode=disable","table":"wadi_sessions","max_conns":4,"timeout":"5s"}`)},
		Invalid: [][]byte{[]byte(`{"dsn":"postgres://127.0.0.1:1/wadi","table":"a-b","max_conns":4,"timeout":"5s"}`)},
	},
	"store/redis": {
		Valid:   [][]byte{[]byte(`{"address":"127.0.0.1:1","url":null,"username":null,"password":null,"database":0,"key_prefix":"wadi:session:","tls":false,"tls_ca_file":null,"tls_server_name":null,"timeout":"5s"}`)},
		Invalid: [][]byte{[]byte(`{"address":null,"url":null,"username":null,"password":null,"database":0,"key_prefix":"wadi:session:","tls":false,"tls_ca_file":null,"tls_server_name":null,"timeout":"5s"}`)},
	},
	"codec/aesgcm": {
		Valid:   [][]byte{[]byte(`{"keys":{"k2":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","k1":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},"primary":"k2","key_file":null}`)},
		Invalid: [][]byte{[]byte(`{"keys":{"k1":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},"primary":"k0","key_file":null}`)},
	},
	"codec/gzip":      {Valid: [][]byte{[]byte(`{"level":6}`)}, Invalid: [][]byte{[]byte(`{"level":10}`)}},
	"codec/s2":        {Valid: [][]byte{[]byte(`{"level":"default"}`)}, Invalid: [][]byte{[]byte(`{"level":"fastest"}`)}},
	"codec/zstd":      {Valid: [][]byte{[]byte(`{"level":"default"}`)}, Invalid: [][]byte{[]byte(`{"level":"max"}`)}},
	"store/memory":    {Valid: [][]byte{[]byte(`{}`)}},
	"router/jvmroute": {Valid: [][]byte{[]byte(`{"policy":"redirect","separator":".","route_header":"X-Route"}`)}},
	"router/cookie":   {Valid: [][]byte{[]byte(`{"policy":"migrate","cookie_name":"SERVERID","route_header":null}`)}},
	"router/none":     {Valid: [][]byte{[]byte(`{"policy":"proxy"}`)}},
	"replicator/partitioned": {
		Valid:   [][]byte{[]byte(`{"backups":2,"mode":"async","granularity":"session"}`)},
		Invalid: [][]byte{[]byte(`{"backups":17,"mode":"sync","granularity":"attribute"}`)},
	},
	"replicator/all": {
		Valid:   [][]byte{[]byte(`{"mode":"sync","granularity":"attribute"}`)},
		Invalid: [][]byte{[]byte(`{"mode":"eventually","granularity":"attribute"}`)},
	},
	"replicator/none": {Valid: [][]byte{[]byte(`{}`)}},
}

// serverStores give the stores that need a server a fresh configuration
// per store test, against a server the test starts: their
// outOfProcessConfigs name no server, and the store kit needs an empty
// store each time.
var serverStores = map[string]func(t *testing.T) []byte{
	"store/postgres": func(t *testing.T) []byte {
		return fmt.Appendf(nil, `{"dsn":%q,"table":"wadi_sessions","max_conns":4,"timeout":"5s"}`, testservers.StartPostgres(t))
	},
	"store/redis": func(t *testing.T) []byte {
		return fmt.Appendf(nil, `{"address":%q,"url":null,"username":null,"password":null,"database":0,"key_prefix":%q,`+
			`"tls":false,"tls_ca_file":null,"tls_server_name":null,"timeout":"5s"}`, testservers.StartRedis(t), "test:"+rand.Text()+":")
	},
}

// unauthenticated names the codecs that cannot detect every change to
// their output (plain compression).
var unauthenticated = map[string]bool{"codec/gzip": true, "codec/s2": true, "codec/zstd": true}

// Every builtin runs out of process as `wadi plugin serve KIND/NAME` and
// passes the same conformance kits there as in process: the base kit
// through a bare go-plugin client, and its kind's kit through the host's
// supervisor, exactly the path a configured plugin takes.
func TestBuiltinsOutOfProcess(t *testing.T) {
	bin := needWadi(t)
	for _, b := range builtin.All() {
		ref := string(b.Kind) + "/" + b.Name
		t.Run(ref, func(t *testing.T) {
			cfgs, ok := outOfProcessConfigs[ref]
			if !ok {
				t.Fatalf("no configurations for %s: add them to outOfProcessConfigs", ref)
			}
			t.Run("base", func(t *testing.T) {
				plugintest.TestPlugin(t, dispense(t, bin, ref, b.Kind), b.Kind, cfgs)
			})
			spec := pluginhost.Spec{Name: b.Name, Path: bin, Args: []string{"plugin", "serve", ref}}
			supervise := func(t *testing.T) *pluginhost.Supervisor {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				node := base.Node{Name: "red", DataDir: t.TempDir()}
				cfg := cfgs.Valid[0]
				if fresh, ok := serverStores[ref]; ok {
					cfg = fresh(t)
				}
				s, err := pluginhost.Start(ctx, spec, b.Kind, cfg, node, pluginhost.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			switch b.Kind {
			case base.KindStore:
				plugintest.TestStore(t, func(t *testing.T) store.Store { return supervise(t).Store() })
			case base.KindCodec:
				plugintest.TestCodecWith(t, func(t *testing.T) codec.Codec {
					s := supervise(t)
					t.Cleanup(func() { _ = s.Close() })
					return s.Codec()
				}, plugintest.CodecOptions{Unauthenticated: unauthenticated[ref]})
			case base.KindRouter:
				plugintest.TestRouter(t, func(t *testing.T) router.Router {
					s := supervise(t)
					t.Cleanup(func() { _ = s.Close() })
					return s.Router()
				})
			case base.KindReplicator:
				// none places nothing, so every member carries the same
				// (zero) load only trivially; the kit's balance test
				// needs backups to weigh.
				plugintest.TestReplicator(t, func(t *testing.T) replicator.Replicator {
					s := supervise(t)
					t.Cleanup(func() { _ = s.Close() })
					return s.Replicator()
				}, plugintest.ReplicatorOptions{Unbalanced: b.Name == "none"})
			default:
				t.Fatalf("no out-of-process kit wired for kind %s", b.Kind)
			}
		})
	}
}

// dispense starts `wadi plugin serve ref` with a bare go-plugin client and
// returns the plugin unconfigured.
func dispense(t *testing.T, bin, ref string, kind base.Kind) base.Plugin {
	t.Helper()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(nil),
		Cmd:              exec.Command(bin, "plugin", "serve", ref),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	p, err := sdk.DispenseKind(rpc, kind)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// `wadi plugin describe` and `wadi plugin list` say what a plugin is and
// which plugins a configuration declares; `wadi plugin serve` refuses what
// is not a builtin, and a plugin binary run by hand says what it is.
func TestPluginCommands(t *testing.T) {
	bin := needWadi(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wadi.hcl")
	hcl := `node {
  name     = "red"
  data_dir = "` + dir + `"
}
plugin "outfile" {
  path = "` + bin + `"
  args = ["plugin", "serve", "store/file"]
}
# Declared, named by no block: still listed.
plugin "spare" {
  path = "` + bin + `"
  args = ["plugin", "serve", "codec/gzip"]
}
store "outfile" {
  path = "x.db"
}
`
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	// The same, pinned to a checksum the binary does not have.
	badSum := filepath.Join(dir, "badsum.hcl")
	pinned := strings.Replace(hcl, "  args = [", "  sha256 = \""+strings.Repeat("0", 64)+"\"\n  args = [", 1)
	if err := os.WriteFile(badSum, []byte(pinned), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		// wantLines are lines of output, each given by words it contains;
		// noLines are lines that must not be there.
		wantLines, noLines [][]string
	}{
		{name: "describe", args: []string{"plugin", "describe", bin, "plugin", "serve", "store/file"},
			wantOut: []string{"name:         file", "kind:         store", "api versions: 1", "path", "string", "sessions.db"}},
		{name: "describe memory", args: []string{"plugin", "describe", bin, "plugin", "serve", "memory"},
			wantOut: []string{"kind:         store", "(no attributes)"}},
		{name: "describe not a plugin", args: []string{"plugin", "describe", "/bin/true"}, wantCode: 1,
			wantOut: []string{"wadi plugin describe:"}},
		{name: "list", args: []string{"plugin", "list"}, wantOut: []string{"store", "file", "builtin", "memory"}},
		{name: "list config", args: []string{"plugin", "list", "-config", cfg},
			wantLines: [][]string{{"store", "outfile", "plugin " + bin, "unchecked"}, {"spare", "plugin " + bin, "unused, unchecked"}},
			noLines:   [][]string{{"outfile", "unused"}}},
		{name: "serve unknown", args: []string{"plugin", "serve", "store/nope"}, wantCode: 1,
			wantOut: []string{`no builtin store "nope"`}},
		{name: "serve by hand", args: []string{"plugin", "serve", "file"}, wantCode: 1,
			wantOut: []string{"This binary is a plugin"}},
		{name: "validate", args: []string{"validate", cfg}},
		{name: "validate checksum differs", args: []string{"validate", badSum}, wantCode: 1,
			wantOut: []string{`Cannot load store "outfile"`, "does not match the sha256", "badsum.hcl:"}},
		{name: "run checksum differs", args: []string{"run", "-config", badSum}, wantCode: 1,
			wantOut: []string{"does not match the sha256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := exec.Command(bin, tt.args...)
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tt.wantCode, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, words := range tt.wantLines {
				if !hasLine(out.String(), words) {
					t.Errorf("output has no line with all of %q:\n%s", words, out.String())
				}
			}
			for _, words := range tt.noLines {
				if hasLine(out.String(), words) {
					t.Errorf("output has a line with all of %q:\n%s", words, out.String())
				}
			}
		})
	}
}

// hasLine reports whether a line of out contains every one of words.
func hasLine(out string, words []string) bool {
	for line := range strings.Lines(out) {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}
