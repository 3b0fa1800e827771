package builtin

import (
	"bytes"
	"context"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
)

// TestBuiltinsDescribeThemselves checks that every builtin's Info agrees with
// its registry entry and that its schema is usable.
func TestBuiltinsDescribeThemselves(t *testing.T) {
	ctx := context.Background()
	for _, b := range All() {
		t.Run(string(b.Kind)+"/"+b.Name, func(t *testing.T) {
			info, err := b.New().Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Name != b.Name || info.Kind != b.Kind || len(info.APIVersions) == 0 || info.APIVersions[0] != base.APIVersion {
				t.Fatalf("Info = %+v, registry says %s %q", info, b.Kind, b.Name)
			}
			s, ok := Schema(b.Kind, b.Name)
			if !ok {
				t.Fatal("no schema")
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, ok := Lookup(base.KindStore, "nope"); ok {
		t.Fatal("found a builtin that does not exist")
	}
	if _, ok := Lookup(base.KindCodec, "file"); ok {
		t.Fatal("found a store under the codec kind")
	}
}

// validConfigs are, per builtin, configurations it must accept, exactly as
// the host hands them over (every schema attribute present). Out-of-process
// runs of the kits (cmd/wadi) keep a table of their own.
var validConfigs = map[string]plugintest.Configs{
	"store/file": {
		Valid:   [][]byte{[]byte(`{"path":"sessions.db"}`), []byte(`{"path":"sub/other.db"}`)},
		Invalid: [][]byte{[]byte(`{"path":""}`), []byte(`{"path":5}`)},
	},
	"store/memory": {
		Valid: [][]byte{[]byte(`{}`)},
	},
	// The server stores take a configuration without reaching the server
	// (none runs here): a node starts while its store is down.
	"store/postgres": {
		Valid: [][]byte{
			[]byte(`{"dsn":"postgres://wadi@127.0.0.1:1/wadi?sslmode=disable","table":"wadi_sessions","max_conns":4,"timeout":"5s"}`),
			[]byte(`{"dsn":"host=db.example user=wadi dbname=wadi","table":"other","max_conns":1,"timeout":"1s"}`),
		},
		Invalid: [][]byte{
			[]byte(`{"dsn":null,"table":"wadi_sessions","max_conns":4,"timeout":"5s"}`),
			[]byte(`{"dsn":"postgres://127.0.0.1:1/wadi","table":"a-b","max_conns":4,"timeout":"5s"}`),
			[]byte(`{"dsn":"postgres://127.0.0.1:1/wadi","table":"wadi_sessions","max_conns":0,"timeout":"5s"}`),
		},
	},
	"store/redis": {
		Valid: [][]byte{
			[]byte(`{"address":"127.0.0.1:1","url":null,"username":null,"password":null,"database":0,"key_prefix":"wadi:session:","tls":false,"tls_ca_file":null,"tls_server_name":null,"timeout":"5s"}`),
			[]byte(`{"address":null,"url":"rediss://cache.example:6380/1","username":"wadi","password":"pw","database":0,"key_prefix":"w:","tls":false,"tls_ca_file":null,"tls_server_name":"cache.example","timeout":"1s"}`),
		},
		Invalid: [][]byte{
			[]byte(`{"address":null,"url":null,"username":null,"password":null,"database":0,"key_prefix":"wadi:session:","tls":false,"tls_ca_file":null,"tls_server_name":null,"timeout":"5s"}`),
			[]byte(`{"address":"127.0.0.1:1","url":"redis://127.0.0.1:1","username":null,"password":null,"database":0,"key_prefix":"wadi:session:","tls":false,"tls_ca_file":null,"tls_server_name":null,"timeout":"5s"}`),
			[]byte(`{"address":"127.0.0.1:1","url":null,"username":null,"password":null,"database":0.5,"key_prefix":"wadi:session:","tls":false,"tls_ca_file":null,"tls_server_name":null,"timeout":"5s"}`),
		},
	},
	"codec/aesgcm": {
		Valid: [][]byte{
			[]byte(`{"keys":{"k1":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},"primary":"k1","key_file":null}`),
			[]byte(`{"keys":{"k2":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","k1":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},"primary":"k2","key_file":null}`),
		},
		Invalid: [][]byte{
			[]byte(`{"keys":{"k1":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},"primary":"k0","key_file":null}`),
			[]byte(`{"keys":{"k1":"0011"},"primary":"k1","key_file":null}`),
			[]byte(`{"keys":null,"primary":"k1","key_file":null}`),
		},
	},
	"codec/gzip": {
		Valid:   [][]byte{[]byte(`{"level":6}`), []byte(`{"level":1}`), []byte(`{"level":9}`)},
		Invalid: [][]byte{[]byte(`{"level":0}`), []byte(`{"level":10}`), []byte(`{"level":2.5}`)},
	},
	"codec/s2": {
		Valid:   [][]byte{[]byte(`{"level":"default"}`), []byte(`{"level":"best"}`)},
		Invalid: [][]byte{[]byte(`{"level":"fastest"}`)},
	},
	"codec/zstd": {
		Valid:   [][]byte{[]byte(`{"level":"default"}`), []byte(`{"level":"fastest"}`), []byte(`{"level":"best"}`)},
		Invalid: [][]byte{[]byte(`{"level":"max"}`), []byte(`{"level":3}`)},
	},
	"router/jvmroute": {
		Valid:   [][]byte{[]byte(`{"policy":"migrate","separator":".","route_header":null}`)},
		Invalid: [][]byte{[]byte(`{"policy":"migrate","separator":"-","route_header":null}`)},
	},
	"router/cookie": {
		Valid:   [][]byte{[]byte(`{"policy":"proxy","cookie_name":"SERVERID","route_header":null}`)},
		Invalid: [][]byte{[]byte(`{"policy":"proxy","cookie_name":"","route_header":null}`)},
	},
	"router/none": {
		Valid:   [][]byte{[]byte(`{"policy":"redirect"}`)},
		Invalid: [][]byte{[]byte(`{"policy":"sideways"}`)},
	},
	"replicator/all": {
		Valid:   [][]byte{[]byte(`{"mode":"sync","granularity":"attribute"}`), []byte(`{"mode":"async","granularity":"session"}`)},
		Invalid: [][]byte{[]byte(`{"mode":"eventually","granularity":"attribute"}`), []byte(`{"backups":1,"mode":"sync","granularity":"attribute"}`)},
	},
	"replicator/none": {
		Valid:   [][]byte{[]byte(`{}`)},
		Invalid: [][]byte{[]byte(`{"backups":1}`)},
	},
	"replicator/partitioned": {
		Valid:   [][]byte{[]byte(`{"backups":1,"mode":"sync","granularity":"attribute"}`), []byte(`{"backups":2,"mode":"async","granularity":"session"}`)},
		Invalid: [][]byte{[]byte(`{"backups":17,"mode":"sync","granularity":"attribute"}`), []byte(`{"backups":1,"mode":"sync","granularity":"field"}`)},
	},
}

// Every builtin passes the base conformance kit in process; the kits of
// their kinds run beside each builtin's own package.
func TestBuiltinsConform(t *testing.T) {
	for _, b := range All() {
		ref := string(b.Kind) + "/" + b.Name
		t.Run(ref, func(t *testing.T) {
			c, ok := validConfigs[ref]
			if !ok {
				t.Fatalf("no test configurations for %s: add them to validConfigs", ref)
			}
			p := b.New()
			if c, ok := p.(interface{ Close() error }); ok {
				t.Cleanup(func() { _ = c.Close() })
			}
			plugintest.TestPlugin(t, p, b.Kind, c)
		})
	}
}

// A retired codec reads what any configuration of it wrote, and none that
// authenticates is retired: decoding without keys would mean decoding
// without checking.
func TestRetiredDecodesEveryConfiguration(t *testing.T) {
	ctx := context.Background()
	written := map[string][]string{
		"gzip": {`{"level":1}`, `{"level":6}`, `{"level":9}`},
		"s2":   {`{"level":"default"}`, `{"level":"better"}`, `{"level":"best"}`},
		"zstd": {`{"level":"fastest"}`, `{"level":"default"}`, `{"level":"better"}`, `{"level":"best"}`},
	}
	retired := Retired()
	for _, b := range All() {
		if b.Kind != base.KindCodec {
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			st, err := codec.SettingsOf(ctx, b.New().(codec.Codec))
			if err != nil {
				t.Fatal(err)
			}
			dec, ok := retired[b.Name]
			if ok != b.Retirable || (ok && st.Authenticates) {
				t.Fatalf("retired %v, Retirable %v, authenticates %v", ok, b.Retirable, st.Authenticates)
			}
			if ok != (len(written[b.Name]) > 0) {
				t.Fatalf("retired %v: add its configurations to the table, or drop Retirable", ok)
			}
			payload := bytes.Repeat([]byte(`{"cart":[1,2,3],"user":"ada"}`), 50)
			for _, cfg := range written[b.Name] {
				p := b.New()
				if err := p.Configure(ctx, []byte(cfg), base.Node{}); err != nil {
					t.Fatal(err)
				}
				enc, err := p.(codec.Codec).Encode(ctx, [][]byte{payload})
				if err != nil {
					t.Fatal(err)
				}
				if out, err := dec.Decode(ctx, enc[0]); err != nil || !bytes.Equal(out, payload) {
					t.Errorf("retired %s decoding what %s wrote: %d bytes, %v", b.Name, cfg, len(out), err)
				}
			}
		})
	}
}
