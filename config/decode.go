package config

import (
	"fmt"
	"math"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"golang.org/x/net/http/httpguts"

	"github.com/wadi-go/wadi/internal/nodemeta"
)

// rootSchema is the top level of a file. It is decoded by hand rather than
// with gohcl so that each block's DefRange and label ranges stay available
// for diagnostics.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "node"},
		{Type: "http"},
		{Type: "session"},
		{Type: "store", LabelNames: []string{"name"}},
		{Type: "codec", LabelNames: []string{"name"}},
		{Type: "router", LabelNames: []string{"name"}},
		{Type: "replication", LabelNames: []string{"name"}},
		{Type: "plugin", LabelNames: []string{"name"}},
		{Type: "cluster"},
		{Type: "admin"},
		{Type: "app_api"},
	},
}

// repeatable are the blocks a file may hold several of, one per name.
var repeatable = map[string]bool{"codec": true, "plugin": true}

// The fixed blocks hold expressions rather than Go values so that a value
// can be checked against its neighbours and any problem reported on the
// value's own range; gohcl still reports unknown attributes and blocks.
type nodeBlock struct {
	Name    hcl.Expression `hcl:"name,optional"`
	Zone    hcl.Expression `hcl:"zone,optional"`
	DataDir hcl.Expression `hcl:"data_dir,optional"`
	Meta    hcl.Expression `hcl:"meta,optional"`
}

type pluginBlock struct {
	Path   hcl.Expression `hcl:"path"`
	SHA256 hcl.Expression `hcl:"sha256,optional"`
	Args   hcl.Expression `hcl:"args,optional"`
}

type httpBlock struct {
	Listen   hcl.Expression `hcl:"listen,optional"`
	App      hcl.Expression `hcl:"app,optional"`
	Upstream hcl.Expression `hcl:"upstream,optional"`
}

type sessionBlock struct {
	CookieName       hcl.Expression `hcl:"cookie_name,optional"`
	CookiePath       hcl.Expression `hcl:"cookie_path,optional"`
	CookieDomain     hcl.Expression `hcl:"cookie_domain,optional"`
	CookieSecure     hcl.Expression `hcl:"cookie_secure,optional"`
	CookieHTTPOnly   hcl.Expression `hcl:"cookie_http_only,optional"`
	CookieSameSite   hcl.Expression `hcl:"cookie_same_site,optional"`
	CookiePersist    hcl.Expression `hcl:"cookie_persist,optional"`
	IdleTimeout      hcl.Expression `hcl:"idle_timeout,optional"`
	Lifetime         hcl.Expression `hcl:"lifetime,optional"`
	EvictAfter       hcl.Expression `hcl:"evict_after,optional"`
	MaxInMemory      hcl.Expression `hcl:"max_in_memory,optional"`
	Concurrency      hcl.Expression `hcl:"concurrency,optional"`
	LockTimeout      hcl.Expression `hcl:"lock_timeout,optional"`
	SweepInterval    hcl.Expression `hcl:"sweep_interval,optional"`
	MaxAttributeSize hcl.Expression `hcl:"max_attribute_size,optional"`
	MaxSessionSize   hcl.Expression `hcl:"max_session_size,optional"`

	AcceptUnauthenticatedRecords hcl.Expression `hcl:"accept_unauthenticated_records,optional"`
}

// knownApps are the values http.app accepts; "" serves no application.
var knownApps = []string{"demo"}

// decoder accumulates the diagnostics of one Parse.
type decoder struct {
	ctx     *hcl.EvalContext
	schemas Schemas
	plugins map[string]*Plugin // declared plugins by name
	// nodeMeta is node.meta's expression once it decoded, for the check
	// of its size, which needs the cluster block too.
	nodeMeta hcl.Expression
	diags    hcl.Diagnostics
}

