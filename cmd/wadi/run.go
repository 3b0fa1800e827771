package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/cmd/wadi/internal/demo"
	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/core/cluster"
	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/core/upstream"
	"github.com/wadi-go/wadi/sdk/replicator"
)

// shutdownTimeout bounds each phase of a graceful stop: in-flight requests
// finishing, then sessions being written out.
const shutdownTimeout = 30 * time.Second

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `file`")
	dev := fs.Bool("dev", false, "run a throwaway node with the demo application on 127.0.0.1:8080 and a temporary data directory")
	devListen := fs.String("listen", config.DefaultListen, "with -dev, the `address` the demo listens on")
	logLevel := fs.String("log-level", "info", "log `level`: trace, debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "write logs as JSON lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: wadi run -config FILE | -dev [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (*configPath == "") == !*dev {
		fmt.Fprintln(stderr, "wadi run: give exactly one of -config FILE and -dev")
		fs.Usage()
		return 2
	}
	listenSet := false
	fs.Visit(func(f *flag.Flag) { listenSet = listenSet || f.Name == "listen" })
	if listenSet && !*dev {
		fmt.Fprintln(stderr, "wadi run: -listen is for -dev; a configuration file sets http.listen")
		return 2
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		fmt.Fprintf(stderr, "wadi run: unknown log level %q\n", *logLevel)
		return 2
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "wadi",
		Level:      level,
		JSONFormat: *logJSON,
		Output:     stderr,
		Color:      hclog.AutoColor,
	})

	var cfg *config.Config
	if *dev {
		dir, err := os.MkdirTemp("", "wadi-dev-")
		if err != nil {
			log.Error("creating the dev data directory", "error", err)
			return 1
		}
		defer os.RemoveAll(dir)
		c := config.Defaults()
		c.Node = config.Node{Name: "dev", DataDir: dir}
		c.HTTP.App = "demo"
		c.HTTP.Listen = *devListen
		cfg = &c
	} else if cfg = loadConfig(ctx, *configPath, log, stderr); cfg == nil {
		return 1
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("node failed", "error", err)
		return 1
	}
	return 0
}

