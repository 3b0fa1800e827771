package plugintest_test

// Reference plugins, one per kit, written with the standard library and the
// sdk only, as a plugin author would: the kits must pass them. broken_test.go
// derives broken variants from them that the kits must fail.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

// decodeConfig decodes a config block strictly: an unknown attribute or data
// after the object is an error.
func decodeConfig(config []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("config: data after the object")
	}
	return nil
}

func info(name string, kind base.Kind) base.Info {
	return base.Info{Name: name, Kind: kind, Version: "1.0.0", APIVersions: []int{base.APIVersion}}
}

// ---- codec: gzip, then an HMAC-SHA256 tag over the magic byte and the
// compressed bytes.

const (
	codecMagic = 0xC1
	tagSize    = sha256.Size
)

type macCodec struct {
	mu    sync.RWMutex
	keys  [][]byte // the first signs; all verify
	level int

	// Knobs for broken variants.
	lenient      bool // Configure ignores unknown attributes
	ignoreCancel bool // Encode and Decode ignore their context
	kind         base.Kind
}

var _ codec.Plugin = (*macCodec)(nil)

func (c *macCodec) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, err
	}
	kind := base.KindCodec
	if c.kind != "" {
		kind = c.kind
	}
	return info("hmac-gzip", kind), nil
}

func (c *macCodec) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, err
	}
	return schema.Schema{Attributes: []schema.Attribute{
		{Name: "keys", Type: schema.ListString, Required: true, Doc: "HMAC keys, at least 16 bytes each; the first signs"},
		{Name: "level", Type: schema.Number, Default: "6", Doc: "gzip level, 1 (fast) to 9 (small)"},
	}}, nil
}

func (c *macCodec) Configure(ctx context.Context, config []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var cfg struct {
		Keys  []string `json:"keys"`
		Level int      `json:"level"`
	}
	cfg.Level = 6
	var err error
	if c.lenient {
		err = json.Unmarshal(config, &cfg)
	} else {
		err = decodeConfig(config, &cfg)
	}
	if err != nil {
		return err
	}
	if len(cfg.Keys) == 0 {
		return errors.New("hmac-gzip: keys: at least one key is required")
	}
	keys := make([][]byte, len(cfg.Keys))
	for i, k := range cfg.Keys {
		if len(k) < 16 {
			return fmt.Errorf("hmac-gzip: keys[%d]: %d bytes; want at least 16", i, len(k))
		}
		keys[i] = []byte(k)
	}
	if cfg.Level < gzip.BestSpeed || cfg.Level > gzip.BestCompression {
		return fmt.Errorf("hmac-gzip: level %d: want 1 to 9", cfg.Level)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys, c.level = keys, cfg.Level
	return nil
}

func (c *macCodec) ctxErr(ctx context.Context) error {
	if c.ignoreCancel {
		return nil
	}
	return ctx.Err()
}

func (c *macCodec) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	c.mu.RLock()
	key, level := c.keys[0], c.level
	c.mu.RUnlock()
	out := make([][]byte, len(items))
	for i, item := range items {
		if err := c.ctxErr(ctx); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		b.WriteByte(codecMagic)
		w, err := gzip.NewWriterLevel(&b, level)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(item); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(b.Bytes())
		out[i] = mac.Sum(b.Bytes())
	}
	if err := c.ctxErr(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *macCodec) Decode(ctx context.Context, data []byte) ([]byte, error) {
	if err := c.ctxErr(ctx); err != nil {
		return nil, err
	}
	if len(data) < 1+tagSize || data[0] != codecMagic {
		return nil, fmt.Errorf("hmac-gzip: %w: too short or not ours", codec.ErrCorrupt)
	}
	body, tag := data[:len(data)-tagSize], data[len(data)-tagSize:]
	c.mu.RLock()
	keys := c.keys
	c.mu.RUnlock()
	ok := false
	for _, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), tag) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("hmac-gzip: %w: bad tag", codec.ErrCorrupt)
	}
	return gunzip(body[1:])
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w: %v", codec.ErrCorrupt, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w: %v", codec.ErrCorrupt, err)
	}
	return out, nil
}

