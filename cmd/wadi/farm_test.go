package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wadi-go/wadi/config"
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
