package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wadi-go/wadi/core/cluster/internal/peerpb"
	"github.com/wadi-go/wadi/core/session"
)

// Sessions is what the node needs of the session manager; *session.Manager
// implements it.
type Sessions interface {
	Export(ctx context.Context, id string) (data []byte, commit, abort func(), err error)
	Import(ctx context.Context, data []byte) (string, error)
	// Drop lets go of the copy here of a session another node holds too
	// (session.Manager.Drop); false if a request is inside it.
	Drop(id string) bool
	// Holds reports whether the session is live in memory here.
	Holds(id string) bool
	SessionIDs() []string
	Len() int
	// Hold brings the session into memory here, fetching it from the farm
	// if need be, and holds it until release (session.Manager.Hold).
	Hold(ctx context.Context, id string) (s *session.Session, release func(context.Context) error, err error)
}

// Config configures a farm node.
type Config struct {
	// Self is what the node announces (name, addresses, zone, start time).
	Self Member
	// Gossip is the membership's bind address; Join the members to join
	// through; Keys the gossip encryption keys (primary first), if any.
	Gossip string
	Join   []string
	Keys   [][]byte
	// Partitions is the number of directory partitions; every member of a
	// farm must use the same. Default 271.
	Partitions int
	// ServerTLS and ClientTLS, when set, make the peer transport mutual
	// TLS; both or neither.
	ServerTLS, ClientTLS *tls.Config
	// CallTimeout bounds every call to a peer. Default 5s.
	CallTimeout time.Duration
	// HandoverTimeout bounds how long a holder keeps a session it exported
	// waiting for the receiver's word before serving it again. Default 10s.
	HandoverTimeout time.Duration
	// JoinWait bounds how long Start waits to join the configured members
	// before the node starts alone (the last node of a farm restarting
	// finds nobody). Until it has joined or waited this long, a node never
	// takes itself for a farm of one. Default 10s.
	JoinWait time.Duration
	Logger   hclog.Logger
	// OnTable, if set, is called with every table the node adopts, in
	// the order adopted (for metrics, logs and tests); it must not block.
	OnTable func(*Table)
	// Placer, with Backups > 0, turns replication on: each session this
	// node holds keeps copies on up to Backups other members, placed by the
	// Placer at each membership change.
	Placer  Placer
	Backups int
	// Metrics, if set, is told of relocated requests and replication
	// messages, for monitoring.
	Metrics Metrics
	// Fast shortens gossip's timers and the node's own, for farms on one
	// machine (tests).
	Fast bool
}