func newMACCodec(t *testing.T, keys ...string) *macCodec {
	t.Helper()
	c := &macCodec{}
	cfg, err := json.Marshal(map[string]any{"keys": keys, "level": 6})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Configure(t.Context(), cfg, base.Node{Name: "node-a"}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return c
}

const (
	key1 = "first key, 32 bytes long ......."
	key2 = "second key, 32 bytes long ......"
)

func openMACCodec(keys ...string) func(t *testing.T) codec.Codec {
	return func(t *testing.T) codec.Codec { return newMACCodec(t, keys...) }
}

// gzipCodec is plain gzip: it detects most corruption (gzip has a CRC) but
// not all, so it runs with CodecOptions.Unauthenticated.
type gzipCodec struct{}

func (gzipCodec) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	out := make([][]byte, len(items))
	for i, item := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		if _, err := w.Write(item); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		out[i] = b.Bytes()
	}
	return out, ctx.Err()
}

func (gzipCodec) Decode(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return gunzip(data)
}

func TestReferenceCodec(t *testing.T) {
	t.Run("Plugin", func(t *testing.T) {
		plugintest.TestPlugin(t, &macCodec{}, base.KindCodec, plugintest.Configs{
			Valid: [][]byte{
				[]byte(`{"keys":["` + key1 + `"],"level":6}`),
				[]byte(`{"keys":["` + key2 + `","` + key1 + `"],"level":9}`),
			},
			Invalid: [][]byte{
				[]byte(`{"keys":[],"level":6}`),
				[]byte(`{"keys":null,"level":6}`),
				[]byte(`{"keys":["short"],"level":6}`),
				[]byte(`{"keys":["` + key1 + `"],"level":42}`),
				[]byte(`{"keys":["` + key1 + `"],"level":1.5}`),
				[]byte(`{"keys":"` + key1 + `","level":6}`),
			},
		})
	})
	t.Run("Codec", func(t *testing.T) {
		plugintest.TestCodec(t, openMACCodec(key1))
	})
	t.Run("PairSameKey", func(t *testing.T) {
		plugintest.TestCodecPair(t, openMACCodec(key1), openMACCodec(key1), true)
	})
	t.Run("PairRotatedIn", func(t *testing.T) {
		plugintest.TestCodecPair(t, openMACCodec(key1), openMACCodec(key2, key1), true)
	})
	t.Run("PairRotatedOut", func(t *testing.T) {
		plugintest.TestCodecPair(t, openMACCodec(key2, key1), openMACCodec(key1), false)
	})
	t.Run("PairOtherKey", func(t *testing.T) {
		plugintest.TestCodecPair(t, openMACCodec(key1), openMACCodec(key2), false)
	})
}

func TestReferenceUnauthenticatedCodec(t *testing.T) {
	plugintest.TestCodecWith(t, func(*testing.T) codec.Codec { return gzipCodec{} },
		plugintest.CodecOptions{Unauthenticated: true})
}

// ---- router: a fixed format and a configured policy.

type policyRouter struct {
	mu     sync.RWMutex
	policy router.Action
	format router.Format
}

var _ router.Plugin = (*policyRouter)(nil)

func (r *policyRouter) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, err
	}
	return info("policy", base.KindRouter), nil
}

func (r *policyRouter) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, err
	}
	return schema.Schema{Attributes: []schema.Attribute{
		{Name: "policy", Type: schema.String, Default: `"migrate"`, Doc: "migrate, proxy or redirect"},
		{Name: "separator", Type: schema.String, Default: `"."`, Doc: "appended to the session id before the route"},
		{Name: "cookie", Type: schema.String, Doc: "a cookie of its own for the route"},
	}}, nil
}

func (r *policyRouter) Configure(ctx context.Context, config []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := struct {
		Policy    string  `json:"policy"`
		Separator string  `json:"separator"`
		Cookie    *string `json:"cookie"`
	}{Policy: "migrate", Separator: "."}
	if err := decodeConfig(config, &cfg); err != nil {
		return err
	}
	var policy router.Action
	switch cfg.Policy {
	case "migrate":
		policy = router.Migrate
	case "proxy":
		policy = router.Proxy
	case "redirect":
		policy = router.Redirect
	default:
		return fmt.Errorf("policy: %q is not migrate, proxy or redirect", cfg.Policy)
	}
	f := router.Format{RouteSeparator: cfg.Separator}
	if cfg.Cookie != nil {
		f.RouteCookie = *cfg.Cookie
	}
	if err := f.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.policy, r.format = policy, f
	return nil
}

