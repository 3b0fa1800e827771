package aesgcm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wadi-go/wadi/sdk/schema"
)

const (
	keySize = 32 // AES-256
	// maxKeyFileSize bounds what Configure reads of a key_file: a key ring
	// is a few lines, and a huge file is a mistake.
	maxKeyFileSize = 1 << 20
)

func configSchema() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{
		{
			Name: "keys", Type: schema.MapString,
			Doc: `key id -> 32-byte key as 64 hex characters or standard base64, e.g. { k1 = env("WADI_KEY_1") }`,
		},
		{
			Name: "primary", Type: schema.String, Required: true,
			Doc: "id of the key that encrypts; every key in the ring decrypts",
		},
		{
			Name: "key_file", Type: schema.String,
			Doc: "file of id=key lines, merged with keys; relative to the node's data_dir",
		},
	}}
}

// config is the JSON form of the configuration block.
type config struct {
	Keys    map[string]string `json:"keys"`
	Primary *string           `json:"primary"`
	KeyFile *string           `json:"key_file"`
}

// parseConfig builds the key ring a configuration block describes. Its
// errors name keys by id and never quote a key.
func parseConfig(ctx context.Context, raw []byte, dataDir string) (*keyRing, error) {
	var cfg config
	if err := schema.Decode(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Primary == nil || *cfg.Primary == "" {
		return nil, errors.New("config: primary is required: the id of the key that encrypts")
	}
	keys := make(map[string][]byte, len(cfg.Keys))
	// Decoded keys are wiped once the ciphers hold them.
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	for _, id := range sortedKeys(cfg.Keys) {
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("config: keys: %w", err)
		}
		k, err := parseKey(cfg.Keys[id])
		if err != nil {
			return nil, fmt.Errorf("config: keys: key %q: %w", id, err)
		}
		keys[id] = k
	}
	if cfg.KeyFile != nil {
		if *cfg.KeyFile == "" {
			return nil, errors.New("config: key_file is empty")
		}
		path := *cfg.KeyFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dataDir, path)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("configure: %w", err)
		}
		if err := readKeyFile(path, keys); err != nil {
			return nil, fmt.Errorf("config: key_file %s: %w", path, err)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("config: no keys: set keys or key_file")
	}
	primary := *cfg.Primary
	if _, ok := keys[primary]; !ok {
		return nil, fmt.Errorf("config: primary key %s is not in the key ring (it has %q)", quoteID(primary), sortedKeys(keys))
	}
	ring := &keyRing{primary: primary, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, k := range keys {
		aead, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("config: key %q: %w", id, err)
		}
		ring.aeads[id] = aead
	}
	ring.primaryAEAD = ring.aeads[primary]
	ring.header = append([]byte{formatVersion, byte(len(primary))}, primary...)
	return ring, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	// The nonce is drawn from crypto/rand by Seal itself, so no caller can
	// reuse one.
	return cipher.NewGCMWithRandomNonce(block)
}

// checkKeyID reports an id that cannot name a key: ids are written into
// every record, and appear in key files and error messages. An id that is
// refused is not quoted, since it may be a key written in the wrong place.
func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyID {
		return fmt.Errorf("a key id of %d characters: want 1 to %d", len(id), maxKeyID)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return errors.New("a key id with a character other than letters, digits, '.', '_' and '-'")
		}
	}
	if k, err := parseKey(id); err == nil {
		clear(k)
		return errors.New("a key id that is a key: are an id and its key swapped?")
	}
	return nil
}

// quoteID quotes id for an error message if it is a valid key id, which
// cannot be key material.
func quoteID(id string) string {
	if checkKeyID(id) != nil {
		return "(an invalid key id, not shown)"
	}
	return fmt.Sprintf("%q", id)
}

// parseKey decodes a key written as 64 hex characters or as standard
// base64. Its errors describe the input's shape, never its content.
func parseKey(s string) ([]byte, error) {
	// Values pasted from files or set in the environment often end in a
	// newline.
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty: want 32 bytes as 64 hex characters or standard base64 (is its environment variable set?)")
	}
	if len(s) == 2*keySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil {
		if len(k) == keySize {
			return k, nil
		}
		clear(k)
		return nil, fmt.Errorf("base64 of %d bytes: want %d bytes", len(k), keySize)
	}
	return nil, fmt.Errorf("%d characters, neither 64 hex characters nor standard base64 of %d bytes", len(s), keySize)
}

// readKeyFile adds the keys of a file of id=key lines to keys. Blank lines
// and lines starting with '#' are skipped. An id already in keys, from the
// configuration or an earlier line, is an error.
func readKeyFile(path string, keys map[string][]byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	// The file's contents are keys: wipe them once parsed.
	defer clear(data)
	if err != nil {
		return err
	}
	if len(data) > maxKeyFileSize {
		return fmt.Errorf("larger than %d bytes", maxKeyFileSize)
	}
	fromFile := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFileSize)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		id, key, ok := strings.Cut(text, "=")
		if !ok {
			return fmt.Errorf("line %d: want id=key", line)
		}
		id = strings.TrimSpace(id)
		if err := checkKeyID(id); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if prev, ok := fromFile[id]; ok {
			return fmt.Errorf("line %d: key %q is also on line %d", line, id, prev)
		}
		if _, ok := keys[id]; ok {
			return fmt.Errorf("line %d: key %q is also in keys", line, id)
		}
		k, err := parseKey(key)
		if err != nil {
			return fmt.Errorf("line %d: key %q: %w", line, id, err)
		}
		keys[id], fromFile[id] = k, line
	}
	return sc.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
