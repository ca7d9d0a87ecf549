// Package detector is the nightjar daemon: configuration, the engine loop
// (kernel capture or a recording -> process state -> rules -> outputs),
// recordings, and the rule test runner behind `nightjar test`.
package detector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/output"
	"github.com/nightjar-sec/nightjar/detector/state"
	"github.com/nightjar-sec/nightjar/detector/sysevent"
	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/field"
	"github.com/nightjar-sec/nightjar/rules/filter"
)

// Options are the command line's choices.
type Options struct {
	ConfigPath     string // -c
	ConfigExplicit bool   // -c was given: a missing file is an error
	Overrides      []string
	RulesPaths     []string // -r: replaces rules_files
	Tags, SkipTags []string // -t, -T
	Validate       []string // -V: validate these rule files and stop
	DescribeRules  bool     // -L
	ListFields     bool     // --list
	Replay         string   // -e
	Record         string   // --record
	Duration       time.Duration
	Version        string
	// ScaleProcs runs the Go runtime on one P while the event loop keeps
	// up, and on every CPU while the ring backs up (see procScaler). The
	// command sets it unless GOMAXPROCS is set; tests that run the
	// detector in their own process leave it off.
	ScaleProcs bool

	Stdout, Stderr io.Writer // default os.Stdout, os.Stderr
}

// ExitError carries the exit status for the caller.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func (o *Options) defaults() {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
}

// setupLogging points slog at stderr at the configured level.
func setupLogging(cfg *Config, w io.Writer) {
	lvl, _ := parseLogLevel(cfg.LogLevel)
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})))
}

// Run runs the detector until ctx ends, -M passes, or a replay is done.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	cfg, warns, err := LoadConfig(o.ConfigPath, o.ConfigExplicit, o.Overrides)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	setupLogging(cfg, o.Stderr)
	for _, w := range warns {
		slog.Warn(w)
	}
	if len(o.Validate) > 0 {
		return validate(o, cfg)
	}
	src := sysevent.NewSource()
	if o.ListFields {
		return listFields(o.Stdout, src)
	}
	rs, err := loadRuleset(src, cfg, o)
	if err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			return ee // its own status: misuse is 2
		}
		return &ExitError{Code: 1, Err: err}
	}
	if o.DescribeRules {
		if cfg.JSONOutput {
			return describeRulesJSON(o.Stdout, rs, src)
		}
		return describeRules(o.Stdout, rs)
	}
	return runEngine(ctx, o, cfg, src, rs)
}

func rulesPaths(cfg *Config, o Options) []string {
	if len(o.RulesPaths) > 0 {
		return o.RulesPaths
	}
	return cfg.RulesFiles
}

// loadRuleset loads and compiles the rules for src, logging the warnings.
func loadRuleset(src *field.Source, cfg *Config, o Options) (*rules.Ruleset, error) {
	paths := rulesPaths(cfg, o)
	if len(paths) == 0 {
		return nil, errors.New("no rules: rules_files is empty and no -r was given")
	}
	l, err := LoadRules(src, paths)
	if err != nil {
		return nil, fmt.Errorf("loading rules:\n%w", err)
	}
	opts, err := RuleOptions(cfg, o.Tags, o.SkipTags)
	if err != nil {
		return nil, err
	}
	rs, err := l.Compile(opts)
	for _, w := range l.Warnings() {
		slog.Warn("rules: " + w.String())
	}
	if err != nil {
		return nil, fmt.Errorf("loading rules:\n%w", err)
	}
	// A -t or -T tag no loaded rule has is a typo: with -t it would leave
	// every rule disabled, with -T it would disable nothing.
	if err := CheckTags(rs, o.Tags, o.SkipTags); err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	n := 0
	for _, r := range rs.Rules() {
		if r.Enabled {
			n++
		}
	}
	slog.Info("rules loaded", "files", strings.Join(paths, ","), "rules", len(rs.Rules()), "enabled", n)
	return rs, nil
}

