package redisstore

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wadi-go/wadi/internal/testservers"
	"github.com/wadi-go/wadi/plugins/builtin/internal/storebench"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

func TestMain(m *testing.M) { os.Exit(testservers.Run(m)) }

// blockJSON returns a block as the host sends it (every attribute, null where
// absent without a default), with the given attributes changed.
func blockJSON(t testing.TB, set map[string]any) []byte {
	t.Helper()
	obj := map[string]any{
		"address": nil, "url": nil, "username": nil, "password": nil,
		"database": 0, "key_prefix": DefaultKeyPrefix, "tls": false,
		"tls_ca_file": nil, "tls_server_name": nil, "timeout": "5s",
	}
	for k, v := range set {
		if _, ok := obj[k]; !ok {
			t.Fatalf("blockJSON: no attribute %q", k)
		}
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// freshPrefix is a key prefix no other test uses, on a server tests share.
func freshPrefix() string { return "test:" + rand.Text() + ":" }

// openStore returns a store on the shared server, with keys of its own.
func openStore(t testing.TB, set map[string]any) *Store {
	t.Helper()
	all := map[string]any{"address": testservers.StartRedis(t), "key_prefix": freshPrefix()}
	for k, v := range set {
		all[k] = v
	}
	s, err := FromConfig(blockJSON(t, all))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawClient talks to the server behind the store's back.
func rawClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store { return openStore(t, nil) })
}

func TestKeyLayout(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	defer s.Close()
	c := rawClient(t, s.addr)
	now := time.Now()
	live := store.Record{ID: "live", Expires: now.Add(time.Hour + 123456789*time.Nanosecond), Data: []byte("data")}
	stale := store.Record{ID: "stale", Expires: now.Add(-time.Minute), Data: []byte("old")}
	saved := time.Now()
	if err := s.Save(ctx, []store.Record{live, stale}); err != nil {
		t.Fatal(err)
	}

	v, err := c.Get(ctx, s.prefix+"live").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if want := encodeValue(live.Expires, live.Data); !bytes.Equal(v, want) {
		t.Errorf("stored value %x, want %x", v, want)
	}
	// The TTL is the expiry, rounded up to the millisecond.
	ttl, err := c.PTTL(ctx, s.prefix+"live").Result()
	if err != nil {
		t.Fatal(err)
	}
	if most, least := live.Expires.Sub(saved)+time.Millisecond, time.Until(live.Expires)-time.Second; ttl > most || ttl < least {
		t.Errorf("TTL %v, want from %v to %v", ttl, least, most)
	}
	// A record saved expired is not stored, but is indexed for DeleteExpired.
	if n, err := c.Exists(ctx, s.prefix+"stale").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS of a record saved expired = %d, %v; want 0", n, err)
	}
	index, err := c.ZRangeWithScores(ctx, s.prefix, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := []redis.Z{
		{Score: float64(ceilMicros(stale.Expires)), Member: "stale"},
		{Score: float64(ceilMicros(live.Expires)), Member: "live"},
	}
	if !slices.Equal(index, want) {
		t.Errorf("index %v, want %v", index, want)
	}

	if err := s.Delete(ctx, []string{"live", "stale"}); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, s.prefix+"*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys left after Delete: %q, %v", keys, err)
	}
}

func TestRedisDropsExpired(t *testing.T) {
	// Redis removes a record at its expiry by itself; DeleteExpired still
	// reports it from the index.
	ctx := context.Background()
	s := openStore(t, nil)
	defer s.Close()
	c := rawClient(t, s.addr)
	rec := store.Record{ID: "brief", Expires: time.Now().Add(100 * time.Millisecond), Data: []byte("x")}
	if err := s.Save(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n, err := c.Exists(ctx, s.prefix+rec.ID).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS after the expiry = %d, %v; want 0", n, err)
	}
	ids, err := s.DeleteExpired(ctx, time.Now(), 10)
	if err != nil || !slices.Equal(ids, []string{"brief"}) {
		t.Errorf("DeleteExpired = %q, %v; want [brief]", ids, err)
	}
	if n, err := c.ZCard(ctx, s.prefix).Result(); err != nil || n != 0 {
		t.Errorf("index holds %d entries, %v; want none", n, err)
	}
}