func (c *Config) defaults() {
	if c.Partitions <= 0 {
		c.Partitions = 271
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.HandoverTimeout <= 0 {
		c.HandoverTimeout = 10 * time.Second
	}
	if c.JoinWait <= 0 {
		c.JoinWait = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
}

// Node is this process's membership of a farm: it serves the peer protocol,
// keeps its part of the directory, and implements session.Farm for the
// session manager.
type Node struct {
	cfg  Config
	log  hclog.Logger
	ms   *Membership
	dir  *directory
	srv  *grpc.Server
	lis  net.Listener
	self string

	sessions atomic.Pointer[sessionsBox]
	adoptMu  sync.Mutex
	table    atomic.Pointer[Table]
	// maxSeen is the highest table number seen, so that a member that
	// becomes coordinator issues above it.
	maxSeen atomic.Uint64
	// reached are the members (by name, with the incarnation) whose peer
	// transport the coordinator has reached; only the coordinator's loop
	// uses it.
	reached map[string]int64
	// warned are the members not reached whose failure was logged once.
	warned map[string]int64

	connsMu sync.Mutex
	conns   map[string]*grpc.ClientConn // by peer address

	handMu    sync.Mutex
	pending   map[string]*handover // exported, waiting for the receiver
	moved     map[string]movedTo   // handed over a moment ago
	unclaimed map[string]bool      // claims that failed, retried
	// unconfirmed names, per session, the holder whose handover this node
	// took but could not confirm (Release got no answer): this node never
	// served that copy, and asks that holder for it again by name.
	unconfirmed map[string]unconfirmedFrom

	handoffs atomic.Int64 // spreads a leave's batches over the members
	// handedOver counts sessions this node handed to a requester.
	handedOver atomic.Int64

	// placement is where this node's sessions keep backups, per partition.
	placement    atomic.Pointer[[][]string]
	replMessages atomic.Int64
	replBytes    atomic.Int64
	// silent holds, per member, until when a backup that did not answer
	// in time is not asked again: a member that hangs (or died, not yet
	// noticed) must not cost every replication round a whole CallTimeout.
	silentMu   sync.Mutex
	silent     map[string]time.Time
	replanning atomic.Bool // a Replan is running
	restored   atomic.Int64

	reportNeeded chan struct{}
	stop         context.CancelFunc
	wg           sync.WaitGroup
	left         atomic.Bool
}

type sessionsBox struct{ s Sessions }

// handover is a session exported to a receiver that has not yet said
// whether it took it.
type handover struct {
	to     string
	data   []byte
	commit func()
	abort  func()
	timer  *time.Timer
}

// movedTo remembers where a session went, and its record, so that a
// receiver whose confirmation was lost can ask again.
type movedTo struct {
	to    string
	data  []byte
	kept  bool // the record stayed here as the receiver's backup
	until time.Time
}

// unconfirmedFrom is a handover this node took and could not confirm.
type unconfirmedFrom struct {
	holder string
	until  time.Time
}

// movedTTL is how long a node remembers a session it handed over.
const movedTTL = time.Minute

// Start starts the peer transport on cfg.Self.Peer and joins the farm.
// Attach the session manager before serving requests.
func Start(cfg Config) (*Node, error) {
	cfg.defaults()
	if (cfg.ServerTLS == nil) != (cfg.ClientTLS == nil) {
		return nil, errors.New("cluster: peer TLS needs both the server and the client configuration")
	}
	n := &Node{
		cfg:          cfg,
		log:          cfg.Logger,
		self:         cfg.Self.Name,
		dir:          newDirectory(cfg.Self.Name, cfg.Partitions),
		conns:        make(map[string]*grpc.ClientConn),
		pending:      make(map[string]*handover),
		moved:        make(map[string]movedTo),
		unclaimed:    make(map[string]bool),
		unconfirmed:  make(map[string]unconfirmedFrom),
		reportNeeded: make(chan struct{}, 1),
	}
	lis, err := net.Listen("tcp", cfg.Self.Peer)
	if err != nil {
		return nil, fmt.Errorf("cluster: peer transport: %w", err)
	}
	n.lis = lis
	var opts []grpc.ServerOption
	if cfg.ServerTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.ServerTLS)))
	}
	opts = append(opts, grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))
	n.srv = grpc.NewServer(opts...)
	peerpb.RegisterPeerServer(n.srv, &server{n: n})
	ms, err := StartMembership(MembershipConfig{
		Self: cfg.Self, Bind: cfg.Gossip, Join: cfg.Join, Keys: cfg.Keys,
		Logger: cfg.Logger.Named("members"), Fast: cfg.Fast,
	})
	if err != nil {
		lis.Close()
		return nil, err
	}
	n.ms = ms
	// Served only now that the membership exists: the handlers use it.
	// Peers that connect sooner wait in the listener's backlog.
	go func() {
		if err := n.srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.log.Error("peer transport stopped", "error", err)
		}
	}()
	select {
	case <-ms.Joined():
	case <-ms.Refused():
		n.srv.Stop()
		_ = ms.Shutdown()
		return nil, fmt.Errorf("cluster: a live member of the farm is already named %q", cfg.Self.Name)
	case <-time.After(cfg.JoinWait):
		n.log.Warn("no configured member answered; starting alone, and joining when one does", "join", cfg.Join, "waited", cfg.JoinWait)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.wg.Add(5)
	go n.coordinate(ctx)
	go n.report(ctx)
	go n.retryClaims(ctx)
	go n.replicate(ctx)
	go n.restoreLoop(ctx)
	return n, nil
}

