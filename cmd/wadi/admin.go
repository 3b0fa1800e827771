package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
)

const defaultAdmin = "127.0.0.1:8081"

// adminDo calls an admin API path and decodes its JSON answer into v.
func adminDo(ctx context.Context, method, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// membersCmd lists the farm's members as the node at the admin address
// sees them.
func membersCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("members", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", defaultAdmin, "the node's admin `address`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var members []memberView
	if err := adminDo(ctx, "GET", *addr, "/v1/members", &members); err != nil {
		fmt.Fprintf(stderr, "wadi members: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(members)
		return 0
	}
	if err := writeMembers(stdout, members); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// writeMembers prints the members as a table. META is last: it is the
// widest column and the one most often empty, so the others stay together.
func writeMembers(w io.Writer, members []memberView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPEER\tHTTP\tZONE\tSESSIONS\tBACKUPS\tTABLE\tMETA")
	for _, m := range members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.Name, m.State, m.Peer, m.HTTP, m.Zone, m.Sessions, m.Backups, m.Table, metaPairs(m.Meta))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the members: %w", err)
	}
	return nil
}

// metaPairs is a member's meta as k=v pairs in key order, so that two
// members' lines compare at a glance.
func metaPairs(meta map[string]string) string {
	pairs := make([]string, 0, len(meta))
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		pairs = append(pairs, k+"="+meta[k])
	}
	return strings.Join(pairs, ",")
}

// drainCmd asks the node at the admin address to hand its sessions over
// and leave, and follows it with a progress bar until it has.
func drainCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", defaultAdmin, "the node's admin `address`")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up following the drain after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var st struct {
		State string `json:"state"`
		Moved int    `json:"moved"`
		Total int    `json:"total"`
		Error string `json:"error"`
	}
	if err := adminDo(ctx, "POST", *addr, "/v1/drain", &st); err != nil {
		fmt.Fprintf(stderr, "wadi drain: %v\n", err)
		return 1
	}
	// Made once the total is known: a bar of unknown length animates from
	// a goroutine of its own that races with updates.
	var bar *progressbar.ProgressBar
	finish := func() {
		if bar != nil {
			_ = bar.Finish()
		}
	}
	for {
		if st.Total > 0 {
			if bar == nil {
				bar = progressbar.NewOptions(st.Total,
					progressbar.OptionSetWriter(stdout),
					progressbar.OptionSetDescription("handing sessions over"),
					progressbar.OptionShowCount(),
					progressbar.OptionSetWidth(30),
				)
			}
			_ = bar.Set(st.Moved)
		}
		if st.State == "left" {
			finish()
			fmt.Fprintln(stdout)
			if st.Error != "" {
				fmt.Fprintf(stderr, "wadi drain: the node left, but: %s\n", st.Error)
				return 1
			}
			fmt.Fprintf(stdout, "drained: %d sessions handed over; the node has left the farm\n", st.Moved)
			return 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "wadi drain: still %s after %v (%d of %d handed over)\n", st.State, *timeout, st.Moved, st.Total)
			return 1
		case <-time.After(100 * time.Millisecond):
		}
		if err := adminDo(ctx, "GET", *addr, "/v1/drain", &st); err != nil {
			// The admin API is the last thing a leaving node stops.
			finish()
			fmt.Fprintf(stdout, "the node has stopped (%d of %d sessions handed over when last seen)\n", st.Moved, st.Total)
			return 0
		}
	}
}
