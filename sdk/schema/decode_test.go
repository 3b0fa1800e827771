package schema

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type cfg struct {
		Path  string `json:"path"`
		Level *int   `json:"level"`
	}
	tests := []struct {
		in      string
		want    cfg
		wantErr string
	}{
		{in: "", want: cfg{Path: "default"}},
		{in: "null", want: cfg{Path: "default"}},
		{in: `{"path":"x.db","level":null}`, want: cfg{Path: "x.db"}},
		{in: `{"nope":1}`, wantErr: `unknown field "nope"`},
		{in: `{"path":1}`, wantErr: "cannot unmarshal number"},
		{in: `{} {}`, wantErr: "data after"},
		{in: `[`, wantErr: "unexpected EOF"},
	}
	for _, tt := range tests {
		got := cfg{Path: "default"}
		err := Decode([]byte(tt.in), &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Decode(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Path != tt.want.Path || got.Level != nil {
			t.Errorf("Decode(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
