package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildExample builds plugins/examples/NAME as make plugins does and
// returns the binary and its SHA-256.
func buildExample(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", bin, "../plugins/examples/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return bin, hex.EncodeToString(sum[:])
}

// TestExamplePlugins runs a node on the three example plugins, each a real
// process pinned by its checksum: sessions go to SQLite sealed by the
// codec, survive a restart, and are unreadable in the file; with the key
// gone from the ring they are reported as corrupt, never misread.
func TestExamplePlugins(t *testing.T) {
	dir := t.TempDir()
	sqlite, sqliteSum := buildExample(t, dir, "sqlitestore")
	seal, sealSum := buildExample(t, dir, "sealcodec")
	zones, zonesSum := buildExample(t, dir, "zonereplicator")
	addr := freeAddr(t)
	data := filepath.Join(dir, "data")
	config := func(keys string) string {
		return fmt.Sprintf(`
node {
  name     = "red"
  zone     = "z1"
  data_dir = %q
}
http {
  listen = %q
  app    = "demo"
}
plugin "sqlite" {
  path   = %q
  sha256 = %q
}
plugin "seal" {
  path   = %q
  sha256 = %q
}
plugin "zones" {
  path   = %q
  sha256 = %q
}
store "sqlite" {
  path = "sessions.sqlite"
}
codec "seal" {
  keys    = { %s }
  primary = "k1"
}
replication "zones" {
  backups = 1
}
`, data, addr, sqlite, sqliteSum, seal, sealSum, zones, zonesSum, keys)
	}
	key1 := strings.Repeat("1f", 32)
	env := []string{"WADI_TEST_KEY_1=" + key1}
	cfg := writeConfig(t, dir, "red.hcl", config(`k1 = env("WADI_TEST_KEY_1")`))

	n := startNodeEnv(t, cfg, addr, env)
	clients := make([]*client, 5)
	for i := range clients {
		clients[i] = newClient(t)
		for range 3 {
			clients[i].incr(addr)
		}
	}
	if code := n.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if got := logNumber(n.logs.match("wrote sessions to the store"), "written"); got != len(clients) {
		t.Fatalf("wrote %d sessions out, want %d", got, len(clients))
	}
	// Sealed: neither the attribute's name nor a session id is in the file.
	var stored []byte
	for _, f := range []string{"sessions.sqlite", "sessions.sqlite-wal"} {
		b, _ := os.ReadFile(filepath.Join(data, f))
		stored = append(stored, b...)
	}
	if len(stored) == 0 {
		t.Fatal("nothing in the SQLite files")
	}
	if bytes.Contains(stored, []byte("count")) {
		t.Fatal("the attribute name is in the SQLite file in the clear")
	}

	n2 := startNodeEnv(t, cfg, addr, env)
	for i, c := range clients {
		if got := c.incr(addr); got != 4 {
			t.Fatalf("client %d after restart: count %d, want 4", i, got)
		}
	}
	if code := n2.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	// Another key: the records cannot be read, and say so.
	other := writeConfig(t, dir, "other.hcl", config(`k1 = "`+strings.Repeat("2e", 32)+`"`))
	n3 := startNode(t, other, addr)
	if got := clients[0].incr(addr); got != 1 {
		t.Fatalf("with the wrong key: count %d, want a fresh session", got)
	}
	// The log line travels through a pipe, so it may land just after the response.
	waitFor(t, "the corrupt record to be reported", 10*time.Second, func() bool {
		return len(n3.logs.match("skipping a corrupt stored session")) > 0
	})
	if code := n3.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