func (r *policyRouter) Format(ctx context.Context) (router.Format, error) {
	if err := ctx.Err(); err != nil {
		return router.Format{}, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.format, nil
}

func (r *policyRouter) Relocate(ctx context.Context, m router.Miss) (router.Decision, error) {
	if err := ctx.Err(); err != nil {
		return router.Decision{}, err
	}
	r.mu.RLock()
	policy := r.policy
	r.mu.RUnlock()
	if policy != router.Redirect {
		return router.Decision{Action: policy}, nil
	}
	holder, err := url.Parse(m.HolderURL)
	if err != nil {
		return router.Decision{}, fmt.Errorf("holder URL: %v", err)
	}
	if (holder.Scheme != "http" && holder.Scheme != "https") || holder.Host == "" {
		return router.Decision{}, fmt.Errorf("holder URL %q is not an absolute http(s) URL", m.HolderURL)
	}
	path := m.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return router.Decision{}, fmt.Errorf("path %q is not absolute", path)
	}
	u := url.URL{Scheme: holder.Scheme, Host: holder.Host, Path: path}
	return router.Decision{Action: router.Redirect, URL: u.String()}, nil
}

func newPolicyRouter(t *testing.T, config string) *policyRouter {
	t.Helper()
	r := &policyRouter{}
	if err := r.Configure(t.Context(), []byte(config), base.Node{Name: "node-a"}); err != nil {
		t.Fatalf("Configure(%s): %v", config, err)
	}
	return r
}

func TestReferenceRouter(t *testing.T) {
	t.Run("Plugin", func(t *testing.T) {
		plugintest.TestPlugin(t, &policyRouter{}, base.KindRouter, plugintest.Configs{
			Valid: [][]byte{
				[]byte(`{"policy":"migrate","separator":".","cookie":null}`),
				[]byte(`{"policy":"redirect","separator":"~","cookie":"SERVERID"}`),
			},
			Invalid: [][]byte{
				[]byte(`{"policy":"teleport","separator":".","cookie":null}`),
				[]byte(`{"policy":"proxy","separator":"/","cookie":null}`),
				[]byte(`{"policy":"proxy","separator":".","cookie":"bad cookie"}`),
				[]byte(`{"policy":1,"separator":".","cookie":null}`),
			},
		})
	})
	for _, policy := range []string{"migrate", "proxy", "redirect"} {
		t.Run(policy, func(t *testing.T) {
			plugintest.TestRouter(t, func(t *testing.T) router.Router {
				return newPolicyRouter(t, `{"policy":"`+policy+`","separator":".","cookie":"SERVERID"}`)
			})
		})
	}
}

// ---- replicator: rendezvous hashing, optionally one backup per zone and
// never in the primary's zone.

type rendezvous struct {
	mu       sync.RWMutex
	settings replicator.Settings
	zones    bool

	// Knobs for broken variants.
	choose    func(p int, primary string, members, candidates []replicator.Member, n int) []string
	noChecks  bool
	keepOrder bool
}

var _ replicator.Plugin = (*rendezvous)(nil)

func (r *rendezvous) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, err
	}
	return info("rendezvous", base.KindReplicator), nil
}

func (r *rendezvous) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, err
	}
	return schema.Schema{Attributes: []schema.Attribute{
		{Name: "backups", Type: schema.Number, Default: "1", Doc: "copies besides the holder's"},
		{Name: "mode", Type: schema.String, Default: `"sync"`, Doc: "sync or async"},
		{Name: "granularity", Type: schema.String, Default: `"session"`, Doc: "session or attribute"},
		{Name: "zone_aware", Type: schema.Bool, Default: "false", Doc: "one copy per zone, never in the holder's"},
	}}, nil
}

