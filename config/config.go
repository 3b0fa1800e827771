// Package config parses and validates WADI's HCL configuration.
//
// It fills plain Go structs that cmd/wadi turns into core options; core
// itself knows no HCL. Every problem is reported as an hcl.Diagnostic whose
// Subject points at the offending block or value, so `wadi validate` can show
// the file, line, column and source line of each mistake, including mistakes
// in a strategy's block, which is decoded against the schema the strategy
// declares.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/wadi-go/wadi/sdk/schema"
)

// Config is a parsed and validated configuration.
type Config struct {
	Node    Node
	HTTP    HTTP
	Session Session
	Store   *Strategy // nil: none configured
	// Codecs are the codec blocks in the order the file lists them: the
	// order in which they are applied when encoding.
	Codecs      []*Strategy
	Router      *Strategy // nil: none configured
	Replication *Strategy // nil: none configured
	// Plugins are the external plugins the file declares.
	Plugins []*Plugin
	// Cluster makes the node a member of a farm; nil: a single node.
	Cluster *Cluster
	// Admin is the admin API; nil: none.
	Admin *Admin
	// AppAPI is the node-local session API for an upstream application;
	// nil: none.
	AppAPI *AppAPI
}

// Plugin is a `plugin "NAME" { path = ... }` block: an external strategy
// program that strategy blocks can name.
type Plugin struct {
	Name string
	Path string
	// SHA256 is the expected checksum of the binary (hex); empty: unchecked.
	SHA256    string
	Args      []string
	DeclRange hcl.Range
}

// Node is the `node` block: who this process is in the cluster.
type Node struct {
	Name    string
	Zone    string // free-form; replicators may place backups by it
	DataDir string // relative paths are left as written: the host resolves them
	// Meta is free-form metadata (rack, data centre) that a clustered node
	// gossips for replicators to place backups by; nil when unset.
	Meta map[string]string
}

// AnnouncedHTTP is the URL of the node's HTTP listener that a clustered
// node announces to its peers: cluster.advertise_http, or http.listen
// over plain HTTP.
func (c *Config) AnnouncedHTTP() string {
	if c.Cluster != nil && c.Cluster.AdvertiseHTTP != "" {
		return c.Cluster.AdvertiseHTTP
	}
	return "http://" + c.HTTP.Listen
}

// HTTP is the `http` block.
type HTTP struct {
	Listen string // host:port
	App    string // "" (no application) or "demo"
	// Upstream is the http(s) URL of the application the node proxies
	// requests to (upstream mode); "" when the node serves App itself.
	Upstream string
}

// AppAPI is the `app_api` block: where the upstream application reaches
// the node-local session API, and who may call it.
type AppAPI struct {
	// Listen is the address as written: "unix:///path" or "host:port".
	Listen string
	// Network is "unix" or "tcp"; Address the socket path or host:port.
	Network, Address string
	// Token is the bearer token callers must present; required on TCP,
	// where nothing else tells the application from any local process.
	Token string
	// AllowUnheld lets calls reach sessions no in-flight request holds on
	// this node (background jobs); off, such calls are refused.
	AllowUnheld bool
}

// Session is the `session` block: the session cookie and the session
// manager's limits.
type Session struct {
	CookieName, CookiePath, CookieDomain        string
	CookieSecure, CookieHTTPOnly, CookiePersist bool
	CookieSameSite                              http.SameSite

	IdleTimeout, Lifetime, EvictAfter, LockTimeout, SweepInterval time.Duration

	MaxInMemory int
	Exclusive   bool // concurrency = "exclusive"

	MaxAttributeSize, MaxSessionSize int // bytes

	// AcceptUnauthenticatedRecords reads records that skip a configured
	// codec that authenticates (aesgcm): the migration window after adding
	// encryption to a deployment with records written without it.
	AcceptUnauthenticatedRecords bool
}

// Strategy is a strategy block (`store "file" {...}`): its kind, its name
// and its body decoded against the strategy's schema, as JSON.
type Strategy struct {
	// Kind is the SDK's strategy kind: store, codec, router or replicator
	// (the block `replication` configures the replicator).
	Kind, Name string
	// Plugin is the declared plugin the block names; nil for a builtin.
	Plugin    *Plugin
	Config    json.RawMessage // the decoded block as a JSON object, defaults applied
	DeclRange hcl.Range
}

