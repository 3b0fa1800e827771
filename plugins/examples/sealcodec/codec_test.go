package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
)

// Test keys: 64 hex digits each. Never use keys like these in a wadi.hcl.
var (
	keyA = strings.Repeat("a1", 32)
	keyB = strings.Repeat("b2", 32)
	keyC = strings.Repeat("C3", 32) // upper case is hex too
)

// ring is a key ring for block: key id -> hex key.
type ring map[string]string

// block is a configuration block as the host sends it.
func block(t testing.TB, primary string, keys ring) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys, "primary": primary})
	if err != nil {
		t.Fatalf("encoding a block: %v", err)
	}
	return b
}

// configured returns a codec configured with the block.
func configured(t testing.TB, primary string, keys ring) *Codec {
	t.Helper()
	c := New()
	if err := c.Configure(context.Background(), block(t, primary, keys), base.Node{Name: "node-a"}); err != nil {
		t.Fatalf("Configure(primary %q): %v", primary, err)
	}
	return c
}

func opener(primary string, keys ring) func(t *testing.T) codec.Codec {
	return func(t *testing.T) codec.Codec { return configured(t, primary, keys) }
}

func TestPlugin(t *testing.T) {
	plugintest.TestPlugin(t, New(), base.KindCodec, plugintest.Configs{
		Valid: [][]byte{
			block(t, "2026-01", ring{"2026-01": keyA}),
			block(t, "new", ring{"old": keyA, "new": keyB, "older": keyC}),
			block(t, strings.Repeat("k", maxKeyIDLen), ring{strings.Repeat("k", maxKeyIDLen): keyA}),
		},
		Invalid: [][]byte{
			block(t, "a", ring{}),
			block(t, "a", ring{"a": keyA[:62]}),
			block(t, "a", ring{"a": keyA + "00"}),
			block(t, "a", ring{"a": strings.Repeat("zz", 32)}),
			block(t, "a", ring{"a": keyA, "b": "not a key"}),
			block(t, "b", ring{"a": keyA}),
			block(t, "", ring{"a": keyA}),
			block(t, "", ring{"": keyA}),
			block(t, strings.Repeat("k", maxKeyIDLen+1), ring{strings.Repeat("k", maxKeyIDLen+1): keyA}),
			[]byte(`{"keys":null,"primary":"a"}`),
			[]byte(`{"keys":{"a":"` + keyA + `"},"primary":null}`),
			[]byte(`{"keys":["` + keyA + `"],"primary":"a"}`),
			[]byte(`{"keys":{"a":1},"primary":"a"}`),
		},
	})
}

func TestConformance(t *testing.T) {
	plugintest.TestCodec(t, opener("b", ring{"a": keyA, "b": keyB}))
}

// TestPairs checks which key rings read what another sealed.
func TestPairs(t *testing.T) {
	tests := []struct {
		name       string
		a, b       func(t *testing.T) codec.Codec
		compatible bool
	}{
		{"same-ring", opener("a", ring{"a": keyA}), opener("a", ring{"a": keyA}), true},
		{"key-added", opener("a", ring{"a": keyA}), opener("b", ring{"a": keyA, "b": keyB}), true},
		{"primary-removed", opener("b", ring{"a": keyA, "b": keyB}), opener("a", ring{"a": keyA}), false},
		{"same-id-other-key", opener("a", ring{"a": keyA}), opener("a", ring{"a": keyB}), false},
		{"same-key-other-id", opener("a", ring{"a": keyA}), opener("b", ring{"b": keyA}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugintest.TestCodecPair(t, tt.a, tt.b, tt.compatible)
		})
	}
}

// TestKeyRotation rotates the keys of one codec the way an operator does:
// add a key and make it primary, then, once nothing sealed under the old one
// is left, remove it.
func TestKeyRotation(t *testing.T) {
	ctx := t.Context()
	c := configured(t, "2026-01", ring{"2026-01": keyA})
	session := []byte(`{"cart":["sku-1","sku-2"]}`)
	oldRec := seal(t, c, session)

	reconfigure(t, c, "2026-02", ring{"2026-01": keyA, "2026-02": keyB})
	if got, err := c.Decode(ctx, oldRec); err != nil || !bytes.Equal(got, session) {
		t.Fatalf("after the primary changed, Decode(record sealed under the old primary) = %q, %v; want %q", got, err, session)
	}
	newRec := seal(t, c, session)
	if id := keyID(t, newRec); id != "2026-02" {
		t.Errorf("after the primary changed, a new record is sealed under %q; want 2026-02", id)
	}

	reconfigure(t, c, "2026-02", ring{"2026-02": keyB})
	if got, err := c.Decode(ctx, oldRec); !errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("after its key was removed, Decode(old record) = %q, %v; want an error wrapping codec.ErrCorrupt", got, err)
	}
	if got, err := c.Decode(ctx, newRec); err != nil || !bytes.Equal(got, session) {
		t.Errorf("Decode(record sealed under the remaining key) = %q, %v; want %q", got, err, session)
	}
}

func reconfigure(t *testing.T, c *Codec, primary string, keys ring) {
	t.Helper()
	if err := c.Configure(t.Context(), block(t, primary, keys), base.Node{Name: "node-a"}); err != nil {
		t.Fatalf("Configure(primary %q): %v", primary, err)
	}
}

func seal(t testing.TB, c *Codec, p []byte) []byte {
	t.Helper()
	out, err := c.Encode(context.Background(), [][]byte{p})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if len(out) != 1 {
		t.Fatalf("Encode of one item returned %d", len(out))
	}
	return out[0]
}