func (d *decoder) decodeFile(body hcl.Body) *Config {
	cfg := Defaults()
	content, diags := body.Content(rootSchema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return &cfg
	}
	// Plugins first, wherever they stand in the file: strategy blocks may
	// name them.
	d.plugins = make(map[string]*Plugin)
	seen := make(map[string]*hcl.Block)
	for _, block := range content.Blocks {
		key := block.Type
		if repeatable[block.Type] {
			key += " " + block.Labels[0]
		}
		if prev, dup := seen[key]; dup {
			what := block.Type + " block"
			if repeatable[block.Type] {
				what = fmt.Sprintf("%s %q", block.Type, block.Labels[0])
			}
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s", what),
				Detail:   fmt.Sprintf("Only one %s is allowed; another was declared at %s.", what, prev.DefRange),
				Subject:  block.DefRange.Ptr(),
			})
			continue
		}
		seen[key] = block
		if block.Type == "plugin" {
			if p := d.decodePlugin(block); p != nil {
				d.plugins[p.Name] = p
				cfg.Plugins = append(cfg.Plugins, p)
			}
		}
	}
	for _, block := range content.Blocks {
		if seen[block.Type] != block && !repeatable[block.Type] {
			continue // a duplicate, reported above
		}
		switch block.Type {
		case "node":
			d.decodeNode(block.Body, &cfg.Node)
		case "http":
			d.decodeHTTP(block.Body, &cfg.HTTP)
		case "session":
			d.decodeSession(block.Body, &cfg.Session)
		case "store":
			cfg.Store = d.decodeStrategy(block)
		case "codec":
			if seen["codec "+block.Labels[0]] != block {
				continue
			}
			if c := d.decodeStrategy(block); c != nil {
				cfg.Codecs = append(cfg.Codecs, c)
			}
		case "router":
			cfg.Router = d.decodeStrategy(block)
		case "replication":
			cfg.Replication = d.decodeStrategy(block)
		case "cluster":
			cfg.Cluster = d.decodeCluster(block.Body)
		case "admin":
			cfg.Admin = d.decodeAdmin(block.Body)
		case "app_api":
			cfg.AppAPI = d.decodeAppAPI(block.Body)
		}
	}
	d.checkGossipMeta(&cfg)
	return &cfg
}

// decodePlugin decodes a plugin declaration; nil if it is invalid.
func (d *decoder) decodePlugin(block *hcl.Block) *Plugin {
	var b pluginBlock
	diags := gohcl.DecodeBody(block.Body, d.ctx, &b)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	p := &Plugin{Name: block.Labels[0], DeclRange: block.DefRange}
	ok := true
	if !d.str("plugin.path", b.Path, &p.Path) || p.Path == "" {
		if p.Path == "" {
			d.invalid("plugin.path", b.Path, "plugin %q needs the path of its executable.", p.Name)
		}
		ok = false
	}
	if d.str("plugin.sha256", b.SHA256, &p.SHA256) && !isSHA256Hex(p.SHA256) {
		d.invalid("plugin.sha256", b.SHA256, "must be 64 hexadecimal digits, the SHA-256 of the plugin's executable.")
		ok = false
	}
	if v, vok := d.value("plugin.args", b.Args, cty.List(cty.String)); vok {
		for _, a := range v.AsValueSlice() {
			if a.IsNull() {
				d.invalid("plugin.args", b.Args, "must not contain null.")
				ok = false
				break
			}
			p.Args = append(p.Args, a.AsString())
		}
	}
	if !ok {
		return nil
	}
	return p
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

func (d *decoder) decodeNode(body hcl.Body, n *Node) {
	var b nodeBlock
	d.diags = append(d.diags, gohcl.DecodeBody(body, d.ctx, &b)...)
	d.str("node.zone", b.Zone, &n.Zone)
	if d.str("node.name", b.Name, &n.Name) {
		if msg := checkNodeName(n.Name); msg != "" {
			d.invalid("node.name", b.Name, "%s", msg)
		}
	}
	// The data directory follows the name unless it is set.
	n.DataDir = DefaultDataDir(n.Name)
	if d.str("node.data_dir", b.DataDir, &n.DataDir) && n.DataDir == "" {
		d.invalid("node.data_dir", b.DataDir, "must not be empty; leave it out to use %q.", DefaultDataDir(n.Name))
	}
	d.decodeNodeMeta(b.Meta, n)
}

// decodeNodeMeta reads node.meta, reporting a bad key or value where it is
// written. Peers refuse a node whose meta breaks nodemeta's rules, so they
// are checked here rather than found out by a farm that will not form.
func (d *decoder) decodeNodeMeta(expr hcl.Expression, n *Node) {
	v, ok := d.value("node.meta", expr, cty.Map(cty.String))
	if !ok {
		return
	}
	meta := make(map[string]string, v.LengthInt())
	valid := true
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		key := k.AsString()
		keyRange, valueRange := objectItem(d.ctx, expr, key)
		if err := nodemeta.CheckKey(key); err != nil {
			d.invalidAt("node.meta", keyRange, "%s.", err)
			valid = false
			continue
		}
		if val.IsNull() {
			d.invalidAt("node.meta", valueRange, "the value of %q must not be null.", key)
			valid = false
			continue
		}
		if err := nodemeta.CheckValue(val.AsString()); err != nil {
			d.invalidAt("node.meta", valueRange, "%q: %s.", key, err)
			valid = false
			continue
		}
		meta[key] = val.AsString()
	}
	if !valid || len(meta) == 0 {
		return
	}
	n.Meta = meta
	d.nodeMeta = expr
}

