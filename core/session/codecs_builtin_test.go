package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/plugins/builtin/aesgcm"
	"github.com/wadi-go/wadi/plugins/builtin/compress"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/store"
)

// The tests below run the real builtin codecs through the manager, as
// `wadi run` configures them.

const (
	aesKey1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	aesKey2 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // base64
)

// configured returns p configured with the JSON block cfg.
func configured(t *testing.T, p base.Plugin, cfg string) codec.Codec {
	t.Helper()
	if err := p.Configure(context.Background(), []byte(cfg), base.Node{DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return p.(codec.Codec)
}

func gzipC(t *testing.T) NamedCodec {
	return NamedCodec{"gzip", configured(t, compress.NewGzip(), `{"level":9}`)}
}

func zstdC(t *testing.T) NamedCodec {
	return NamedCodec{"zstd", configured(t, compress.NewZstd(), `{"level":"best"}`)}
}

func s2C(t *testing.T) NamedCodec {
	return NamedCodec{"s2", configured(t, compress.NewS2(), `{"level":"better"}`)}
}

// aesC is aesgcm with the keys (id -> key) and the primary key.
func aesC(t *testing.T, primary string, keys map[string]string) NamedCodec {
	var b strings.Builder
	for id, k := range keys {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + id + `":"` + k + `"`)
	}
	return NamedCodec{"aesgcm", configured(t, aesgcm.New(), `{"keys":{`+b.String()+`},"primary":"`+primary+`","key_file":null}`)}
}

// retiredBuiltins is what the host retires: the compressors, unconfigured.
func retiredBuiltins() map[string]codec.Codec {
	return map[string]codec.Codec{"gzip": compress.NewGzip(), "zstd": compress.NewZstd(), "s2": compress.NewS2()}
}

// logBuffer collects a manager's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func logTo(o *Options) *logBuffer {
	l := &logBuffer{}
	o.Logger = hclog.New(&hclog.LoggerOptions{Output: l, Level: hclog.Debug})
	return l
}

// A record written under one codec configuration, read under another: what
// reads, and what is refused with an error naming the cause.
func TestBuiltinCodecConfigChanges(t *testing.T) {
	k1 := map[string]string{"k1": aesKey1}
	k21 := map[string]string{"k1": aesKey1, "k2": aesKey2}
	k2 := map[string]string{"k2": aesKey2}
	tests := []struct {
		name          string
		before, after func(t *testing.T) []NamedCodec
		noRetired     bool // the host retires nothing
		acceptPlain   bool // AcceptUnauthenticated
		wantErr       string
	}{
		{name: "reorder", before: func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t), aesC(t, "k1", k1)} },
			after: func(t *testing.T) []NamedCodec { return []NamedCodec{aesC(t, "k1", k1), gzipC(t)} }},
		{name: "gzip+aesgcm to zstd+aesgcm", before: func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t), aesC(t, "k1", k1)} },
			after: func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k1", k1)} }},
		{name: "gzip+aesgcm to zstd+aesgcm, nothing retired", before: func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t), aesC(t, "k1", k1)} },
			after:     func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k1", k1)} },
			noRetired: true, wantErr: `codec "gzip", which is neither configured nor retired`},
		{name: "s2 removed", before: func(t *testing.T) []NamedCodec { return []NamedCodec{s2C(t)} },
			after: func(t *testing.T) []NamedCodec { return nil }},
		{name: "s2 removed before aesgcm", before: func(t *testing.T) []NamedCodec { return []NamedCodec{s2C(t), aesC(t, "k1", k1)} },
			after: func(t *testing.T) []NamedCodec { return []NamedCodec{aesC(t, "k1", k1)} }},
		{name: "compressor added before aesgcm", before: func(t *testing.T) []NamedCodec { return []NamedCodec{aesC(t, "k1", k1)} },
			after: func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k1", k1)} }},
		{name: "aesgcm removed", before: func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t), aesC(t, "k1", k1)} },
			after:   func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t)} },
			wantErr: `codec "aesgcm", which is neither configured nor retired`},
		{name: "key rotation", before: func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k1", k1)} },
			after: func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k2", k21)} }},
		{name: "rotated key removed too soon", before: func(t *testing.T) []NamedCodec { return []NamedCodec{aesC(t, "k1", k1)} },
			after:   func(t *testing.T) []NamedCodec { return []NamedCodec{aesC(t, "k2", k2)} },
			wantErr: `encrypted with key "k1", which is not in the key ring`},
		{name: "aesgcm added to plain records", before: func(t *testing.T) []NamedCodec { return nil },
			after:   func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k1", k1)} },
			wantErr: `not encoded with codec "aesgcm"`},
		{name: "aesgcm added to gzip records", before: func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t)} },
			after:   func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t), aesC(t, "k1", k1)} },
			wantErr: `not encoded with codec "aesgcm"`},
		{name: "aesgcm added to plain records, migrating", before: func(t *testing.T) []NamedCodec { return nil },
			after:       func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k1", k1)} },
			acceptPlain: true},
		{name: "aesgcm added to gzip records, migrating", before: func(t *testing.T) []NamedCodec { return []NamedCodec{gzipC(t)} },
			after:       func(t *testing.T) []NamedCodec { return []NamedCodec{zstdC(t), aesC(t, "k1", k1)} },
			acceptPlain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newHarness(t, func(o *Options) { o.Codecs = tt.before(t) })
			id := w.newSession(t, map[string]string{"k": "v"})
			if err := w.m.Close(ctx); err != nil {
				t.Fatal(err)
			}
			var logs *logBuffer
			r := newHarness(t, func(o *Options) {
				o.Store = w.mem
				o.Codecs = tt.after(t)
				if !tt.noRetired {
					o.Retired = retiredBuiltins()
				}
				o.AcceptUnauthenticated = tt.acceptPlain
				logs = logTo(o)
			})
			got, found := r.get(t, id, "k")
			if tt.wantErr == "" {
				if !found || got != "v" {
					t.Fatalf("found %v %q, want the session; logs:\n%s", found, got, logs)
				}
				return
			}
			if found {
				t.Fatalf("found %q, want the record refused with %q", got, tt.wantErr)
			}
			rec, err := w.mem.Load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.m.decodeStored(ctx, rec.Data)
			if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decodeStored = %v; want ErrCorruptRecord saying %q", err, tt.wantErr)
			}
			// Reported with the id cut short, not the whole secret.
			if l := strings.ReplaceAll(logs.String(), `\"`, `"`); !strings.Contains(l, "skipping a corrupt stored session") || !strings.Contains(l, tt.wantErr) || !strings.Contains(l, logID(id)) || strings.Contains(l, id) {
				t.Fatalf("the refusal was not reported with a truncated id; logs:\n%s", l)
			}
		})
	}
}

