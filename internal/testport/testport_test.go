package testport

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestAddrsAreDistinctBindableAndOutsideTheEphemeralRange(t *testing.T) {
	low := 32768 // Linux's default, if the range cannot be read
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	addrs := Addrs(t, 20)
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(port); p >= low {
			t.Errorf("%s is in the ephemeral range (from %d)", a, low)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("tcp: %v", err)
		}
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			t.Fatalf("udp: %v", err)
		}
		ln.Close()
		pc.Close()
	}
	if one := Addr(t); seen[one] {
		t.Errorf("%s handed out again while still reserved", one)
	}
}
