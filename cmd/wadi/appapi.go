package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/core/upstream"
)

// nodeHandler is what the node serves behind the session middleware: the
// proxy to the upstream application in upstream mode, else the in-process
// application. routing is the manager's, whose route cookie (if the
// router has one) the application may not set.
func nodeHandler(cfg *config.Config, routing session.Routing, reg *upstream.Registry, log hclog.Logger) (http.Handler, error) {
	if cfg.HTTP.Upstream == "" {
		return appHandler(cfg, log), nil
	}
	u, err := url.Parse(cfg.HTTP.Upstream)
	if err != nil {
		return nil, fmt.Errorf("http.upstream: %w", err)
	}
	p, err := upstream.NewProxy(upstream.ProxyOptions{
		Target:     u,
		Registry:   reg,
		CookieName: cfg.Session.CookieName, // as managerOptions gives the manager
		// "" for a router without one; the proxy skips it.
		ProtectedCookies: []string{routing.Format.RouteCookie},
		Logger:           log.Named("upstream"),
	})
	if err != nil {
		return nil, fmt.Errorf("http.upstream: %w", err)
	}
	return p, nil
}

// startAppAPI serves the node-local session API; stop ends it, letting
// calls in flight finish (bounded by its context).
func startAppAPI(a *config.AppAPI, mgr *session.Manager, reg *upstream.Registry, log hclog.Logger) (stop func(context.Context), err error) {
	api, err := upstream.NewAPI(upstream.APIOptions{
		Manager:     mgr,
		Registry:    reg,
		Token:       a.Token,
		AllowUnheld: a.AllowUnheld,
		Logger:      log,
	})
	if err != nil {
		return nil, err
	}
	ln, err := upstream.Listen(a.Network, a.Address)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("session API stopped", "error", err)
		}
	}()
	log.Info("session API listening", "network", a.Network, "addr", a.Address, "token", a.Token != "", "allow_unheld", a.AllowUnheld)
	return func(ctx context.Context) {
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("session API calls still running at the deadline", "error", err)
		}
		// Shutdown closes the listener, which removes a unix socket file.
	}, nil
}
