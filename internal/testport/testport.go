// Package testport hands tests loopback addresses that stay theirs for the
// whole test, even across a restart of the server bound to them.
//
// A port found by binding :0 and closing comes from the kernel's ephemeral
// range, where any process may be given it next: a unit test's listener,
// or the source port of some client's connection. A test that kills a
// server and starts it again on the same port then finds the port taken,
// or its clients reach another test's server. The ports handed out here
// come from consul's freeport, which reserves a block below the ephemeral
// range per test process (locked across processes), so `go test ./...`
// running packages side by side never hands one port to two of them.
package testport

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/hashicorp/consul/sdk/freeport"
)

// Addr returns one loopback host:port, free for TCP and UDP (gossip binds
// both), reserved until the test ends.
func Addr(t testing.TB) string {
	t.Helper()
	return Addrs(t, 1)[0]
}

// Addrs returns n distinct loopback host:ports, each free for TCP and
// UDP, reserved until the test ends.
func Addrs(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	// A port of the block may still be held for UDP by something else;
	// such a port is skipped (and stays reserved) rather than handed out.
	for tries := 0; len(out) < n; tries++ {
		if tries > 10*n+10 {
			t.Fatalf("testport: no %d ports free for TCP and UDP", n)
		}
		ports, err := freeport.Take(n - len(out))
		if err != nil {
			t.Fatalf("testport: %v", err)
		}
		t.Cleanup(func() { freeport.Return(ports) })
		for _, p := range ports {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
			if err := udpFree(addr); err == nil {
				out = append(out, addr)
			}
		}
	}
	return out
}

func udpFree(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("udp %s: %w", addr, err)
	}
	return pc.Close()
}
