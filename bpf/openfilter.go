package bpf

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// OpenClass is a set of open outcomes: access mode (read-only, write-only,
// read-write) times result (succeeded, failed). Every open is in exactly
// one class; creat is write-only. The values are the kernel's OPEN_* bits.
type OpenClass uint8

const (
	OpenReadOnly OpenClass = 1 << iota
	OpenWriteOnly
	OpenReadWrite
	OpenReadOnlyFailed
	OpenWriteOnlyFailed
	OpenReadWriteFailed

	OpenSucceeded = OpenReadOnly | OpenWriteOnly | OpenReadWrite
	OpenFailed    = OpenReadOnlyFailed | OpenWriteOnlyFailed | OpenReadWriteFailed
	OpenAll       = OpenSucceeded | OpenFailed
	// OpenReads and OpenWrites are the classes Falco's evt.is_open_read
	// and evt.is_open_write are true for.
	OpenReads  = OpenReadOnly | OpenReadWrite | OpenReadOnlyFailed | OpenReadWriteFailed
	OpenWrites = OpenWriteOnly | OpenReadWrite | OpenWriteOnlyFailed | OpenReadWriteFailed
)

// PathMatch says how an OpenPath's Path is compared with an open's path.
type PathMatch uint8

const (
	PathExact  PathMatch = iota // the path is Path
	PathPrefix                  // the path starts with Path (bytes, as startswith)
	PathDir                     // the path is a file directly in directory Path
)

func (m PathMatch) String() string {
	switch m {
	case PathExact:
		return "exact"
	case PathPrefix:
		return "prefix"
	case PathDir:
		return "dir"
	}
	return fmt.Sprintf("PathMatch(%d)", uint8(m))
}

// OpenPath asks for the opens of Classes whose path matches Path.
type OpenPath struct {
	Path    string
	Match   PathMatch
	Classes OpenClass
}

// OpenComm asks for the opens of Classes by a task whose command name
// (comm, Falco's proc.name, at most 15 bytes) is Comm, whatever the path.
type OpenComm struct {
	Comm    string
	Classes OpenClass
}

// OpenFilter lets the kernel drop opens (open, openat, openat2, creat) that
// no rule can match, before they cost a ring buffer record. An open is sent
// when its class is in Any, or its path matches an entry of Paths (or the
// task's comm an entry of Comms) whose Classes hold its class. Whatever the
// filter, the kernel sends the opens that state tracking needs: relative
// paths, paths that cleaning would change ("..", "//", "/./", a trailing
// "/"), directories and O_DIRECTORY/O_PATH opens, and paths of 256 bytes
// or more. With the filter on, a dup*, fcntl(F_DUPFD), fchmod or setns of a
// file or directory fd carries the fd's path (Event.FdPath), for the fds
// whose open was dropped. The close of a dropped open's fd is sent when
// close is traced (see Config.StateWithoutClose, which the filter's users
// set).
//
// Paths are compared as the process gave them (absolute, already clean), as
// Falco's fd.name has them.
type OpenFilter struct {
	Any   OpenClass
	Paths []OpenPath
	Comms []OpenComm // sent also when the task's comm is listed
}

// Validate checks that every path is absolute and every class known.
func (f *OpenFilter) Validate() error {
	if f.Any&^OpenAll != 0 {
		return fmt.Errorf("bpf: open filter: unknown classes %#x", uint8(f.Any))
	}
	for _, p := range f.Paths {
		if !strings.HasPrefix(p.Path, "/") {
			return fmt.Errorf("bpf: open filter: path %q is not absolute", p.Path)
		}
		if p.Classes&^OpenAll != 0 || p.Match > PathDir {
			return fmt.Errorf("bpf: open filter: path %q: unknown classes %#x or match %d", p.Path, uint8(p.Classes), p.Match)
		}
	}
	for _, c := range f.Comms {
		if c.Comm == "" || len(c.Comm) > 15 || c.Classes&^OpenAll != 0 {
			return fmt.Errorf("bpf: open filter: comm %q: empty, longer than 15 bytes, or unknown classes %#x", c.Comm, uint8(c.Classes))
		}
	}
	return nil
}

// comms returns the kernel's open_comms entries and the classes they ask
// for beyond Any.
func (f *OpenFilter) comms() (keys [][16]byte, vals []uint8, classes OpenClass) {
	byComm := map[string]OpenClass{}
	for _, c := range f.Comms {
		if cl := c.Classes &^ f.Any; cl != 0 {
			byComm[c.Comm] |= cl
		}
	}
	for c, cl := range byComm {
		var k [16]byte
		copy(k[:], c)
		keys = append(keys, k)
		vals = append(vals, uint8(cl))
		classes |= cl
	}
	return keys, vals, classes
}

// pathClasses are the classes some entry of Paths asks for beyond Any:
// the kernel looks paths up only for opens of those classes.
func (f *OpenFilter) pathClasses() OpenClass {
	var c OpenClass
	for _, p := range f.Paths {
		c |= p.Classes
	}
	return c &^ f.Any
}

// openBloom is OPEN_BLOOM, the slots of the kernel's first test.
const openBloom = 4096