func (r *rendezvous) Configure(ctx context.Context, config []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := struct {
		Backups     int    `json:"backups"`
		Mode        string `json:"mode"`
		Granularity string `json:"granularity"`
		ZoneAware   bool   `json:"zone_aware"`
	}{Backups: 1, Mode: "sync", Granularity: "session"}
	if err := decodeConfig(config, &cfg); err != nil {
		return err
	}
	if cfg.Backups < 0 || cfg.Backups > 10 {
		return fmt.Errorf("backups: %d; want 0 to 10", cfg.Backups)
	}
	s := replicator.Settings{Backups: cfg.Backups, Mode: replicator.Mode(cfg.Mode), Granularity: replicator.Granularity(cfg.Granularity)}
	if s.Mode != replicator.Sync && s.Mode != replicator.Async {
		return fmt.Errorf("mode: %q is not sync or async", cfg.Mode)
	}
	if s.Granularity != replicator.Session && s.Granularity != replicator.Attribute {
		return fmt.Errorf("granularity: %q is not session or attribute", cfg.Granularity)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settings, r.zones = s, cfg.ZoneAware
	return nil
}

func (r *rendezvous) Settings(ctx context.Context) (replicator.Settings, error) {
	if err := ctx.Err(); err != nil {
		return replicator.Settings{}, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.settings, nil
}

// score is the rendezvous weight of a member for a partition.
func score(p int, name string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(p))
	h.Write(b[:])
	h.Write([]byte(name))
	x := h.Sum64()
	// splitmix64's finaliser, so that near names get unrelated weights.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (r *rendezvous) Place(ctx context.Context, req replicator.PlaceRequest) ([][]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.RLock()
	n, zoneAware := r.settings.Backups, r.zones
	r.mu.RUnlock()
	zone := make(map[string]string, len(req.Members))
	if !r.noChecks {
		if len(req.Members) == 0 {
			return nil, errors.New("rendezvous: no members")
		}
		for _, m := range req.Members {
			if m.Name == "" {
				return nil, errors.New("rendezvous: a member has no name")
			}
			if _, dup := zone[m.Name]; dup {
				return nil, fmt.Errorf("rendezvous: member %q listed twice", m.Name)
			}
			zone[m.Name] = m.Zone
		}
		for p, primary := range req.Primaries {
			if _, ok := zone[primary]; !ok {
				return nil, fmt.Errorf("rendezvous: partition %d: primary %q is not a member", p, primary)
			}
		}
	} else {
		for _, m := range req.Members {
			zone[m.Name] = m.Zone
		}
	}
	members := req.Members
	if !r.keepOrder {
		members = slices.Clone(members)
		slices.SortFunc(members, func(a, b replicator.Member) int { return strings.Compare(a.Name, b.Name) })
	}
	out := make([][]string, len(req.Primaries))
	candidates := make([]replicator.Member, 0, len(members))
	for p, primary := range req.Primaries {
		candidates = candidates[:0]
		for _, m := range members {
			if m.Name != primary && (!zoneAware || m.Zone != zone[primary]) {
				candidates = append(candidates, m)
			}
		}
		if r.choose != nil {
			out[p] = r.choose(p, primary, members, candidates, n)
			continue
		}
		slices.SortStableFunc(candidates, func(a, b replicator.Member) int {
			sa, sb := score(p, a.Name), score(p, b.Name)
			switch {
			case sa > sb:
				return -1
			case sa < sb:
				return 1
			}
			return strings.Compare(a.Name, b.Name)
		})
		used := map[string]bool{}
		var backups []string
		for _, m := range candidates {
			if len(backups) == n {
				break
			}
			if zoneAware && used[m.Zone] {
				continue
			}
			used[m.Zone] = true
			backups = append(backups, m.Name)
		}
		out[p] = backups
	}
	return out, nil
}

func newRendezvous(t *testing.T, config string) *rendezvous {
	t.Helper()
	r := &rendezvous{}
	if err := r.Configure(t.Context(), []byte(config), base.Node{Name: "node-a"}); err != nil {
		t.Fatalf("Configure(%s): %v", config, err)
	}
	return r
}

func openRendezvous(config string) func(t *testing.T) replicator.Replicator {
	return func(t *testing.T) replicator.Replicator { return newRendezvous(t, config) }
}

// zoneRule is the zone-aware replicator's own rule, for ReplicatorOptions.Check:
// no backup in the primary's zone, no two backups in one zone.
func zoneRule(req replicator.PlaceRequest, backups [][]string) error {
	zone := map[string]string{}
	for _, m := range req.Members {
		zone[m.Name] = m.Zone
	}
	for p, bs := range backups {
		used := map[string]bool{zone[req.Primaries[p]]: true}
		for _, b := range bs {
			if used[zone[b]] {
				return fmt.Errorf("partition %d (primary %s in %s): backups %q put two copies in %s",
					p, req.Primaries[p], zone[req.Primaries[p]], bs, zone[b])
			}
			used[zone[b]] = true
		}
	}
	return nil
}

func TestReferenceReplicator(t *testing.T) {
	t.Run("Plugin", func(t *testing.T) {
		plugintest.TestPlugin(t, &rendezvous{}, base.KindReplicator, plugintest.Configs{
			Valid: [][]byte{
				[]byte(`{"backups":1,"mode":"sync","granularity":"session","zone_aware":false}`),
				[]byte(`{"backups":0,"mode":"async","granularity":"attribute","zone_aware":true}`),
			},
			Invalid: [][]byte{
				[]byte(`{"backups":-1,"mode":"sync","granularity":"session","zone_aware":false}`),
				[]byte(`{"backups":1.5,"mode":"sync","granularity":"session","zone_aware":false}`),
				[]byte(`{"backups":1,"mode":"eventually","granularity":"session","zone_aware":false}`),
				[]byte(`{"backups":1,"mode":"sync","granularity":"field","zone_aware":false}`),
				[]byte(`{"backups":1,"mode":"sync","granularity":"session","zone_aware":"yes"}`),
			},
		})
	})
	for _, tt := range []struct {
		name   string
		config string
		opts   plugintest.ReplicatorOptions
	}{
		{"backups-0", `{"backups":0}`, plugintest.ReplicatorOptions{}},
		{"backups-1", `{"backups":1}`, plugintest.ReplicatorOptions{}},
		{"backups-2-async-attribute", `{"backups":2,"mode":"async","granularity":"attribute"}`, plugintest.ReplicatorOptions{}},
		{"backups-2-zone-aware", `{"backups":2,"zone_aware":true}`, plugintest.ReplicatorOptions{Constrained: true, Check: zoneRule}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plugintest.TestReplicator(t, openRendezvous(tt.config), tt.opts)
		})
	}
}

