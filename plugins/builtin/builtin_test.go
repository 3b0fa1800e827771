package builtin

import (
	"context"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
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
