package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// Cluster is the `cluster` block: this node's membership of a farm. A
// configuration without one is a single node.
type Cluster struct {
	// Bind is the gossip address; Peer the node-to-node transport's.
	Bind, Peer string
	// Join lists members to join through (host:port or DNS names).
	Join []string
	// Partitions is the number of directory partitions; the same on every
	// node of a farm.
	Partitions int
	// Keys encrypt gossip: the primary (encrypt) first, then the keys still
	// accepted during a rotation (encrypt_accept).
	Keys [][]byte
	// AdvertiseHTTP is the URL other nodes and redirected clients reach
	// this node's HTTP listener at; empty: http:// and http.listen.
	AdvertiseHTTP string
	// JoinWait bounds how long the node waits to join before starting
	// alone.
	JoinWait time.Duration
	// TLS, if set, makes the peer transport mutual TLS.
	TLS *TLSFiles
}

// TLSFiles are the PEM files of a `tls` block.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Admin is the `admin` block: the admin API's listener.
type Admin struct {
	Listen string // host:port; empty: no admin API
}

// DefaultPartitions is the directory's partition count unless configured.
const DefaultPartitions = 271

type clusterBlock struct {
	Bind          hcl.Expression `hcl:"bind,optional"`
	Peer          hcl.Expression `hcl:"peer,optional"`
	Join          hcl.Expression `hcl:"join,optional"`
	Partitions    hcl.Expression `hcl:"partitions,optional"`
	Encrypt       hcl.Expression `hcl:"encrypt,optional"`
	EncryptAccept hcl.Expression `hcl:"encrypt_accept,optional"`
	AdvertiseHTTP hcl.Expression `hcl:"advertise_http,optional"`
	JoinWait      hcl.Expression `hcl:"join_wait,optional"`
	TLS           *tlsBlock      `hcl:"tls,block"`
}

type tlsBlock struct {
	CAFile   hcl.Expression `hcl:"ca_file,optional"`
	CertFile hcl.Expression `hcl:"cert_file,optional"`
	KeyFile  hcl.Expression `hcl:"key_file,optional"`
	Body     hcl.Body       `hcl:",remain"`
}

type adminBlock struct {
	Listen hcl.Expression `hcl:"listen,optional"`
}

// require reports a required attribute that is absent: gohcl leaves an
// absent expression attribute null instead of reporting it.
func (d *decoder) require(body hcl.Body, block, name, value string) {
	if value != "" {
		return
	}
	r := body.MissingItemRange()
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Missing required argument",
		Detail:   fmt.Sprintf("The argument %q is required in the %s block.", name, block),
		Subject:  &r,
	})
}

func (d *decoder) decodeCluster(body hcl.Body) *Cluster {
	var b clusterBlock
	diags := gohcl.DecodeBody(body, d.ctx, &b)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	c := &Cluster{Partitions: DefaultPartitions, JoinWait: 10 * time.Second}
	for _, a := range []struct {
		name string
		expr hcl.Expression
		dst  *string
	}{{"cluster.bind", b.Bind, &c.Bind}, {"cluster.peer", b.Peer, &c.Peer}} {
		if d.str(a.name, a.expr, a.dst) {
			d.listenAddr(a.name, a.expr, *a.dst)
		}
	}
	d.require(body, "cluster", "bind", c.Bind)
	d.require(body, "cluster", "peer", c.Peer)
	if c.Bind != "" && c.Bind == c.Peer {
		d.invalid("cluster.peer", b.Peer, "the peer transport needs an address of its own, not the gossip address %q.", c.Bind)
	}
	if v, ok := d.value("cluster.join", b.Join, cty.List(cty.String)); ok {
		for _, j := range v.AsValueSlice() {
			if j.IsNull() || j.AsString() == "" {
				d.invalid("cluster.join", b.Join, "must not contain null or empty addresses.")
				break
			}
			c.Join = append(c.Join, j.AsString())
		}
	}
	if d.int("cluster.partitions", b.Partitions, &c.Partitions) && (c.Partitions < 1 || c.Partitions > 65536) {
		d.invalid("cluster.partitions", b.Partitions, "must be between 1 and 65536, got %d.", c.Partitions)
	}
	var primary string
	if d.str("cluster.encrypt", b.Encrypt, &primary) {
		if k, ok := d.gossipKey("cluster.encrypt", b.Encrypt, primary); ok {
			c.Keys = append(c.Keys, k)
		}
	}
	if v, ok := d.value("cluster.encrypt_accept", b.EncryptAccept, cty.List(cty.String)); ok {
		if len(c.Keys) == 0 {
			d.invalid("cluster.encrypt_accept", b.EncryptAccept, "keys still accepted during a rotation need a primary key in encrypt.")
		}
		for _, s := range v.AsValueSlice() {
			if s.IsNull() {
				d.invalid("cluster.encrypt_accept", b.EncryptAccept, "must not contain null.")
				break
			}
			if k, ok := d.gossipKey("cluster.encrypt_accept", b.EncryptAccept, s.AsString()); ok {
				c.Keys = append(c.Keys, k)
			}
		}
	}
	if d.str("cluster.advertise_http", b.AdvertiseHTTP, &c.AdvertiseHTTP) {
		u, err := url.Parse(c.AdvertiseHTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.invalid("cluster.advertise_http", b.AdvertiseHTTP, "%q is not an absolute http(s) URL.", c.AdvertiseHTTP)
		}
	}
	d.duration("cluster.join_wait", b.JoinWait, &c.JoinWait, true)
	if b.TLS != nil {
		t := &TLSFiles{}
		d.str("cluster.tls.ca_file", b.TLS.CAFile, &t.CAFile)
		d.str("cluster.tls.cert_file", b.TLS.CertFile, &t.CertFile)
		d.str("cluster.tls.key_file", b.TLS.KeyFile, &t.KeyFile)
		d.require(b.TLS.Body, "tls", "ca_file", t.CAFile)
		d.require(b.TLS.Body, "tls", "cert_file", t.CertFile)
		d.require(b.TLS.Body, "tls", "key_file", t.KeyFile)
		c.TLS = t
	}
	return c
}

// gossipKey decodes a gossip key: standard base64 of 16, 24 or 32 bytes
// (AES-128, -192 or -256), as `openssl rand -base64 32` writes one.
func (d *decoder) gossipKey(name string, expr hcl.Expression, s string) ([]byte, bool) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
		// The key itself never goes into the message.
		d.invalid(name, expr, "must be the base64 encoding of 16, 24 or 32 bytes (openssl rand -base64 32).")
		return nil, false
	}
	return k, true
}

func (d *decoder) decodeAdmin(body hcl.Body) *Admin {
	var b adminBlock
	diags := gohcl.DecodeBody(body, d.ctx, &b)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	a := &Admin{}
	defer func() { d.require(body, "admin", "listen", a.Listen) }()
	if d.str("admin.listen", b.Listen, &a.Listen) {
		d.listenAddr("admin.listen", b.Listen, a.Listen)
	}
	return a
}
