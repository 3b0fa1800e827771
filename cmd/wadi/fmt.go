package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/wadi-go/wadi/config"
)

func fmtCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fmt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "only report files that are not formatted; exit 1 if any")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: wadi fmt [-check] FILE...\n\nFormats configuration files in place; with no FILE, formats standard input to standard output.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		src, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "wadi fmt: reading standard input: %v\n", err)
			return 1
		}
		out, ok := format(src, "<stdin>", stderr)
		if !ok {
			return 1
		}
		if *check {
			if !bytes.Equal(src, out) {
				fmt.Fprintln(stdout, "<stdin>")
				return 1
			}
			return 0
		}
		_, _ = stdout.Write(out)
		return 0
	}
	code := 0
	for _, path := range fs.Args() {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "wadi fmt: %v\n", err)
			code = 1
			continue
		}
		out, ok := format(src, path, stderr)
		if !ok {
			code = 1
			continue
		}
		if bytes.Equal(src, out) {
			continue
		}
		fmt.Fprintln(stdout, path)
		if *check {
			code = 1
			continue
		}
		if err := writeFileKeepMode(path, out); err != nil {
			fmt.Fprintf(stderr, "wadi fmt: %v\n", err)
			code = 1
		}
	}
	return code
}

func format(src []byte, name string, stderr io.Writer) ([]byte, bool) {
	out, diags := config.Format(src, name)
	if diags.HasErrors() {
		// The writer only needs the bytes to show the offending lines.
		files := map[string]*hcl.File{name: {Bytes: src}}
		writeDiags(stderr, files, diags)
		return nil, false
	}
	return out, true
}

func writeFileKeepMode(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, fi.Mode().Perm())
}