// objectItem finds the key and value of an entry in an object written out
// in the file, for diagnostics; anything else is reported on the whole
// expression.
func objectItem(ctx *hcl.EvalContext, expr hcl.Expression, key string) (keyRange, valueRange hcl.Range) {
	keyRange, valueRange = expr.Range(), expr.Range()
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return keyRange, valueRange
	}
	for _, item := range obj.Items {
		k, diags := item.KeyExpr.Value(ctx)
		if diags.HasErrors() || !k.IsWhollyKnown() || k.IsNull() {
			continue
		}
		if ks, err := convert.Convert(k, cty.String); err == nil && ks.AsString() == key {
			return item.KeyExpr.Range(), item.ValueExpr.Range()
		}
	}
	return keyRange, valueRange
}

// checkGossipMeta reports a node.meta that would not fit memberlist's
// limit on a node's metadata, computed from the very encoding the node
// announces: the rest of it (name, zone, addresses) leaves meta the room
// it has.
func (d *decoder) checkGossipMeta(cfg *Config) {
	if d.nodeMeta == nil || cfg.Cluster == nil {
		return // a single node gossips nothing
	}
	self := nodemeta.Node{
		Name: cfg.Node.Name, Peer: cfg.Cluster.Peer, HTTP: cfg.AnnouncedHTTP(), Zone: cfg.Node.Zone,
		ProtoMin: nodemeta.ProtocolMin, ProtoMax: nodemeta.ProtocolMax,
		// The start time is not known yet: the longest one.
		Started: math.MaxInt64,
	}
	rest := self.Size()
	self.Meta = cfg.Node.Meta
	if size := self.Size(); size > nodemeta.MaxSize {
		d.invalid("node.meta", d.nodeMeta,
			"encodes to %d bytes of gossip metadata, and the node's name, zone and addresses leave it %d of the %d memberlist allows a node; shorten or drop entries.",
			size-rest, max(0, nodemeta.MaxSize-rest), nodemeta.MaxSize)
	}
}

// checkNodeName rejects names that cannot be a directory name, since the
// default data directory is named after the node.
func checkNodeName(name string) string {
	// The name is the node's route in session tokens (ID.ROUTE) and route
	// cookies, and a directory name: only what is safe in all three.
	ok := len(name) > 0 && len(name) <= 64
	for _, c := range []byte(name) {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}
	if !ok {
		return fmt.Sprintf("%q must be 1 to 64 letters, digits, '-' or '_': the name is the node's route in session cookies.", name)
	}
	return ""
}

