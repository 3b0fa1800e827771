package aesgcm

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wadi-go/wadi/plugins/builtin/internal/payload"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
)

// testKey is a fixed key for an id, different for every id.
func testKey(id string) []byte {
	k := make([]byte, keySize)
	for i := range k {
		k[i] = byte(i*7+len(id)) ^ id[i%len(id)]
	}
	return k
}

func hexKey(id string) string { return hex.EncodeToString(testKey(id)) }
func b64Key(id string) string { return base64.StdEncoding.EncodeToString(testKey(id)) }

// ringConfig is the block the host sends for a ring of the ids, the first
// primary, keys in hex.
func ringConfig(ids ...string) []byte {
	keys := map[string]string{}
	for _, id := range ids {
		keys[id] = hexKey(id)
	}
	return blockJSON(keys, ids[0], nil)
}

func blockJSON(keys map[string]string, primary string, keyFile *string) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys, "primary": primary, "key_file": keyFile})
	if err != nil {
		panic(err)
	}
	return b
}

func configured(t testing.TB, cfg []byte) *Codec {
	t.Helper()
	c := New()
	if err := c.Configure(context.Background(), cfg, base.Node{DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure(%s): %v", cfg, err)
	}
	return c
}

// withKeys opens codecs whose ring is ids, the first primary.
func withKeys(ids ...string) func(t *testing.T) codec.Codec {
	return func(t *testing.T) codec.Codec { return configured(t, ringConfig(ids...)) }
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConformance(t *testing.T) {
	keyFile := writeFile(t, t.TempDir(), "keys", "# ring\nk3="+b64Key("k3")+"\n\n k4 = "+hexKey("k4")+"\n")
	plugintest.TestPlugin(t, New(), base.KindCodec, plugintest.Configs{
		Valid: [][]byte{
			ringConfig("k1"),
			ringConfig("k2", "k1"),
			blockJSON(map[string]string{"b": b64Key("b")}, "b", nil),
			blockJSON(map[string]string{"k1": hexKey("k1")}, "k3", &keyFile),
			blockJSON(nil, "k4", &keyFile),
		},
		Invalid: [][]byte{
			[]byte(`{"keys":{"k1":"` + hexKey("k1") + `"},"primary":null,"key_file":null}`),
			[]byte(`{"keys":{"k1":"` + hexKey("k1") + `"},"primary":"k2","key_file":null}`),
			[]byte(`{"keys":{"k1":"00"},"primary":"k1","key_file":null}`),
			[]byte(`{"keys":{},"primary":"k1","key_file":null}`),
			[]byte(`{"keys":null,"primary":"k1","key_file":"no-such-file"}`),
			blockJSON(map[string]string{"k3": hexKey("k3")}, "k3", &keyFile),
		},
	})
	plugintest.TestCodec(t, withKeys("k1"))
	t.Run("Ring", func(t *testing.T) { plugintest.TestCodec(t, withKeys("k2", "k1", "k0")) })
}

// Keys rotate: a record written under an old primary decodes while its key
// is in the ring, and not once it is gone.
func TestRotationPairs(t *testing.T) {
	tests := []struct {
		name       string
		a, b       []string
		compatible bool
	}{
		{"new key added and made primary", []string{"k1"}, []string{"k2", "k1"}, true},
		{"same ring, other primary", []string{"k1", "k2"}, []string{"k2", "k1"}, true},
		{"back to the old ring", []string{"k2", "k1"}, []string{"k1"}, false},
		{"old key removed", []string{"k1"}, []string{"k2"}, false},
		{"old key removed after rotation", []string{"k2", "k1"}, []string{"k2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugintest.TestCodecPair(t, withKeys(tt.a...), withKeys(tt.b...), tt.compatible)
		})
	}
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	p := payload.Session(4<<10, 1)
	c := configured(t, ringConfig("k1"))
	old := encode(t, c, p)

	// Rotate in place: the same instance, reconfigured, as after a reload.
	if err := c.Configure(ctx, ringConfig("k2", "k1"), base.Node{}); err != nil {
		t.Fatal(err)
	}
	if got := decode(t, c, old); !bytes.Equal(got, p) {
		t.Fatal("a record under the old primary no longer decodes")
	}
	fresh := encode(t, c, p)
	if id := recordKeyID(fresh); id != "k2" {
		t.Fatalf("a new record names key %q; want the new primary k2", id)
	}

	// Retire k1.
	if err := c.Configure(ctx, ringConfig("k2"), base.Node{}); err != nil {
		t.Fatal(err)
	}
	if got := decode(t, c, fresh); !bytes.Equal(got, p) {
		t.Fatal("a record under the primary does not decode")
	}
	_, err := c.Decode(ctx, old)
	if !errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), `encrypted with key "k1", which is not in the key ring`) {
		t.Fatalf("Decode of a record under a retired key: %v", err)
	}

	// A refused configuration keeps the ring in force.
	if err := c.Configure(ctx, ringConfig("k1")[:10], base.Node{}); err == nil {
		t.Fatal("a broken block was accepted")
	}
	if got := decode(t, c, fresh); !bytes.Equal(got, p) {
		t.Fatal("a refused configuration changed the ring")
	}
}

