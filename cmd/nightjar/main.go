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
                  KEY[]=VALUE appends to a list. Repeatable.

Rules:
  -r FILE|DIR     rules file or directory (*.yaml, sorted); repeatable, in
                  order; replaces rules_files
  -t TAG          only run rules with this tag (repeatable)
  -T TAG          do not run rules with this tag (repeatable)
  -V FILE         load these rule files in order, print every error as
                  file:line:col, exit 1 if any (repeatable)
  -L              describe the loaded rules and exit
  --list          list the fields rules can use, * marking those nightjar
                  populates, and exit

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
	var seconds, configPath string
	var showVersion bool
	fs.StringVar(&configPath, "c", "", "")
	fs.Var(&overrides, "o", "")
	fs.Var(&rulesPaths, "r", "")
	fs.Var(&tags, "t", "")
	fs.Var(&skipTags, "T", "")
	fs.Var(&validate, "V", "")
	fs.BoolVar(&o.DescribeRules, "L", false, "")
	fs.BoolVar(&o.ListFields, "list", false, "")
	fs.StringVar(&o.Replay, "e", "", "")
	fs.StringVar(&o.Record, "record", "", "")
	fs.StringVar(&seconds, "M", "", "")
	fs.BoolVar(&showVersion, "version", false, "")
	if err := fs.Parse(args); err != nil {
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
		return fail("unexpected argument %q (the only subcommand is test)", fs.Arg(0))
	}
	if showVersion {
		fmt.Fprintf(stdout, "nightjar %s\n", version)
		return 0
	}
	modes := 0
	for _, on := range []bool{len(validate) > 0, o.DescribeRules, o.ListFields} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return fail("-V, -L and --list each print and exit: use one of them")
	}
	if seconds != "" {
		s, err := strconv.ParseFloat(seconds, 64)
		if err != nil || s <= 0 {
			return fail("-M %s: want a number of seconds greater than 0", seconds)
		}
		o.Duration = time.Duration(s * float64(time.Second))
	}
	if o.Replay != "" && o.Record != "" {
		return fail("-e and --record: a replay cannot be recorded again; copy the file instead")
	}
	for _, p := range validate {
		if _, err := os.Stat(p); err != nil {
			return fail("-V %s: %v", p, errors.Unwrap(err))
		}
	}
	o.ConfigPath, o.ConfigExplicit = configPath, configPath != ""
	if configPath == "" {
		o.ConfigPath = detector.DefaultConfigPath
	}
	o.Overrides, o.RulesPaths, o.Tags, o.SkipTags, o.Validate = overrides, rulesPaths, tags, skipTags, validate
	o.Version, o.Stdout, o.Stderr, o.ScaleProcs = version, stdout, stderr, scaleProcs

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return exitCode(detector.Run(ctx, o), stderr)
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
