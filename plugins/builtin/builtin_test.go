package builtin

import (
	"context"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
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