func encode(t *testing.T, c *Codec, p []byte) []byte {
	t.Helper()
	out, err := c.Encode(context.Background(), [][]byte{p})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func decode(t *testing.T, c *Codec, data []byte) []byte {
	t.Helper()
	out, err := c.Decode(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func recordKeyID(rec []byte) string { return string(rec[2 : 2+int(rec[1])]) }

func TestFormat(t *testing.T) {
	c := configured(t, ringConfig("primary-key.2026"))
	p := []byte("session bytes")
	a, b := encode(t, c, p), encode(t, c, p)
	id := "primary-key.2026"
	if a[0] != formatVersion || int(a[1]) != len(id) || recordKeyID(a) != id {
		t.Fatalf("header % x; want version %d and key id %q", a[:2+len(id)], formatVersion, id)
	}
	if want := 2 + len(id) + nonceSize + len(p) + tagSize; len(a) != want {
		t.Fatalf("record of %d bytes; want %d", len(a), want)
	}
	nonceA, nonceB := a[2+len(id):2+len(id)+nonceSize], b[2+len(id):2+len(id)+nonceSize]
	if bytes.Equal(nonceA, nonceB) || bytes.Equal(a, b) {
		t.Fatal("two encodings share a nonce")
	}
	if bytes.Contains(a, p) {
		t.Fatal("the plaintext is in the record")
	}
}

// sealWithNonce builds a record by the documented layout with a nonce of
// nonceByte repeated, under the test key of id.
func sealWithNonce(t testing.TB, id string, nonceByte byte, p []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(testKey(id))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	header := append([]byte{formatVersion, byte(len(id))}, id...)
	nonce := bytes.Repeat([]byte{nonceByte}, nonceSize)
	return gcm.Seal(append(slices.Clone(header), nonce...), nonce, p, header)
}

// A record written by the documented layout, with any GCM implementation,
// decodes: the format is what the package comment says.
func TestDocumentedLayout(t *testing.T) {
	c := configured(t, ringConfig("k1", "k2"))
	for i, id := range []string{"k1", "k2"} {
		p := payload.Session(2<<10, uint64(i))
		if got := decode(t, c, sealWithNonce(t, id, 7, p)); !bytes.Equal(got, p) {
			t.Fatalf("a record sealed by the layout under %s decodes to other bytes", id)
		}
	}
}

// Every way a record can be wrong is an error wrapping codec.ErrCorrupt
// that says which.
func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	c := configured(t, ringConfig("k1", "k2"))
	rec := encode(t, c, []byte("hello"))
	underK2 := encode(t, configured(t, ringConfig("k2")), []byte("hello"))
	wrongKey := encode(t, configured(t, blockJSON(map[string]string{"k1": hexKey("other")}, "k1", nil)), []byte("hello"))
	with := func(f func(b []byte) []byte) []byte { return f(slices.Clone(rec)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"nil", nil, "empty record"},
		{"empty", []byte{}, "empty record"},
		{"version", with(func(b []byte) []byte { b[0] = 2; return b }), "unknown format version 2"},
		{"version only", rec[:1], "truncated: 1 byte"},
		{"zero id length", with(func(b []byte) []byte { b[1] = 0; return b }), "key id length 0 out of range"},
		{"long id", with(func(b []byte) []byte { b[1] = 65; return b }), "key id length 65 out of range"},
		{"truncated id", rec[:3], "truncated: 3 bytes, shorter than its header of 4"},
		{"unknown key", append([]byte{1, 2, 'k', '0'}, rec[4:]...), `encrypted with key "k0", which is not in the key ring`},
		{"unknown binary id", append([]byte{1, 2, 0xff, '\n'}, rec[4:]...), `encrypted with key "\xff\n", which is not in the key ring`},
		{"no nonce", rec[:4], "truncated: 0 bytes after the header, fewer than the 28"},
		{"no tag", rec[:4+nonceSize+5], "truncated: 17 bytes after the header"},
		{"short tag", rec[:len(rec)-1], `authentication with key "k1" failed`},
		{"extended", append(slices.Clone(rec), 0), `authentication with key "k1" failed`},
		{"flipped ciphertext", with(func(b []byte) []byte { b[4+nonceSize] ^= 1; return b }), `authentication with key "k1" failed`},
		{"flipped nonce", with(func(b []byte) []byte { b[4] ^= 0x80; return b }), `authentication with key "k1" failed`},
		{"flipped tag", with(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), `authentication with key "k1" failed`},
		// The id is additional data: a record moved to another key of the
		// ring fails, though both keys are known.
		{"id swapped", with(func(b []byte) []byte { b[3] = '2'; return b }), `authentication with key "k2" failed`},
		{"other key's record relabelled", append([]byte{1, 2, 'k', '1'}, underK2[4:]...), `authentication with key "k1" failed`},
		{"wrong key of that id", wrongKey, `authentication with key "k1" failed: the record was altered or truncated, or encrypted with another key of that id`},
	}
	for _, tt := range tests {
		out, err := c.Decode(ctx, tt.data)
		switch {
		case err == nil:
			t.Errorf("%s: Decode = %q, nil; want an error", tt.name, out)
		case !errors.Is(err, codec.ErrCorrupt):
			t.Errorf("%s: %v; want an error wrapping codec.ErrCorrupt", tt.name, err)
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: %v; want it to say %q", tt.name, err, tt.want)
		case out != nil:
			t.Errorf("%s: Decode returned bytes with its error", tt.name)
		}
	}
	if got := decode(t, c, underK2); string(got) != "hello" {
		t.Fatalf("a record under k2 decodes to %q", got)
	}
}

func TestNotConfigured(t *testing.T) {
	c := New()
	ctx := context.Background()
	if _, err := c.Encode(ctx, [][]byte{[]byte("x")}); !errors.Is(err, errNotConfigured) {
		t.Errorf("Encode before Configure: %v", err)
	}
	if _, err := c.Decode(ctx, []byte{1, 1, 'k', 0}); !errors.Is(err, errNotConfigured) || errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("Decode before Configure: %v; want errNotConfigured, not ErrCorrupt", err)
	}
}

// The codec declares that it authenticates, so that the host refuses a
// record whose header leaves it out; the declaration needs no keys.
func TestSettingsAuthenticates(t *testing.T) {
	st, err := codec.SettingsOf(context.Background(), New())
	if err != nil || !st.Authenticates {
		t.Fatalf("SettingsOf = %+v, %v; want Authenticates", st, err)
	}
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := hexKey("k1"), hexKey("k2")
	writeFile(t, dir, "good", "# comment\n\nk2="+k2+"\r\nk3 = "+b64Key("k3")+"\n")
	writeFile(t, dir, "dup-in-file", "k2="+k2+"\nk2="+k2+"\n")
	writeFile(t, dir, "dup-with-keys", "k1="+k1+"\n")
	writeFile(t, dir, "no-equals", "k2 "+k2+"\n")
	writeFile(t, dir, "bad-key", "k2=0123\n")
	writeFile(t, dir, "bad-id", "k 2="+k2+"\n")
	writeFile(t, dir, "empty", "# nothing yet\n")
	writeFile(t, dir, "huge", strings.Repeat("#", maxKeyFileSize+1))
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		keys    map[string]string
		primary string
		keyFile *string
		raw     string // used instead of the fields when set
		wantErr string // empty: accepted
	}{
		{name: "hex", keys: map[string]string{"k1": k1}, primary: "k1"},
		{name: "upper-case hex", keys: map[string]string{"k1": strings.ToUpper(k1)}, primary: "k1"},
		{name: "base64", keys: map[string]string{"k1": b64Key("k1")}, primary: "k1"},
		{name: "trailing newline", keys: map[string]string{"k1": k1 + "\n"}, primary: "k1"},
		{name: "ring", keys: map[string]string{"k1": k1, "k2": k2}, primary: "k2"},
		{name: "key file", keys: map[string]string{"k1": k1}, primary: "k3", keyFile: str("good")},
		{name: "key file only", primary: "k2", keyFile: str("good")},
		{name: "absolute key file", primary: "k2", keyFile: str(filepath.Join(dir, "good"))},
		{name: "id of 64", keys: map[string]string{strings.Repeat("i", 64): k1}, primary: strings.Repeat("i", 64)},

		{name: "no primary", raw: `{"keys":{"k1":"` + k1 + `"},"primary":null,"key_file":null}`, wantErr: "primary is required"},
		{name: "empty primary", keys: map[string]string{"k1": k1}, primary: "", wantErr: "primary is required"},
		{name: "primary not in ring", keys: map[string]string{"k1": k1}, primary: "k9", wantErr: `primary key "k9" is not in the key ring (it has ["k1"])`},
		{name: "no keys", keys: map[string]string{}, primary: "k1", wantErr: "no keys: set keys or key_file"},
		{name: "short hex", keys: map[string]string{"k1": k1[:62]}, primary: "k1", wantErr: `key "k1": 62 characters, neither 64 hex characters nor standard base64 of 32 bytes`},
		{name: "AES-128 key", keys: map[string]string{"k1": base64.StdEncoding.EncodeToString(make([]byte, 16))}, primary: "k1", wantErr: `key "k1": base64 of 16 bytes: want 32 bytes`},
		{name: "unpadded base64", keys: map[string]string{"k1": strings.TrimRight(b64Key("k1"), "=")}, primary: "k1", wantErr: `key "k1": 43 characters`},
		{name: "url base64", keys: map[string]string{"k1": base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))}, primary: "k1", wantErr: `key "k1": 44 characters`},
		{name: "unset variable", keys: map[string]string{"k1": ""}, primary: "k1", wantErr: "is its environment variable set?"},
		{name: "empty id", keys: map[string]string{"": k1}, primary: "k1", wantErr: "a key id of 0 characters"},
		{name: "long id", keys: map[string]string{strings.Repeat("i", 65): k1}, primary: "k1", wantErr: "a key id of 65 characters: want 1 to 64"},
		{name: "id with space", keys: map[string]string{"k 1": k1}, primary: "k 1", wantErr: "a key id with a character other than"},
		{name: "id and key swapped", keys: map[string]string{k1: "k1"}, primary: "k1", wantErr: "a key id that is a key"},
		{name: "empty key file", keys: map[string]string{"k1": k1}, primary: "k1", keyFile: str(""), wantErr: "key_file is empty"},
		{name: "missing key file", keys: map[string]string{"k1": k1}, primary: "k1", keyFile: str("nope"), wantErr: "no such file"},
		{name: "duplicate in file", primary: "k2", keyFile: str("dup-in-file"), wantErr: `line 2: key "k2" is also on line 1`},
		{name: "duplicate with keys", keys: map[string]string{"k1": k1}, primary: "k1", keyFile: str("dup-with-keys"), wantErr: `line 1: key "k1" is also in keys`},
		{name: "line without =", primary: "k2", keyFile: str("no-equals"), wantErr: "line 1: want id=key"},
		{name: "bad key in file", primary: "k2", keyFile: str("bad-key"), wantErr: `line 1: key "k2": base64 of 3 bytes`},
		{name: "bad id in file", primary: "k2", keyFile: str("bad-id"), wantErr: "line 1: a key id with a character"},
		{name: "file without keys", primary: "k2", keyFile: str("empty"), wantErr: "no keys"},
		{name: "huge file", primary: "k2", keyFile: str("huge"), wantErr: "larger than 1048576 bytes"},
		{name: "unknown attribute", raw: `{"keys":{"k1":"` + k1 + `"},"primary":"k1","key_file":null,"key":"x"}`, wantErr: `unknown field "key"`},
		{name: "keys not a map", raw: `{"keys":["` + k1 + `"],"primary":"k1","key_file":null}`, wantErr: "cannot unmarshal array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := []byte(tt.raw)
			if tt.raw == "" {
				cfg = blockJSON(tt.keys, tt.primary, tt.keyFile)
			}
			err := New().Configure(context.Background(), cfg, base.Node{DataDir: dir})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Configure: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Configure accepted it; want an error containing %q", tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Configure: %v; want an error containing %q", err, tt.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "aesgcm: "):
				t.Fatalf("Configure: %v; want it to start with the codec's name", err)
			}
			if err != nil {
				checkNoKeyMaterial(t, err.Error(), cfg)
			}
		})
	}
}

