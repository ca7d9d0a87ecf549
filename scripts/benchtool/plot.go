package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// bar is one horizontal bar: a measured value and its target, drawn green
// when the target is met and red when not (grey without a target).
type bar struct {
	label        string
	value        float64
	target       float64 // NaN: no target
	higherBetter bool
	note         string // printed after the bar instead of the value
}

func runPlot(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: benchtool plot DIR OUTDIR")
	}
	res, err := parseDir(args[0])
	if err != nil {
		return err
	}
	over := func(key, unit string) float64 { return res.pairedRatio(key+"on", key+"off", unit) }
	overhead := []bar{
		{"exec, capture only (CPU)", over(kBPFExec, "child-cpu-ns/op"), 1.05, false, ""},
		{"exec, detector+rules (CPU)", over(kDetExec, "child-cpu-ns/op"), 1.05, false, ""},
		{"exec, detector+rules (wall)", over(kDetExec, "ns/op"), 1.05, false, ""},
		{"open/close, capture only (CPU)", over(kBPFOpen, "cpu-ns/op"), 1.15, false, ""},
		{"open/close, detector+rules (CPU)", over(kDetOpen, "cpu-ns/op"), 1.15, false, ""},
		{"open/close, detector+rules (wall)", over(kDetOpen, "ns/op"), 1.15, false, ""},
	}
	if err := writeChart(filepath.Join(args[1], "overhead.png"),
		"Loop time with capture / without (same run); tick = target", overhead); err != nil {
		return err
	}
	// Each figure over its target, so that different units share one axis.
	norm := func(label string, v, target float64, higherBetter bool, unit string) bar {
		return bar{label, v / target, 1, higherBetter, fmt.Sprintf("%s%s (target %s%s)", short(v), unit, short(target), unit)}
	}
	targets := []bar{
		norm("durable/bare ingest, c16", res.get(kIngest+"durable/c16", "alerts/s")/res.get(kIngest+"bare/c16", "alerts/s"), 0.5, true, ""),
		norm("durable/bare ingest, c64", res.get(kIngest+"durable/c64", "alerts/s")/res.get(kIngest+"bare/c64", "alerts/s"), 0.5, true, ""),
		norm("p99 at 5,000 alerts/s", res.get(kPaced+"durable", "p99-µs")/1000, 5, false, " ms"),
		norm("RSS, 1M-alert backlog", res.get(kBacklog, "rss-MB"), 150, false, " MB"),
		norm("engine, realistic (1 core)", res.get(kRules+"Realistic", "events/cpu-s")/1e6, 1, true, " M/CPU-s"),
		norm("engine, no match (1 core)", res.get(kRules+"NoMatch", "events/cpu-s")/1e6, 1, true, " M/CPU-s"),
		norm("exec loop, detector (CPU)", over(kDetExec, "child-cpu-ns/op"), 1.05, false, "x"),
		norm("open/close, detector (CPU)", over(kDetOpen, "cpu-ns/op"), 1.15, false, "x"),
	}
	return writeChart(filepath.Join(args[1], "targets.png"),
		"Figure / target (tick = 1: the target; green = met)", targets)
}

var (
	colMet    = color.RGBA{0x2e, 0x9e, 0x4f, 0xff}
	colNotMet = color.RGBA{0xd6, 0x3b, 0x3b, 0xff}
	colNone   = color.RGBA{0x88, 0x88, 0x88, 0xff}
	colInk    = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colGrid   = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// writeChart draws the bars on a common linear scale from 0, each with its
// target as a black tick, and writes a PNG.
func writeChart(path, title string, bars []bar) error {
	const (
		labelW = 300
		plotW  = 420
		rowH   = 34
		top    = 40
		pad    = 16
	)
	// Room on the right for the longest value label (7 px per character).
	longest := len("not measured")
	for _, b := range bars {
		longest = max(longest, len(b.note), len(" (target 0.000)")+8)
	}
	w, h := labelW+plotW+longest*7+2*pad, top+rowH*len(bars)+pad
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	scale := 0.0
	for _, b := range bars {
		for _, v := range []float64{b.value, b.target} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				scale = math.Max(scale, v)
			}
		}
	}
	if scale == 0 {
		scale = 1
	}
	// A figure far off its target would squash the rest: bars past 3x
	// the largest target are cut at the edge (their label gives the value).
	maxTarget := 0.0
	for _, b := range bars {
		if !math.IsNaN(b.target) {
			maxTarget = math.Max(maxTarget, b.target)
		}
	}
	if maxTarget > 0 {
		scale = math.Min(scale, 3*maxTarget)
	}
	scale *= 1.1
	clip := func(v float64) float64 { return math.Min(v, scale) }
	x := func(v float64) int { return labelW + int(clip(v)/scale*plotW) }

	text(img, pad, 22, title)
	for i := 0; i <= 4; i++ {
		gx := labelW + plotW*i/4
		fill(img, gx, top-4, gx+1, h-pad, colGrid)
	}
	for i, b := range bars {
		y := top + i*rowH
		text(img, pad, y+rowH/2+4, b.label)
		if math.IsNaN(b.value) || math.IsInf(b.value, 0) {
			text(img, labelW+4, y+rowH/2+4, "not measured")
			continue
		}
		c := colNone
		if !math.IsNaN(b.target) {
			if (b.higherBetter && b.value >= b.target) || (!b.higherBetter && b.value <= b.target) {
				c = colMet
			} else {
				c = colNotMet
			}
		}
		fill(img, labelW, y+6, max(x(b.value), labelW+1), y+rowH-6, c)
		if !math.IsNaN(b.target) {
			tx := x(b.target)
			fill(img, tx-1, y+2, tx+2, y+rowH-2, colInk)
		}
		label := short(b.value)
		if !math.IsNaN(b.target) {
			label += " (target " + short(b.target) + ")"
		}
		if b.note != "" {
			label = b.note
		}
		text(img, max(x(b.value), x(b.target))+6, y+rowH/2+4, label)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(colInk), Face: basicfont.Face7x13,
		Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// short prints a value with three decimals when small (ratios like 1.052
// against 1.05 must not round to the target) and fewer as it grows.
func short(v float64) string {
	switch {
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
