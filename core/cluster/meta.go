package cluster

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// ProtocolVersion is the version of the node-to-node protocol this build
// speaks. Members announce the range they speak; two members with no
// version in common cannot share a farm.
const (
	ProtocolMin = 1
	ProtocolMax = 1
)

// Member is one node of the farm, as its gossip metadata describes it.
type Member struct {
	// Name is the node's name: its route, unique in the farm.
	Name string `json:"name"`
	// Peer is the node-to-node transport's address.
	Peer string `json:"peer"`
	// HTTP is the base URL of the node's HTTP listener, for proxying and
	// redirecting requests to it.
	HTTP string `json:"http"`
	Zone string `json:"zone,omitempty"`
	// ProtoMin and ProtoMax bound the protocol versions the node speaks.
	ProtoMin int `json:"proto_min"`
	ProtoMax int `json:"proto_max"`
	// Started is when the node started (unix nanoseconds), for electing the
	// coordinator: the oldest member.
	Started int64 `json:"started"`
}

// maxMeta is memberlist's limit on a node's metadata.
const maxMeta = memberlist.MetaMaxSize

func (m Member) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("cluster: encoding node metadata: %w", err)
	}
	if len(b) > maxMeta {
		return nil, fmt.Errorf("cluster: node metadata of %d bytes exceeds gossip's %d", len(b), maxMeta)
	}
	return b, nil
}

// decodeMember reads a peer's metadata; anything malformed is an error, so
// that a node speaking garbage is refused rather than half-joined.
func decodeMember(name string, meta []byte) (Member, error) {
	var m Member
	if len(meta) == 0 {
		return m, errors.New("no metadata")
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return m, fmt.Errorf("metadata: %w", err)
	}
	switch {
	case m.Name != name:
		return m, fmt.Errorf("metadata names %q, gossip %q", m.Name, name)
	case m.Peer == "" || m.HTTP == "":
		return m, errors.New("metadata lacks the peer or HTTP address")
	case m.ProtoMin < 1 || m.ProtoMax < m.ProtoMin:
		return m, fmt.Errorf("bad protocol range %d..%d", m.ProtoMin, m.ProtoMax)
	}
	return m, nil
}

// compatible reports whether a member speaks a protocol version in common
// with the range [lo, hi].
func (m Member) compatible(lo, hi int) bool {
	return m.ProtoMin <= hi && m.ProtoMax >= lo
}