// serve runs the node until ctx is cancelled, then stops it gracefully:
// in-flight requests finish, and every session is written to the store.
func serve(ctx context.Context, cfg *config.Config, log hclog.Logger) error {
	log = log.With("node", cfg.Node.Name)
	if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	strats, err := startStrategies(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := strats.Close(); err != nil {
			log.Error("closing strategies", "error", err)
		}
	}()
	opts := managerOptions(cfg, strats, log)
	if opts.AcceptUnauthenticated {
		log.Warn("session.accept_unauthenticated_records is on: records that skip an authenticating codec are read, and anyone who can write the store could plant one; turn it off once every node encrypts and the older records have expired")
	}
	var node *cluster.Node
	if cfg.Cluster != nil {
		if cfg.Store == nil || cfg.Store.Plugin == nil && (cfg.Store.Name == "file" || cfg.Store.Name == "memory") {
			// Sessions evicted here, or written out by the farm's last
			// node, can be read back only by this node.
			log.Warn("the store is local to this node; a farm needs a shared store (redis, postgres, or a plugin) so that any member can load an evicted session")
		}
		if node, err = startFarm(cfg, strats, log); err != nil {
			return err
		}
		opts.Farm = node
		if node.Replicating() {
			opts.Replication = session.Replication{
				Replicas:      node,
				Async:         strats.replication.Mode == replicator.Async,
				WholeSessions: strats.replication.Granularity == replicator.Session,
			}
			log.Info("replication on", "backups", strats.replication.Backups, "mode", strats.replication.Mode, "granularity", strats.replication.Granularity)
		}
		if strats.router != nil {
			opts.Relocator = cluster.NewRelocator(node, strats.router)
		}
	}
	mgr, err := session.New(opts)
	if err != nil {
		if node != nil {
			_ = node.Close()
		}
		return err
	}
	if node != nil {
		node.Attach(mgr)
	}
	drain := newDrainState()
	if cfg.Admin != nil {
		stopAdmin, err := startAdmin(cfg.Admin.Listen, adminHandler(node, mgr, drain, cfg.Node.Name, strats.metrics.Handler()), log.Named("admin"))
		if err != nil {
			_ = mgr.Close(context.Background())
			return err
		}
		// Stopped last, a moment after the node has left, so that `wadi
		// drain` following the leave sees its end.
		defer func() {
			if drain.followed() {
				time.Sleep(time.Second)
			}
			stopAdmin()
		}()
	}
	// The registry joins the proxy's requests to the API's calls.
	reg := upstream.NewRegistry()
	handler, err := nodeHandler(cfg, opts.Routing, reg, log)
	if err != nil {
		_ = mgr.Close(context.Background())
		return err
	}
	// The API is up before the first request, which may call it, and
	// stops after the last one has finished.
	stopAPI := func(context.Context) {}
	if cfg.AppAPI != nil {
		if stopAPI, err = startAppAPI(cfg.AppAPI, mgr, reg, log.Named("app_api")); err != nil {
			_ = mgr.Close(context.Background())
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		stopAPI(context.Background())
		_ = mgr.Close(context.Background())
		return fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{
		Handler:           mgr.Middleware(handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("node started", "http", ln.Addr().String(), "data_dir", cfg.Node.DataDir, "app", cfg.HTTP.App, "upstream", cfg.HTTP.Upstream)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("stopping: finishing requests, then handing sessions over or writing them out")
	case <-drain.requestC:
		log.Info("drain requested: finishing requests, then handing sessions over")
	case serveErr = <-served:
		log.Error("http server stopped", "error", serveErr)
	}
	drain.request()
	drain.set(func(d *drainState) { d.State = "draining" })

	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running at the deadline", "error", err)
	}
	stopAPI(sctx)
	wctx, cancel2 := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel2()
	if node != nil {
		leave(wctx, node, mgr, drain, log)
	}
	if err := mgr.Close(wctx); err != nil {
		drain.set(func(d *drainState) { d.State, d.Error = "left", err.Error() })
		return fmt.Errorf("writing sessions out: %w", err)
	}
	drain.set(func(d *drainState) { d.State = "left" })
	log.Info("stopped")
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// leave hands this node's sessions to the other members, if there are
// any, then leaves the membership. What could not be handed over is
// written to the store by the manager's Close.
func leave(ctx context.Context, node *cluster.Node, mgr *session.Manager, drain *drainState, log hclog.Logger) {
	if node.Peers() {
		total := mgr.Len()
		drain.set(func(d *drainState) { d.Total = total })
		log.Info("handing sessions over", "sessions", total)
		moved, err := mgr.Drain(ctx, drainBatch, node.Handoff, func(done, total int) {
			drain.set(func(d *drainState) { d.Moved, d.Total = done, total })
			log.Info("drain progress", "moved", done, "total", total)
		})
		if err != nil {
			log.Warn("some sessions could not be handed over; writing them to the store", "moved", moved, "left", mgr.Len(), "error", err)
		} else {
			log.Info("handed every session over", "moved", moved)
		}
	} else {
		log.Info("last member of the farm: writing sessions to the store")
	}
	if err := node.Leave(5 * time.Second); err != nil {
		log.Warn("leaving the membership", "error", err)
	}
}

// drainBatch is how many sessions go to a peer in one handoff.
const drainBatch = 256

// managerOptions are the session manager's options from the configuration
// and the strategies started for it.
func managerOptions(cfg *config.Config, strats *strategies, log hclog.Logger) session.Options {
	s := cfg.Session
	o := session.DefaultOptions()
	o.Store = strats.store
	o.Codecs = strats.codecs
	o.Retired = strats.retired
	o.AcceptUnauthenticated = s.AcceptUnauthenticatedRecords
	o.Routing = strats.routing
	o.Metrics = strats.metrics
	o.Logger = log.Named("sessions")
	o.Cookie = session.CookieOptions{
		Name:     s.CookieName,
		Path:     s.CookiePath,
		Domain:   s.CookieDomain,
		Secure:   s.CookieSecure,
		HTTPOnly: s.CookieHTTPOnly,
		SameSite: s.CookieSameSite,
		Persist:  s.CookiePersist,
	}
	o.IdleTimeout = s.IdleTimeout
	o.Lifetime = s.Lifetime
	o.EvictAfter = s.EvictAfter
	o.MaxInMemory = s.MaxInMemory
	o.SweepInterval = s.SweepInterval
	o.LockTimeout = s.LockTimeout
	o.Exclusive = s.Exclusive
	o.MaxAttributeSize = s.MaxAttributeSize
	o.MaxSessionSize = s.MaxSessionSize
	return o
}

func appHandler(cfg *config.Config, log hclog.Logger) http.Handler {
	if cfg.HTTP.App == "demo" {
		return demo.New(cfg.Node.Name, log.Named("demo")).Handler()
	}
	// No application yet: the node answers, but serves nothing.
	return http.NotFoundHandler()
}