func (d *decoder) decodeHTTP(body hcl.Body, h *HTTP) {
	var b httpBlock
	d.diags = append(d.diags, gohcl.DecodeBody(body, d.ctx, &b)...)
	if d.str("http.listen", b.Listen, &h.Listen) {
		// Only the form is checked: Parse binds nothing.
		d.listenAddr("http.listen", b.Listen, h.Listen)
	}
	appSet := d.str("http.app", b.App, &h.App)
	if appSet && h.App != "" && !slices.Contains(knownApps, h.App) {
		d.invalid("http.app", b.App, "unknown app %q; known apps: %s (or \"\" for none).", h.App, quoteList(knownApps))
	}
	if d.str("http.upstream", b.Upstream, &h.Upstream) {
		switch {
		case h.App != "":
			// One handler serves the node's requests: the in-process app
			// or the proxy to the upstream, never both.
			d.invalid("http.upstream", b.Upstream, "cannot be set together with http.app %q: the node either serves an app itself or proxies to an upstream.", h.App)
		default:
			if msg := checkUpstream(h.Upstream); msg != "" {
				d.invalid("http.upstream", b.Upstream, "%s", msg)
			}
		}
	}
}

func (d *decoder) decodeSession(body hcl.Body, s *Session) {
	var b sessionBlock
	d.diags = append(d.diags, gohcl.DecodeBody(body, d.ctx, &b)...)

	if d.str("session.cookie_name", b.CookieName, &s.CookieName) && !httpguts.ValidHeaderFieldName(s.CookieName) {
		d.invalid("session.cookie_name", b.CookieName,
			"%q is not a valid cookie name: it must be non-empty and hold only letters, digits and !#$%%&'*+-.^_`|~.", s.CookieName)
	}
	if d.str("session.cookie_path", b.CookiePath, &s.CookiePath) {
		if !strings.HasPrefix(s.CookiePath, "/") {
			d.invalid("session.cookie_path", b.CookiePath, "%q must start with \"/\".", s.CookiePath)
		} else if err := (&http.Cookie{Name: "x", Path: s.CookiePath}).Valid(); err != nil {
			d.invalid("session.cookie_path", b.CookiePath, "%q is not a valid cookie path (%v).", s.CookiePath, err)
		}
	}
	if d.str("session.cookie_domain", b.CookieDomain, &s.CookieDomain) && s.CookieDomain != "" {
		if err := (&http.Cookie{Name: "x", Domain: s.CookieDomain}).Valid(); err != nil {
			d.invalid("session.cookie_domain", b.CookieDomain, "%q is not a valid cookie domain.", s.CookieDomain)
		}
	}
	d.bool("session.cookie_secure", b.CookieSecure, &s.CookieSecure)
	d.bool("session.cookie_http_only", b.CookieHTTPOnly, &s.CookieHTTPOnly)
	d.bool("session.cookie_persist", b.CookiePersist, &s.CookiePersist)
	d.bool("session.accept_unauthenticated_records", b.AcceptUnauthenticatedRecords, &s.AcceptUnauthenticatedRecords)

	var sameSite string
	if d.str("session.cookie_same_site", b.CookieSameSite, &sameSite) {
		switch sameSite {
		case "lax":
			s.CookieSameSite = http.SameSiteLaxMode
		case "strict":
			s.CookieSameSite = http.SameSiteStrictMode
		case "none":
			s.CookieSameSite = http.SameSiteNoneMode
			// Browsers drop a SameSite=None cookie that is not Secure, so
			// every request would start a new session.
			if !s.CookieSecure {
				d.invalid("session.cookie_same_site", b.CookieSameSite,
					"\"none\" requires cookie_secure = true: browsers reject a SameSite=None cookie that is not Secure.")
			}
		default:
			d.invalid("session.cookie_same_site", b.CookieSameSite, "unknown value %q; use \"lax\", \"strict\" or \"none\".", sameSite)
		}
	}

	before := len(d.diags)
	idleSet := d.duration("session.idle_timeout", b.IdleTimeout, &s.IdleTimeout, true)
	lifeSet := d.duration("session.lifetime", b.Lifetime, &s.Lifetime, true)
	pairOK := len(d.diags) == before // don't compare a value already reported as wrong
	d.duration("session.evict_after", b.EvictAfter, &s.EvictAfter, false)
	d.duration("session.lock_timeout", b.LockTimeout, &s.LockTimeout, true)
	d.duration("session.sweep_interval", b.SweepInterval, &s.SweepInterval, true)
	// A lifetime shorter than the idle timeout would make the idle timeout
	// meaningless; point at whichever of the two the file sets.
	if pairOK && (idleSet || lifeSet) && s.Lifetime < s.IdleTimeout {
		name, expr := "session.lifetime", b.Lifetime
		if !lifeSet {
			name, expr = "session.idle_timeout", b.IdleTimeout
		}
		d.invalid(name, expr, "lifetime (%s) must not be shorter than idle_timeout (%s).", s.Lifetime, s.IdleTimeout)
	}

	if d.int("session.max_in_memory", b.MaxInMemory, &s.MaxInMemory) && s.MaxInMemory < 1 {
		d.invalid("session.max_in_memory", b.MaxInMemory, "must be at least 1, got %d.", s.MaxInMemory)
	}

	var concurrency string
	if d.str("session.concurrency", b.Concurrency, &concurrency) {
		switch concurrency {
		case "shared":
			s.Exclusive = false
		case "exclusive":
			s.Exclusive = true
		default:
			d.invalid("session.concurrency", b.Concurrency, "unknown value %q; use \"shared\" or \"exclusive\".", concurrency)
		}
	}

	before = len(d.diags)
	attrSet := d.size("session.max_attribute_size", b.MaxAttributeSize, &s.MaxAttributeSize)
	sessSet := d.size("session.max_session_size", b.MaxSessionSize, &s.MaxSessionSize)
	pairOK = len(d.diags) == before
	if pairOK && (attrSet || sessSet) && s.MaxAttributeSize > s.MaxSessionSize {
		name, expr := "session.max_attribute_size", b.MaxAttributeSize
		if !attrSet {
			name, expr = "session.max_session_size", b.MaxSessionSize
		}
		d.invalid(name, expr, "max_attribute_size (%d bytes) must not exceed max_session_size (%d bytes).",
			s.MaxAttributeSize, s.MaxSessionSize)
	}
}