// ---- store: a map under a mutex.

type mapStore struct {
	mu   sync.Mutex
	recs map[string]store.Record

	// Knobs for broken variants.
	aliasData   bool // keeps and returns the caller's Data slices
	loadExpired bool // Load returns records past their expiry
}

var _ store.Store = (*mapStore)(nil)

func newMapStore(*testing.T) store.Store { return &mapStore{recs: map[string]store.Record{}} }

func checkStoreID(id string) error {
	if id == "" || len(id) > store.MaxIDLen {
		return fmt.Errorf("map store: id of %d bytes; want 1 to %d", len(id), store.MaxIDLen)
	}
	return nil
}

func (s *mapStore) clone(b []byte) []byte {
	if s.aliasData {
		return b
	}
	return bytes.Clone(b)
}

func (s *mapStore) Save(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("map store: save: %w", err)
	}
	for _, r := range recs {
		if err := checkStoreID(r.ID); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		r.Data = s.clone(r.Data)
		s.recs[r.ID] = r
	}
	return nil
}

func (s *mapStore) Load(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("map store: load: %w", err)
	}
	if err := checkStoreID(id); err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok || (!s.loadExpired && !r.Expires.After(time.Now())) {
		return store.Record{}, fmt.Errorf("map store: load %q: %w", id, store.ErrNotFound)
	}
	r.Data = s.clone(r.Data)
	return r, nil
}

func (s *mapStore) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("map store: delete: %w", err)
	}
	for _, id := range ids {
		if err := checkStoreID(id); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.recs, id)
	}
	return nil
}

func (s *mapStore) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("map store: delete expired: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	// The check and the removal under one lock: a record saved again with a
	// later expiry meanwhile is not removed.
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []store.Record
	for _, r := range s.recs {
		if !r.Expires.After(before) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b store.Record) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ids := make([]string, 0, min(limit, len(due)))
	for _, r := range due[:min(limit, len(due))] {
		delete(s.recs, r.ID)
		ids = append(ids, r.ID)
	}
	return ids, nil
}

func (s *mapStore) Close() error { return nil }

func TestReferenceStore(t *testing.T) {
	plugintest.TestStore(t, newMapStore)
}