// bloomSlot is the kernel's bloom_slot.
func bloomSlot(w uint64) uint32 { return uint32((w * 0x9E3779B97F4A7C15) >> 52) }

// bloom builds the kernel's first test from the trie's keys and values:
// for each key, its first min(8, length) bytes, little-endian, name a slot
// that gets the classes the key can ask for. A path the trie would want
// starts with its key, so it hits that slot.
func bloom(keys []captureOpenKey, vals []captureOpenVal) (lens uint8, table [openBloom]uint8) {
	for i, k := range keys {
		n := min(8, int(k.Bits/8))
		var w uint64
		for j := range n {
			w |= uint64(uint8(k.Path[j])) << (8 * j)
		}
		lens |= 1 << (n - 1)
		table[bloomSlot(w)] |= vals[i].Any | vals[i].Dir
	}
	return lens, table
}

// openKeyMax is OPEN_KEY_MAX: bytes of a path, NUL included, a key holds.
const openKeyMax = 256

// entries turns the filter into LPM trie keys and values. The kernel finds
// only the longest stored prefix of a path, so each key's value also holds
// what its shorter stored prefixes ask for.
func (f *OpenFilter) entries() ([]captureOpenKey, []captureOpenVal) {
	type own struct{ any, dir OpenClass }
	byKey := map[string]*own{}
	add := func(k string, any, dir OpenClass) {
		if len(k) > openKeyMax {
			return // a path that long is always sent (see OpenFilter)
		}
		o := byKey[k]
		if o == nil {
			o = &own{}
			byKey[k] = o
		}
		o.any |= any
		o.dir |= dir
	}
	for _, p := range f.Paths {
		p.Classes &^= f.Any // sent anyway: the kernel tests Any first
		if p.Classes == 0 {
			continue
		}
		switch p.Match {
		case PathExact:
			add(p.Path+"\x00", p.Classes, 0) // with the NUL: matches only itself
		case PathPrefix:
			add(p.Path, p.Classes, 0)
		case PathDir:
			d := path.Clean(p.Path)
			if d != "/" {
				d += "/"
			}
			add(d, 0, p.Classes)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ks := make([]captureOpenKey, len(keys))
	vs := make([]captureOpenVal, len(keys))
	for i, k := range keys {
		var v captureOpenVal
		v.Len = uint32(len(k))
		for _, a := range keys {
			if !strings.HasPrefix(k, a) {
				continue
			}
			v.Any |= uint8(byKey[a].any)
			// A directory key applies when no '/' follows it in the path:
			// for a path matching k, when none is in k past a, nor in the
			// path past k, which the kernel checks.
			if !strings.Contains(k[len(a):], "/") {
				v.Dir |= uint8(byKey[a].dir)
			}
		}
		ks[i].Bits = uint32(len(k) * 8)
		for j := range len(k) {
			ks[i].Path[j] = int8(k[j])
		}
		vs[i] = v
	}
	return ks, vs
}

// Class returns the class of an open with these flags (creat: O_WRONLY)
// and outcome.
func Class(flags uint64, failed bool) OpenClass {
	c := OpenReadWrite // also the invalid access mode 3
	switch flags & 3 {
	case 0:
		c = OpenReadOnly
	case 1:
		c = OpenWriteOnly
	}
	if failed {
		c <<= 3
	}
	return c
}

// Wants reports whether the kernel sends an open of path (as the process
// gave it) with these flags and outcome, for an open that did not make a
// directory fd: the kernel's decision, written again in Go for tests and
// for tools that explain a filter.
func (f *OpenFilter) Wants(p string, flags uint64, failed bool) bool {
	return f.WantsFrom("", p, flags, failed)
}

// WantsFrom is Wants for an open by a task whose comm is comm.
func (f *OpenFilter) WantsFrom(comm, p string, flags uint64, failed bool) bool {
	const oDirectory, oPath = 0o200000, 0o10000000
	c := Class(flags, failed)
	if c&f.Any != 0 || flags&(oDirectory|oPath) != 0 {
		return true
	}
	for _, e := range f.Comms {
		if e.Classes&c != 0 && e.Comm == comm {
			return true
		}
	}
	if len(p) == 0 || len(p)+1 > openKeyMax || p[0] != '/' ||
		strings.Contains(p, "..") || strings.Contains(p, "//") || strings.Contains(p, "/./") ||
		strings.HasSuffix(p, "/.") || (len(p) > 1 && strings.HasSuffix(p, "/")) {
		return true
	}
	for _, e := range f.Paths {
		if e.Classes&c == 0 {
			continue
		}
		switch e.Match {
		case PathExact:
			if p == e.Path {
				return true
			}
		case PathPrefix:
			if strings.HasPrefix(p, e.Path) {
				return true
			}
		case PathDir:
			d := path.Clean(e.Path)
			if d != "/" {
				d += "/"
			}
			if strings.HasPrefix(p, d) && !strings.Contains(p[len(d):], "/") {
				return true
			}
		}
	}
	return false
}

// String names the classes in the set, "none" when empty.
func (c OpenClass) String() string {
	names := []string{"read", "write", "readwrite", "read-failed", "write-failed", "readwrite-failed"}
	var out []string
	for i, n := range names {
		if c&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}