func TestCorruptValue(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	defer s.Close()
	c := rawClient(t, s.addr)
	future := encodeValue(time.Now().Add(time.Hour), nil)
	bad := map[string][]byte{
		"empty":          {},
		"short":          []byte("abc"),
		"header-only-8":  future[:8],
		"unknown-format": append([]byte{0x7f}, future[1:]...),
		"format-zero":    append([]byte{0}, future[1:]...),
	}
	for id, v := range bad {
		if err := c.Set(ctx, s.prefix+id, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for id := range bad {
		_, err := s.Load(ctx, id)
		if !errors.Is(err, store.ErrCorrupt) || !strings.HasPrefix(err.Error(), "redisstore: load") || !strings.Contains(err.Error(), store.LogID(id)) {
			t.Errorf("Load(%s) of a malformed value: %v; want an ErrCorrupt saying what and where", id, err)
		}
		// An id is a session's credential, and the host logs this error.
		if len(id) > 8 && strings.Contains(err.Error(), id) {
			t.Errorf("Load(%s): error %q carries the whole id; want it shortened", id, err)
		}
	}
	// A malformed record can be replaced and deleted.
	fixed := store.Record{ID: "unknown-format", Expires: time.Now().Add(time.Hour), Data: []byte("new")}
	if err := s.Save(ctx, []store.Record{fixed}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, fixed.ID); err != nil || string(got.Data) != "new" {
		t.Errorf("Load after replacing a malformed value = %q, %v", got.Data, err)
	}
	if err := s.Delete(ctx, []string{"empty", "short"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"empty", "short"} {
		if _, err := s.Load(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load(%s) after Delete: %v, want ErrNotFound", id, err)
		}
	}
}

func TestBadIDs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	for _, id := range []string{"", strings.Repeat("x", store.MaxIDLen+1)} {
		if err := s.Save(ctx, []store.Record{{ID: "ok", Expires: exp}, {ID: id, Expires: exp}}); err == nil {
			t.Errorf("Save with a %d-byte id returned no error", len(id))
		}
		if _, err := s.Load(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load of a %d-byte id: %v, want ErrNotFound", len(id), err)
		}
		if err := s.Delete(ctx, []string{id}); err != nil {
			t.Errorf("Delete of a %d-byte id: %v", len(id), err)
		}
	}
	if _, err := s.Load(ctx, "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected batch was partly written: Load(ok) = %v", err)
	}
}

// within runs f and fails t unless it returns an error naming addr within d.
func within(t *testing.T, d time.Duration, addr, call string, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	took := time.Since(start)
	switch {
	case err == nil:
		t.Errorf("%s succeeded against a server that is not answering", call)
	case !strings.Contains(err.Error(), addr):
		t.Errorf("%s: %v; want an error naming %s", call, err, addr)
	}
	if took > d {
		t.Errorf("%s took %v, want at most %v", call, took, d)
	}
	return err
}

// calls are the store's calls, each to be made while the server is away.
func calls(s store.Store) []struct {
	name string
	f    func(ctx context.Context) error
} {
	rec := store.Record{ID: "during", Expires: time.Now().Add(time.Hour), Data: []byte("x")}
	return []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Save", func(ctx context.Context) error { return s.Save(ctx, []store.Record{rec}) }},
		{"Load", func(ctx context.Context) error { _, err := s.Load(ctx, "before"); return err }},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, []string{"before"}) }},
		{"DeleteExpired", func(ctx context.Context) error { _, err := s.DeleteExpired(ctx, time.Now(), 10); return err }},
	}
}

