// Package nodemeta is what a clustered node gossips about itself: its
// encoding, memberlist's limit on it, and the rules of the operator's
// free-form metadata (node.meta). config and core/cluster share it so that
// what config accepts is exactly what fits gossip and what peers accept.
package nodemeta

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// MaxSize is memberlist's limit on a node's metadata
// (memberlist.MetaMaxSize, which a test keeps this equal to). It is not
// imported here so that config does not pull in gossip.
const MaxSize = 512

// The protocol versions of the node-to-node transport that this build
// speaks. They live here, not in core/cluster, because they are part of the
// metadata whose size config computes.
const (
	ProtocolMin = 1
	ProtocolMax = 1
)

// The bounds of node.meta's entries: enough for a rack, a data centre or a
// host class, small enough that several fit memberlist's limit.
const (
	MaxKeyLen   = 32
	MaxValueLen = 64
)

// Node is the metadata as it travels, JSON in memberlist's node meta.
// cluster.Member has the same fields in the same order and converts to it,
// so the two cannot drift apart.
type Node struct {
	Name     string            `json:"name"`
	Peer     string            `json:"peer"`
	HTTP     string            `json:"http"`
	Zone     string            `json:"zone,omitempty"`
	ProtoMin int               `json:"proto_min"`
	ProtoMax int               `json:"proto_max"`
	Started  int64             `json:"started"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// Encode is what the node announces. It refuses metadata that does not fit
// gossip, or whose meta its peers would refuse.
func (n Node) Encode() ([]byte, error) {
	if err := CheckMeta(n.Meta); err != nil {
		return nil, fmt.Errorf("node metadata: %w", err)
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encoding node metadata: %w", err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("node metadata of %d bytes exceeds gossip's %d", len(b), MaxSize)
	}
	return b, nil
}

// Size is the length of n's encoding, whatever the limit: json.Marshal
// cannot fail on these fields.
func (n Node) Size() int {
	b, _ := json.Marshal(n)
	return len(b)
}

// Decode reads a peer's metadata and checks its meta; an empty meta is nil.
// The other fields are the caller's to check.
func Decode(b []byte) (Node, error) {
	var n Node
	if err := json.Unmarshal(b, &n); err != nil {
		return Node{}, fmt.Errorf("metadata: %w", err)
	}
	if err := CheckMeta(n.Meta); err != nil {
		return Node{}, fmt.Errorf("metadata: %w", err)
	}
	if len(n.Meta) == 0 {
		n.Meta = nil
	}
	return n, nil
}

// CheckMeta applies CheckKey and CheckValue to every entry, in key order so
// that the error is the same everywhere.
func CheckMeta(meta map[string]string) error {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := CheckKey(k); err != nil {
			return err
		}
		if err := CheckValue(meta[k]); err != nil {
			return fmt.Errorf("meta %q: %w", k, err)
		}
	}
	return nil
}

// CheckKey accepts 1 to MaxKeyLen letters, digits, '_', '-' or '.',
// starting with a letter: a key a replicator's configuration can name.
func CheckKey(k string) error {
	ok := len(k) > 0 && len(k) <= MaxKeyLen && isLetter(k[0])
	for i := 0; ok && i < len(k); i++ {
		c := k[i]
		ok = isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return fmt.Errorf("meta key %q must be 1 to %d letters, digits, '_', '-' or '.', starting with a letter", k, MaxKeyLen)
	}
	return nil
}

// CheckValue accepts up to MaxValueLen bytes of printable UTF-8: values are
// shown in logs and by `wadi members`, and compared by replicators.
func CheckValue(v string) error {
	if len(v) > MaxValueLen {
		return fmt.Errorf("the value is %d bytes, more than %d", len(v), MaxValueLen)
	}
	if !utf8.ValidString(v) {
		return errors.New("the value is not UTF-8")
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("the value holds %U, which is not printable text", r)
		}
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