// validate is -V: load the files in order, then compile, and print every
// error (file:line:col) and warning.
func validate(o Options, cfg *Config) error {
	src := sysevent.NewSource()
	l := rules.NewLoader(src)
	for _, p := range o.Validate {
		l.LoadPath(p)
	}
	opts, err := RuleOptions(cfg, o.Tags, o.SkipTags)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	rs, err := l.Compile(opts)
	for _, w := range l.Warnings() {
		fmt.Fprintf(o.Stdout, "warning: %s\n", w)
	}
	if err != nil {
		var es rules.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintf(o.Stdout, "error: %s\n", e)
			}
			return &ExitError{Code: 1, Err: fmt.Errorf("%s: %d errors", strings.Join(o.Validate, ", "), len(es))}
		}
		fmt.Fprintf(o.Stdout, "error: %v\n", err)
		return &ExitError{Code: 1, Err: fmt.Errorf("%s: invalid", strings.Join(o.Validate, ", "))}
	}
	fmt.Fprintf(o.Stdout, "%s: Ok (%d rules)\n", strings.Join(o.Validate, ", "), len(rs.Rules()))
	return nil
}

// describeRules is -L.
func describeRules(w io.Writer, rs *rules.Ruleset) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tPRIORITY\tSOURCE\tENABLED\tTAGS")
	for _, r := range rs.Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", r.Name, r.Priority, r.Source, r.Enabled, strings.Join(r.Tags, ","))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rs.Rules() {
		fmt.Fprintf(w, "%s (%s)\n    %s\n", r.Name, r.Priority, strings.Join(strings.Fields(r.Desc), " "))
	}
	return nil
}

