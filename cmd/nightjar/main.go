// Command nightjar is the detector: eBPF capture, Falco-compatible rules,
// alerts to stdout, a file, syslog and the sidekick. See docs/detector.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nightjar-sec/nightjar/detector"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

const usage = `nightjar: runtime security for Linux, Falco-compatible.

Usage:
  nightjar [flags]                 watch the kernel and raise alerts
  nightjar -e FILE [flags]         replay a recording instead of the kernel
  nightjar -V FILE [-V FILE ...]   validate rule files and exit
  nightjar -L | --list             describe the loaded rules | list the fields
  nightjar test [flags] CASES.yaml run rule test cases (no kernel needed)
  nightjar healthcheck [--url URL] probe the metrics endpoint (container healthcheck)

Configuration:
  -c FILE         configuration file (default /etc/nightjar/nightjar.yaml;
                  the embedded defaults when that file does not exist)
  -o KEY=VALUE    override a configuration key, nested keys joined with dots
                  (-o json_output=true -o http_output.url=http://sk:2801/);
                  KEY[N] is item N of a list, KEY[] a new item at its end
                  (-o 'rules[].disable.tag=network'; quote the [] from
                  the shell). Repeatable.

Rules:
  -r FILE|DIR     rules file or directory (*.yaml, sorted); repeatable, in
                  order; replaces rules_files
  -t TAG          only run rules with this tag (repeatable; not with -T)
  -T TAG          do not run rules with this tag (repeatable; not with -t)
  -V FILE         load these rule files in order, print every error as
                  file:line:col, exit 1 if any (repeatable)
  -L              describe the loaded rules and exit
  --list[=SOURCE] list the fields rules can use, * marking those nightjar
                  populates, and exit (SOURCE: syscall, the only one)

Running:
  -e FILE         replay events recorded with --record
  --record FILE   write every kernel event and the initial process state
  -M SECONDS      stop after this many seconds
  --version       print the version and exit
  -h, --help      this help

Signals: SIGINT and SIGTERM stop nightjar after it has written the alerts
already raised.
`

const testUsage = `nightjar test: run rule test cases against a ruleset, without a kernel.

Usage:
  nightjar test [-c FILE] [-o KEY=VALUE] [-r FILE|DIR] [-v] CASES.yaml

The ruleset is the configured one (rules_files), or the -r files. Every
event in CASES.yaml must raise exactly the rules it expects (rules run with
rule_matching: all). Exits 1 when a case fails. See docs/rules.md.

  -c FILE         configuration file
  -o KEY=VALUE    override a configuration key (repeatable)
  -r FILE|DIR     rules file or directory (repeatable; replaces rules_files)
  -v              list passing cases too
`

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// once is a string flag that may be given once: a second -c, -e, --record
// or -M would silently replace the first.
type once struct {
	v   string
	set bool
}

func (o *once) String() string { return o.v }
func (o *once) Set(v string) error {
	if o.set {
		return errors.New("given twice; it takes one value")
	}
	o.v, o.set = v, true
	return nil
}

// listFlag is --list, --list=SOURCE and --list SOURCE: the fields of every
// event source, or of one (Falco takes only --list and --list=SOURCE).
type listFlag struct {
	on     bool
	source string
}

func (l *listFlag) String() string   { return l.source }
func (l *listFlag) IsBoolFlag() bool { return true }
func (l *listFlag) Set(v string) error {
	switch v {
	case "true":
		l.on = true
	case "false":
		l.on, l.source = false, ""
	default:
		l.on, l.source = true, v
	}
	return nil
}

// eventSources are the sources nightjar captures events from: --list takes
// one of them.
var eventSources = []string{"syscall"}

// valueFlags are the flags of the main command that take a value.
var valueFlags = map[string]bool{"c": true, "o": true, "r": true, "t": true, "T": true, "V": true, "e": true, "record": true, "M": true}

// listSourceArg rewrites "--list SOURCE" as "--list=SOURCE", which Go's
// flag package would otherwise see as --list and a stray argument.
// nightjar accepts both forms; Falco only the '=' form (its cxxopts option
// has an implicit value, so a separate SOURCE is not taken as its value).
func listSourceArg(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		if valueFlags[name] {
			i++
			continue
		}
		if name == "list" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out := append(append(append([]string{}, args[:i]...), "--list="+args[i+1]), args[i+2:]...)
			return out
		}
	}
	return args
}

// scaleProcs is detector.Options.ScaleProcs: on for the command unless the
// operator set GOMAXPROCS, off when tests call run in their own process.
var scaleProcs bool

