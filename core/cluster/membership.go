package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// MembershipConfig configures gossip membership.
type MembershipConfig struct {
	// Self is what this node announces; its ProtoMin and ProtoMax are the
	// protocol versions this node accepts of others (zero: this build's).
	Self Member
	// Bind is the gossip address, host:port.
	Bind string
	// Join lists members to join through, host:port or DNS names; tried
	// until one answers.
	Join []string
	// Keys encrypt gossip when set: the first is the primary, used to
	// send; every key is accepted on receipt, so keys can rotate.
	Keys [][]byte
	// Logger receives membership logs.
	Logger hclog.Logger
	// Fast shortens gossip's timers for farms on one machine (tests).
	Fast bool
}

// Membership is this node's view of the farm.
type Membership struct {
	ml   *memberlist.Memberlist
	self Member
	log  hclog.Logger

	mu      sync.RWMutex
	members map[string]Member // alive and compatible, self included
	changed chan struct{}     // closed and replaced on every change

	joined chan struct{} // closed once a join succeeded, or at once without one
	// refused is closed when a member that started earlier turns out to
	// have this node's name: this node is the duplicate.
	refused    chan struct{}
	refuseOnce sync.Once
	// failed are members failure detection declared dead, by name, until
	// they come back: on a loaded machine or a lossy network the verdict
	// can be wrong, and without backups such a member may hold the only
	// copy of a session.
	failed map[string]failedMember
	stop   context.CancelFunc
	done   chan struct{}
}

// StartMembership starts gossip and, in the background, joins the members
// named in cfg.Join, retrying until one answers or the membership stops.
func StartMembership(cfg MembershipConfig) (*Membership, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if _, err := cfg.Self.encode(); err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("cluster: bind address %q: %w", cfg.Bind, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: bind port %q: %w", portStr, err)
	}
	// The caller keeps its map; members share this one, read-only.
	cfg.Self.Meta = maps.Clone(cfg.Self.Meta)
	if cfg.Self.ProtoMin == 0 && cfg.Self.ProtoMax == 0 {
		cfg.Self.ProtoMin, cfg.Self.ProtoMax = ProtocolMin, ProtocolMax
	}
	m := &Membership{
		self:    cfg.Self,
		log:     log,
		members: map[string]Member{cfg.Self.Name: cfg.Self},
		failed:  make(map[string]failedMember),
		changed: make(chan struct{}),
		joined:  make(chan struct{}),
		refused: make(chan struct{}),
		done:    make(chan struct{}),
	}
	mc := memberlist.DefaultLANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 2 * time.Second
		mc.SuspicionMult = 2
	}
	mc.Name = cfg.Self.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	mc.Delegate = delegate{m}
	mc.Events = events{m}
	mc.Alive = alive{m}
	mc.Conflict = conflict{m}
	mc.Logger = log.Named("gossip").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	mc.LogOutput = nil
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip keys: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: starting gossip on %s: %w", cfg.Bind, err)
	}
	m.ml = ml
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go m.joinLoop(ctx, cfg.Join)
	return m, nil
}

