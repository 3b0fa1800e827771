package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The SDK imports nothing of the host, so a plugin author's program pulls in
// no host code (DESIGN.md, "Where things go"). Test-only imports count too:
// a plugin author runs the SDK's conformance kit in their own tests.
func TestNoHostImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-test", "-f", "{{.ImportPath}}", "github.com/wadi-go/wadi/sdk/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, host := range []string{"core", "config", "plugins", "cmd"} {
			prefix := "github.com/wadi-go/wadi/" + host
			if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
				t.Errorf("sdk depends on host package %s", pkg)
			}
		}
	}
}
