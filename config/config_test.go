package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/wadi-go/wadi/sdk/schema"
)

// fakeSchemas stands in for the host's catalogue of strategies.
func fakeSchemas(kind, name string, plugin *Plugin) (schema.Schema, error) {
	if plugin != nil {
		// A declared plugin: the host would start it and ask its schema.
		switch {
		case plugin.Path == "/broken/plugin":
			return schema.Schema{}, errors.New("plugin exited before answering")
		case kind == "codec" || kind == "store":
			return schema.Schema{Attributes: []schema.Attribute{
				{Name: "level", Type: schema.Number, Default: `3`},
			}}, nil
		}
		return schema.Schema{}, ErrUnknownStrategy
	}
	switch kind + "/" + name {
	case "store/file":
		return schema.Schema{Attributes: []schema.Attribute{
			{Name: "path", Type: schema.String, Default: `"sessions.db"`},
			{Name: "fsync", Type: schema.Bool, Default: `true`},
			{Name: "max_open", Type: schema.Number, Default: `8`},
			{Name: "tags", Type: schema.ListString},
			{Name: "labels", Type: schema.MapString},
		}}, nil
	case "store/remote":
		return schema.Schema{Attributes: []schema.Attribute{
			{Name: "address", Type: schema.String, Required: true},
		}}, nil
	case "store/broken":
		return schema.Schema{Attributes: []schema.Attribute{
			{Name: "ratio", Type: "float"},
		}}, nil
	case "codec/gzip", "router/jvmroute", "replicator/partitioned":
		return schema.Schema{}, nil
	}
	return schema.Schema{}, ErrUnknownStrategy
}

// fakeEnv is a LookupEnv over a fixed map, so tests never read the process
// environment.
func fakeEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func testOptions() Options {
	return Options{
		Schemas:   fakeSchemas,
		LookupEnv: fakeEnv(map[string]string{"WADI_NODE": "green", "WADI_HOST": "10.0.0.7"}),
	}
}

