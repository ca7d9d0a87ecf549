// Command benchtool is the part of `make bench` (scripts/bench.sh) that is not
// a Go benchmark: the detector's end-to-end overhead (the real nightjar
// binary, capture and rules, against the same loops without it), and the
// summary and plots made from the raw `go test -bench` output of a run.
//
//	benchtool detector -nightjar BIN -rules FILE ...   prints benchmark lines
//	benchtool ingest -sidekick BIN [-rate N -d DUR]     paced POST /: bare server, then the real sidekick
//	benchtool ingest -url URL [-rate N -d DUR]          paced POST / to a running server
//	benchtool bare [-addr ADDR]                        the bare baseline server (decode, answer 200)
//	benchtool machine                                  what a system call, a goroutine hand-off and a loopback exchange cost here
//	benchtool summary DIR                              prints the ratio table
//	benchtool plot DIR OUTDIR                          writes PNG bar charts
package main

import (
	"fmt"
	"log/slog"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool detector|ingest|bare|machine|summary|plot ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "detector":
		err = runDetector(os.Args[2:])
	case "summary":
		err = runSummary(os.Args[2:])
	case "plot":
		err = runPlot(os.Args[2:])
	case "ingest":
		err = runIngest(os.Args[2:])
	case "bare":
		err = runBare(os.Args[2:])
	case "machine":
		err = runMachine(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (want detector, ingest, bare, machine, summary or plot)", os.Args[1])
	}
	if err != nil {
		slog.Error("benchtool "+os.Args[1], "err", err)
		os.Exit(1)
	}
}