func main() {
	scaleProcs = os.Getenv("GOMAXPROCS") == ""
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "test" {
		return runTest(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("nightjar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var o detector.Options
	var overrides, rulesPaths, tags, skipTags, validate list
	var configPath, replay, record, seconds once
	var listFields listFlag
	var showVersion bool
	fs.Var(&configPath, "c", "")
	fs.Var(&overrides, "o", "")
	fs.Var(&rulesPaths, "r", "")
	fs.Var(&tags, "t", "")
	fs.Var(&skipTags, "T", "")
	fs.Var(&validate, "V", "")
	fs.BoolVar(&o.DescribeRules, "L", false, "")
	fs.Var(&listFields, "list", "")
	fs.Var(&replay, "e", "")
	fs.Var(&record, "record", "")
	fs.Var(&seconds, "M", "")
	fs.BoolVar(&showVersion, "version", false, "")
	if err := fs.Parse(listSourceArg(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "Run nightjar --help for the flags.")
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "nightjar: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run nightjar --help for the flags.")
		return 2
	}
	if fs.NArg() > 0 {
		// Never echo the argument: "-o http_output.url http://u:pw@h/"
		// (a space for the '=') leaves the password here. fs.Args() is a
		// suffix of args (listSourceArg rewrites only before it), so this
		// is the argument's position on the command line.
		return fail("argument %d is not a flag (does an -o lack its '='?); the subcommands test and healthcheck come first",
			len(args)-fs.NArg()+1)
	}
	if showVersion {
		if fs.NFlag() > 1 {
			return fail("--version prints the version and exits: give it alone")
		}
		fmt.Fprintf(stdout, "nightjar %s\n", version)
		return 0
	}
	o.ListFields, o.Replay, o.Record = listFields.on, replay.v, record.v
	if msg := misuse(&o, validate, rulesPaths, tags, skipTags, overrides, seconds.set, listFields.source); msg != "" {
		return fail("%s", msg)
	}
	if seconds.set {
		s, err := strconv.ParseFloat(seconds.v, 64)
		if err != nil || s <= 0 {
			return fail("-M %s: want a number of seconds greater than 0", seconds.v)
		}
		o.Duration = time.Duration(s * float64(time.Second))
	}
	for _, p := range validate {
		if _, err := os.Stat(p); err != nil {
			return fail("-V %s: %v", p, errors.Unwrap(err))
		}
	}
	o.ConfigPath, o.ConfigExplicit = configPath.v, configPath.set
	if !configPath.set {
		o.ConfigPath = detector.DefaultConfigPath
	}
	o.Overrides, o.RulesPaths, o.Tags, o.SkipTags, o.Validate = overrides, rulesPaths, tags, skipTags, validate
	o.Version, o.Stdout, o.Stderr, o.ScaleProcs = version, stdout, stderr, scaleProcs

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return exitCode(detector.Run(ctx, o), stderr)
}

// misuse returns what is wrong with a combination of flags, or "": flags
// that would be silently ignored are refused, as is the pair Falco
// refuses (-t with -T).
func misuse(o *detector.Options, validate, rulesPaths, tags, skipTags, overrides []string, duration bool, source string) string {
	var mode string // the flag that prints and exits
	modes := 0
	for _, m := range []struct {
		on   bool
		name string
	}{{len(validate) > 0, "-V"}, {o.DescribeRules, "-L"}, {o.ListFields, "--list"}} {
		if m.on {
			mode = m.name
			modes++
		}
	}
	// Flags that only mean something while nightjar runs.
	running := ""
	switch {
	case o.Replay != "":
		running = "-e"
	case o.Record != "":
		running = "--record"
	case duration:
		running = "-M"
	}
	switch {
	case modes > 1:
		return "-V, -L and --list each print and exit: use one of them"
	case mode != "" && running != "":
		return fmt.Sprintf("%s prints and exits, so %s (which applies while nightjar runs) would do nothing: drop one of them", mode, running)
	case len(tags) > 0 && len(skipTags) > 0:
		return detector.ErrTagsAndSkipTags.Error()
	case mode == "-V" && len(rulesPaths) > 0:
		return "-V checks the files it names and -r would add nothing: give each file with -V, in load order"
	case mode == "-V" && (len(tags) > 0 || len(skipTags) > 0):
		return "-V checks every rule of its files, and -t/-T (which choose the rules that run) would do nothing: drop them"
	case mode == "--list" && (len(rulesPaths) > 0 || len(tags) > 0 || len(skipTags) > 0):
		return "--list lists the fields of an event source, and -r/-t/-T (which choose rules) would do nothing: drop them"
	case o.Replay != "" && o.Record != "":
		return "-e and --record: a replay cannot be recorded again; copy the file instead"
	}
	if o.ListFields && source != "" && !slices.Contains(eventSources, source) {
		if source == "k8s_audit" {
			return "--list=k8s_audit: nightjar loads Kubernetes audit rules but has no k8s_audit event source; its one source is syscall"
		}
		return fmt.Sprintf("--list=%s: no such event source; nightjar's one source is %s", source, strings.Join(eventSources, ", "))
	}
	if len(rulesPaths) > 0 {
		for _, ov := range overrides {
			key, _, _ := strings.Cut(ov, "=")
			name := strings.TrimSpace(key)
			if i := strings.IndexAny(name, ".["); i >= 0 {
				name = name[:i]
			}
			if name == "rules_files" || name == "rules_file" {
				return fmt.Sprintf("-r replaces rules_files, so -o %s would do nothing: give the rule files with -r only", name)
			}
		}
	}
	return ""
}

func runTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nightjar test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, testUsage) }
	var overrides, rulesPaths list
	var configPath string
	var verbose bool
	fs.StringVar(&configPath, "c", "", "")
	fs.Var(&overrides, "o", "")
	fs.Var(&rulesPaths, "r", "")
	fs.BoolVar(&verbose, "v", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "nightjar test: want exactly one CASES.yaml file")
		fmt.Fprint(stderr, testUsage)
		return 2
	}
	o := detector.Options{ConfigPath: configPath, ConfigExplicit: configPath != "", Overrides: overrides,
		RulesPaths: rulesPaths, Version: version, Stdout: stdout, Stderr: stderr}
	if configPath == "" {
		o.ConfigPath = detector.DefaultConfigPath
	}
	return exitCode(detector.RunTests(o, fs.Arg(0), verbose), stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "nightjar: %v\n", err)
	var ee *detector.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}