// describeRulesJSON is -L with json_output: true, as Falco (0.36 and later)
// prints it: one JSON object on one line, {"rules": [{"info": {...},
// "details": {...}}, ...]}, with Falco's field names. What nightjar does not
// keep is left out rather than made up: the top-level "macros", "lists",
// "required_engine_version" and "required_plugin_versions", and the
// details' "output_fields", "exception_fields" and "exception_operators".
// One differs from Falco's: info.enabled says whether the rule runs (after
// priority, -t/-T and the rules: selection), not the enabled key alone.
func describeRulesJSON(w io.Writer, rs *rules.Ruleset, src *field.Source) error {
	type info struct {
		Name        string   `json:"name"`
		Condition   string   `json:"condition"`
		Priority    string   `json:"priority"`
		Output      string   `json:"output"`
		Description string   `json:"description"`
		Enabled     bool     `json:"enabled"`
		Source      string   `json:"source"`
		Tags        []string `json:"tags"`
	}
	type details struct {
		Macros             []string `json:"macros"`
		Lists              []string `json:"lists"`
		ConditionOperators []string `json:"condition_operators"`
		ConditionFields    []string `json:"condition_fields"`
		ExceptionNames     []string `json:"exception_names"`
		Events             []string `json:"events"`
		ConditionCompiled  string   `json:"condition_compiled"`
		OutputCompiled     string   `json:"output_compiled"`
		Plugins            []string `json:"plugins"` // nightjar loads none
	}
	type rule struct {
		Info    info    `json:"info"`
		Details details `json:"details"`
	}
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	out := struct {
		Rules []rule `json:"rules"`
	}{Rules: []rule{}}
	for _, r := range rs.Rules() {
		compiled := r.Expr()
		d := details{ExceptionNames: nonNil(slices.Clone(r.Exceptions)), OutputCompiled: r.Output,
			ConditionCompiled: filter.Format(compiled), Plugins: []string{}}
		if raw, err := filter.Parse(r.Condition); err == nil {
			d.Macros, d.Lists = conditionRefs(raw, compiled)
		}
		d.ConditionOperators, d.ConditionFields = conditionChecks(compiled)
		names, all := r.EventTypes()
		if all && src != nil && r.Source == src.Name {
			for id := range src.NumEventTypes() {
				names = append(names, src.EventTypeName(id))
			}
		}
		d.Events = sortedSet(names)
		d.Macros, d.Lists = nonNil(d.Macros), nonNil(d.Lists)
		out.Rules = append(out.Rules, rule{
			Info: info{Name: r.Name, Condition: writtenCondition(r.Condition), Priority: r.Priority.String(), Output: r.Output,
				Description: r.Desc, Enabled: r.Enabled, Source: r.Source, Tags: nonNil(slices.Clone(r.Tags))},
			Details: d,
		})
	}
	// One line, "<" and "&" as they are: as Falco's nlohmann dump() writes.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// writtenCondition returns a rule's condition as its file has it (after
// append/override): Rule.Condition holds it in parentheses, followed by
// its exceptions, compiled to " and not (...)". The closing parenthesis is
// the first ')' before which the text parses (the parser deals with
// quotes); failing that, the whole compiled condition.
func writtenCondition(compiled string) string {
	if !strings.HasPrefix(compiled, "(") {
		return compiled
	}
	for i := 1; i < len(compiled); i++ {
		if compiled[i] != ')' {
			continue
		}
		if rest := compiled[i+1:]; rest != "" && !strings.HasPrefix(rest, " and not (") {
			continue
		}
		if _, err := filter.Parse(compiled[1:i]); err == nil {
			return compiled[1:i]
		}
	}
	return compiled
}

// sortedSet returns the strings sorted, each once, never nil.
func sortedSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// conditionRefs returns the macros and lists a condition names itself (not
// through its macros), as Falco's details do: a bare identifier where a
// condition goes is a macro; a list is an identifier on the right of a list
// operator, or an item of a list literal that is gone once expanded (the
// list's items took its place: how Falco tells them apart too). raw is the
// condition as parsed, compiled the same expanded.
func conditionRefs(raw, compiled filter.Expr) (macros, lists []string) {
	var walk func(raw, exp filter.Expr)
	walk = func(raw, exp filter.Expr) {
		switch e := raw.(type) {
		case *filter.And, *filter.Or:
			xs := children(exp)
			for i, c := range children(e) {
				var x filter.Expr
				if i < len(xs) {
					x = xs[i]
				}
				walk(c, x)
			}
		case *filter.Not:
			var x filter.Expr
			if n, ok := exp.(*filter.Not); ok {
				x = n.X
			}
			walk(e.X, x)
		case *filter.Ident:
			macros = append(macros, e.Name)
		case *filter.Check:
			switch rt := e.Right.(type) {
			case *filter.Ident:
				lists = append(lists, rt.Name)
			case *filter.List:
				x, _ := exp.(*filter.Check)
				if x == nil {
					return
				}
				xl, _ := x.Right.(*filter.List)
				if xl == nil {
					return
				}
				have := map[string]bool{}
				for _, v := range xl.Items {
					have[v.Text] = true
				}
				for _, v := range rt.Items {
					if !have[v.Text] {
						lists = append(lists, v.Text)
					}
				}
			}
		}
	}
	walk(raw, compiled)
	return sortedSet(macros), sortedSet(lists)
}

// children returns the operands of an and or an or (nil for other nodes).
func children(e filter.Expr) []filter.Expr {
	switch e := e.(type) {
	case *filter.And:
		return e.Children
	case *filter.Or:
		return e.Children
	}
	return nil
}

// conditionChecks returns the operators and the fields (as written, with
// their argument) of every check in an expanded condition.
func conditionChecks(e filter.Expr) (ops, fields []string) {
	var fieldOf func(x filter.Expr)
	fieldOf = func(x filter.Expr) {
		switch x := x.(type) {
		case *filter.FieldRef:
			fields = append(fields, x.Text())
		case *filter.Transform:
			fieldOf(x.X)
		}
	}
	var walk func(e filter.Expr)
	walk = func(e filter.Expr) {
		switch e := e.(type) {
		case *filter.And, *filter.Or:
			for _, c := range children(e) {
				walk(c)
			}
		case *filter.Not:
			walk(e.X)
		case *filter.Check:
			ops = append(ops, e.Op)
			fieldOf(e.Left)
			fieldOf(e.Right)
		}
	}
	walk(e)
	return sortedSet(ops), sortedSet(fields)
}

// listFields is --list: every syscall field, marked when nightjar
// populates it.
func listFields(w io.Writer, src *field.Source) error {
	fmt.Fprintf(w, "Event source: %s (* = populated by nightjar; others evaluate as <NA>)\n\n", src.Name)
	for _, f := range src.Fields() {
		mark := " "
		if f.Bound() {
			mark = "*"
		}
		name := f.Name
		switch {
		case f.Arg != field.NoArg && f.ArgReq:
			name += "[arg]"
		case f.Arg != field.NoArg:
			name += "[arg?]"
		}
		typ := f.Type.String()
		if f.List {
			typ = "list(" + typ + ")"
		}
		fmt.Fprintf(w, "%s %-40s %-14s %s\n", mark, name, typ, f.Desc)
	}
	return nil
}

// eventSource is the kernel or a recording.
type eventSource interface {
	Read(ev *bpf.Event) error
}

// runEngine is the daemon proper.
func runEngine(ctx context.Context, o Options, cfg *Config, src *field.Source, rs *rules.Ruleset) error {
	hostname := cfg.HostnameOrDefault()
	metrics := output.NewMetrics()
	disp, err := output.New(outputOptions(cfg, metrics))
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	// closeOutputs is for stopping before any alert: nothing to report.
	closeOutputs := func() { closeOutputsReporting(disp, nil) }

	table := state.New(state.Options{})
	var events eventSource
	var capture *bpf.Capture
	var replay *Replay
	if o.Replay != "" {
		replay, err = OpenRecording(o.Replay)
		if err != nil {
			closeOutputs()
			return &ExitError{Code: 2, Err: err}
		}
		defer replay.Close()
		if err := table.FromSnapshot(bytes.NewReader(replay.Header.Snapshot)); err != nil {
			closeOutputs()
			return &ExitError{Code: 2, Err: fmt.Errorf("-e %s: %w", o.Replay, err)}
		}
		slog.Info("replaying", "file", o.Replay, "recorded", replay.Header.Created, "host", replay.Header.Hostname)
		events = replay
	} else {
		syscalls := captureSyscalls(rs)
		var filter *bpf.OpenFilter
		switch {
		case !cfg.KernelOpenFilter:
		case o.Record != "":
			slog.Info("kernel open filter off: --record keeps every open for replays against other rules")
		default:
			var why string
			if filter, why = openFilter(rs); filter == nil {
				slog.Info("kernel open filter off: every open is sent", "because", why)
			} else {
				slog.Info("kernel open filter on", "paths", len(filter.Paths), "any_path_classes", filter.Any.String(),
					"close_traced", slices.Contains(syscalls, "close")) // only for rules on close events
			}
		}
		// With the filter on, no rule reads a whole fd table and nothing
		// is recorded: close is traced only if a rule is on close events
		// (captureSyscalls then names it), and the fd table is kept right
		// by the kernel's file keys (see sysevent).
		capture, err = bpf.Load(bpf.Config{RingSize: cfg.RingSize(), Syscalls: syscalls, ExcludePID: os.Getpid(),
			OpenFilter: filter, StateWithoutClose: filter != nil})
		if err != nil {
			closeOutputs()
			return &ExitError{Code: 1, Err: fmt.Errorf("loading the eBPF capture (nightjar needs root and a kernel with BTF): %w", err)}
		}
		defer capture.Close()
		if u := capture.Unavailable(); len(u) > 0 {
			slog.Warn("this kernel lacks tracepoints for some syscalls; rules on them cannot fire", "syscalls", strings.Join(u, ","))
		}
		if err := table.Seed(); err != nil {
			slog.Warn("reading /proc for the initial process state", "error", err)
		}
		events = capture
	}
	proc := sysevent.NewProcessor(src, table)

	var rec *Recorder
	if o.Record != "" {
		var snap bytes.Buffer
		if err := table.Snapshot(&snap); err != nil {
			closeOutputs()
			return &ExitError{Code: 1, Err: fmt.Errorf("--record: %w", err)}
		}
		var attached []string
		if capture != nil {
			attached = capture.Attached()
		}
		rec, err = CreateRecording(o.Record, &RecordingHeader{Created: time.Now().UTC(), Hostname: hostname,
			Version: o.Version, Syscalls: attached, Snapshot: snap.Bytes()})
		if err != nil {
			closeOutputs()
			return &ExitError{Code: 2, Err: err}
		}
		defer func() {
			if err := rec.Close(); err != nil {
				slog.Error("--record: closing", "error", err)
			}
			slog.Info("recording written", "file", o.Record, "events", rec.Count())
		}()
	}

	kernelDrops := func() uint64 { return 0 }
	if capture != nil {
		kernelDrops = func() uint64 {
			s, err := capture.Stats()
			if err != nil {
				return 0
			}
			return s.DroppedRingFull
		}
		registerCaptureMetrics(metrics, capture)
	}
	metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "nightjar_events_processed_total", Help: "Events handled by the state processor.",
	}, func() float64 { return float64(proc.Stats().Events) }))

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	if cfg.Metrics.Enabled {
		ln, err := net.Listen("tcp", cfg.Metrics.ListenAddress)
		if err != nil {
			closeOutputs()
			return &ExitError{Code: 2, Err: fmt.Errorf("metrics.listen_address: %w", err)}
		}
		srv := &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		slog.Info("metrics on GET /metrics", "address", ln.Addr().String())
	}
	drops := &output.DropReporter{Kernel: kernelDrops, Outputs: disp.Dropped, Emit: func(a *alert.Alert) {
		metrics.DropAlerts.Inc()
		disp.Send(a)
	}, Hostname: hostname}
	dropsDone := make(chan struct{})
	go func() {
		drops.Run(bg)
		close(dropsDone)
	}()

	// Stopping: detach the kernel programs so that nothing new arrives,
	// read what the ring still holds, then close. The reader is not safe
	// for concurrent use, so the loop itself notices (a flag, checked per
	// event and at least every pollInterval through a read deadline).
	const pollInterval = 250 * time.Millisecond
	var stopping atomic.Bool
	loopDone := make(chan struct{})
	if capture != nil {
		capture.SetDeadline(time.Now().Add(pollInterval))
	}
	draining := false

	if capture != nil {
		// Tests and operators wait for this line: everything is set up.
		slog.Info("capturing", "syscalls", strings.Join(capture.Attached(), ","), "ring_bytes", cfg.RingSize())
	}
	// -M counts from here, as Falco's does: seconds of capture (or of
	// replay), not of start-up (loading the eBPF programs takes a second
	// or more).
	var timeUp <-chan time.Time
	if o.Duration > 0 {
		t := time.NewTimer(o.Duration)
		defer t.Stop()
		timeUp = t.C
	}
	go func() {
		select {
		case <-ctx.Done():
			slog.Info("stopping", "reason", "signal")
		case <-timeUp:
			slog.Info("stopping", "reason", "-M "+o.Duration.String()+" of capture done")
		case <-loopDone:
			return
		}
		stopping.Store(true)
	}()
	var procs *procScaler
	if capture != nil && o.ScaleProcs {
		procs = newProcScaler(cfg.RingSize())
	}
	if procs != nil {
		defer procs.stop()
	}
	sys := rs.Source("syscall")
	var raw bpf.Event
	var sinceObserve int
	var loopErr error
	// One emit function for the whole run (a closure per event would
	// allocate on every event); cur is the event being matched.
	var cur field.Event
	emit := func(r *rules.Rule) {
		a := r.Alert(cur)
		a.Hostname = hostname
		disp.Send(a)
	}
	for {
		if !draining && stopping.Load() {
			if capture == nil {
				break
			}
			capture.Detach()
			capture.SetDeadline(time.Now().Add(200 * time.Millisecond))
			draining = true
		}
		err := events.Read(&raw)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !draining {
				if procs != nil {
					procs.observe(capture.Pending(), time.Now())
				}
				capture.SetDeadline(time.Now().Add(pollInterval))
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, bpf.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			loopErr = err
			break
		}
		if rec != nil {
			if err := rec.Write(&raw); err != nil {
				loopErr = fmt.Errorf("--record: %w", err)
				break
			}
		}
		if procs != nil {
			if sinceObserve++; sinceObserve == 4096 {
				procs.observe(capture.Pending(), time.Now())
				sinceObserve = 0
			}
		}
		ev := proc.Handle(&raw)
		if ev == nil || sys == nil {
			continue
		}
		cur = ev
		sys.Process(ev, emit)
	}
	close(loopDone)
	stopBG()
	<-dropsDone
	// Drain the outputs first, then count: alerts lost while draining
	// (the HTTP output's queue at the deadline) are in the report, the
	// warnings and the final line.
	closeOutputsReporting(disp, func(send func(*alert.Alert)) {
		drops.Final(time.Now(), func(a *alert.Alert) {
			metrics.DropAlerts.Inc()
			send(a)
		})
	})
	st := proc.Stats()
	attrs := []any{"events", st.Events, "processes", st.Processes, "alert_drops", disp.Dropped()}
	if capture != nil {
		if s, err := capture.Stats(); err == nil {
			attrs = append(attrs, "kernel_seen", s.Seen, "kernel_drops", s.DroppedRingFull, "kernel_filtered", s.Filtered)
		}
	}
	slog.Info("stopped", attrs...)
	if loopErr != nil {
		return &ExitError{Code: 1, Err: loopErr}
	}
	return nil
}