// With aesgcm configured, whoever can write the store cannot plant a
// session by leaving the encryption out: a plain record, a record whose
// header names only the compressor or only a retired codec, or one that
// claims aesgcm without being sealed by it, is refused and never adopted.
func TestBuiltinCodecDowngradeRefused(t *testing.T) {
	ctx := context.Background()
	gz, zs := compress.NewGzip(), compress.NewZstd()
	header := func(names ...string) []byte { return appendChain(nil, names, nil) }
	layer := func(c codec.Codec, b []byte) []byte {
		out, err := c.Encode(ctx, [][]byte{b})
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	tests := []struct {
		name    string
		forge   func(plain []byte) []byte
		wantErr string
	}{
		{"plain record", func(p []byte) []byte { return p }, `not encoded with codec "aesgcm"`},
		{"aesgcm layer stripped", func(p []byte) []byte { return append(header("gzip"), layer(gz, p)...) }, `not encoded with codec "aesgcm"`},
		{"only a retired codec", func(p []byte) []byte { return append(header("zstd"), layer(zs, p)...) }, `not encoded with codec "aesgcm"`},
		{"names aesgcm, not sealed", func(p []byte) []byte { return append(header("gzip", "aesgcm"), p...) }, "aesgcm: decode"},
		{"aesgcm named outside a plain gzip", func(p []byte) []byte {
			return append(header("aesgcm", "gzip"), layer(gz, p)...)
		}, "aesgcm: decode"},
	}
	for _, accept := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/accept unauthenticated %v", tt.name, accept), func(t *testing.T) {
				var logs *logBuffer
				h := newHarness(t, func(o *Options) {
					o.Codecs = []NamedCodec{gzipC(t), aesC(t, "k1", map[string]string{"k1": aesKey1})}
					o.Retired = retiredBuiltins()
					o.AcceptUnauthenticated = accept
					logs = logTo(o)
				})
				id, err := newID()
				if err != nil {
					t.Fatal(err)
				}
				now := h.clock.Now()
				plain := encodeRecord(&record{id: id, version: 1, created: now, lastAccess: now, idle: time.Hour, lifetime: time.Hour,
					attrs: map[string][]byte{"role": []byte("admin")}})
				data := tt.forge(plain)
				if err := h.mem.Save(ctx, []store.Record{{ID: id, Expires: now.Add(time.Hour), Data: data}}); err != nil {
					t.Fatal(err)
				}
				got, found := h.get(t, id, "role")
				if accept && strings.HasPrefix(tt.wantErr, "not encoded") {
					// The migration setting reads what skips aesgcm: that
					// is its risk, and why it is off by default.
					if !found || got != "admin" {
						t.Fatalf("accepting unauthenticated records: found %v %q", found, got)
					}
					return
				}
				if found {
					t.Fatalf("a forged record was adopted: role %q", got)
				}
				_, err = h.m.decodeStored(ctx, data)
				if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decodeStored = %v; want ErrCorruptRecord saying %q", err, tt.wantErr)
				}
				if !strings.Contains(logs.String(), "skipping a corrupt stored session") {
					t.Fatalf("the forged record was not reported; logs:\n%s", logs)
				}
				// A peer cannot plant one either, as a backup.
				_, err = h.m.ApplyReplicas(ctx, "red#1", []ReplicaItem{{Kind: ReplicaFull, ID: id, Version: 1, Data: data, ExpiresIn: time.Hour}})
				if !errors.Is(err, ErrCorruptRecord) {
					t.Fatalf("ApplyReplicas of a forged record = %v, want ErrCorruptRecord", err)
				}
			})
		}
	}
}
