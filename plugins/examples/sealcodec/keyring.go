package main

import (
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/wadi-go/wadi/sdk/schema"
)

// maxKeyIDLen is the longest key id: its length is written in one byte.
const maxKeyIDLen = 255

// configSchema is the schema of the codec's block in wadi.hcl.
func configSchema() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{
		{
			Name:     "keys",
			Type:     schema.MapString,
			Required: true,
			Doc:      "key id -> 32-byte key as 64 hex digits; every key decodes",
		},
		{
			Name:     "primary",
			Type:     schema.String,
			Required: true,
			Doc:      "id of the key that encodes; one of keys",
		},
	}}
}

// config is the JSON form of the block.
type config struct {
	Keys    map[string]string `json:"keys"`
	Primary *string           `json:"primary"`
}

// key is one key of the ring, ready to use.
type key struct {
	aead cipher.AEAD
	// header is what every record sealed under the key starts with:
	// version, key id length, key id. It is also the additional data, so
	// a record cannot be passed off as sealed under another key id or
	// format version.
	header []byte
}

// keyRing is a validated configuration. It is never changed once built, so
// calls share it without locks.
type keyRing struct {
	primaryID string
	primary   key
	byID      map[string]key
}

// parseConfig builds the key ring a block describes. Errors name key ids,
// never key material.
func parseConfig(raw []byte) (*keyRing, error) {
	var cfg config
	if err := schema.Decode(raw, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("config: keys: at least one key is required")
	}
	if cfg.Primary == nil {
		return nil, errors.New("config: primary is required: the id of the key that encodes")
	}
	ring := &keyRing{primaryID: *cfg.Primary, byID: make(map[string]key, len(cfg.Keys))}
	// Sorted, so that the first bad key reported is the same on every run.
	ids := make([]string, 0, len(cfg.Keys))
	for id := range cfg.Keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		k, err := newKey(id, cfg.Keys[id])
		if err != nil {
			return nil, fmt.Errorf("config: keys[%q]: %w", id, err)
		}
		ring.byID[id] = k
	}
	primary, ok := ring.byID[ring.primaryID]
	if !ok {
		return nil, fmt.Errorf("config: primary %q is not one of the ids in keys %q", ring.primaryID, ids)
	}
	ring.primary = primary
	return ring, nil
}

func newKey(id, hexKey string) (key, error) {
	if id == "" || len(id) > maxKeyIDLen {
		return key{}, fmt.Errorf("key id of %d bytes; want 1 to %d", len(id), maxKeyIDLen)
	}
	if len(hexKey) != 2*chacha20poly1305.KeySize {
		return key{}, fmt.Errorf("%d characters; want %d hex digits (%d bytes)", len(hexKey), 2*chacha20poly1305.KeySize, chacha20poly1305.KeySize)
	}
	material, err := hex.DecodeString(hexKey)
	if err != nil {
		// hex's error quotes the offending byte of the key: leave it out.
		return key{}, fmt.Errorf("not %d hex digits", 2*chacha20poly1305.KeySize)
	}
	aead, err := chacha20poly1305.NewX(material)
	if err != nil {
		return key{}, err
	}
	header := make([]byte, 0, 2+len(id))
	header = append(header, formatVersion, byte(len(id)))
	header = append(header, id...)
	return key{aead: aead, header: header}, nil
}
