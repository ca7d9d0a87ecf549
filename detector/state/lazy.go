package state

import (
	"bytes"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Details read from /proc only when a rule asks for them (the kernel event
// does not carry them): the environment and the executable's timestamps.
// A process that has already exited has none.

// lazy holds them once read; an exec clears it (a new program).
type lazy struct {
	envRead bool
	env     []string
	exeRead bool
	ctime   int64 // epoch ns
	mtime   int64
}

// Env returns p's environment ("NAME=value" entries) from
// /proc/<pid>/environ, read once per program; false if unreadable.
func (t *Table) Env(p *Process) ([]string, bool) {
	if !p.lazy.envRead {
		p.lazy.envRead = true
		if b, err := os.ReadFile(t.pidDir(p.PID) + "/environ"); err == nil && t.alive(p.PID, p.StartTime) {
			b = bytes.TrimRight(b, "\x00")
			if len(b) > 0 {
				p.lazy.env = strings.Split(string(b), "\x00")
			} else {
				p.lazy.env = []string{}
			}
		}
	}
	return p.lazy.env, p.lazy.env != nil
}

// ExeTimes returns the change and modification times of p's executable
// (epoch ns), read once per program; false if unreadable.
func (t *Table) ExeTimes(p *Process) (ctime, mtime int64, ok bool) {
	if !p.lazy.exeRead {
		p.lazy.exeRead = true
		var st unix.Stat_t
		if unix.Stat(t.pidDir(p.PID)+"/exe", &st) == nil && t.alive(p.PID, p.StartTime) {
			p.lazy.ctime = st.Ctim.Nano()
			p.lazy.mtime = st.Mtim.Nano()
		}
	}
	return p.lazy.ctime, p.lazy.mtime, p.lazy.ctime != 0
}