// maxMessage bounds one peer message: a handoff batch of sessions.
const maxMessage = 64 << 20

// Attach gives the node the session manager it moves sessions of.
func (n *Node) Attach(s Sessions) {
	n.sessions.Store(&sessionsBox{s})
	n.poke(n.reportNeeded)
}

func (n *Node) mgr() (Sessions, error) {
	b := n.sessions.Load()
	if b == nil {
		return nil, errors.New("cluster: this node is still starting")
	}
	return b.s, nil
}

// Members is this node's view of the farm.
func (n *Node) Members() []Member { return n.ms.Members() }

// Table returns the partition table this node holds, nil before the first.
func (n *Node) Table() *Table { return n.table.Load() }

// HandedOver is how many sessions this node has handed to other members
// that asked for them (migrations out).
func (n *Node) HandedOver() int64 { return n.handedOver.Load() }

// DirectorySize is how many directory entries this node keeps.
func (n *Node) DirectorySize() int { return n.dir.size() }

func (n *Node) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// adopt installs t if it is newer than the current table. Adoptions are
// serialised so that the directory and the callback see tables in order.
func (n *Node) adopt(t *Table) bool {
	if len(t.Owners) != n.cfg.Partitions {
		n.log.Error("ignoring a partition table of another size", "version", t.Version, "partitions", len(t.Owners), "ours", n.cfg.Partitions)
		return false
	}
	n.adoptMu.Lock()
	defer n.adoptMu.Unlock()
	if cur := n.table.Load(); cur != nil && !cur.Version.Less(t.Version) {
		return false
	}
	n.dir.adopt(t)
	n.table.Store(t)
	n.maxSeen.Store(max(n.maxSeen.Load(), t.Version.N))
	if n.cfg.OnTable != nil {
		n.cfg.OnTable(t)
	}
	n.log.Debug("adopted partition table", "version", t.Version)
	n.poke(n.reportNeeded)
	return true
}