// keyID reads the key id of a sealed record, by the layout documented on
// formatVersion.
func keyID(t *testing.T, rec []byte) string {
	t.Helper()
	if len(rec) < 2 || len(rec) < 2+int(rec[1]) {
		t.Fatalf("record of %d bytes has no key id", len(rec))
	}
	return string(rec[2 : 2+int(rec[1])])
}

// TestFormat pins down the layout of a sealed record and that sealing the
// same payload twice gives two records (the nonces differ).
func TestFormat(t *testing.T) {
	c := configured(t, "prod-1", ring{"prod-1": keyA})
	p := []byte("hello, session")
	first, second := seal(t, c, p), seal(t, c, p)
	wantLen := 2 + len("prod-1") + 24 + len(p) + 16
	for _, rec := range [][]byte{first, second} {
		if len(rec) != wantLen {
			t.Errorf("sealed record of %d bytes; want %d", len(rec), wantLen)
		}
		if rec[0] != formatVersion {
			t.Errorf("version byte %d; want %d", rec[0], formatVersion)
		}
		if id := keyID(t, rec); id != "prod-1" {
			t.Errorf("key id %q; want prod-1", id)
		}
		if bytes.Contains(rec, p) {
			t.Errorf("the payload appears in clear in the record")
		}
	}
	if bytes.Equal(first, second) {
		t.Errorf("sealing the same payload twice gave the same record: the nonce is not fresh")
	}
}

// TestHeaderAuthenticated changes the header of a record in ways that still
// parse: each must fail authentication, even where the key it names is the
// very key that sealed it.
func TestHeaderAuthenticated(t *testing.T) {
	ctx := t.Context()
	// Two ids of one length for one key: only the additional data tells
	// their records apart.
	c := configured(t, "id-1", ring{"id-1": keyA, "id-2": keyA})
	rec := seal(t, c, []byte("payload"))
	tests := []struct {
		name   string
		change func(rec []byte) []byte
	}{
		{"other-id-same-key", func(rec []byte) []byte { rec[5] = '2'; return rec }},
		{"unknown-id", func(rec []byte) []byte { rec[5] = '9'; return rec }},
		{"version-2", func(rec []byte) []byte { rec[0] = 2; return rec }},
		{"version-0", func(rec []byte) []byte { rec[0] = 0; return rec }},
		{"id-length-0", func(rec []byte) []byte { rec[1] = 0; return rec }},
		{"id-length-longer", func(rec []byte) []byte { rec[1] = 5; return rec }},
		{"id-length-past-end", func(rec []byte) []byte { rec[1] = 255; return rec }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := tt.change(slices.Clone(rec))
			if got, err := c.Decode(ctx, changed); !errors.Is(err, codec.ErrCorrupt) {
				t.Errorf("Decode = %q, %v; want an error wrapping codec.ErrCorrupt", got, err)
			}
		})
	}
	if got, err := c.Decode(ctx, rec); err != nil || string(got) != "payload" {
		t.Errorf("Decode(the unchanged record) = %q, %v", got, err)
	}
}

// TestNotConfigured pins down that an unconfigured codec refuses to work,
// and that its error does not blame the input.
func TestNotConfigured(t *testing.T) {
	c := New()
	if _, err := c.Encode(t.Context(), [][]byte{[]byte("x")}); !errors.Is(err, errNotConfigured) {
		t.Errorf("Encode before Configure: %v; want errNotConfigured", err)
	}
	rec := seal(t, configured(t, "a", ring{"a": keyA}), []byte("x"))
	_, err := c.Decode(t.Context(), rec)
	if !errors.Is(err, errNotConfigured) || errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("Decode before Configure: %v; want errNotConfigured, not codec.ErrCorrupt", err)
	}
}

// The codec declares that it authenticates, so that the host refuses a
// record whose header leaves it out.
func TestSettingsAuthenticates(t *testing.T) {
	st, err := codec.SettingsOf(t.Context(), New())
	if err != nil || !st.Authenticates {
		t.Fatalf("SettingsOf = %+v, %v; want Authenticates", st, err)
	}
}

// TestBadReconfigureChangesNothing refuses blocks and checks that the codec
// still seals under its primary and opens what it sealed.
func TestBadReconfigureChangesNothing(t *testing.T) {
	ctx := t.Context()
	c := configured(t, "a", ring{"a": keyA})
	rec := seal(t, c, []byte("kept"))
	for _, raw := range [][]byte{
		block(t, "b", ring{"b": "short"}),
		block(t, "missing", ring{"b": keyB}),
		block(t, "b", ring{}),
		[]byte(`{"keys":{"b":"` + keyB + `"},"primary":"b","extra":1}`),
	} {
		if err := c.Configure(ctx, raw, base.Node{Name: "node-a"}); err == nil {
			t.Fatalf("Configure(%s) = nil; want an error", raw)
		}
		if got, err := c.Decode(ctx, rec); err != nil || string(got) != "kept" {
			t.Fatalf("after a refused Configure, Decode = %q, %v", got, err)
		}
		if id := keyID(t, seal(t, c, []byte("new"))); id != "a" {
			t.Fatalf("after a refused Configure, sealing under %q; want a", id)
		}
	}
}

// TestErrorsKeepKeysSecret checks that a refused key is not quoted back:
// configuration errors end up in logs.
func TestErrorsKeepKeysSecret(t *testing.T) {
	secret := strings.Repeat("5e", 31) + "zz" // one bad digit in an otherwise real key
	err := New().Configure(t.Context(), block(t, "a", ring{"a": secret}), base.Node{Name: "node-a"})
	if err == nil {
		t.Fatal("Configure accepted a key with a non-hex digit")
	}
	for _, part := range []string{secret, "5e5e", "zz", "'z'"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("error %q quotes the key (%q)", err, part)
		}
	}
}