// checkNoKeyMaterial fails if msg contains eight characters or more of any
// key-like run in cfg (the keys' hex or base64), or of the test keys.
func checkNoKeyMaterial(t *testing.T, msg string, cfg []byte) {
	t.Helper()
	secrets := []string{}
	for _, id := range []string{"k1", "k2", "k3", "k4", "other"} {
		secrets = append(secrets, hexKey(id), strings.ToUpper(hexKey(id)), b64Key(id))
	}
	var block struct{ Keys map[string]string }
	_ = json.Unmarshal(cfg, &block)
	for _, v := range block.Keys {
		if len(v) >= 16 {
			secrets = append(secrets, v)
		}
	}
	for _, s := range secrets {
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(msg, s[i:i+8]) {
				t.Fatalf("error message %q contains key material %q", msg, s[i:i+8])
			}
		}
	}
}

// Decode errors name keys by id only.
func TestDecodeErrorsHideKeys(t *testing.T) {
	c := configured(t, ringConfig("k1", "k2"))
	wrong := encode(t, configured(t, blockJSON(map[string]string{"k1": hexKey("other")}, "k1", nil)), payload.Session(1<<10, 1))
	for _, data := range [][]byte{wrong, wrong[:40], append([]byte{1, 2, 'k', '9'}, wrong[4:]...)} {
		_, err := c.Decode(context.Background(), data)
		if err == nil {
			t.Fatal("decoded")
		}
		checkNoKeyMaterial(t, err.Error(), ringConfig("k1", "k2"))
	}
}

func ExampleCodec_Configure() {
	ctx := context.Background()
	c := New()
	// As the host sends `keys = { k2 = env("WADI_KEY_2"), k1 = env("WADI_KEY_1") }`
	// and `primary = "k2"`, with the variables set.
	cfg := fmt.Sprintf(`{"keys":{"k1":%q,"k2":%q},"primary":"k2","key_file":null}`, hexKey("k1"), b64Key("k2"))
	if err := c.Configure(ctx, []byte(cfg), base.Node{}); err != nil {
		fmt.Println(err)
		return
	}
	rec, _ := c.Encode(ctx, [][]byte{[]byte("session")})
	out, err := c.Decode(ctx, rec[0])
	fmt.Printf("%q %q %v\n", recordKeyID(rec[0]), out, err)
	_, err = c.Decode(ctx, append([]byte{1, 2, 'k', '0'}, rec[0][4:]...))
	fmt.Println(err)
	// Output:
	// "k2" "session" <nil>
	// aesgcm: decode: codec: corrupt input: encrypted with key "k0", which is not in the key ring
}
