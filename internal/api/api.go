// Package api serves a running director's read-only HTTP endpoints: /metrics, /status
// (JSON), /healthz and the status page at /.
//
// Nothing here changes running state: every handler reads a status.Snapshot or the metrics
// registry, so the endpoints are safe to expose to monitoring. Only GET and HEAD are
// accepted.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vigil-lb/vigil/internal/metrics"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/statuspage"
)

// Source is the director as the API sees it.
type Source interface {
	// Snapshot returns the current state; it is called once per /status request.
	Snapshot() status.Snapshot
	// Healthy returns nil while the director runs, or why it does not (starting, shutting
	// down, main loop stuck). It backs /healthz and must be cheap.
	Healthy() error
}

// New returns the handler for /metrics, /status and /healthz. m may be nil, in which case
// /metrics answers 404.
func New(src Source, m *metrics.Metrics, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("/metrics", readOnly(m.Handler()))
	}
	mux.Handle("/status", readOnly(statusHandler(src, log)))
	mux.Handle("/healthz", readOnly(healthzHandler(src)))
	mux.Handle("/{$}", readOnly(pageHandler(src, log)))
	return mux
}

// readOnly answers 405 to anything but GET and HEAD: the API observes, it never drives.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: the vigil API is read-only", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func statusHandler(src Source, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := json.MarshalIndent(src.Snapshot(), "", "  ")
		if err != nil {
			log.Error("encode /status", "err", err)
			http.Error(w, "encode status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(append(body, '\n'))
	})
}

// pageHandler serves the status page: the snapshot as HTML that needs nothing but itself
// (the policy forbids every fetch; styles are inline) and reloads itself.
func pageHandler(src Source, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		if err := statuspage.Render(&b, src.Snapshot(), time.Now()); err != nil {
			log.Error("render the status page", "err", err)
			http.Error(w, "render the status page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		w.Write(b.Bytes())
	})
}

func healthzHandler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := src.Healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
		fmt.Fprint(w, "ok\n")
	})
}

// Server timeouts. The endpoints answer from memory, so a slow client is the only reason
// for a long request; these bound what one can hold (a slowloris cannot pin a goroutine
// forever) while leaving room for a large /status on a busy 2-core box.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 5 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Serve listens on addr and serves h until ctx is cancelled, then shuts down gracefully.
// It returns nil after a shutdown caused by ctx, or the listen or serve error.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h, log)
}

// ServeListener is Serve on a listener the caller opened (a test's, or one inherited from
// systemd). It closes ln.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("API listening", "addr", ln.Addr().String())

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	select {
	case err := <-done:
		return fmt.Errorf("serve the API on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running past the grace period are cut; that is the point of it.
		srv.Close()
		log.Warn("API shutdown cut open requests", "err", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the API on %s: %w", ln.Addr(), err)
	}
	return nil
}
