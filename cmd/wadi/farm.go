package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/core/cluster"
	"github.com/wadi-go/wadi/core/session"
)

// startFarm starts this node's membership of the farm the configuration
// describes.
func startFarm(cfg *config.Config, strats *strategies, log hclog.Logger) (*cluster.Node, error) {
	c := cfg.Cluster
	cc := cluster.Config{
		Self:       selfMember(cfg, time.Now().UnixNano()),
		Gossip:     c.Bind,
		Join:       c.Join,
		Keys:       c.Keys,
		Partitions: c.Partitions,
		JoinWait:   c.JoinWait,
		Logger:     log.Named("cluster"),
		Fast:       os.Getenv("WADI_FAST_GOSSIP") == "1",
	}
	if strats.replicator != nil {
		cc.Placer, cc.Backups = strats.replicator, strats.replication.Backups
	}
	if strats.metrics != nil {
		cc.Metrics = strats.metrics
	}
	if c.TLS != nil {
		var err error
		if cc.ServerTLS, cc.ClientTLS, err = peerTLS(c.TLS, cfg.Node.DataDir); err != nil {
			return nil, err
		}
	}
	node, err := cluster.Start(cc)
	if err != nil {
		return nil, err
	}
	if strats.metrics != nil {
		if err := strats.metrics.WatchFarm(node); err != nil {
			_ = node.Close()
			return nil, err
		}
	}
	return node, nil
}

// selfMember is what the node announces to the farm. config sized node.meta
// against this, with the longest start time: the two must agree.
func selfMember(cfg *config.Config, started int64) cluster.Member {
	return cluster.Member{
		Name: cfg.Node.Name, Peer: cfg.Cluster.Peer, HTTP: cfg.AnnouncedHTTP(), Zone: cfg.Node.Zone,
		Meta: cfg.Node.Meta, Started: started,
	}
}

// peerTLS loads the mutual TLS configuration of the peer transport: every
// peer presents a certificate signed by the farm's CA, and checks the
// other's.
func peerTLS(f *config.TLSFiles, dir string) (server, client *tls.Config, err error) {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	ca, err := os.ReadFile(abs(f.CAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("cluster tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, nil, fmt.Errorf("cluster tls: %s holds no PEM certificate", f.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(abs(f.CertFile), abs(f.KeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("cluster tls: %w", err)
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	}
	return server, client, nil
}

// drainState is the progress of this node's leave, for the admin API.
type drainState struct {
	mu       sync.Mutex
	State    string // serving | draining | left
	Moved    int
	Total    int
	Error    string
	started  bool
	viaAdmin bool // asked by `wadi drain`, which follows the progress
	requestC chan struct{}
}

func newDrainState() *drainState {
	return &drainState{State: "serving", requestC: make(chan struct{})}
}

// request asks the node to drain and leave; it returns false if it was
// already asked.
func (d *drainState) request() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return false
	}
	d.started = true
	close(d.requestC)
	return true
}

func (d *drainState) followed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.viaAdmin
}

func (d *drainState) set(f func(d *drainState)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func (d *drainState) snapshot() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := map[string]any{"state": d.State, "moved": d.Moved, "total": d.Total}
	if d.Error != "" {
		m["error"] = d.Error
	}
	return m
}

// memberView is one line of `wadi members`.
type memberView struct {
	Name     string            `json:"name"`
	State    string            `json:"state"`
	Peer     string            `json:"peer"`
	HTTP     string            `json:"http"`
	Zone     string            `json:"zone,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
	Sessions int64             `json:"sessions"`
	Backups  int64             `json:"backups"`
	Table    string            `json:"table,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// inventory is what the admin API needs of the session manager.
type inventory interface{ Inventory() session.Inventory }

// adminHandler serves the admin API: members, drain, and the Prometheus
// metrics (if metrics is not nil).
func adminHandler(node *cluster.Node, mgr inventory, drain *drainState, name string, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/inventory", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, mgr.Inventory())
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		if node == nil {
			writeJSON(w, http.StatusOK, []memberView{{Name: name, State: "alone"}})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var out []memberView
		for _, s := range node.Stats(ctx) {
			v := memberView{Name: s.Name, State: "alive", Peer: s.Peer, HTTP: s.HTTP, Zone: s.Zone, Meta: s.Meta, Sessions: s.Sessions, Backups: s.Backups}
			if s.Err != nil {
				v.State, v.Error = "unreachable", s.Err.Error()
			} else {
				v.Table = s.Table.String()
			}
			out = append(out, v)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /v1/drain", func(w http.ResponseWriter, r *http.Request) {
		drain.set(func(d *drainState) { d.viaAdmin = true })
		drain.request()
		writeJSON(w, http.StatusAccepted, drain.snapshot())
	})
	mux.HandleFunc("GET /v1/drain", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, drain.snapshot())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// startAdmin serves the admin API until stop is called.
func startAdmin(addr string, h http.Handler, log hclog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin API stopped", "error", err)
		}
	}()
	log.Info("admin API listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
