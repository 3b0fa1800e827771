package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/core/pluginhost"
	"github.com/wadi-go/wadi/plugins/builtin"
	"github.com/wadi-go/wadi/sdk"
	"github.com/wadi-go/wadi/sdk/base"
)

const pluginUsage = `Usage: wadi plugin <command>

Commands:
  list [-config FILE]          the builtin strategies, and every plugin FILE declares
  describe PATH [ARG...]       start a plugin and print its name, kind, versions and config schema
  serve [KIND/]NAME            serve a builtin strategy as a plugin process (the host runs this)
`

func pluginCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	switch args[0] {
	case "list":
		return pluginList(args[1:], stdout, stderr)
	case "describe":
		return pluginDescribe(args[1:], stdout, stderr)
	case "serve":
		return pluginServe(args[1:], stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	fmt.Fprintf(stderr, "wadi plugin: unknown command %q\n\n%s", args[0], pluginUsage)
	return 2
}

func pluginList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "also list the plugins this configuration `file` declares")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tSOURCE\tDESCRIPTION")
	for _, b := range builtin.All() {
		fmt.Fprintf(tw, "%s\t%s\tbuiltin\t%s\n", b.Kind, b.Name, b.Doc)
	}
	if *configPath != "" {
		cfg := loadConfig(context.Background(), *configPath, cliLogger(stderr), stderr)
		if cfg == nil {
			return 1
		}
		used := make(map[string]bool)
		for _, s := range append(append([]*config.Strategy{cfg.Store}, cfg.Codecs...), cfg.Router, cfg.Replication) {
			if s == nil || s.Plugin == nil {
				continue
			}
			used[s.Plugin.Name] = true
			fmt.Fprintf(tw, "%s\t%s\tplugin %s\t%s\n", s.Kind, s.Name, s.Plugin.Path, checksum(s.Plugin))
		}
		// A declared plugin no block names is still listed, so that the
		// list shows everything the file declares. Its kind is unknown
		// without starting it, which listing does not do.
		for _, p := range cfg.Plugins {
			if !used[p.Name] {
				fmt.Fprintf(tw, "-\t%s\tplugin %s\tunused, %s\n", p.Name, p.Path, checksum(p))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// checksum says whether the host checks the plugin binary before running it.
func checksum(p *config.Plugin) string {
	if p.SHA256 != "" {
		return "sha256 checked"
	}
	return "unchecked"
}

func pluginDescribe(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "Usage: wadi plugin describe PATH [ARG...]")
		return 2
	}
	spec := pluginhost.Spec{Name: filepath.Base(args[0]), Path: args[0], Args: args[1:]}
	d, err := pluginhost.Describe(context.Background(), spec, "", cliLogger(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "wadi plugin describe: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "name:         %s\nkind:         %s\nversion:      %s\napi versions: %s\n",
		d.Info.Name, d.Info.Kind, d.Info.Version, joinInts(d.Info.APIVersions))
	if len(d.Schema.Attributes) == 0 {
		fmt.Fprintln(stdout, "config:       (no attributes)")
		return 0
	}
	fmt.Fprintln(stdout, "config:")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ATTRIBUTE\tTYPE\tREQUIRED\tDEFAULT\tDESCRIPTION")
	for _, a := range d.Schema.Attributes {
		def := a.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\t%s\n", a.Name, a.Type, a.Required, def, a.Doc)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}

// pluginServe runs a builtin as a plugin process: the host re-executes
// itself this way to run any builtin out of process, which keeps the plugin
// contract honest.
func pluginServe(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "Usage: wadi plugin serve [KIND/]NAME")
		return 2
	}
	b, err := findBuiltin(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "wadi plugin serve: %v\n", err)
		return 1
	}
	sdk.Serve(b.New())
	return 0
}

func findBuiltin(ref string) (builtin.Builtin, error) {
	if kind, name, ok := strings.Cut(ref, "/"); ok {
		b, found := builtin.Lookup(base.Kind(kind), name)
		if !found {
			return builtin.Builtin{}, fmt.Errorf("no builtin %s %q", kind, name)
		}
		return b, nil
	}
	var found []builtin.Builtin
	for _, b := range builtin.All() {
		if b.Name == ref {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		return builtin.Builtin{}, fmt.Errorf("no builtin named %q (see wadi plugin list)", ref)
	case 1:
		return found[0], nil
	}
	return builtin.Builtin{}, fmt.Errorf("several builtins are named %q; say KIND/%s", ref, ref)
}
