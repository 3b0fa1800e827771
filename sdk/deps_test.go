package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// module is the import path of the repository's module.
const module = "github.com/wadi-go/wadi"

// hostPackage reports whether pkg is a package of the module outside sdk/:
// host code, including the module's own internal/ packages, which a plugin
// author's module could not even import. The packages go test makes for a
// package (its external tests, pkg_test, and main, pkg.test) count as it.
func hostPackage(pkg string) bool {
	pkg = strings.TrimSuffix(strings.TrimSuffix(pkg, ".test"), "_test")
	if pkg != module && !strings.HasPrefix(pkg, module+"/") {
		return false
	}
	return pkg != module+"/sdk" && !strings.HasPrefix(pkg, module+"/sdk/")
}

func TestHostPackage(t *testing.T) {
	tests := []struct {
		pkg  string
		host bool
	}{
		{module + "/sdk", false},
		{module + "/sdk/store", false},
		{module + "/sdk/internal/wire", false},
		{module + "/sdk/plugintest", false},
		{module + "/sdk_test", false},
		{module + "/sdk.test", false},
		{module + "/sdk/store_test", false},
		{module + "/internal/testport_test", true},
		{module + "/core/session.test", true},
		{module, true},
		{module + "/core/session", true},
		{module + "/config", true},
		{module + "/plugins/builtin/memstore", true},
		{module + "/cmd/wadi", true},
		{module + "/internal/metrics", true},
		{module + "/internal/testport", true},
		{module + "/internal/testservers", true},
		{module + "/sdkextra", true},
		{module + "/e2e", true},
		{"github.com/wadi-go/wadi-other/core", false},
		{"google.golang.org/grpc", false},
		{"context", false},
	}
	for _, tt := range tests {
		if got := hostPackage(tt.pkg); got != tt.host {
			t.Errorf("hostPackage(%q) = %v, want %v", tt.pkg, got, tt.host)
		}
	}
}

// The SDK imports nothing of the host, so a plugin author's program pulls in
// no host code (DESIGN.md, "Where things go"). Test-only imports count too:
// a plugin author runs the SDK's conformance kit in their own tests.
func TestNoHostImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-test", "-f", "{{.ImportPath}}", module+"/sdk/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// A package built for a test reads "pkg [pkg.test]"; Fields checks both.
	for _, pkg := range strings.Fields(string(out)) {
		if hostPackage(strings.Trim(pkg, "[]")) {
			t.Errorf("sdk depends on host package %s", pkg)
		}
	}
}
