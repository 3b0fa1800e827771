package cluster

import (
	"errors"
	"fmt"
	"maps"

	"github.com/wadi-go/wadi/internal/nodemeta"
)

// ProtocolVersion is the version of the node-to-node protocol this build
// speaks. Members announce the range they speak; two members with no
// version in common cannot share a farm. (Defined in nodemeta, which config
// reads to size the gossip metadata.)
const (
	ProtocolMin = nodemeta.ProtocolMin
	ProtocolMax = nodemeta.ProtocolMax
)

// Member is one node of the farm, as its gossip metadata describes it. Its
// fields are those of nodemeta.Node, in the same order: that is its
// encoding.
type Member struct {
	// Name is the node's name: its route, unique in the farm.
	Name string
	// Peer is the node-to-node transport's address.
	Peer string
	// HTTP is the base URL of the node's HTTP listener, for proxying and
	// redirecting requests to it.
	HTTP string
	Zone string
	// ProtoMin and ProtoMax bound the protocol versions the node speaks.
	ProtoMin int
	ProtoMax int
	// Started is when the node started (unix nanoseconds), for electing the
	// coordinator: the oldest member.
	Started int64
	// Meta is the node's free-form metadata (node.meta), for replicators;
	// nil when it has none. Shared between copies of the Member: read it,
	// never change it.
	Meta map[string]string
}

func (m Member) encode() ([]byte, error) {
	b, err := nodemeta.Node(m).Encode()
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return b, nil
}

// equal compares members field by field; Meta makes == unusable.
func (m Member) equal(o Member) bool {
	return m.Name == o.Name && m.Peer == o.Peer && m.HTTP == o.HTTP && m.Zone == o.Zone &&
		m.ProtoMin == o.ProtoMin && m.ProtoMax == o.ProtoMax && m.Started == o.Started &&
		maps.Equal(m.Meta, o.Meta)
}

// decodeMember reads a peer's metadata; anything malformed is an error, so
// that a node speaking garbage is refused rather than half-joined.
func decodeMember(name string, meta []byte) (Member, error) {
	if len(meta) == 0 {
		return Member{}, errors.New("no metadata")
	}
	n, err := nodemeta.Decode(meta)
	if err != nil {
		return Member{}, err
	}
	m := Member(n)
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
