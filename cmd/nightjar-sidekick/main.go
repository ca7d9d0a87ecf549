// Command nightjar-sidekick is the forwarder: it takes Falco-format alerts on
// port 2801 and delivers them, durably, to the configured outputs. It is a
// drop-in for falcosidekick (same endpoints, same environment variables).
//
//	nightjar-sidekick [-c config.yaml] [--check]
//	nightjar-sidekick routes test -c config.yaml --priority P --rule R [--tags a,b] [--source S] [--json]
//	nightjar-sidekick --version
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder"
	"github.com/nightjar-sec/nightjar/forwarder/config"
	"github.com/nightjar-sec/nightjar/forwarder/route"
)

// version is set at build time (-X main.version=...).
var version = "dev"

// shutdownTimeout bounds a graceful stop: requests in flight, then
// delivery attempts in flight.
const shutdownTimeout = 30 * time.Second

// defaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set. Without it the heap grows to twice the live data between
// collections; the queue's ingest bursts then push the resident size past
// 200 MB although the backlog itself lives on disk. Measured with 1,000,000
// alerts backlogged at 8,500 alerts/s: 152 MB resident (peak 219 MB)
// without a limit, 115 MB (peak 122 MB) with this one, at the same ingest
// rate. GOMEMLIMIT overrides it (e.g. GOMEMLIMIT=512MiB on a large node).
const defaultMemoryLimit = 96 << 20

// defaultGCPercent is the Go runtime's GOGC when the environment does not
// set one. The sidekick's live heap is small (about 5 MB at 5,000 alerts/s)
// and it allocates about 20 KB per alert, so with Go's default of 100 it
// collected every 50 ms there, and every collection showed as a spike in the
// latency of POST /. 400 collects a quarter as often, for a peak heap of
// about 25 MB; defaultMemoryLimit still bounds it when a backlog grows.
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status (0 ok, 1
// failure, 2 usage).
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) >= 2 && args[0] == "routes" && args[1] == "test" {
		return routesTest(args[2:], environ, stdout, stderr)
	}
	if len(args) >= 1 && args[0] == "healthcheck" {
		return healthcheck(args[1:], environ, stdout, stderr)
	}
	fs := flag.NewFlagSet("nightjar-sidekick", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `file` (YAML); every key can also be set by environment variable (slack.webhookurl = SLACK_WEBHOOKURL)")
	fs.StringVar(cfgPath, "config", "", "same as -c")
	showVersion := fs.Bool("version", false, "print the version and exit")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (net/http/pprof) on this `address` (e.g. 127.0.0.1:6060); off by default, for performance work only")
	check := fs.Bool("check", false, "check the configuration (file and environment), print the effective one with secrets redacted, and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  nightjar-sidekick [-c FILE] [--check]\n  nightjar-sidekick routes test -c FILE --priority P --rule R [--tags a,b] [--source S] [--json]\n  nightjar-sidekick healthcheck [-c FILE] [--url URL]\n  nightjar-sidekick --version\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nightjar-sidekick: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "nightjar-sidekick", version)
		return 0
	}

	cfg, err := config.Load(*cfgPath, environ, forwarder.OutputTypes)
	if err != nil {
		fmt.Fprintln(stderr, "nightjar-sidekick: configuration:", err)
		return 1
	}
	if *check {
		for _, o := range cfg.Outputs {
			if _, err := o.Config.New(); err != nil {
				fmt.Fprintf(stderr, "nightjar-sidekick: configuration: output %s: %v\n", o.Name, err)
				return 1
			}
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintln(stderr, "nightjar-sidekick: warning:", w)
		}
		fmt.Fprint(stdout, cfg.Dump())
		return 0
	}
	log := newLogger(cfg, stderr)
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			log.Error("-pprof", "err", err)
			return 1
		}
		defer ln.Close()
		log.Warn("serving the Go profiler: for performance work only, it exposes the process's internals", "addr", ln.Addr().String())
		go func() { _ = http.Serve(ln, pprofMux()) }()
	}
	sk, err := forwarder.New(ctx, forwarder.Options{Config: cfg, Log: log, Version: version})
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- sk.Serve() }()
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = sk.Shutdown(sctx)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := sk.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// pprofMux serves net/http/pprof's handlers on their usual paths, on a mux
// of its own rather than http.DefaultServeMux.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.Debug {
		opts.Level = slog.LevelDebug
	}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// routesTest prints where an alert would go, and why.