// Schemas tells which strategies exist and the schema of each one's block.
// plugin is the declared plugin that the block names, or nil when no plugin
// of that name is declared (the strategy must then be a builtin). It returns
// ErrUnknownStrategy for a strategy that does not exist, and another error
// when the schema could not be had (a plugin that does not start).
type Schemas func(kind, name string, plugin *Plugin) (schema.Schema, error)

// ErrUnknownStrategy is what Schemas returns for a name that is neither a
// builtin nor a declared plugin of the kind.
var ErrUnknownStrategy = errors.New("unknown strategy")

// Options are what Parse and Load need from their caller.
type Options struct {
	// Schemas resolves strategy blocks; nil means no strategy is known, so
	// any strategy block is an error.
	Schemas Schemas
	// LookupEnv backs the env() function; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Check, when set, checks the values of each decoded strategy block as
	// far as that can be done without side effects (an empty path, a
	// malformed URL, a missing key file), so that they are reported at the
	// block, by `wadi validate` as well, rather than when the node starts.
	// dataDir is the node's data directory, for relative paths.
	Check func(st *Strategy, dataDir string) error
}

// The defaults of a node whose block leaves them out.
const (
	DefaultNodeName = "node"
	DefaultListen   = "127.0.0.1:8080"
)

// DefaultDataDir is the data directory of a node named name that sets none.
func DefaultDataDir(name string) string { return "./data/" + name }

// Defaults returns the configuration of an empty file.
func Defaults() Config {
	return Config{
		Node: Node{Name: DefaultNodeName, DataDir: DefaultDataDir(DefaultNodeName)},
		HTTP: HTTP{Listen: DefaultListen},
		Session: Session{
			CookieName:       "WADISESSIONID",
			CookiePath:       "/",
			CookieHTTPOnly:   true,
			CookieSameSite:   http.SameSiteLaxMode,
			IdleTimeout:      30 * time.Minute,
			Lifetime:         24 * time.Hour,
			EvictAfter:       10 * time.Minute,
			MaxInMemory:      100000,
			LockTimeout:      10 * time.Second,
			SweepInterval:    30 * time.Second,
			MaxAttributeSize: 1 << 20,
			MaxSessionSize:   4 << 20,
		},
	}
}

// Parse parses and validates one configuration file held in memory. It does
// no I/O: filename is used only in diagnostics. The returned file (nil only
// if src could not be parsed at all) is what WriteDiagnostics needs to show
// source lines. When the diagnostics hold an error the Config is nil.
func Parse(src []byte, filename string, opts Options) (*Config, *hcl.File, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() || file == nil || file.Body == nil {
		// Decoding a body with syntax errors only adds noise to the one
		// diagnostic that matters.
		return nil, file, diags
	}
	if body, ok := file.Body.(*hclsyntax.Body); ok {
		if diags = append(diags, checkNumbers(body)...); diags.HasErrors() {
			return nil, file, diags
		}
	}
	d := &decoder{ctx: evalContext(opts.LookupEnv), schemas: opts.Schemas}
	cfg := d.decodeFile(file.Body)
	diags = append(diags, d.diags...)
	if opts.Check != nil && cfg != nil {
		// Every block that decoded is checked, so that one run shows
		// every problem.
		diags = append(diags, checkStrategies(cfg, opts.Check)...)
	}
	if diags.HasErrors() {
		return nil, file, diags
	}
	return cfg, file, diags
}

// checkStrategies runs check on every strategy block of cfg, after the
// whole file is decoded (the node block, with data_dir, may come later).
func checkStrategies(cfg *Config, check func(*Strategy, string) error) hcl.Diagnostics {
	sts := append([]*Strategy{cfg.Store, cfg.Router, cfg.Replication}, cfg.Codecs...)
	var diags hcl.Diagnostics
	for _, st := range sts {
		if st == nil {
			continue
		}
		if err := check(st, cfg.Node.DataDir); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid %s %q", st.Kind, st.Name),
				Detail:   fmt.Sprintf("%s %q: %v", st.Kind, st.Name, err),
				Subject:  st.DeclRange.Ptr(),
			})
		}
	}
	return diags
}

// Load reads and parses the configuration file at path. The returned map,
// keyed by file name, is what WriteDiagnostics needs to show source lines;
// it is empty when the file could not be read.
func Load(path string, opts Options) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	files := make(map[string]*hcl.File)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, files, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration file",
			Detail:   err.Error(),
		}}
	}
	cfg, file, diags := Parse(src, path, opts)
	if file != nil {
		files[path] = file
	}
	return cfg, files, diags
}