// TestErrorsShortenIDs: a session id is a bearer credential, and the host
// logs the store's errors, so they name an id by its first bytes only.
func TestErrorsShortenIDs(t *testing.T) {
	s, err := FromConfig(blockJSON(t, map[string]any{"address": closedAddr(t), "timeout": "2s"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkErrorsShortenIDs(t, s)
}

// closedAddr is a loopback address nothing listens on: a dial is refused at
// once.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// checkErrorsShortenIDs makes each call that takes an id fail against s,
// which cannot reach its server, and checks the error's id.
func checkErrorsShortenIDs(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	id := rand.Text() // as long as a session id
	rec := store.Record{ID: id, Expires: time.Now().Add(time.Hour), Data: []byte("x")}
	tests := []struct {
		name  string
		call  func() error
		names bool // the error names the one id
	}{
		{"Load", func() error { _, err := s.Load(ctx, id); return err }, true},
		{"Save", func() error { return s.Save(ctx, []store.Record{rec}) }, false},
		{"Delete", func() error { return s.Delete(ctx, []string{id}) }, false},
	}
	for _, tt := range tests {
		err := tt.call()
		switch {
		case err == nil:
			t.Errorf("%s succeeded without a server", tt.name)
		case strings.Contains(err.Error(), id):
			t.Errorf("%s: %q carries the whole id %s; want it shortened", tt.name, err, id)
		case tt.names && !strings.Contains(err.Error(), store.LogID(id)):
			t.Errorf("%s: %q does not name the id as %s", tt.name, err, store.LogID(id))
		}
	}
}

// clientLogChild names the child process of TestClientWritesNoLog.
const clientLogChild = "WADI_REDISSTORE_CLIENT_LOG_CHILD"

// TestClientWritesNoLog: go-redis's default logger writes an unstructured
// line to stderr on every failed dial, while the store's errors already say
// what failed, with context, and the host logs them. The calls are made in
// a child process, so that everything on its stderr is theirs.
func TestClientWritesNoLog(t *testing.T) {
	if os.Getenv(clientLogChild) != "" {
		s, err := FromConfig(blockJSON(t, map[string]any{"address": closedAddr(t), "timeout": "2s"}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, c := range calls(s) {
			if err := c.f(context.Background()); err == nil {
				t.Errorf("%s succeeded without a server", c.name)
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClientWritesNoLog$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), clientLogChild+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	if !bytes.Contains(stdout.Bytes(), []byte("--- PASS: TestClientWritesNoLog")) {
		t.Fatalf("the child did not run the calls:\n%s", stdout.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("calls to a server that is down wrote to stderr:\n%s", stderr.Bytes())
	}
}

// TestServerDown's timeout is long, so that a loaded machine does not fail
// it: a server that is down refuses connections at once, and the calls must
// fail long before it.
func TestServerDown(t *testing.T) {
	ctx := context.Background()
	r := testservers.NewRedis(t)
	s, err := FromConfig(blockJSON(t, map[string]any{"address": r.Addr, "timeout": "10s"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := store.Record{ID: "before", Expires: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx, []store.Record{before}); err != nil {
		t.Fatal(err)
	}

	r.Kill(t)
	// Connection refused: no need to wait for the timeout.
	for _, c := range calls(s) {
		within(t, time.Second, r.Addr, c.name, func() error { return c.f(ctx) })
	}
	// A caller's deadline shorter than the timeout is kept too.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	within(t, time.Second, r.Addr, "Load with a short deadline", func() error { _, err := s.Load(short, "before"); return err })

	r.Restart(t)
	// The server restarted empty; the pooled connections it dropped are
	// replaced without failing a call.
	if _, err := s.Load(ctx, "before"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load after the restart: %v, want ErrNotFound (the server restarted empty)", err)
	}
	for _, c := range calls(s) {
		if err := c.f(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after the restart: %v", c.name, err)
		}
	}
	if _, err := s.Load(ctx, "during"); err != nil {
		t.Errorf("Load of a record saved after the restart: %v", err)
	}
}

func TestServerHung(t *testing.T) {
	ctx := context.Background()
	r := testservers.NewRedis(t)
	const timeout = 300 * time.Millisecond
	s, err := FromConfig(blockJSON(t, map[string]any{"address": r.Addr, "timeout": timeout.String()}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(ctx, []store.Record{{ID: "before", Expires: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}

	r.Pause(t)
	for _, c := range calls(s) {
		err := within(t, timeout+time.Second, r.Addr, c.name, func() error { return c.f(ctx) })
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v; want an error wrapping context.DeadlineExceeded", c.name, err)
		}
	}
	r.Resume(t)
	for _, c := range calls(s) {
		if err := c.f(ctx); err != nil {
			t.Errorf("%s after the server resumed: %v", c.name, err)
		}
	}
}

func TestUnresponsiveListener(t *testing.T) {
	// Something that accepts connections and never answers, such as a
	// half-dead proxy: the timeout bounds the connection's handshake too.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan []net.Conn)
	go func() {
		// Held open, unanswered, until the listener closes.
		var held []net.Conn
		defer func() { accepted <- held }()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		l.Close()
		for _, c := range <-accepted {
			c.Close()
		}
	}()
	s, err := FromConfig(blockJSON(t, map[string]any{"address": l.Addr().String(), "timeout": "200ms"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range calls(s) {
		within(t, 2*time.Second, l.Addr().String(), c.name, func() error { return c.f(context.Background()) })
	}
}

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	ca := dir + "/ca.pem"
	if err := os.WriteFile(ca, selfSignedCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := dir + "/not.pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "redis.example:6380"
	tests := []struct {
		name    string
		set     map[string]any
		want    settings
		wantTLS bool
		wantErr string
	}{
		{name: "address", set: map[string]any{"address": addr},
			want: settings{Addr: addr, KeyPrefix: DefaultKeyPrefix, Timeout: DefaultTimeout}},
		{name: "everything", set: map[string]any{"address": addr, "username": "u", "password": "p", "database": 3,
			"key_prefix": "k:", "tls": true, "tls_ca_file": ca, "tls_server_name": "other.example", "timeout": "250ms"},
			want: settings{Addr: addr, Username: "u", Password: "p", DB: 3, KeyPrefix: "k:", TLS: true,
				TLSCAFile: ca, TLSServerName: "other.example", Timeout: 250 * time.Millisecond}, wantTLS: true},
		{name: "url", set: map[string]any{"url": "redis://u:p%40ss@redis.example:6380/2"},
			want: settings{Addr: addr, Username: "u", Password: "p@ss", DB: 2, KeyPrefix: DefaultKeyPrefix, Timeout: DefaultTimeout}},
		{name: "url default port", set: map[string]any{"url": "redis://redis.example"},
			want: settings{Addr: "redis.example:6379", KeyPrefix: DefaultKeyPrefix, Timeout: DefaultTimeout}},
		{name: "rediss url", set: map[string]any{"url": "rediss://redis.example:6380", "password": "p"},
			want: settings{Addr: addr, Password: "p", TLS: true, KeyPrefix: DefaultKeyPrefix, Timeout: DefaultTimeout}, wantTLS: true},
		{name: "url database agrees", set: map[string]any{"url": "redis://redis.example:6380/4", "database": 4},
			want: settings{Addr: addr, DB: 4, KeyPrefix: DefaultKeyPrefix, Timeout: DefaultTimeout}},
		{name: "database with url", set: map[string]any{"url": "redis://redis.example:6380", "database": 5},
			want: settings{Addr: addr, DB: 5, KeyPrefix: DefaultKeyPrefix, Timeout: DefaultTimeout}},
		{name: "ipv6", set: map[string]any{"address": "[::1]:6379"},
			want: settings{Addr: "[::1]:6379", KeyPrefix: DefaultKeyPrefix, Timeout: DefaultTimeout}},

		{name: "neither", set: nil, wantErr: "neither address nor url"},
		{name: "both", set: map[string]any{"address": addr, "url": "redis://" + addr}, wantErr: "both set"},
		{name: "no port", set: map[string]any{"address": "redis.example"}, wantErr: "not host:port"},
		{name: "no host", set: map[string]any{"address": ":6379"}, wantErr: "no host"},
		{name: "bad port", set: map[string]any{"address": "h:99999"}, wantErr: "port"},
		{name: "url scheme", set: map[string]any{"url": "http://redis.example"}, wantErr: `scheme "http"`},
		{name: "unix url", set: map[string]any{"url": "unix:///tmp/redis.sock"}, wantErr: `scheme "unix"`},
		{name: "url query", set: map[string]any{"url": "redis://h:1?dial_timeout=1h"}, wantErr: "query parameters"},
		{name: "url database", set: map[string]any{"url": "redis://h:1/x"}, wantErr: "url:"},
		{name: "url database differs", set: map[string]any{"url": "redis://h:1/2", "database": 3}, wantErr: "contradicts"},
		{name: "url and password", set: map[string]any{"url": "redis://:secret@h:1", "password": "p"}, wantErr: "one place"},
		{name: "negative database", set: map[string]any{"address": addr, "database": -1}, wantErr: "database -1"},
		{name: "fractional database", set: map[string]any{"address": addr, "database": 1.5}, wantErr: "database 1.5"},
		{name: "empty prefix", set: map[string]any{"address": addr, "key_prefix": ""}, wantErr: "key_prefix is empty"},
		{name: "ca without tls", set: map[string]any{"address": addr, "tls_ca_file": ca}, wantErr: "need tls"},
		{name: "missing ca", set: map[string]any{"address": addr, "tls": true, "tls_ca_file": dir + "/none.pem"}, wantErr: "tls_ca_file"},
		{name: "ca not pem", set: map[string]any{"address": addr, "tls": true, "tls_ca_file": notPEM}, wantErr: "no PEM certificate"},
		{name: "bad timeout", set: map[string]any{"address": addr, "timeout": "soon"}, wantErr: "timeout"},
		{name: "zero timeout", set: map[string]any{"address": addr, "timeout": "0s"}, wantErr: "not positive"},
		{name: "wrong type", set: map[string]any{"address": 6379}, wantErr: "cannot unmarshal number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, opts, err := parseConfig(blockJSON(t, tt.set))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "redisstore: ") {
					t.Fatalf("parseConfig = %v; want an error mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
			if (opts.TLSConfig != nil) != tt.wantTLS {
				t.Errorf("TLS config %v, want TLS %v", opts.TLSConfig, tt.wantTLS)
			}
			if opts.Addr != tt.want.Addr || opts.DB != tt.want.DB || opts.Password != tt.want.Password || opts.DialTimeout != tt.want.Timeout {
				t.Errorf("options %+v do not follow the settings", opts)
			}
		})
	}
}

func TestParseConfigTLS(t *testing.T) {
	_, opts, err := parseConfig(blockJSON(t, map[string]any{"url": "rediss://cache.example:6380"}))
	if err != nil {
		t.Fatal(err)
	}
	if tc := opts.TLSConfig; tc.ServerName != "cache.example" || tc.RootCAs != nil || tc.MinVersion < 0x0303 {
		t.Errorf("TLS config %+v: want the URL's host verified against the system's CAs, TLS 1.2 or later", tc)
	}
}

// selfSignedCA returns a freshly made self-signed certificate, as PEM.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestMicros(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	tests := []struct {
		t           time.Time
		ceil, floor int64
	}{
		{base, base.UnixMicro(), base.UnixMicro()},
		{base.Add(1), base.UnixMicro() + 1, base.UnixMicro()},
		{base.Add(999), base.UnixMicro() + 1, base.UnixMicro()},
		{base.Add(1000), base.UnixMicro() + 1, base.UnixMicro() + 1},
		{time.Unix(0, -1), 0, -1},
		{time.Unix(0, -1001), -1, -2},
	}
	for _, tt := range tests {
		if c, f := ceilMicros(tt.t), floorMicros(tt.t); c != tt.ceil || f != tt.floor {
			t.Errorf("ceil, floor of %d ns = %d, %d µs; want %d, %d", tt.t.UnixNano(), c, f, tt.ceil, tt.floor)
		}
	}
}

func FuzzDecodeValue(f *testing.F) {
	f.Add([]byte{}, int64(0), []byte{})
	f.Add([]byte("short"), int64(-1), []byte{0})
	f.Add(encodeValue(time.Unix(1_700_000_000, 0), []byte("data")), int64(1_700_000_000_000_000_000), []byte("data"))
	f.Add(append([]byte{2}, bytes.Repeat([]byte{0xff}, 8)...), int64(1)<<62, bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, raw []byte, nanos int64, data []byte) {
		// Any bytes decode without panicking, and whatever decodes encodes
		// back to the same bytes.
		if e, d, err := decodeValue(raw); err == nil {
			if back := encodeValue(e, d); !bytes.Equal(back, raw) {
				t.Fatalf("encodeValue(decodeValue(%x)) = %x", raw, back)
			}
		} else if !errors.Is(err, errMalformed) {
			t.Fatalf("decodeValue(%x): error %v does not wrap errMalformed", raw, err)
		}
		// Any expiry and data round-trip.
		tm := time.Unix(0, nanos)
		e, d, err := decodeValue(encodeValue(tm, data))
		if err != nil {
			t.Fatalf("decodeValue of a valid value: %v", err)
		}
		if !e.Equal(tm) || !bytes.Equal(d, data) {
			t.Fatalf("round trip: %v %x, want %v %x", e, d, tm, data)
		}
	})
}

// The benchmarks shared by the builtin stores, against this one.
func BenchmarkSave(b *testing.B) { storebench.Save(b, openRedisstore) }

func BenchmarkSaveBatch(b *testing.B) { storebench.SaveBatch(b, openRedisstore) }

func BenchmarkLoad(b *testing.B) { storebench.Load(b, openRedisstore) }

var openRedisstore storebench.Open = func(tb testing.TB) store.Store { return openStore(tb, nil) }