// outputsDrainTimeout is how long stopping waits for the outputs to deliver
// what they hold (a variable for tests).
var outputsDrainTimeout = 5 * time.Second

// closeOutputsReporting closes the outputs, giving them outputsDrainTimeout
// to deliver what they hold; final (if not nil) runs once the HTTP output
// is done and may send alerts to the local outputs (see
// output.Dispatcher.CloseWith). Then every output that lost alerts, at
// shutdown or before, gets a warning with the count.
func closeOutputsReporting(disp *output.Dispatcher, final func(send func(*alert.Alert))) {
	ctx, cancel := context.WithTimeout(context.Background(), outputsDrainTimeout)
	defer cancel()
	if err := disp.CloseWith(ctx, final); err != nil {
		slog.Warn("outputs did not drain before the shutdown deadline", "deadline", outputsDrainTimeout, "error", err)
	}
	for _, l := range disp.Losses() {
		if l.Total() > 0 {
			slog.Warn("alerts lost", "output", l.Output, "lost", l.Total(),
				"queue_full", l.QueueFull, "rejected", l.Rejected, "at_shutdown", l.Shutdown)
		}
	}
}

// captureSyscalls returns the syscalls to attach: those the enabled rules
// name that the capture supports. Names the capture lacks are logged: the
// rules on them cannot fire.
func captureSyscalls(rs *rules.Ruleset) []string {
	names, all := rs.EventTypes("syscall")
	supported := bpf.SupportedSyscalls()
	if all {
		slog.Warn("some rules do not restrict evt.type: attaching every supported syscall")
		return supported
	}
	var out, missing []string
	for _, n := range names {
		switch {
		case slices.Contains(supported, n):
			out = append(out, n)
		case n == "procexit" || n == "clone" || n == "fork" || n == "vfork":
			// From the sched tracepoints, always attached.
		default:
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		slog.Info("rules name syscalls nightjar does not capture; those conditions never match", "syscalls", strings.Join(missing, ","))
	}
	return out
}

func registerCaptureMetrics(m *output.Metrics, c *bpf.Capture) {
	stat := func(f func(bpf.Stats) uint64) func() float64 {
		return func() float64 {
			s, err := c.Stats()
			if err != nil {
				return 0
			}
			return float64(f(s))
		}
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nightjar_kernel_events_seen_total",
			Help: "Events the kernel programs produced."}, stat(func(s bpf.Stats) uint64 { return s.Seen })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nightjar_kernel_events_dropped_total",
			Help: "Events lost because the ring buffer was full."}, stat(func(s bpf.Stats) uint64 { return s.DroppedRingFull })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nightjar_kernel_events_filtered_total",
			Help: "Opens no enabled rule can match, kept in the kernel (kernel_open_filter)."},
			stat(func(s bpf.Stats) uint64 { return s.Filtered })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nightjar_kernel_strings_truncated_total",
			Help: "Strings (paths, argv) cut to fit their buffer."}, stat(func(s bpf.Stats) uint64 { return s.Truncated })),
	)
}

