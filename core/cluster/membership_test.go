package cluster

import (
	"bytes"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/wadi-go/wadi/internal/testport"
)

// freePort returns a loopback host:port free for TCP and UDP, as gossip
// binds both, reserved for this test.
func freePort(t testing.TB) string {
	t.Helper()
	return testport.Addr(t)
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func member(name string, started int64) Member {
	return Member{Name: name, Peer: "127.0.0.1:1", HTTP: "http://127.0.0.1:2", ProtoMin: ProtocolMin, ProtoMax: ProtocolMax, Started: started}
}

func startMember(t *testing.T, self Member, join []string, keys [][]byte) (*Membership, string, *logBuf) {
	t.Helper()
	addr := freePort(t)
	logs := &logBuf{}
	m, err := StartMembership(MembershipConfig{
		Self: self, Bind: addr, Join: join, Keys: keys, Fast: true,
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m, addr, logs
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMembershipJoinLeave(t *testing.T) {
	a, addrA, _ := startMember(t, member("a", 1), nil, nil)
	// b joins through a; c joins through b only, before b is up: the join
	// is retried until it answers.
	addrB := freePort(t)
	c, _, _ := startMember(t, member("c", 3), []string{addrB}, nil)
	b, err := StartMembership(MembershipConfig{Self: member("b", 2), Bind: addrB, Join: []string{addrA}, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "c"}
	for _, m := range []*Membership{a, b, c} {
		eventually(t, m.Self().Name+" to see a, b and c", func() bool { return slices.Equal(names(m.Members()), want) })
	}
	for _, m := range []*Membership{a, b, c} {
		co, _ := Coordinator(m.Members())
		if co.Name != "a" {
			t.Fatalf("%s elects %s, want the oldest, a", m.Self().Name, co.Name)
		}
	}
	ch := a.Changed()
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no change signalled for a leave")
	}
	for _, m := range []*Membership{a, c} {
		eventually(t, m.Self().Name+" to see b gone", func() bool { return slices.Equal(names(m.Members()), []string{"a", "c"}) })
	}
}

// Nodes that must not share the farm never become members: one that speaks
// no protocol version in common, one that reuses a live member's name, and
// one without the gossip key. (Bad metadata: TestDecodeMember, TestMembershipMeta.)
func TestMembershipRefuses(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	a, addrA, logsA := startMember(t, member("a", 1), nil, [][]byte{key})
	tests := []struct {
		name    string
		self    Member
		keys    [][]byte
		wantLog string
		refused bool // the newcomer learns it must not run under its name
	}{
		{"no common protocol", Member{Name: "future", Peer: "x:1", HTTP: "http://x", ProtoMin: ProtocolMax + 1, ProtoMax: ProtocolMax + 2, Started: 5}, [][]byte{key}, "speaks no common protocol version", false},
		{"wrong key", member("stranger", 6), [][]byte{bytes.Repeat([]byte{8}, 32)}, "", false},
		{"name in use", member("a", 7), [][]byte{key}, "another live member has this node's name and started earlier", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newcomer, _, logs := startMember(t, tt.self, []string{addrA}, tt.keys)
			time.Sleep(1500 * time.Millisecond)
			got := a.Members()
			if !slices.Equal(names(got), []string{"a"}) || got[0].Started != 1 {
				t.Fatalf("members %+v: the node was let in", got)
			}
			if all := logsA.String() + logs.String(); tt.wantLog != "" && !strings.Contains(all, tt.wantLog) {
				t.Fatalf("no %q in the logs:\n%s", tt.wantLog, all)
			}
			select {
			case <-newcomer.Refused():
				if !tt.refused {
					t.Fatal("the newcomer was told its name is taken")
				}
			default:
				if tt.refused {
					t.Fatalf("the newcomer was not told its name is taken:\n%s", logs)
				}
			}
			select {
			case <-a.Refused():
				t.Fatal("the older member was told to stop")
			default:
			}
		})
	}
}

func TestDecodeMember(t *testing.T) {
	good, _ := member("a", 1).encode()
	rack := map[string]string{"rack": "r1"}
	m := member("a", 1)
	m.Meta = rack
	withMeta, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		meta []byte
		ok   bool
	}{
		{"good", good, true},
		{"empty", nil, false},
		{"garbage", []byte{0xff, 0x00}, false},
		{"other name", []byte(`{"name":"b","peer":"p","http":"h","proto_min":1,"proto_max":1}`), false},
		{"no addresses", []byte(`{"name":"a","proto_min":1,"proto_max":1}`), false},
		{"inverted range", []byte(`{"name":"a","peer":"p","http":"h","proto_min":2,"proto_max":1}`), false},
		{"meta", withMeta, true},
		{"meta not an object", []byte(`{"name":"a","peer":"p","http":"h","proto_min":1,"proto_max":1,"meta":["rack"]}`), false},
		{"meta with a bad key", []byte(`{"name":"a","peer":"p","http":"h","proto_min":1,"proto_max":1,"meta":{"ra ck":"r1"}}`), false},
		{"meta with a control character", []byte(`{"name":"a","peer":"p","http":"h","proto_min":1,"proto_max":1,"meta":{"rack":"r\n1"}}`), false},
	}
	for _, tt := range tests {
		if _, err := decodeMember("a", tt.meta); (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	got, err := decodeMember("a", withMeta)
	if err != nil || !maps.Equal(got.Meta, rack) {
		t.Errorf("decoded %+v, %v; want meta %v", got, err, rack)
	}
}

// equal must notice a difference in any field, or a member that changed
// would not be seen to (membership keeps the old one).
func TestMemberEqual(t *testing.T) {
	a := member("a", 1)
	a.Meta = map[string]string{"rack": "r1"}
	if !a.equal(a) {
		t.Fatal("a member differs from itself")
	}
	v := reflect.ValueOf(&a).Elem()
	for i := range v.NumField() {
		b := a
		b.Meta = maps.Clone(a.Meta)
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Map:
			b.Meta["rack"] = "r2"
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", v.Type().Field(i).Name, f.Kind())
		}
		if a.equal(b) || b.equal(a) {
			t.Errorf("members differing in %s are equal", v.Type().Field(i).Name)
		}
	}
}

// rawNode is a gossip node announcing whatever metadata it is given, as a
// peer with another build (or a broken one) could.
type rawNode struct{ meta []byte }

func (r rawNode) NodeMeta(int) []byte                  { return r.meta }
func (rawNode) NotifyMsg([]byte)                       {}
func (rawNode) GetBroadcasts(int, int) [][]byte        { return nil }
func (rawNode) LocalState(bool) []byte                 { return nil }
func (rawNode) MergeRemoteState(buf []byte, join bool) {}

// A member's meta reaches the others; a node whose meta breaks the rules
// is refused, with a log saying why.
func TestMembershipMeta(t *testing.T) {
	self := member("a", 1)
	self.Meta = map[string]string{"rack": "r1", "dc": "eu-1"}
	a, addrA, logsA := startMember(t, self, nil, nil)
	other := member("b", 2)
	other.Meta = map[string]string{"rack": "r2"}
	b, _, _ := startMember(t, other, []string{addrA}, nil)
	for _, m := range []*Membership{a, b} {
		eventually(t, m.Self().Name+" to see a and b", func() bool { return slices.Equal(names(m.Members()), []string{"a", "b"}) })
	}
	for _, m := range []*Membership{a, b} {
		for _, want := range []Member{self, other} {
			if got, _ := m.Member(want.Name); !maps.Equal(got.Meta, want.Meta) {
				t.Errorf("%s sees %s's meta %v, want %v", m.Self().Name, want.Name, got.Meta, want.Meta)
			}
		}
	}

	mc := memberlist.DefaultLocalConfig()
	mc.Name = "c"
	mc.BindAddr, mc.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
	mc.BindPort, mc.AdvertisePort = 0, 0
	mc.Delegate = rawNode{[]byte(`{"name":"c","peer":"127.0.0.1:1","http":"http://127.0.0.1:2","proto_min":1,"proto_max":1,"meta":{"rack":"r\u0000"}}`)}
	mc.LogOutput = io.Discard
	c, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	_, _ = c.Join([]string{addrA}) // refused: the error is a's to log
	eventually(t, "a to log the refusal", func() bool {
		return strings.Contains(logsA.String(), "refusing a node with unreadable metadata") && strings.Contains(logsA.String(), "U+0000")
	})
	time.Sleep(500 * time.Millisecond)
	if got := names(a.Members()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("members %v: the node with bad meta was let in", got)
	}
}

// Gossip keys rotate without a split: a member that already sends with the
// new key and one that still sends with the old one understand each other
// as long as each accepts the other's key.
func TestMembershipKeyRotation(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	a, addrA, _ := startMember(t, member("a", 1), nil, [][]byte{k1, k2})
	b, _, _ := startMember(t, member("b", 2), []string{addrA}, [][]byte{k2, k1})
	for _, m := range []*Membership{a, b} {
		eventually(t, m.Self().Name+" to see both", func() bool { return slices.Equal(names(m.Members()), []string{"a", "b"}) })
	}
}