func parseFixture(t *testing.T, name string, opts Options) (*Config, *hcl.File, hcl.Diagnostics) {
	t.Helper()
	path := filepath.Join("testdata", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(src, path, opts)
}

func TestParseValid(t *testing.T) {
	withNode := func(name, dir string) Config {
		c := Defaults()
		c.Node = Node{Name: name, DataDir: dir}
		return c
	}
	full := Defaults()
	full.Node = Node{Name: "red", DataDir: "/var/lib/wadi/red"}
	full.HTTP = HTTP{Listen: "0.0.0.0:9090", App: "demo"}
	full.Session = Session{
		CookieName:       "SID",
		CookiePath:       "/app",
		CookieDomain:     "example.com",
		CookieSecure:     true,
		CookieHTTPOnly:   false,
		CookieSameSite:   http.SameSiteNoneMode,
		CookiePersist:    true,
		IdleTimeout:      15 * time.Minute,
		Lifetime:         8 * time.Hour,
		EvictAfter:       0,
		MaxInMemory:      5000,
		Exclusive:        true,
		LockTimeout:      2 * time.Second,
		SweepInterval:    time.Minute,
		MaxAttributeSize: 64 << 10,
		MaxSessionSize:   1 << 20,

		AcceptUnauthenticatedRecords: true,
	}
	example := withNode("red", "./data/red")
	example.HTTP.App = "demo"
	env := withNode("green", "./data/green")
	env.HTTP.Listen = "10.0.0.7:8081"
	cluster := withNode("red", "./data/red")
	cluster.Node.Meta = map[string]string{"rack": "r1", "dc": "eu-1"}
	cluster.Cluster = &Cluster{
		Bind: "127.0.0.1:7946", Peer: "127.0.0.1:7950",
		Join:          []string{"127.0.0.1:7947", "wadi-green.internal:7946"},
		Partitions:    31,
		Keys:          [][]byte{make([]byte, 32), bytes.Repeat([]byte{1}, 16)},
		AdvertiseHTTP: "http://10.0.0.1:8080",
		JoinWait:      3 * time.Second,
		TLS:           &TLSFiles{CAFile: "ca.pem", CertFile: "red.pem", KeyFile: "red-key.pem"},
	}
	cluster.Admin = &Admin{Listen: "127.0.0.1:8081"}

	tests := []struct {
		file      string
		want      Config // Store is checked separately
		wantStore string // JSON of Store.Config; "" means no store
	}{
		{"empty.hcl", Defaults(), ""},
		{"comments_only.hcl", Defaults(), ""},
		{"minimal.hcl", withNode("blue", "./data/blue"), ""},
		{"env.hcl", env, ""},
		{"cluster.hcl", cluster, ""},
		{"example.hcl", example,
			`{"fsync":true,"labels":null,"max_open":8,"path":"sessions.db","tags":null}`},
		{"full.hcl", full,
			`{"fsync":true,"labels":null,"max_open":8,"path":"sessions.db","tags":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, file, diags := parseFixture(t, tt.file, testOptions())
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics: %v", diags)
			}
			if file == nil || cfg == nil {
				t.Fatalf("got file %v, config %v; want both", file, cfg)
			}
			got := *cfg
			got.Store = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config:\n got %+v\nwant %+v", got, tt.want)
			}
			if tt.wantStore == "" {
				if cfg.Store != nil {
					t.Errorf("Store = %+v, want nil", cfg.Store)
				}
				return
			}
			assertStore(t, cfg.Store, "file", tt.wantStore)
		})
	}
}

func assertStore(t *testing.T, s *Strategy, name, wantJSON string) {
	t.Helper()
	if s == nil {
		t.Fatal("Store is nil")
	}
	if s.Kind != "store" || s.Name != name {
		t.Errorf("Store kind/name = %q/%q, want store/%q", s.Kind, s.Name, name)
	}
	if !json.Valid(s.Config) {
		t.Fatalf("Store.Config is not JSON: %s", s.Config)
	}
	if string(s.Config) != wantJSON {
		t.Errorf("Store.Config = %s\nwant %s", s.Config, wantJSON)
	}
	if s.DeclRange.Filename == "" || s.DeclRange.Start.Line == 0 {
		t.Errorf("Store.DeclRange not set: %v", s.DeclRange)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		file      string
		summary   string // substring of the error's summary
		detail    string // substring of the error's detail
		line, col int    // start of the error's subject
	}{
		{"bad_duration", "Invalid session.idle_timeout", `session.idle_timeout: "30x" is not a duration`, 2, 18},
		// The lifetime is not compared with an idle timeout already reported.
		{"bad_duration_no_cascade", "Invalid session.idle_timeout", `"30x" is not a duration`, 2, 18},
		{"negative_duration", "Invalid session.lock_timeout", "must not be negative", 2, 18},
		{"zero_sweep", "Invalid session.sweep_interval", "greater than zero", 2, 20},
		{"duration_number", "Invalid session.evict_after", `"600" is not a duration`, 2, 17},
		{"lifetime_short", "Invalid session.lifetime", "must not be shorter than idle_timeout", 3, 18},
		{"idle_over_default_lifetime", "Invalid session.idle_timeout", "lifetime (24h0m0s) must not be shorter", 2, 18},
		{"max_in_memory_zero", "Invalid session.max_in_memory", "at least 1", 2, 19},
		{"max_in_memory_fraction", "Invalid session.max_in_memory", "whole number", 2, 19},
		{"max_in_memory_huge", "Invalid session.max_in_memory", "out of range", 2, 19},
		{"number_out_of_range", "Number out of range", "", 3, 15},
		{"bad_concurrency", "Invalid session.concurrency", `unknown value "parallel"`, 2, 17},
		{"bad_same_site", "Invalid session.cookie_same_site", `unknown value "loose"`, 2, 22},
		{"same_site_none_insecure", "Invalid session.cookie_same_site", "requires cookie_secure = true", 3, 22},
		{"bad_cookie_name", "Invalid session.cookie_name", `"WADI SESSION" is not a valid cookie name`, 2, 17},
		{"bad_cookie_path", "Invalid session.cookie_path", `must start with "/"`, 2, 17},
		{"wrong_type_bool", "Invalid session.cookie_secure", "a bool is required", 2, 19},
		{"wrong_type_string", "Invalid http.listen", "string required", 2, 12},
		{"bad_size", "Invalid session.max_attribute_size", `"1 lots" is not a size`, 2, 24},
		{"size_wrong_type", "Invalid session.max_session_size", "got bool", 2, 22},
		{"attribute_over_session", "Invalid session.max_attribute_size", "must not exceed max_session_size", 2, 24},
		{"unknown_attribute", "Unsupported argument", `Did you mean "idle_timeout"?`, 2, 3},
		{"unknown_block", "Unsupported block type", `"server"`, 5, 1},
		{"nested_block", "Unsupported block type", `"tls"`, 2, 3},
		{"duplicate_block", "Duplicate node block", "another was declared at testdata/invalid_duplicate_block.hcl:1,1-5", 4, 1},
		{"duplicate_store", "Duplicate store block", "Only one store block", 4, 1},
		{"unknown_app", "Invalid http.app", `unknown app "shop"`, 2, 9},
		{"bad_listen", "Invalid http.listen", `"8080" is not a host:port address`, 2, 12},
		{"listen_port", "Invalid http.listen", `port must be a number from 0 to 65535, not "99999"`, 2, 12},
		{"listen_named_port", "Invalid http.listen", `not "http-alt"`, 2, 12},
		{"node_name_slash", "Invalid node.name", "letters, digits, '-' or '_'", 2, 10},
		{"empty_data_dir", "Invalid node.data_dir", "must not be empty", 2, 14},
		// A bad entry is reported where it is written.
		{"node_meta_key", "Invalid node.meta", `meta key "my rack" must be 1 to 32 letters, digits`, 2, 25},
		{"node_meta_value", "Invalid node.meta", `"dc": the value holds U+000A`, 4, 12},
		{"node_meta_null", "Invalid node.meta", `the value of "rack" must not be null`, 2, 19},
		{"node_meta_type", "Invalid node.meta", `element "rack": string required`, 2, 10},
		{"node_meta_too_big", "Invalid node.meta", "encodes to 441 bytes of gossip metadata, and the node's name, zone and addresses leave it 385 of the 512", 3, 10},
		{"env_unset", "Error in function call", "environment variable WADI_NODE is not set", 2, 10},
		{"variable", "Variables not allowed", "", 2, 10},
		{"unknown_function", "Call to unknown function", `no function named "upper"`, 2, 10},
		{"syntax_error", "Unclosed configuration block", "", 1, 6},
		// HCL allows one argument in a block written on one line.
		{"one_line_block", "Invalid single-argument block definition", "", 1, 25},
		{"top_level_attribute", "Unsupported argument", `"name"`, 1, 1},
		{"unknown_store", "Unknown store", `unknown store "flie"`, 1, 7},
		{"store_missing_label", "Missing name for store", "", 1, 7},
		{"store_typo", "Unsupported argument", `store "file": An argument named "fsynk" is not expected here. Did you mean "fsync"?`, 3, 3},
		{"store_wrong_type", "Incorrect attribute value type", `"fsync": a bool is required`, 2, 11},
		{"store_missing_required", "Missing required argument", `"address" is required`, 1, 16},
		{"store_bad_schema", "Invalid schema for store", `unknown type "float"`, 1, 7},
		{"plugin_bad_sha", "Invalid plugin.sha256", "64 hexadecimal digits", 3, 12},
		{"plugin_no_path", "Invalid plugin.path", "needs the path of its executable", 1, 17},
		{"plugin_duplicate", "Duplicate plugin \"sqlite\"", "another was declared at", 4, 1},
		{"plugin_null_arg", "Invalid plugin.args", "must not contain null", 3, 10},
		{"plugin_fails", "Cannot load store \"sqlite\"", "plugin exited before answering", 4, 7},
		{"plugin_typo", "Unsupported argument", `codec "lz": An argument named "levle" is not expected here. Did you mean "level"?`, 5, 3},
		{"codec_duplicate", "Duplicate codec \"gzip\"", "Only one codec", 2, 1},
		{"unknown_codec", "Unknown codec", `unknown codec "zip"`, 1, 7},
		{"cluster_bad_peer", "Invalid cluster.peer", `"7950" is not a host:port address`, 3, 10},
		{"cluster_same_addr", "Invalid cluster.peer", "an address of its own", 3, 10},
		{"cluster_bad_key", "Invalid cluster.encrypt", "base64 encoding of 16, 24 or 32 bytes", 4, 13},
		{"cluster_partitions", "Invalid cluster.partitions", "between 1 and 65536", 4, 16},
		{"cluster_no_peer", "Missing required argument", `"peer" is required`, 1, 9},
		{"cluster_tls_partial", "Missing required argument", `"cert_file" is required`, 4, 7},
		{"admin_listen", "Invalid admin.listen", `"8081" is not a host:port address`, 2, 12},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			opts := testOptions()
			if tt.file == "env_unset" {
				opts.LookupEnv = fakeEnv(nil) // WADI_NODE is not set
			}
			cfg, _, diags := parseFixture(t, "invalid_"+tt.file+".hcl", opts)
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
			if !strings.Contains(d.Summary, tt.summary) {
				t.Errorf("summary = %q, want it to contain %q", d.Summary, tt.summary)
			}
			if !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", d.Detail, tt.detail)
			}
			if d.Subject == nil {
				t.Fatal("diagnostic has no subject")
			}
			if got := d.Subject.Start; got.Line != tt.line || got.Column != tt.col {
				t.Errorf("subject starts at %d:%d, want %d:%d (%s)", got.Line, got.Column, tt.line, tt.col, d.Subject)
			}
			if want := filepath.Join("testdata", "invalid_"+tt.file+".hcl"); d.Subject.Filename != want {
				t.Errorf("subject file = %q, want %q", d.Subject.Filename, want)
			}
		})
	}
}

// TestParsePlugins checks plugin declarations and the strategy blocks that
// name them: codecs keep the file's order, whatever the blocks' order.
func TestParsePlugins(t *testing.T) {
	cfg, _, diags := parseFixture(t, "plugins.hcl", testOptions())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Node.Zone != "eu-1" {
		t.Errorf("zone = %q", cfg.Node.Zone)
	}
	if len(cfg.Plugins) != 2 || cfg.Plugins[0].Name != "lz" || cfg.Plugins[0].Path != "/opt/wadi/lz" ||
		len(cfg.Plugins[0].Args) != 1 || cfg.Plugins[0].Args[0] != "-v" || cfg.Plugins[1].SHA256 == "" {
		t.Fatalf("plugins = %+v", cfg.Plugins)
	}
	if len(cfg.Codecs) != 2 || cfg.Codecs[0].Name != "lz" || cfg.Codecs[1].Name != "gzip" {
		t.Fatalf("codecs = %+v", cfg.Codecs)
	}
	if cfg.Codecs[0].Plugin != cfg.Plugins[0] || cfg.Codecs[1].Plugin != nil || string(cfg.Codecs[0].Config) != `{"level":9}` {
		t.Errorf("codec lz: plugin %v config %s", cfg.Codecs[0].Plugin, cfg.Codecs[0].Config)
	}
	if cfg.Store == nil || cfg.Store.Plugin != cfg.Plugins[1] || string(cfg.Store.Config) != `{"level":3}` {
		t.Errorf("store = %+v", cfg.Store)
	}
	if cfg.Router == nil || cfg.Router.Kind != "router" || cfg.Replication == nil || cfg.Replication.Kind != "replicator" {
		t.Errorf("router %+v replication %+v", cfg.Router, cfg.Replication)
	}
}

func TestEnv(t *testing.T) {
	src := []byte(`node { name = env("NODE") }` + "\n" + `http { listen = env("LISTEN") }` + "\n")
	var asked []string
	lookup := func(k string) (string, bool) {
		asked = append(asked, k)
		v, ok := map[string]string{"NODE": "amber", "LISTEN": ":9000"}[k]
		return v, ok
	}
	cfg, _, diags := Parse(src, "env.hcl", Options{LookupEnv: lookup})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Node.Name != "amber" || cfg.Node.DataDir != "./data/amber" || cfg.HTTP.Listen != ":9000" {
		t.Errorf("got node %+v, http %+v", cfg.Node, cfg.HTTP)
	}
	if want := []string{"NODE", "LISTEN"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("looked up %q, want %q", asked, want)
	}

	// An empty value is set, unlike a missing one.
	cfg, _, diags = Parse([]byte(`http { app = env("APP") }`), "env.hcl",
		Options{LookupEnv: fakeEnv(map[string]string{"APP": ""})})
	if diags.HasErrors() || cfg.HTTP.App != "" {
		t.Errorf("empty variable: app %q, diags %v", cfg.HTTP.App, diags)
	}

	// env() also feeds strategy blocks.
	cfg, _, diags = Parse([]byte("store \"file\" {\n  path = env(\"DB\")\n}\n"), "env.hcl",
		Options{Schemas: fakeSchemas, LookupEnv: fakeEnv(map[string]string{"DB": "/tmp/s.db"})})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var store struct{ Path string }
	if err := json.Unmarshal(cfg.Store.Config, &store); err != nil || store.Path != "/tmp/s.db" {
		t.Errorf("store path = %q (%v), want /tmp/s.db", store.Path, err)
	}

	// With no LookupEnv the process environment is used.
	t.Setenv("WADI_CONFIG_TEST_NODE", "from-os")
	cfg, _, diags = Parse([]byte(`node { name = env("WADI_CONFIG_TEST_NODE") }`), "env.hcl", Options{})
	if diags.HasErrors() || cfg.Node.Name != "from-os" {
		t.Errorf("os env: name %v, diags %v", cfg, diags)
	}
}

func TestStrategyDecoding(t *testing.T) {
	src := []byte(`store "file" {
  path     = "/data/s.db"
  max_open = 3
  tags     = ["a", "b"]
  labels   = { zone = "eu" }
}
`)
	cfg, _, diags := Parse(src, "store.hcl", Options{Schemas: fakeSchemas})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// fsync is absent and takes its default; the rest are as written.
	assertStore(t, cfg.Store, "file",
		`{"fsync":true,"labels":{"zone":"eu"},"max_open":3,"path":"/data/s.db","tags":["a","b"]}`)
	if r := cfg.Store.DeclRange; r.Filename != "store.hcl" || r.Start.Line != 1 || r.Start.Column != 1 {
		t.Errorf("DeclRange = %v, want store.hcl:1,1", r)
	}

	// Without Schemas no strategy is known.
	_, _, diags = Parse(src, "store.hcl", Options{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, `unknown store "file"`) {
		t.Errorf("nil Schemas: %v", diags)
	}
}

func TestObjectSpecBadDefault(t *testing.T) {
	_, err := objectSpec(schema.Schema{Attributes: []schema.Attribute{
		{Name: "n", Type: schema.Number, Default: `"five"`},
	}})
	if err == nil || !strings.Contains(err.Error(), `attribute "n"`) {
		t.Errorf("err = %v, want one naming attribute n", err)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join("testdata", "full.hcl")
	cfg, files, diags := Load(path, Options{Schemas: fakeSchemas})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Node.Name != "red" || files[path] == nil {
		t.Errorf("Load: config %+v, files %v", cfg, files)
	}

	cfg, files, diags = Load(filepath.Join("testdata", "missing.hcl"), Options{})
	if cfg != nil || !diags.HasErrors() || len(files) != 0 {
		t.Fatalf("missing file: config %v, files %v, diags %v", cfg, files, diags)
	}
	if !strings.Contains(diags[0].Detail, "missing.hcl") {
		t.Errorf("detail %q does not name the file", diags[0].Detail)
	}

	// A syntax error still returns the file, so its source can be shown.
	path = filepath.Join("testdata", "invalid_syntax_error.hcl")
	_, files, diags = Load(path, Options{})
	if !diags.HasErrors() || files[path] == nil {
		t.Errorf("syntax error: files %v, diags %v", files, diags)
	}
}

func TestFormat(t *testing.T) {
	src := []byte("node {\nname=\"red\"\n    data_dir   =   \"./d\"\n}\n")
	want := "node {\n  name     = \"red\"\n  data_dir = \"./d\"\n}\n"
	got, diags := Format(src, "f.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if string(got) != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}

	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range fixtures {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		once, diags := Format(src, path)
		if diags.HasErrors() {
			continue // the syntax-error fixtures
		}
		twice, diags := Format(once, path)
		if diags.HasErrors() || !bytes.Equal(once, twice) {
			t.Errorf("%s: Format is not idempotent:\n%s\nthen:\n%s", path, once, twice)
		}
		// Formatting changes layout, never meaning.
		c1, _, d1 := Parse(src, path, testOptions())
		c2, _, d2 := Parse(once, path, testOptions())
		if d1.HasErrors() != d2.HasErrors() || (c1 != nil && c2 != nil && !reflect.DeepEqual(c1.Session, c2.Session)) {
			t.Errorf("%s: formatting changed the parse", path)
		}
	}

	out, diags := Format([]byte("node {\n  name = \n"), "bad.hcl")
	if out != nil || !diags.HasErrors() {
		t.Errorf("bad syntax: out %q, diags %v", out, diags)
	}
	if diags[0].Subject == nil || diags[0].Subject.Filename != "bad.hcl" {
		t.Errorf("bad syntax: diagnostic without location: %v", diags[0])
	}
}

func TestWriteDiagnostics(t *testing.T) {
	path := filepath.Join("testdata", "invalid_bad_duration.hcl")
	_, files, diags := Load(path, Options{})
	// A diagnostic without a subject must be written too.
	diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No subject"})

	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, files, diags, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Error: Invalid session.idle_timeout",
		path + ":2,18",
		`idle_timeout = "30x"`,
		`session.idle_timeout: "30x" is not a duration`,
		"Warning: No subject",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes without colour:\n%q", out)
	}

	buf.Reset()
	if err := WriteDiagnostics(&buf, files, diags, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "\x1b[") || !strings.Contains(buf.String(), path+":2,18") {
		t.Errorf("colour output:\n%q", buf.String())
	}
}

// FuzzParse checks that no input makes Parse or Format panic, and that Parse
// returns a config exactly when it reports no error.
func FuzzParse(f *testing.F) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.hcl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range fixtures {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, _, diags := Parse(src, "fuzz.hcl", testOptions())
		if diags.HasErrors() != (cfg == nil) {
			t.Fatalf("errors %v but config %v", diags.HasErrors(), cfg)
		}
		Format(src, "fuzz.hcl")
	})
}

// TestCheck: Options.Check sees every decoded strategy block with the
// node's data_dir, and what it refuses is an error at the block, reported
// alongside the file's other errors.
func TestCheck(t *testing.T) {
	src := []byte(`store "file" {
  path = ""
}
node {
  name     = "red"
  data_dir = "/srv/red"
}
http {
  listen = "nohost"
}
`)
	var seen []string
	check := func(st *Strategy, dataDir string) error {
		seen = append(seen, st.Kind+"/"+st.Name+"@"+dataDir)
		if strings.Contains(string(st.Config), `"path":""`) {
			return errors.New("path is empty")
		}
		return nil
	}
	cfg, _, diags := Parse(src, "c.hcl", Options{Schemas: fakeSchemas, Check: check})
	if cfg != nil {
		t.Errorf("got a config despite errors")
	}
	if want := []string{"store/file@/srv/red"}; !slices.Equal(seen, want) {
		t.Errorf("checked %v, want %v", seen, want)
	}
	var summaries []string
	for _, d := range diags {
		summaries = append(summaries, d.Summary)
		if d.Summary == `Invalid store "file"` {
			if r := d.Subject; r == nil || r.Start.Line != 1 || r.Start.Column != 1 || !strings.Contains(d.Detail, "path is empty") {
				t.Errorf("store diagnostic at %v: %q", r, d.Detail)
			}
		}
	}
	if want := []string{"Invalid http.listen", `Invalid store "file"`}; !slices.Equal(summaries, want) {
		t.Errorf("diagnostics %q, want %q", summaries, want)
	}

	// A block the check accepts leaves the config as it was.
	ok := bytes.Replace(src, []byte(`path = ""`), []byte(`path = "s.db"`), 1)
	ok = bytes.Replace(ok, []byte(`"nohost"`), []byte(`"127.0.0.1:80"`), 1)
	cfg, _, diags = Parse(ok, "c.hcl", Options{Schemas: fakeSchemas, Check: check})
	if diags.HasErrors() || cfg == nil || cfg.Store == nil {
		t.Fatalf("valid file: %v", diags)
	}
}
