package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"

	"github.com/wadi-go/wadi/config"
)

// loadConfig loads and validates a configuration file, writing every
// diagnostic to stderr; it returns nil if there was an error. Declared
// plugins are started briefly to read their schemas.
func loadConfig(ctx context.Context, path string, log hclog.Logger, stderr io.Writer) *config.Config {
	cfg, files, diags := config.Load(path, config.Options{Schemas: schemas(ctx, log), Check: checkStrategy(ctx)})
	if len(diags) > 0 {
		writeDiags(stderr, files, diags)
	}
	if diags.HasErrors() {
		return nil
	}
	return cfg
}

func writeDiags(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	color := false
	if f, ok := w.(*os.File); ok {
		color = isatty.IsTerminal(f.Fd())
	}
	if err := config.WriteDiagnostics(w, files, diags, color); err != nil {
		fmt.Fprintln(w, diags.Error())
	}
}

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: wadi validate FILE...\n\nChecks configuration files and reports every problem with its file, line and column.")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	code := 0
	for _, path := range fs.Args() {
		if loadConfig(context.Background(), path, cliLogger(stderr), stderr) == nil {
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: valid\n", path)
	}
	return code
}

// cliLogger is the logger of the one-shot commands: warnings and errors, for
// example from a plugin started to read its schema.
func cliLogger(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "wadi", Level: hclog.Warn, Output: w})
}
