package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"maps"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/internal/nodemeta"
)

// writeCert issues a certificate for 127.0.0.1 signed by parent (self-signed
// when parent is nil) and writes it and its key as PEM files.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", kb)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// The peer transport's TLS files load into configurations that complete a
// mutual handshake with each other and refuse a peer of another CA; bad
// files are clear errors.
func TestPeerTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "red", ca, caKey)
	other, otherKey := writeCert(t, dir, "other-ca", nil, nil)
	writeCert(t, dir, "rogue", other, otherKey)

	server, client, err := peerTLS(&config.TLSFiles{CAFile: "ca.pem", CertFile: "red.pem", KeyFile: "red-key.pem"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, rogue, err := peerTLS(&config.TLSFiles{CAFile: "other-ca.pem", CertFile: "rogue.pem", KeyFile: "rogue-key.pem"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	handshake := func(c *tls.Config) error {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		done := make(chan error, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			defer conn.Close()
			done <- conn.(*tls.Conn).Handshake()
		}()
		conn, err := tls.Dial("tcp", ln.Addr().String(), c)
		if err == nil {
			conn.Close()
		}
		if serr := <-done; err == nil {
			err = serr
		}
		return err
	}
	if err := handshake(client); err != nil {
		t.Fatalf("handshake within the farm's CA: %v", err)
	}
	if err := handshake(rogue); err == nil {
		t.Fatal("a peer of another CA completed the handshake")
	}

	for _, tt := range []struct {
		files config.TLSFiles
		want  string
	}{
		{config.TLSFiles{CAFile: "nope.pem", CertFile: "red.pem", KeyFile: "red-key.pem"}, "no such file"},
		{config.TLSFiles{CAFile: "red-key.pem", CertFile: "red.pem", KeyFile: "red-key.pem"}, "holds no PEM certificate"},
		{config.TLSFiles{CAFile: "ca.pem", CertFile: "red.pem", KeyFile: "rogue-key.pem"}, "private key does not match"},
	} {
		if _, _, err := peerTLS(&tt.files, dir); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("peerTLS(%+v) = %v, want an error saying %q", tt.files, err, tt.want)
		}
	}
}

// fillMeta spreads total bytes of values over entries of at most
// nodemeta.MaxValueLen each, so that one more byte of total is one more
// byte of encoding except where an entry begins.
func fillMeta(total int) map[string]string {
	meta := map[string]string{}
	for i := 0; total > 0; i++ {
		n := min(total, nodemeta.MaxValueLen)
		meta[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", n)
		total -= n
	}
	return meta
}

func metaHCL(meta map[string]string) string {
	var b strings.Builder
	b.WriteString("{\n")
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		fmt.Fprintf(&b, "    %s = %q\n", k, meta[k])
	}
	b.WriteString("  }")
	return b.String()
}

// config sizes node.meta against what selfMember announces: the largest
// meta config accepts fits gossip whatever the start time, and the next
// size config refuses would not have fitted.
func TestSelfMemberFitsGossip(t *testing.T) {
	tests := []struct {
		name, node, cluster string
	}{
		{"short", `name = "red"`, ``},
		{"long name, zone and URL",
			"name = \"" + strings.Repeat("n", 64) + "\"\n  zone = \"" + strings.Repeat("z", 40) + "\"",
			`advertise_http = "https://` + strings.Repeat("h", 60) + `.example.com:8443"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := func(meta map[string]string) (*config.Config, hcl.Diagnostics) {
				src := fmt.Sprintf("node {\n  %s\n  meta = %s\n}\ncluster {\n  bind = \"127.0.0.1:7946\"\n  peer = \"127.0.0.1:7950\"\n  %s\n}\n",
					tt.node, metaHCL(meta), tt.cluster)
				cfg, _, diags := config.Parse([]byte(src), "wadi.hcl", config.Options{})
				return cfg, diags
			}
			var last *config.Config
			for total := 1; ; total++ {
				meta := fillMeta(total)
				cfg, diags := parse(meta)
				if cfg != nil {
					if total > nodemeta.MaxSize {
						t.Fatalf("config accepts %d bytes of values, more than gossip carries in all", total)
					}
					last = cfg
					continue
				}
				if last == nil {
					t.Fatalf("the smallest meta is refused: %v", diags)
				}
				if !strings.Contains(diags.Error(), "bytes of gossip metadata") {
					t.Fatalf("refused for another reason: %v", diags)
				}
				fits := selfMember(last, math.MaxInt64)
				if !maps.Equal(fits.Meta, last.Node.Meta) {
					t.Fatalf("selfMember's meta %v, want the configuration's %v", fits.Meta, last.Node.Meta)
				}
				if b, err := nodemeta.Node(fits).Encode(); err != nil {
					t.Fatalf("the largest meta config accepts does not fit gossip: %v", err)
				} else {
					t.Logf("%d bytes of values fit, in %d bytes of metadata", total-1, len(b))
				}
				over := fits
				over.Meta = meta
				if _, err := nodemeta.Node(over).Encode(); err == nil {
					t.Fatalf("config refuses %d bytes of values, which fit gossip", total)
				}
				return
			}
		})
	}
}
