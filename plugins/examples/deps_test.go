package examples_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlySDKImports checks that the examples, their tests included, depend
// on no package of this module outside sdk/ (DESIGN.md, "Where things go"):
// a plugin author copying one gets a program that builds against the SDK
// alone.
func TestOnlySDKImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	const module = "github.com/wadi-go/wadi/"
	cmd := exec.Command(goBin, "list", "-deps", "-test", "-f", "{{.ImportPath}}", module+"plugins/examples/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		rel, ours := strings.CutPrefix(pkg, module)
		if !ours || rel == "sdk" || strings.HasPrefix(rel, "sdk/") || strings.HasPrefix(rel, "plugins/examples") {
			continue
		}
		t.Errorf("an example depends on %s; examples import only %ssdk/...", pkg, module)
	}
}
