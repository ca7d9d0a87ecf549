package forwarder

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nightjar-sec/nightjar/forwarder/api"
	"github.com/nightjar-sec/nightjar/forwarder/config"
	"github.com/nightjar-sec/nightjar/forwarder/dedup"
	"github.com/nightjar-sec/nightjar/forwarder/dispatch"
	"github.com/nightjar-sec/nightjar/forwarder/metrics"
	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/forwarder/route"
)

// Options start a Sidekick.
type Options struct {
	Config  *config.Config
	Log     *slog.Logger
	Version string
	// Listener, when set, replaces listening on listenaddress:listenport
	// (tests). TLS is still applied when tlsserver.deploy is set.
	Listener net.Listener
	// NoTLSListener likewise replaces listening on tlsserver.notlsport.
	NoTLSListener net.Listener
}

// Sidekick is the running forwarder: HTTP API -> router -> durable queue ->
// per-output dispatch workers -> outputs.
type Sidekick struct {
	log   *slog.Logger
	q     *queue.Queue
	disp  *dispatch.Dispatcher
	srv   *http.Server
	ln    net.Listener
	https bool
	// plain serves tlsserver.notlspaths without TLS while TLS is on.
	plain   *http.Server
	plainLn net.Listener
}

// New builds every output, opens the queue, starts the dispatch workers and
// binds the listener; Serve then answers requests. Nothing is served before
// the queue is open, so a 200 always means stored.
func New(ctx context.Context, o Options) (_ *Sidekick, err error) {
	cfg := o.Config
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sidekick{log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()

	router, err := route.New(cfg.Routes, cfg.RouteOutputs())
	if err != nil {
		return nil, err
	}
	var targets []dispatch.Target
	var infos []api.OutputInfo
	windows := map[string]time.Duration{}
	for _, oc := range cfg.Outputs {
		out, err := oc.Config.New()
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", oc.Name, err)
		}
		common := *oc.Config.Shared()
		targets = append(targets, dispatch.Target{Name: oc.Name, Type: oc.Type, Output: out, Common: common})
		infos = append(infos, api.OutputInfo{Name: oc.Name, Type: oc.Type, MinimumPriority: common.MinimumPriority.String()})
		windows[oc.Name] = common.Dedup
	}

	// Bind first: a port in use should fail before the queue starts.
	s.ln = o.Listener
	if s.ln == nil {
		addr := net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.ListenPort))
		if s.ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("listenaddress, listenport: %w", err)
		}
	}
	if t := cfg.TLSServer; t.Deploy {
		tc, err := api.TLSConfig(t.CertFile, t.KeyFile, t.MutualTLS, t.CACertFile)
		if err != nil {
			return nil, err
		}
		s.ln = tls.NewListener(s.ln, tc)
		s.https = true
		if len(t.NoTLSPaths) > 0 {
			s.plainLn = o.NoTLSListener
			if s.plainLn == nil {
				addr := net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(t.NoTLSPort))
				if s.plainLn, err = net.Listen("tcp", addr); err != nil {
					return nil, fmt.Errorf("tlsserver.notlsport: %w", err)
				}
			}
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)

	if s.q, err = queue.Open(ctx, cfg.Queue, cfg.OutputNames(), log); err != nil {
		return nil, err
	}
	// An alert within bodylimit must fit in one NATS message; it can still
	// grow past it through enrichment, which POST / answers with a 413.
	if mp := s.q.MaxPayload(); cfg.BodyLimit > mp {
		fix := "lower bodylimit to at most %[2]d, or raise max_payload on the NATS server (queue.url)"
		if cfg.Queue.URL == "" {
			fix = "lower bodylimit to at most %[2]d (the embedded queue's limit)"
		}
		return nil, fmt.Errorf("bodylimit: %[1]d bytes is more than the queue's NATS server takes in one message (its max_payload, %[2]d bytes): "+fix, cfg.BodyLimit, mp)
	}
	if s.disp, err = dispatch.Start(ctx, s.q, targets, m, log); err != nil {
		return nil, err
	}
	disp := s.disp
	states := func() map[string]api.DeliveryState {
		st := disp.States()
		out := make(map[string]api.DeliveryState, len(st))
		for name, o := range st {
			out[name] = api.DeliveryState{LastSuccess: o.LastSuccess, LastFailure: o.LastFailure,
				LastError: o.LastError, ConsecutiveFailures: o.ConsecutiveFailures}
		}
		return out
	}
	h := api.New(api.Options{
		Queue: s.q, Router: router, Dedup: dedup.New(windows), Outputs: infos, DeliveryStates: states,
		Enricher:  api.Enricher{CustomFields: cfg.CustomFields, CustomTags: cfg.CustomTags, Templates: cfg.Templates},
		BodyLimit: cfg.BodyLimit, AuthToken: cfg.AuthToken,
		Metrics: m, Gatherer: reg, Log: log.With("component", "api"), Version: o.Version,
	})
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug),
	}
	if s.plainLn != nil {
		s.plain = &http.Server{
			Handler:           onlyPaths(h, cfg.TLSServer.NoTLSPaths),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          s.srv.ErrorLog,
		}
		log.Info("serving without TLS", "addr", s.plainLn.Addr().String(), "paths", cfg.TLSServer.NoTLSPaths)
	}
	names := cfg.OutputNames()
	if names == nil {
		names = []string{}
	}
	log.Info("nightjar-sidekick ready", "version", o.Version, "addr", s.Addr().String(), "tls", s.https,
		"mutualtls", cfg.TLSServer.Deploy && cfg.TLSServer.MutualTLS, "outputs", names, "routes", len(cfg.Routes),
		"authtoken", cfg.AuthToken.IsSet())
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if len(names) == 0 {
		log.Warn("no output is enabled: alerts are accepted and go nowhere (set e.g. WEBHOOK_ADDRESS or SLACK_WEBHOOKURL)")
	}
	log.Debug("effective configuration (secrets redacted)", "config", cfg.Dump())
	return s, nil
}

// Addr is the address the API listens on.
func (s *Sidekick) Addr() net.Addr { return s.ln.Addr() }

// onlyPaths serves h on the given paths and 404 elsewhere.
func onlyPaths(h http.Handler, paths []string) http.Handler {
	allowed := map[string]bool{}
	for _, p := range paths {
		allowed[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed[r.URL.Path] {
			http.Error(w, "not served without TLS (tlsserver.notlspaths)", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Serve answers requests until Shutdown; it then returns nil.
func (s *Sidekick) Serve() error {
	if s.plain != nil {
		go func() {
			if err := s.plain.Serve(s.plainLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("plain-HTTP server (tlsserver.notlsport) stopped", "err", err)
			}
		}()
	}
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops taking requests and waits for those in flight (each ends
// with its alert stored or refused), stops the workers (attempts in flight
// finish or go back to the queue), then closes the queue.
func (s *Sidekick) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if s.plain != nil {
		_ = s.plain.Shutdown(ctx)
	}
	s.close()
	s.log.Info("nightjar-sidekick stopped")
	return err
}

func (s *Sidekick) close() {
	if s.disp != nil {
		s.disp.Stop()
		s.disp = nil
	}
	if s.q != nil {
		_ = s.q.Close()
		s.q = nil
	}
	if s.srv == nil && s.ln != nil {
		_ = s.ln.Close()
	}
	if s.plain == nil && s.plainLn != nil {
		_ = s.plainLn.Close()
	}
}
