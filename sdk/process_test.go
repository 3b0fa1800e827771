package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/sdk"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/store"
)

// buildTestPlugin builds sdk/internal/testplugin into a temporary directory
// and returns the binary's path. The build cache makes every build after
// the first a link.
func buildTestPlugin(tb testing.TB) string {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("no go command to build the test plugin: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "testplugin")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/wadi-go/wadi/sdk/internal/testplugin")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build testplugin: %v\n%s", err, out)
	}
	return bin
}

// startPlugin starts the test plugin binary serving kind the way the host
// does: gRPC only, AutoMTLS, every kind's plugin at every API version. The
// plugin is killed when the test ends.
func startPlugin(tb testing.TB, bin string, kind base.Kind, logger hclog.Logger) (base.Plugin, *plugin.Client) {
	tb.Helper()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(nil),
		Cmd:              exec.Command(bin, string(kind)),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           logger,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
	})
	tb.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		tb.Fatalf("start %s plugin: %v", kind, err)
	}
	p, err := sdk.DispenseKind(rpc, kind)
	if err != nil {
		tb.Fatal(err)
	}
	return p, client
}

// A real plugin process: handshake, AutoMTLS, version negotiation, every
// store method, and its log lines arriving in the host's logger under the
// plugin's name.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a plugin process")
	}
	bin := buildTestPlugin(t)
	var logs syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Output: &logs, Level: hclog.Trace})
	ctx := ctxT(t)

	p, client := startPlugin(t, bin, base.KindStore, logger)
	info, err := p.Info(ctx)
	if err != nil || info.Kind != base.KindStore || info.Name != "test-store" {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if err := p.Configure(ctx, []byte(`{"path":"x"}`), base.Node{Name: "node-7", Zone: "z"}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	s := p.(store.Plugin)
	now := time.Now()
	recs := []store.Record{
		{ID: "live", Expires: now.Add(time.Hour), Data: []byte("live data")},
		{ID: "dead", Expires: now.Add(-time.Minute), Data: []byte("dead data")},
	}
	if err := s.Save(ctx, recs); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Load(ctx, "live")
	if err != nil || string(got.Data) != "live data" || !got.Expires.Equal(recs[0].Expires) {
		t.Errorf("Load(live) = %+v, %v", got, err)
	}
	if _, err := s.Load(ctx, "dead"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load(dead) = %v, want ErrNotFound", err)
	}
	ids, err := s.DeleteExpired(ctx, now, 10)
	if err != nil || !slices.Equal(ids, []string{"dead"}) {
		t.Errorf("DeleteExpired = %q, %v; want [dead]", ids, err)
	}
	if err := s.Delete(ctx, []string{"live"}); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := s.Load(ctx, "live"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load after Delete = %v, want ErrNotFound", err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	if err := s.Save(ctx, []store.Record{{ID: "big", Expires: now.Add(time.Hour), Data: big}}); err != nil {
		t.Errorf("Save 16 MiB: %v", err)
	} else if got, err := s.Load(ctx, "big"); err != nil || !bytes.Equal(got.Data, big) {
		t.Errorf("Load 16 MiB: %v (equal: %v)", err, bytes.Equal(got.Data, big))
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	// The plugin's own lines, at their levels and with their fields, under
	// the host's logger named after the binary. go-plugin decodes the
	// plugin's JSON lines into a map, so the fields come in any order: each
	// wanted line is a prefix plus fields that must all be on it.
	deadline := time.Now().Add(5 * time.Second)
	hasLine := func(prefix string, fields ...string) bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(l, prefix) {
				continue
			}
			all := true
			for _, f := range fields {
				all = all && strings.Contains(l, " "+f)
			}
			if all {
				return true
			}
		}
		return false
	}
	for _, want := range []struct {
		prefix string
		fields []string
	}{
		{"[INFO]  host.testplugin: configured:", []string{"node=node-7", "zone=z"}},
		{"[DEBUG] host.testplugin: saved:", []string{"records=2"}},
		{"host.testplugin: configuring server automatic mTLS", nil}, // go-plugin's own line: AutoMTLS took
	} {
		for !hasLine(want.prefix, want.fields...) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !hasLine(want.prefix, want.fields...) {
			t.Errorf("host log lacks %q with %q:\n%s", want.prefix, want.fields, logs.String())
		}
	}

	// Once the process is gone a call fails promptly, saying so.
	client.Kill()
	_, err = s.Load(ctx, "live")
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "plugin exited") {
		t.Errorf("Load after the plugin exited = %v, want Unavailable naming the exit", err)
	}
}

// A plugin binary started without the host's handshake cookie refuses to
// serve and exits non-zero at once, saying it is a plugin.
func TestPluginRefusesWithoutHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a plugin process")
	}
	bin := buildTestPlugin(t)
	for name, env := range map[string][]string{
		"no cookie":    {},
		"wrong cookie": {sdk.Handshake.MagicCookieKey + "=0123"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "store")
			cmd.Env = append(withoutCookie(os.Environ()), env...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 || ctx.Err() != nil {
				t.Fatalf("plugin without the cookie: %v after %v, want a non-zero exit\n%s", err, time.Since(start), out)
			}
			if !strings.Contains(string(out), "This binary is a plugin") {
				t.Errorf("plugin without the cookie said:\n%s", out)
			}
		})
	}
}

func withoutCookie(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, sdk.Handshake.MagicCookieKey+"=")
	})
}