// value evaluates an attribute's expression and converts it to ty. It
// reports false when the attribute is absent (gohcl gives an absent
// attribute a null expression; an explicit null means the same) or when the
// value is wrong, in which case a diagnostic has been recorded.
func (d *decoder) value(name string, expr hcl.Expression, ty cty.Type) (cty.Value, bool) {
	if expr == nil { // the block's structure was too broken to decode
		return cty.NilVal, false
	}
	v, diags := expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || v.IsNull() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.invalid(name, expr, "the value must be known when the configuration is read.")
		return cty.NilVal, false
	}
	if ty.Equals(cty.DynamicPseudoType) {
		return v, true
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.invalid(name, expr, "%s.", err)
		return cty.NilVal, false
	}
	if cv.IsNull() {
		return cty.NilVal, false
	}
	return cv, true
}

func (d *decoder) str(name string, expr hcl.Expression, dst *string) bool {
	v, ok := d.value(name, expr, cty.String)
	if ok {
		*dst = v.AsString()
	}
	return ok
}

func (d *decoder) bool(name string, expr hcl.Expression, dst *bool) bool {
	v, ok := d.value(name, expr, cty.Bool)
	if ok {
		*dst = v.True()
	}
	return ok
}

func (d *decoder) int(name string, expr hcl.Expression, dst *int) bool {
	v, ok := d.value(name, expr, cty.Number)
	if !ok {
		return false
	}
	n, msg := toInt(v.AsBigFloat())
	if msg != "" {
		d.invalid(name, expr, "%s", msg)
		return false
	}
	*dst = n
	return true
}

