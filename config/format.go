package config

import (
	"bytes"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// WriteDiagnostics writes diags as text, each with its source lines when the
// file is in files. Each location is written as "file.hcl:LINE,COL" so that
// editors and terminals can jump to it.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) error {
	for _, diag := range diags {
		// hcl's writer says "on file.hcl line 12"; render each diagnostic
		// separately so its location can be given with the column too.
		var buf bytes.Buffer
		tw := hcl.NewDiagnosticTextWriter(&buf, files, 0, color)
		if err := tw.WriteDiagnostic(diag); err != nil {
			return err
		}
		out := buf.Bytes()
		if s := diag.Subject; s != nil {
			hclLoc := fmt.Sprintf("  on %s line %d", s.Filename, s.Start.Line)
			ourLoc := fmt.Sprintf("  on %s:%d,%d", s.Filename, s.Start.Line, s.Start.Column)
			out = bytes.Replace(out, []byte(hclLoc), []byte(ourLoc), 1)
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

// Format returns src in HCL's canonical layout. Source that does not parse
// is returned as nil with the syntax errors, since hclwrite would otherwise
// lay out a broken file without complaint.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	_, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), diags
}
