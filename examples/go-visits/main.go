// Command go-visits is a Go application that embeds WADI's session
// middleware instead of running behind the wadi host: it counts visits in
// the session, like the demo. Sessions are kept in a local file store, so
// they survive a restart (SIGINT or SIGTERM writes them out).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/filestore"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP `address`")
	storePath := flag.String("store", "sessions.db", "session store `file`")
	node := flag.String("node", "go", "node `name` shown in answers")
	flag.Parse()
	if err := run(*listen, *storePath, *node); err != nil {
		log.Fatal(err)
	}
}

func run(listen, storePath, node string) error {
	st, err := filestore.Open(storePath, filestore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	opts := session.DefaultOptions()
	opts.Store = st
	mgr, err := session.New(opts)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/incr", func(w http.ResponseWriter, r *http.Request) {
		s, ok := sessionOf(w, r)
		if !ok {
			return
		}
		n, err := s.GetInt("count")
		if err == nil {
			n++
			err = s.PutInt("count", n)
		}
		if err != nil {
			reply(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, view(node, s, n))
	})
	mux.HandleFunc("GET /api/session", func(w http.ResponseWriter, r *http.Request) {
		s, ok := sessionOf(w, r)
		if !ok {
			return
		}
		n, _ := s.GetInt("count")
		reply(w, http.StatusOK, view(node, s, n))
	})
	srv := &http.Server{Addr: listen, Handler: mgr.Middleware(mux), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("go-visits %s listening on %s", node, listen)
	select {
	case <-ctx.Done():
	case err := <-served:
		_ = mgr.Close(context.Background())
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("requests still running: %v", err)
	}
	// Written to the store, so the next start finds every session.
	return mgr.Close(sctx)
}

// sessionOf gets or creates the request's session; a session that exists
// but cannot be had now is a 503, never a fresh one in its place.
func sessionOf(w http.ResponseWriter, r *http.Request) (*session.Session, bool) {
	s, err := session.From(r.Context())
	if err != nil {
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return nil, false
	}
	return s, true
}

func view(node string, s *session.Session, count int) map[string]any {
	attrs := map[string]string{}
	for k, v := range s.Attributes() {
		attrs[k] = string(v)
	}
	return map[string]any{"node": node, "id": s.ID(), "count": count, "attributes": attrs}
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