// duration reads a duration written as a string ("30s", "1h30m"). Negative
// durations are never meaningful; positive requires more than zero.
func (d *decoder) duration(name string, expr hcl.Expression, dst *time.Duration, positive bool) bool {
	var s string
	if !d.str(name, expr, &s) {
		return false
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.invalid(name, expr, "%q is not a duration; write a number and a unit, such as \"30s\", \"10m\" or \"1h30m\".", s)
		return false
	case v < 0:
		d.invalid(name, expr, "must not be negative, got %s.", s)
		return false
	case v == 0 && positive:
		d.invalid(name, expr, "must be greater than zero.")
		return false
	}
	*dst = v
	return true
}

// size reads a byte count written either as a number or as a size string
// such as "512KiB", "1MiB" or "1.5 MB" (MB is 10^6 bytes, MiB is 2^20). It
// must be at least one byte.
func (d *decoder) size(name string, expr hcl.Expression, dst *int) bool {
	v, ok := d.value(name, expr, cty.DynamicPseudoType)
	if !ok {
		return false
	}
	var n int
	switch v.Type() {
	case cty.Number:
		var msg string
		if n, msg = toInt(v.AsBigFloat()); msg != "" {
			d.invalid(name, expr, "%s", msg)
			return false
		}
	case cty.String:
		s := v.AsString()
		u, err := humanize.ParseBytes(s)
		if err != nil {
			d.invalid(name, expr, "%q is not a size; write a number of bytes or a size such as \"512KiB\" or \"4MiB\".", s)
			return false
		}
		if u > math.MaxInt {
			d.invalid(name, expr, "%q is too large.", s)
			return false
		}
		n = int(u)
	default:
		d.invalid(name, expr, "a number of bytes or a size string is required, got %s.", v.Type().FriendlyName())
		return false
	}
	if n < 1 {
		d.invalid(name, expr, "must be at least 1 byte, got %d.", n)
		return false
	}
	*dst = n
	return true
}

// toInt converts an HCL number to an int, or says why it cannot. The
// messages do not repeat the number: formatting an arbitrary-precision float
// can be slow, and the diagnostic shows the source line anyway.
func toInt(f *big.Float) (int, string) {
	if !f.IsInt() {
		return 0, "a whole number is required."
	}
	i, acc := f.Int64()
	if acc != big.Exact || i > math.MaxInt || i < math.MinInt {
		return 0, "the number is out of range."
	}
	return int(i), ""
}

// maxNumberExp bounds the binary exponent of a number literal, a little
// beyond float64's range. cty numbers are arbitrary-precision, and turning
// one such as 1e100000000 into a string (which HCL does for templates and
// conversions) takes minutes; no setting needs such a number.
const maxNumberExp = 1100

// checkNumbers reports number literals too large or too small to be
// meaningful, before anything evaluates them.
func checkNumbers(body *hclsyntax.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if !ok || !lit.Val.Type().Equals(cty.Number) || !lit.Val.IsKnown() || lit.Val.IsNull() {
			return nil
		}
		if exp := lit.Val.AsBigFloat().MantExp(nil); exp > maxNumberExp || exp < -maxNumberExp {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Number out of range",
				Detail:   "Numbers in the configuration must lie within about 1e-330 and 1e330.",
				Subject:  lit.SrcRange.Ptr(),
			})
		}
		return nil
	})
	return diags
}

// invalid records an error about an attribute's value, pointing at the value.
// listenAddr checks that addr is host:port with a numeric port a socket can
// have, so that a typo is reported here, at its line, rather than by the
// listener when the node starts.
func (d *decoder) listenAddr(name string, expr hcl.Expression, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		d.invalid(name, expr, "%q is not a host:port address (%v).", addr, err)
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		d.invalid(name, expr, "%q: the port must be a number from 0 to 65535, not %q.", addr, port)
		return false
	}
	return true
}

func (d *decoder) invalid(name string, expr hcl.Expression, format string, args ...any) {
	d.invalidAt(name, expr.Range(), format, args...)
}

// invalidAt is invalid pointing at a part of the value.
func (d *decoder) invalidAt(name string, rng hcl.Range, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + name,
		Detail:   name + ": " + fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