// outputOptions maps the configuration to the dispatcher's options.
func outputOptions(cfg *Config, m *output.Metrics) output.Options {
	o := output.Options{
		Format: output.Format{JSON: cfg.JSONOutput, IncludeOutput: cfg.JSONIncludeOutputProperty,
			IncludeTags: cfg.JSONIncludeTagsProperty},
		Buffered:      cfg.BufferedOutputs,
		QueueCapacity: cfg.QueueCapacity(),
		Syslog:        cfg.SyslogOutput.Enabled,
		Metrics:       m,
		Logger:        slog.Default(),
	}
	if cfg.StdoutOutput.Enabled {
		o.Stdout = output.DefaultStdout
	}
	if cfg.FileOutput.Enabled {
		o.File, o.FileKeepAlive = cfg.FileOutput.Filename, cfg.FileOutput.KeepAlive
	}
	if h := cfg.HTTPOutput; h.Enabled {
		o.HTTP = &output.HTTPOptions{URL: h.URL, UserAgent: h.UserAgent, Insecure: h.Insecure, CACert: h.CACert,
			CABundle: h.CABundle, MTLS: h.MTLS, ClientCert: h.ClientCert, ClientKey: h.ClientKey}
	}
	return o
}

// RunTests is `nightjar test CASES.yaml`: run the cases against the
// configured ruleset (rules_files or -r) with every matching rule
// reported, print the report, and fail when a case fails.
func RunTests(o Options, casesPath string, verbose bool) error {
	o.defaults()
	cfg, warns, err := LoadConfig(o.ConfigPath, o.ConfigExplicit, o.Overrides)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	setupLogging(cfg, o.Stderr)
	for _, w := range warns {
		slog.Warn(w)
	}
	src := CaseSource()
	cf, err := LoadCases(casesPath, src)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	cfg.RuleMatching = "all"
	rs, err := loadRuleset(src, cfg, o)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if err := cf.CheckRules(rs); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	rep := RunCases(src, cf, RulesetMatcher(rs))
	rep.Write(o.Stdout, casesPath, verbose)
	if rep.Failed > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d cases failed", rep.FailedCases, rep.Cases)}
	}
	return nil
}