// joinLoop joins through the configured addresses, retrying with backoff
// until one answers: the members may start in any order.
func (m *Membership) joinLoop(ctx context.Context, addrs []string) {
	defer close(m.done)
	if len(addrs) == 0 {
		close(m.joined)
		return
	}
	wait := 100 * time.Millisecond
	for {
		n, err := m.ml.Join(addrs)
		select {
		case <-m.refused:
			return // the farm has a member of this name already
		default:
		}
		if n > 0 {
			m.log.Info("joined the farm", "through", n, "members", m.ml.NumMembers())
			close(m.joined)
			return
		}
		m.log.Warn("no member answered; retrying", "join", addrs, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Self is what this node announces.
func (m *Membership) Self() Member { return m.self }

// Joined is closed once this node has joined the farm through one of the
// configured members (at once if none is configured).
func (m *Membership) Joined() <-chan struct{} { return m.joined }

// Refused is closed if a live member that started earlier has this node's
// name: the farm keeps that one, and this node must not serve as a farm
// of its own under the name.
func (m *Membership) Refused() <-chan struct{} { return m.refused }

// Members returns the alive, compatible members, self included, sorted by
// name.
func (m *Membership) Members() []Member {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, mem)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Member returns the alive member of the name.
func (m *Membership) Member(name string) (Member, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mem, ok := m.members[name]
	return mem, ok
}

// Changed returns a channel closed at the next change of membership.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

func (m *Membership) set(name string, mem *Member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mem == nil {
		if _, ok := m.members[name]; !ok {
			return
		}
		delete(m.members, name)
	} else {
		delete(m.failed, name)
		if old, ok := m.members[name]; ok && old.equal(*mem) {
			return
		}
		m.members[name] = *mem
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

type failedMember struct {
	Member
	at time.Time
}

// failedTTL is how long a member declared dead is remembered.
const failedTTL = time.Minute

// Failed returns the member called name if it left the membership within
// the last minute, with the incarnation it had: failure detection may
// have declared it dead wrongly, and it may still be running.
func (m *Membership) Failed(name string) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failed[name]
	if !ok || time.Since(f.at) > failedTTL {
		delete(m.failed, name)
		return Member{}, false
	}
	return f.Member, true
}

// Leave announces this node's departure and stops gossip. Peers see it
// leave at once instead of waiting for failure detection.
func (m *Membership) Leave(timeout time.Duration) error {
	m.stop()
	<-m.done
	err := m.ml.Leave(timeout)
	return errors.Join(err, m.ml.Shutdown())
}

// Shutdown stops gossip without a leave message, as a crash would.
func (m *Membership) Shutdown() error {
	m.stop()
	<-m.done
	return m.ml.Shutdown()
}

type delegate struct{ m *Membership }

func (d delegate) NodeMeta(limit int) []byte {
	b, err := d.m.self.encode()
	if err != nil || len(b) > limit {
		// Checked at start; unreachable unless memberlist lowers its limit.
		d.m.log.Error("node metadata does not fit gossip", "error", err, "limit", limit)
		return nil
	}
	return b
}

func (delegate) NotifyMsg([]byte)                           {}
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

type events struct{ m *Membership }

func (e events) NotifyJoin(n *memberlist.Node) { e.update(n, "member joined") }

func (e events) NotifyUpdate(n *memberlist.Node) { e.update(n, "member updated") }

func (e events) NotifyLeave(n *memberlist.Node) {
	e.m.log.Info("member left", "member", n.Name, "state", stateName(n.State))
	// Recorded whether it left or failed: memberlist's Node.State says
	// alive in both cases. A member that left has handed its sessions on
	// and answers that it has none, or nothing listens any more.
	if mem, err := decodeMember(n.Name, n.Meta); err == nil {
		e.m.mu.Lock()
		e.m.failed[n.Name] = failedMember{mem, time.Now()}
		e.m.mu.Unlock()
	}
	e.m.set(n.Name, nil)
}

func (e events) update(n *memberlist.Node, msg string) {
	mem, err := decodeMember(n.Name, n.Meta)
	if err != nil || !mem.compatible(e.m.self.ProtoMin, e.m.self.ProtoMax) {
		// The alive delegate refuses such nodes; an update could still
		// carry bad metadata.
		e.m.set(n.Name, nil)
		return
	}
	if n.Name != e.m.self.Name {
		e.m.log.Info(msg, "member", mem.Name, "peer", mem.Peer, "zone", mem.Zone, "meta", mem.Meta)
	}
	e.m.set(n.Name, &mem)
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown"
}

type alive struct{ m *Membership }

// NotifyAlive refuses a node whose metadata is garbage or which speaks no
// protocol version in common with this one: it never becomes a member.
func (a alive) NotifyAlive(n *memberlist.Node) error {
	mem, err := decodeMember(n.Name, n.Meta)
	if err != nil {
		a.m.log.Error("refusing a node with unreadable metadata", "node", n.Name, "addr", n.Address(), "error", err)
		return fmt.Errorf("cluster: node %q: %w", n.Name, err)
	}
	lo, hi := a.m.self.ProtoMin, a.m.self.ProtoMax
	if !mem.compatible(lo, hi) {
		a.m.log.Error("refusing a node that speaks no common protocol version", "node", n.Name, "addr", n.Address(),
			"its_versions", fmt.Sprintf("%d..%d", mem.ProtoMin, mem.ProtoMax), "ours", fmt.Sprintf("%d..%d", lo, hi))
		return fmt.Errorf("cluster: node %q speaks protocol %d..%d, this node %d..%d", n.Name, mem.ProtoMin, mem.ProtoMax, lo, hi)
	}
	return nil
}

type conflict struct{ m *Membership }

// NotifyConflict reports a second node claiming a live node's name; gossip
// keeps the first.
func (c conflict) NotifyConflict(existing, other *memberlist.Node) {
	c.m.log.Error("a node reuses a live member's name; refused", "name", existing.Name, "member_addr", existing.Address(), "other_addr", other.Address())
	self := c.m.self
	if existing.Name != self.Name {
		return
	}
	// Our own name: whichever started first is the member; the other is
	// the duplicate, and it is this node if the other started earlier.
	o, err := decodeMember(other.Name, other.Meta)
	if err != nil || o.Started >= self.Started {
		return
	}
	c.m.refuseOnce.Do(func() {
		c.m.log.Error("another live member has this node's name and started earlier; this node cannot join the farm", "name", self.Name, "other_addr", other.Address())
		close(c.m.refused)
	})
}
