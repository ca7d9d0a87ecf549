// Package dedup drops repeats of an alert per output: with a window set on
// an output (slack.dedup: 10m), an alert whose key was accepted for that
// output less than the window ago is not queued for it again. A burst of the
// same "Terminal shell in container" then pages once, not five hundred times.
//
// The key is the rule, the hostname, the priority, the source and the
// output_fields, without the fields that differ for every event of a burst
// (evt.time and the other time fields, evt.num). Two alerts with the same key
// say the same thing; the formatted output text is not used, since it starts
// with the event's time.
//
// The state is in memory and per process: after a restart the first repeat
// passes. It is bounded (MaxKeys); when full of unexpired keys, new keys are
// not remembered and their repeats pass: a full table never drops an alert
// that would otherwise be delivered once.
package dedup

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// MaxKeys bounds the remembered keys over all outputs (32 bytes of key and
// a time each, about 100 bytes with the map's overhead: ~10 MB at most).
const MaxKeys = 100_000

// Filter remembers, per output, when each key was last accepted. The zero
// value and a nil *Filter filter nothing. Safe for concurrent use.
type Filter struct {
	windows map[string]time.Duration // output -> window; only outputs with one
	now     func() time.Time

	mu        sync.Mutex
	seen      map[entry]time.Time // -> expiry
	lastSweep time.Time
}

type entry struct {
	output string
	key    Key
}

// Key identifies what an alert says (see the package comment).
type Key [sha256.Size]byte

// New returns a filter for the outputs with a positive window, or nil when
// none has one.
func New(windows map[string]time.Duration) *Filter {
	f := &Filter{windows: map[string]time.Duration{}, now: time.Now, seen: map[entry]time.Time{}}
	for out, w := range windows {
		if w > 0 {
			f.windows[out] = w
		}
	}
	if len(f.windows) == 0 {
		return nil
	}
	return f
}

// Split separates outs into the outputs a is to be queued for and the ones
// that had the same alert within their window. It remembers nothing: call
// Accepted once the alert is stored, so that an alert refused with a 503 is
// not counted as seen when the sender retries it.
func (f *Filter) Split(a *alert.Alert, outs []string) (keep, repeats []string, k Key) {
	if f == nil {
		return outs, nil, k
	}
	k = KeyOf(a)
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range outs {
		if _, on := f.windows[o]; on {
			if exp, ok := f.seen[entry{o, k}]; ok && now.Before(exp) {
				repeats = append(repeats, o)
				continue
			}
		}
		keep = append(keep, o)
	}
	return keep, repeats, k
}

// Accepted records that the alert with key k was stored for outs.
func (f *Filter) Accepted(k Key, outs []string) {
	if f == nil {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) >= MaxKeys || now.Sub(f.lastSweep) > time.Minute {
		f.sweep(now)
	}
	for _, o := range outs {
		w, on := f.windows[o]
		if !on {
			continue
		}
		e := entry{o, k}
		if _, ok := f.seen[e]; !ok && len(f.seen) >= MaxKeys {
			continue // full of live keys: remember nothing new (fail open)
		}
		f.seen[e] = now.Add(w)
	}
}

// Len is the number of remembered keys.
func (f *Filter) Len() int {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

func (f *Filter) sweep(now time.Time) {
	for e, exp := range f.seen {
		if !now.Before(exp) {
			delete(f.seen, e)
		}
	}
	f.lastSweep = now
}

// perEvent reports output_fields that differ for every event of a burst and
// so are left out of the key.
func perEvent(field string) bool {
	switch field {
	case "evt.num", "evt.time", "evt.rawtime", "evt.datetime", "evt.reltime", "evt.deltatime", "evt.latency":
		return true
	}
	return strings.HasPrefix(field, "evt.time.") || strings.HasPrefix(field, "evt.rawtime.") ||
		strings.HasPrefix(field, "evt.datetime.") || strings.HasPrefix(field, "evt.reltime.") ||
		strings.HasPrefix(field, "evt.deltatime.") || strings.HasPrefix(field, "evt.latency.")
}

// KeyOf returns a's key.
func KeyOf(a *alert.Alert) Key {
	h := sha256.New()
	src := a.Source
	if src == "" {
		src = "syscall" // Falco's default source
	}
	// Length-prefixed parts, so that no two different alerts write the
	// same bytes.
	put := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	put(a.Rule)
	put(a.Hostname)
	put(a.Priority.String())
	put(src)
	names := make([]string, 0, len(a.OutputFields))
	for name := range a.OutputFields {
		if !perEvent(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		put(name)
		put(fmt.Sprintf("%T=%v", a.OutputFields[name], a.OutputFields[name]))
	}
	var k Key
	h.Sum(k[:0])
	return k
}
