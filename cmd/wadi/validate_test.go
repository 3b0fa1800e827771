package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateChecksValues: a value that the block's schema accepts but the
// strategy cannot use is reported by `wadi validate` at its block, not left
// for the node to stumble on when it starts.
func TestValidateChecksValues(t *testing.T) {
	dir := t.TempDir()
	node := "node {\n  name     = \"red\"\n  data_dir = \"" + dir + "\"\n}\n"
	tests := []struct {
		name    string
		body    string
		wantOut []string // empty: valid
	}{
		{"valid", "store \"file\" {\n  path = \"s.db\"\n}\ncodec \"gzip\" {\n  level = 6\n}\n", nil},
		{"empty file path", "store \"file\" {\n  path = \"\"\n}\n",
			[]string{`Invalid store "file"`, "path is empty", "wadi.hcl:5,1"}},
		{"gzip level", "codec \"gzip\" {\n  level = 99\n}\n",
			[]string{`Invalid codec "gzip"`, "level 99", "wadi.hcl:5,1"}},
		{"redis url", "store \"redis\" {\n  url = \"http://127.0.0.1:6379\"\n}\n",
			[]string{`Invalid store "redis"`, `scheme "http"`}},
		{"postgres dsn", "store \"postgres\" {\n  dsn = \"postgres://a b\"\n}\n",
			[]string{`Invalid store "postgres"`, "wadi.hcl:5,1"}},
		{"aesgcm key file missing", "codec \"aesgcm\" {\n  primary  = \"k1\"\n  key_file = \"nope.keys\"\n}\n",
			[]string{`Invalid codec "aesgcm"`, "nope.keys"}},
		{"router policy", "router \"jvmroute\" {\n  policy = \"teleport\"\n}\n",
			[]string{`Invalid router "jvmroute"`, "teleport"}},
		{"replication mode", "replication \"partitioned\" {\n  mode = \"later\"\n}\n",
			[]string{`Invalid replicator "partitioned"`, "later"}},
		{"listen port", "http {\n  listen = \"127.0.0.1:99999\"\n}\n",
			[]string{"Invalid http.listen", "from 0 to 65535", "wadi.hcl:6,12"}},
		{"two at once", "store \"file\" {\n  path = \"\"\n}\ncodec \"gzip\" {\n  level = 0\n}\n",
			[]string{`Invalid store "file"`, `Invalid codec "gzip"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wadi.hcl")
			if err := os.WriteFile(path, []byte(node+tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := validateCmd([]string{path}, &stdout, &stderr)
			if len(tt.wantOut) == 0 {
				if code != 0 {
					t.Fatalf("exit %d, want 0:\n%s", code, stderr.String())
				}
				return
			}
			if code != 1 || strings.Contains(stdout.String(), "valid") {
				t.Fatalf("exit %d, stdout %q; want 1 and no \"valid\"\n%s", code, stdout.String(), stderr.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	// The check opened nothing: no store file in the data directory.
	if _, err := os.Stat(filepath.Join(dir, "s.db")); !os.IsNotExist(err) {
		t.Errorf("validate created the store file (stat: %v)", err)
	}
}