func routesTest(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nightjar-sidekick routes test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `file` (the environment applies too, as for the daemon)")
	fs.StringVar(cfgPath, "config", "", "same as -c")
	prio := fs.String("priority", "", "the alert's `priority` (required)")
	rule := fs.String("rule", "", "the alert's `rule` name (required)")
	tags := fs.String("tags", "", "the alert's `tags`, comma-separated")
	source := fs.String("source", "syscall", "the alert's event `source`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *prio == "" || *rule == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: nightjar-sidekick routes test -c FILE --priority P --rule R [--tags a,b] [--source S] [--json]")
		return 2
	}
	p, err := alert.ParsePriority(*prio)
	if err != nil {
		fmt.Fprintln(stderr, "nightjar-sidekick: --priority:", err)
		return 2
	}
	cfg, err := config.Load(*cfgPath, environ, forwarder.OutputTypes)
	if err != nil {
		fmt.Fprintln(stderr, "nightjar-sidekick: configuration:", err)
		return 1
	}
	r, err := route.New(cfg.Routes, cfg.RouteOutputs())
	if err != nil {
		fmt.Fprintln(stderr, "nightjar-sidekick: configuration:", err)
		return 1
	}
	a := &alert.Alert{Priority: p, Rule: *rule, Source: *source, Time: time.Now().UTC(), Output: "routes test"}
	for _, t := range strings.Split(*tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			a.Tags = append(a.Tags, t)
		}
	}
	ex := r.Explain(a)
	if *asJSON {
		out := struct {
			Alert struct {
				Priority string   `json:"priority"`
				Rule     string   `json:"rule"`
				Source   string   `json:"source"`
				Tags     []string `json:"tags"`
			} `json:"alert"`
			route.Explanation
		}{Explanation: ex}
		out.Alert.Priority, out.Alert.Rule, out.Alert.Source, out.Alert.Tags = p.String(), a.Rule, a.Source, a.Tags
		if out.Alert.Tags == nil {
			out.Alert.Tags = []string{}
		}
		if out.Routes == nil {
			out.Routes = []route.RouteResult{}
		}
		if out.Outputs == nil {
			out.Outputs = []route.Delivery{}
		}
		if out.Filtered == nil {
			out.Filtered = []route.Delivery{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, "nightjar-sidekick:", err)
			return 1
		}
		return 0
	}
	printExplanation(stdout, a, len(cfg.Outputs), ex)
	return 0
}

func printExplanation(w io.Writer, a *alert.Alert, nOutputs int, ex route.Explanation) {
	fmt.Fprintf(w, "alert: priority=%s rule=%q source=%s tags=[%s]\n", a.Priority, a.Rule, a.Source, strings.Join(a.Tags, ","))
	if len(ex.Routes) == 0 {
		fmt.Fprintln(w, "routes: none (every output takes the alerts at or above its minimumpriority)")
	} else {
		fmt.Fprintln(w, "routes:")
		for _, r := range ex.Routes {
			name := r.Name
			if name == "" {
				name = "(unnamed)"
			}
			verdict := "match"
			if !r.Matched {
				verdict = "no match: " + r.Reason
				if strings.HasPrefix(r.Reason, "not tried") {
					verdict = r.Reason
				}
			} else if r.Reason != "" {
				verdict += ": " + r.Reason
			}
			fmt.Fprintf(w, "  [%d] %s: %s\n", r.Index, name, verdict)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch {
	case nOutputs == 0:
		fmt.Fprintln(tw, "delivered to: nothing (no output is enabled)")
	case len(ex.Outputs) == 0:
		fmt.Fprintln(tw, "delivered to: nothing")
	default:
		fmt.Fprintln(tw, "delivered to:")
		for _, d := range ex.Outputs {
			fmt.Fprintf(tw, "  %s\tvia %s\n", d.Output, via(d.Via))
		}
	}
	if len(ex.Filtered) > 0 {
		fmt.Fprintln(tw, "filtered by threshold:")
		for _, d := range ex.Filtered {
			fmt.Fprintf(tw, "  %s\tvia %s\t%s\n", d.Output, via(d.Via), d.Reason)
		}
	}
	tw.Flush()
}

func via(v string) string {
	if v == "default" {
		return "default (no route names it)"
	}
	return v
}
