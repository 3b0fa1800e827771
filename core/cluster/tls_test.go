package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test farm CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// peerTLS issues a node certificate for 127.0.0.1 and returns the server
// and client configurations a node uses.
func (ca *testCA) peerTLS(t *testing.T, name string) (*tls.Config, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
	return server, client
}

// With mutual TLS, members of the farm's CA move sessions between them; a
// member whose certificate another CA signed cannot reach them, and its
// requests fail instead of starting new sessions in place of theirs.
func TestPeerMutualTLS(t *testing.T) {
	ca, rogueCA := newCA(t), newCA(t)
	f := newFarm(t)
	f.serverTLS, f.clientTLS = ca.peerTLS(t, "red")
	red := f.add("red")
	f.serverTLS, f.clientTLS = ca.peerTLS(t, "green")
	green := f.add("green")
	f.settled()
	b := &browser{hc: &http.Client{Timeout: 20 * time.Second}}
	for i, fn := range []*farmNode{red, green, red} {
		if got := b.incr(t, fn); got != i+1 {
			t.Fatalf("over mTLS, request %d on %s: count %d", i+1, fn.name, got)
		}
	}
	f.serverTLS, f.clientTLS = rogueCA.peerTLS(t, "rogue")
	rogue := f.add("rogue")
	deadline := time.Now().Add(10 * time.Second)
	for len(rogue.node.Members()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the rogue never joined the gossip")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.try(rogue); err == nil {
		t.Fatal("a node outside the farm's CA served the session")
	}
	if got := b.incr(t, red); got != 4 {
		t.Fatalf("after the rogue's attempt: count %d on red, want 4", got)
	}
	// The rogue is in the gossip but unreachable on the peer transport: it
	// keeps no partition of the directory, so no lookup is sent to it, and
	// new sessions anywhere are served (a few rounds of the coordinator).
	time.Sleep(time.Second)
	if tb := red.node.Table(); tb == nil || slices.Contains(tb.Members, "rogue") || slices.Contains(tb.Owners, "rogue") {
		t.Fatalf("the rogue is in red's table: %+v", tb)
	}
	for i := range 20 {
		nb := &browser{hc: &http.Client{Timeout: 20 * time.Second}}
		fn := []*farmNode{red, green}[i%2]
		if got := nb.incr(t, fn); got != 1 {
			t.Fatalf("a new session on %s: count %d", fn.name, got)
		}
		if got := nb.incr(t, []*farmNode{green, red}[i%2]); got != 2 {
			t.Fatalf("the new session elsewhere: count %d", got)
		}
	}
}
