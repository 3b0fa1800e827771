// Command wadi is the WADI host process: it runs a node of the session
// manager from an HCL configuration and offers the tools around it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Usage: wadi <command> [flags]

Commands:
  run       run a node: wadi run -config FILE, or wadi run -dev
  validate  check a configuration file and report every problem
  fmt       format configuration files in place (-check only reports)
  plugin    list, describe or serve strategy plugins
  members   list the farm's members, from a node's admin API
  drain     hand a node's sessions to the farm and have it leave
  version   print the version

Run "wadi <command> -h" for a command's flags.
`

// run dispatches a command line and returns the process's exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		// Cancelled by the first SIGINT or SIGTERM: the node then drains and
		// writes its sessions out. A second signal ends the process at once.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			stop() // restore the default action: a second signal kills
		}()
		return runNode(ctx, args, stdout, stderr)
	case "validate":
		return validateCmd(args, stdout, stderr)
	case "fmt":
		return fmtCmd(args, stdin, stdout, stderr)
	case "plugin":
		return pluginCmd(args, stdout, stderr)
	case "members":
		return membersCmd(args, stdout, stderr)
	case "drain":
		return drainCmd(args, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "wadi", version())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "wadi: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