// coordinate issues and pushes tables while this node is the coordinator.
func (n *Node) coordinate(ctx context.Context) {
	defer n.wg.Done()
	interval := 2 * time.Second
	if n.cfg.Fast {
		interval = 300 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		changed := n.ms.Changed()
		n.dropDepartedConns()
		n.abandonHandovers()
		n.coordinateOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

func (n *Node) coordinateOnce(ctx context.Context) {
	// A second pass issues at once the table that admits the members the
	// first pass reached for the first time.
	for range 2 {
		if !n.coordinatePass(ctx) {
			return
		}
	}
}

// coordinatePass issues a table if the admitted members changed, and pushes
// it to every member; it reports whether a member was reached for the
// first time (admitted by the next table).
func (n *Node) coordinatePass(ctx context.Context) bool {
	members := n.ms.Members()
	co, ok := Coordinator(members)
	if !ok || co.Name != n.self || n.left.Load() {
		return false
	}
	if n.reached == nil {
		n.reached, n.warned = make(map[string]int64), make(map[string]int64)
	}
	cur := n.table.Load()
	// A member gets partitions once its peer transport has answered (a
	// push): gossip alone does not prove that the others can call it (a
	// wrong peer address, another CA). Members of the current table were
	// admitted already, by this node or the coordinator before it.
	inTable := make(map[string]bool)
	if cur != nil {
		for _, m := range cur.Members {
			inTable[m] = true
		}
	}
	var names []string
	live := make(map[string]bool, len(members))
	for _, m := range members {
		live[m.Name] = true
		if started, ok := n.reached[m.Name]; m.Name == n.self || inTable[m.Name] || (ok && started == m.Started) {
			names = append(names, m.Name)
		}
	}
	for name := range n.reached {
		if !live[name] {
			delete(n.reached, name)
		}
	}
	for name := range n.warned {
		if !live[name] {
			delete(n.warned, name)
		}
	}
	admitted := make(map[string]bool, len(names))
	for _, name := range names {
		admitted[name] = true
	}
	owners := ComputeOwners(names, n.cfg.Partitions)
	if cur == nil || !slices.Equal(cur.Owners, owners) || !slices.Equal(cur.Members, names) {
		t := &Table{Version: Version{N: n.maxSeen.Load() + 1, By: n.self}, Owners: owners, Members: names}
		if n.adopt(t) {
			n.log.Info("issued partition table", "version", t.Version, "members", len(names))
		}
		cur = n.table.Load()
	}
	// Pushed every round, not only on change: a member that missed a push,
	// or joined since, catches up within one interval.
	var wg sync.WaitGroup
	var mu sync.Mutex
	newly := false
	for _, m := range members {
		if m.Name == n.self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
			defer cancel()
			c, err := n.client(m.Peer)
			if err == nil {
				_, err = c.PushTable(cctx, &peerpb.PushTableRequest{Table: toPB(cur)})
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				first := !admitted[m.Name] && n.warned[m.Name] != m.Started
				if first {
					n.warned[m.Name] = m.Started
				}
				mu.Unlock()
				if first {
					n.log.Warn("a member of the gossip does not answer on its peer address; it gets no partitions until it does", "member", m.Name, "peer", m.Peer, "error", err)
				} else {
					n.log.Debug("pushing the partition table failed", "member", m.Name, "error", err)
				}
				return
			}
			mu.Lock()
			if n.reached[m.Name] != m.Started {
				n.reached[m.Name] = m.Started
				newly = newly || !admitted[m.Name]
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return newly
}

// report sends every owner what this node holds of its partitions, once
// per table, retrying until each has taken it.
func (n *Node) report(ctx context.Context) {
	defer n.wg.Done()
	var done Version // the table fully reported
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.reportNeeded:
		case <-retry.C:
		}
		t := n.table.Load()
		if t == nil || t.Version == done {
			continue
		}
		mgr, err := n.mgr()
		if err != nil {
			continue // Attach pokes again
		}
		if err := n.reportTable(ctx, t, mgr.SessionIDs()); err != nil {
			n.log.Debug("directory report incomplete; retrying", "version", t.Version, "error", err)
			retry.Reset(n.backoff())
			continue
		}
		done = t.Version
	}
}

func (n *Node) backoff() time.Duration {
	if n.cfg.Fast {
		return 100 * time.Millisecond
	}
	return time.Second
}

func (n *Node) reportTable(ctx context.Context, t *Table, ids []string) error {
	by := make(map[string][]*peerpb.Entry)
	for _, o := range t.Owners {
		by[o] = nil // every owner gets a report, even an empty one
	}
	for _, id := range ids {
		o := t.Owner(Partition(id, n.cfg.Partitions))
		by[o] = append(by[o], &peerpb.Entry{Id: id, Holder: n.self, Started: n.cfg.Self.Started})
	}
	var errs []error
	var conflicts []*peerpb.Entry
	for owner, entries := range by {
		req := &peerpb.RegisterRequest{Version: versionPB(t.Version), Entries: entries, Mode: peerpb.Mode_MODE_REPORT, From: n.self}
		reply, err := n.register(ctx, owner, req)
		switch {
		case err != nil:
		case reply.Stale != nil:
			err = fmt.Errorf("%s holds table %v", owner, fromPBVersion(reply.Stale.Version))
		case reply.Incomplete:
			// It has no table yet, so it did not take the report.
			err = fmt.Errorf("%s has no partition table yet", owner)
		default:
			conflicts = append(conflicts, reply.GetConflicts()...)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range conflicts {
		if err := n.settleConflict(ctx, c.GetId(), holderRef{c.GetHolder(), c.GetStarted()}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settleConflict decides between this node's copy of a session and the
// live holder the directory records for it, which this node's report did
// not override. If that holder has the session too, there are two copies
// (two nodes loaded it from the store as the table changed): the one the
// directory names is the one the farm sends requests to, so this one goes.
// If it has not (it handed the session here, and its report came first),
// this copy is the session, and the entry is made to say so.
func (n *Node) settleConflict(ctx context.Context, id string, h holderRef) error {
	mgr, err := n.mgr()
	if err != nil || !mgr.Holds(id) {
		return nil // not here (any more): nothing to settle
	}
	n.handMu.Lock()
	_, leaving := n.pending[id]
	n.handMu.Unlock()
	if leaving {
		return nil // being handed on: the receiver's claim settles it
	}
	c, err := n.clientOf(h.name)
	if err != nil {
		return fmt.Errorf("asking %s about %s: %w", h.name, logID(id), err)
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	defer cancel()
	reply, err := c.FindBackup(cctx, &peerpb.FindBackupRequest{Id: id})
	if err != nil {
		return fmt.Errorf("asking %s about %s: %w", h.name, logID(id), err)
	}
	switch to := reply.GetHandingTo(); {
	case to == n.self:
		// Reported while it was on its way here: this is the session, and
		// the hand-over's own claim records it.
		return nil
	case to != "":
		return fmt.Errorf("%s is handing %s to %s: settling it later", h.name, logID(id), to)
	}
	if reply.GetLive() {
		if !mgr.Drop(id) {
			return fmt.Errorf("two copies of %s, the one here in use: dropping it later", logID(id))
		}
		n.log.Error("two copies of a session after the partition table changed; dropped the one here, the directory names another holder", "session", logID(id), "holder", h.name)
		return nil
	}
	if _, err := n.claim(ctx, id, modeMove); err != nil {
		return fmt.Errorf("recording %s here over %s, which let it go: %w", logID(id), h.name, err)
	}
	return nil
}

// register sends a register request to owner, locally if it is this node.
func (n *Node) register(ctx context.Context, owner string, req *peerpb.RegisterRequest) (*peerpb.DirReply, error) {
	if owner == n.self {
		return (&server{n: n}).Register(ctx, req)
	}
	c, err := n.clientOf(owner)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	defer cancel()
	return c.Register(cctx, req)
}

// retryClaims registers sessions whose claims failed (the directory's node
// was unreachable), until they succeed.
func (n *Node) retryClaims(ctx context.Context) {
	defer n.wg.Done()
	tick := time.NewTicker(n.backoff())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n.handMu.Lock()
		ids := make([]string, 0, len(n.unclaimed))
		for id := range n.unclaimed {
			ids = append(ids, id)
		}
		now := time.Now()
		for id, mv := range n.moved {
			if now.After(mv.until) {
				delete(n.moved, id)
			}
		}
		for id, u := range n.unconfirmed {
			if now.After(u.until) {
				delete(n.unconfirmed, id)
			}
		}
		n.handMu.Unlock()
		for _, id := range ids {
			if _, err := n.claim(ctx, id, modeClaim); err == nil {
				n.handMu.Lock()
				delete(n.unclaimed, id)
				n.handMu.Unlock()
			}
		}
		n.fetchUnconfirmed(ctx)
	}
}

// fetchUnconfirmed fetches again the sessions whose handover this node
// took but could not confirm. If the holder did let go, the record it kept
// as this node's backup is the session's only copy, and with no request
// here to ask for it, it would be dropped as a backup whose holder (this
// node) does not hold the session. If the holder serves it again, the
// session comes here all the same: its requests did.
func (n *Node) fetchUnconfirmed(ctx context.Context) {
	n.handMu.Lock()
	ids := make([]string, 0, len(n.unconfirmed))
	for id := range n.unconfirmed {
		ids = append(ids, id)
	}
	n.handMu.Unlock()
	mgr, err := n.mgr()
	if err != nil || len(ids) == 0 {
		return
	}
	for _, id := range ids {
		hctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout+n.cfg.HandoverTimeout)
		_, release, err := mgr.Hold(hctx, id)
		if err == nil {
			err = release(hctx)
		}
		cancel()
		switch {
		case err == nil || errors.Is(err, session.ErrNoSession):
			n.handMu.Lock()
			delete(n.unconfirmed, id)
			n.handMu.Unlock()
			n.log.Debug("fetched again a session whose handover went unconfirmed", "session", logID(id), "error", err)
		case ctx.Err() != nil:
			return
		default:
			n.log.Debug("fetching again a session whose handover went unconfirmed", "session", logID(id), "error", err)
		}
	}
}

// client returns a connection to the peer transport at addr.
func (n *Node) client(addr string) (peerpb.PeerClient, error) {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	if cc, ok := n.conns[addr]; ok {
		return peerpb.NewPeerClient(cc), nil
	}
	creds := insecure.NewCredentials()
	if n.cfg.ClientTLS != nil {
		creds = credentials.NewTLS(n.cfg.ClientTLS)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
		// gRPC's default backoff grows to two minutes, failing every call
		// fast meanwhile: a peer that restarts on its address must be
		// reachable again within a second.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", addr, err)
	}
	n.conns[addr] = cc
	return peerpb.NewPeerClient(cc), nil
}

// dropDepartedConns closes the connections to addresses no member has
// any more: a member that comes back on its address gets a fresh one, not
// one stuck in a reconnect backoff.
func (n *Node) dropDepartedConns() {
	live := make(map[string]bool)
	for _, m := range n.ms.Members() {
		live[m.Peer] = true
	}
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	for addr, cc := range n.conns {
		if !live[addr] {
			_ = cc.Close()
			delete(n.conns, addr)
		}
	}
}

// clientOf returns a connection to the alive member of the name.
func (n *Node) clientOf(name string) (peerpb.PeerClient, error) {
	m, ok := n.ms.Member(name)
	if !ok {
		return nil, fmt.Errorf("cluster: %s is not a live member", name)
	}
	return n.client(m.Peer)
}

func (n *Node) alive(name string) bool {
	_, ok := n.ms.Member(name)
	return ok
}

// aliveIncarnation reports whether the member of the name is alive and
// is the incarnation that started then (0: any).
func (n *Node) aliveIncarnation(name string, started int64) bool {
	m, ok := n.ms.Member(name)
	return ok && (started == 0 || m.Started == started)
}

// Leave hands nothing over by itself (Drain does): it announces the
// departure, stops the node's loops and closes the transport.
func (n *Node) Leave(timeout time.Duration) error {
	n.left.Store(true)
	n.stop()
	n.wg.Wait()
	err := n.ms.Leave(timeout)
	n.closeTransport()
	return err
}

// Close stops the node without a leave message.
func (n *Node) Close() error {
	n.left.Store(true)
	n.stop()
	n.wg.Wait()
	err := n.ms.Shutdown()
	n.closeTransport()
	return err
}

func (n *Node) closeTransport() {
	// GracefulStop would wait for a peer's long call; a bounded wait then
	// a hard stop.
	stopped := make(chan struct{})
	go func() { n.srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(n.cfg.CallTimeout):
		n.srv.Stop()
	}
	n.connsMu.Lock()
	for _, cc := range n.conns {
		_ = cc.Close()
	}
	n.conns = map[string]*grpc.ClientConn{}
	n.connsMu.Unlock()
}

// MemberStats is what a member says of itself.
type MemberStats struct {
	Member
	Sessions  int64
	Directory int64
	// Backups the member keeps of other members' sessions.
	Backups int64
	Table   Version
	// Err is set if the member did not answer.
	Err error
}

// Stats asks every live member, in parallel, how many sessions it holds.
func (n *Node) Stats(ctx context.Context) []MemberStats {
	members := n.ms.Members()
	out := make([]MemberStats, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		out[i].Member = m
		wg.Add(1)
		go func() {
			defer wg.Done()
			var reply *peerpb.StatsReply
			var err error
			if m.Name == n.self {
				reply, err = (&server{n: n}).Stats(ctx, &peerpb.StatsRequest{})
			} else if c, cerr := n.client(m.Peer); cerr != nil {
				err = cerr
			} else {
				cctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
				reply, err = c.Stats(cctx, &peerpb.StatsRequest{})
				cancel()
			}
			if err != nil {
				out[i].Err = err
				return
			}
			out[i].Sessions, out[i].Directory, out[i].Table, out[i].Backups = reply.Sessions, reply.Directory, fromPBVersion(reply.Table), reply.Backups
		}()
	}
	wg.Wait()
	return out
}
