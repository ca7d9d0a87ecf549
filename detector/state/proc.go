package state

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/bpf"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on every
// Linux architecture Go supports).
const clockTicks = 100

// bootEpoch returns the wall-clock time, in epoch ns, at which
// CLOCK_BOOTTIME was 0.
func bootEpoch() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Now().UnixNano() - ts.Nano()
}

// Seed fills the table from /proc: every process that exists now, with its
// fds. Processes that vanish while it reads are skipped. It returns the
// first error that is not a vanished process (e.g. /proc not mounted).
func (t *Table) Seed() error {
	entries, err := os.ReadDir(t.procRoot)
	if err != nil {
		return fmt.Errorf("seed process table: %w", err)
	}
	net := map[string]map[uint64]sockInfo{} // by net namespace link
	for _, e := range entries {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil || !e.IsDir() {
			continue
		}
		p, err := t.readProc(uint32(pid), net)
		if err != nil {
			continue // exited meanwhile
		}
		t.Put(p)
	}
	return nil
}

func (t *Table) pidDir(pid uint32) string {
	return t.procRoot + "/" + strconv.FormatUint(uint64(pid), 10)
}

// alive reports whether pid exists with the given start time.
func (t *Table) alive(pid uint32, start uint64) bool {
	b, err := os.ReadFile(t.pidDir(pid) + "/stat")
	if err != nil {
		return false
	}
	st, err := parseStat(b)
	if err != nil {
		return false
	}
	return sameStart(start, t.ticksToEpoch(st.startTicks))
}

func (t *Table) ticksToEpoch(ticks uint64) uint64 {
	return uint64(t.boot) + ticks*(1e9/clockTicks)
}

type procStat struct {
	comm                 string
	ppid, pgrp, sid, tty uint32
	startTicks           uint64
}

// parseStat reads /proc/<pid>/stat; comm is between the first '(' and the
// last ')' since it may hold spaces and parentheses.
func parseStat(b []byte) (procStat, error) {
	var st procStat
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return st, fmt.Errorf("stat: no comm")
	}
	st.comm = string(b[i+1 : j])
	f := strings.Fields(string(b[j+1:]))
	// f[0] is state (field 3); field N is f[N-3]
	if len(f) < 20 {
		return st, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	st.ppid, st.pgrp, st.sid = uint32(num(4)), uint32(num(5)), uint32(num(6))
	st.tty = uint32(num(7))
	st.startTicks = num(22)
	return st, nil
}

// readProc builds a process from /proc/<pid>. net caches socket inode maps
// by network namespace across a seed (nil: a fresh cache).
func (t *Table) readProc(pid uint32, net map[string]map[uint64]sockInfo) (*Process, error) {
	dir := t.pidDir(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	st, err := parseStat(b)
	if err != nil {
		return nil, fmt.Errorf("%s/stat: %w", dir, err)
	}
	p := &Process{
		PID: pid, PPID: st.ppid, SID: st.sid, PGID: st.pgrp, TTY: st.tty, Comm: st.comm,
		StartTime: t.ticksToEpoch(st.startTicks), LoginUID: ^uint32(0), FromProc: true,
		ContainerID: HostContainerID, FDs: map[int64]*FD{},
	}
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		parseStatus(p, b)
	}
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil && len(b) > 0 {
		b = bytes.TrimSuffix(b, []byte{0})
		p.setArgs(strings.Split(string(b), "\x00"))
	} else {
		p.setArgs(nil) // kernel thread: no argv; Falco shows the comm
		p.Exe = p.Comm
		p.derive()
	}
	p.ExePath, _ = os.Readlink(dir + "/exe")
	p.ExeFromMemfd = strings.HasPrefix(p.ExePath, "/memfd:")
	if cwd, err := os.Readlink(dir + "/cwd"); err == nil {
		p.SetCwd(cwd)
	}
	if b, err := os.ReadFile(dir + "/loginuid"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			p.LoginUID = uint32(v)
		}
	}
	if b, err := os.ReadFile(dir + "/cgroup"); err == nil {
		p.ContainerID, p.ContainerFullID, p.ContainerRuntime = ContainerFromCgroupFile(string(b))
		p.ContainerName = t.names.name(p.ContainerFullID, p.ContainerRuntime)
		p.Cgroup = cgroupV2Path(string(b))
	}
	if p.ExePath != "" && !p.ExeFromMemfd {
		var stt unix.Stat_t
		if unix.Stat(dir+"/exe", &stt) == nil {
			p.ExeIno = stt.Ino
		}
		p.ExeUpperLayer = t.mounts.onUpperLayer(dir, p.ExePath)
	}
	if net == nil {
		net = map[string]map[uint64]sockInfo{}
	}
	t.readFDs(p, dir, net)
	return p, nil
}

func cgroupV2Path(content string) string {
	for line := range strings.SplitSeq(content, "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	return ""
}

func parseStatus(p *Process, b []byte) {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		u32 := func(s string) uint32 { n, _ := strconv.ParseUint(s, 10, 32); return uint32(n) }
		cap := func(s string) uint64 { n, _ := strconv.ParseUint(s, 16, 64); return n }
		switch k {
		case "Uid":
			p.UID = u32(f[0])
			if len(f) > 1 {
				p.EUID = u32(f[1])
			}
		case "Gid":
			p.GID = u32(f[0])
			if len(f) > 1 {
				p.EGID = u32(f[1])
			}
		case "NSpid":
			p.VPID = u32(f[len(f)-1])
		case "CapInh":
			p.CapInheritable = cap(f[0])
		case "CapPrm":
			p.CapPermitted = cap(f[0])
		case "CapEff":
			p.CapEffective = cap(f[0])
		}
	}
}

// readFDs fills p's fd table from /proc/<pid>/fd: paths by readlink,
// sockets through the namespace's /proc/net tables (best effort).
func (t *Table) readFDs(p *Process, dir string, net map[string]map[uint64]sockInfo) {
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return
	}
	var socks map[uint64]sockInfo
	for _, e := range ents {
		num, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		link, err := os.Readlink(dir + "/fd/" + e.Name())
		if err != nil {
			continue
		}
		flags := fdFlags(dir + "/fdinfo/" + e.Name())
		var st unix.Stat_t // of the file the fd names (/proc's fd links follow to it)
		statErr := unix.Stat(dir+"/fd/"+e.Name(), &st)
		var f *FD
		switch {
		case strings.HasPrefix(link, "socket:["):
			if socks == nil {
				ns, _ := os.Readlink(dir + "/ns/net")
				if socks = net[ns]; socks == nil {
					socks = readSockets(dir + "/net")
					net[ns] = socks
				}
			}
			ino, _ := strconv.ParseUint(strings.TrimSuffix(link[len("socket:["):], "]"), 10, 64)
			f = socketFD(num, socks[ino])
			f.Ino = ino
		case strings.HasPrefix(link, "pipe:["):
			f = &FD{Num: num, Type: FDPipe, Name: link}
		case strings.HasPrefix(link, "anon_inode:"):
			f = &FD{Num: num, Type: anonType(link), Name: link}
		case strings.HasPrefix(link, "/memfd:"):
			f = &FD{Num: num, Type: FDMemfd, Name: link}
			f.setPathParts()
		case strings.HasPrefix(link, "/"):
			isDir := statErr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
			f = NewFileFD(num, link, flags, isDir)
			f.Dev, f.Ino = uint32(st.Dev), st.Ino
		default:
			f = &FD{Num: num, Type: FDUnknown, Name: link}
		}
		f.Flags = flags
		// The same key the kernel gives the file (bpf.FileKey), with the
		// device in the kernel's encoding, so that events check the entry.
		if statErr == nil {
			f.Key = bpf.StatFileKey(&st)
		}
		p.FDs[num] = f
	}
}

func fdFlags(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return n
		}
	}
	return 0
}

func anonType(link string) FDType {
	n := strings.Trim(strings.TrimPrefix(link, "anon_inode:"), "[]")
	switch {
	case n == "eventfd":
		return FDEvent
	case n == "eventpoll":
		return FDEventPoll
	case n == "inotify":
		return FDInotify
	case n == "signalfd":
		return FDSignal
	case n == "timerfd":
		return FDTimer
	case strings.HasPrefix(n, "bpf"):
		return FDBPF
	case n == "userfaultfd":
		return FDUserfault
	case n == "io_uring":
		return FDIOUring
	}
	return FDUnknown
}

// sockInfo is one socket from /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix,netlink}.
type sockInfo struct {
	typ           FDType
	l4            L4
	local, remote Endpoint
	listening     bool
	path          string
}

func socketFD(num int64, s sockInfo) *FD {
	f := &FD{Num: num, Type: s.typ, L4: s.l4}
	switch s.typ {
	case FDIPv4, FDIPv6:
		f.Connected = s.remote.Port != 0
		f.SetTuple(s.local, s.remote, s.listening)
	case FDUnix:
		f.UnixPath, f.Name = s.path, s.path
	case FDNetlink:
		f.Name = "netlink"
	default:
		f.Type = FDUnknown
		f.Name = "socket"
	}
	return f
}

// readSockets maps socket inodes to their addresses for one network
// namespace, from <dir> = /proc/<pid>/net. Missing files are skipped.
func readSockets(dir string) map[uint64]sockInfo {
	m := map[uint64]sockInfo{}
	for _, tbl := range []struct {
		file string
		typ  FDType
		l4   L4
	}{{"tcp", FDIPv4, L4TCP}, {"tcp6", FDIPv6, L4TCP}, {"udp", FDIPv4, L4UDP}, {"udp6", FDIPv6, L4UDP},
		{"raw", FDIPv4, L4Raw}, {"raw6", FDIPv6, L4Raw}} {
		readInetTable(filepath.Join(dir, tbl.file), tbl.typ, tbl.l4, m)
	}
	readUnixTable(filepath.Join(dir, "unix"), m)
	readNetlinkTable(filepath.Join(dir, "netlink"), m)
	// A server is a socket whose local port some listening socket holds:
	// an accepted connection shares its listener's port.
	listen := map[uint16]bool{}
	for _, s := range m {
		if s.listening && s.l4 == L4TCP {
			listen[s.local.Port] = true
		}
	}
	for ino, s := range m {
		if !s.listening && s.l4 == L4TCP && listen[s.local.Port] {
			s.listening = true // role: server side of a connection
			m[ino] = s
		}
	}
	return m
}

func readInetTable(path string, typ FDType, l4 L4, m map[uint64]sockInfo) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		local, ok1 := parseHexEndpoint(fs[1])
		remote, ok2 := parseHexEndpoint(fs[2])
		ino, err := strconv.ParseUint(fs[9], 10, 64)
		if !ok1 || !ok2 || err != nil || ino == 0 {
			continue
		}
		s := sockInfo{typ: typ, l4: l4, local: local, remote: remote}
		if remote.Port == 0 && !remote.IP.IsValid() || isUnspecified(remote) {
			remote = Endpoint{}
			s.remote = remote
			// TCP_LISTEN is 0A; an unconnected UDP socket is "listening" too
			s.listening = fs[3] == "0A" || l4 == L4UDP
		}
		m[ino] = s
	}
}

func isUnspecified(e Endpoint) bool { return e.Port == 0 && (!e.IP.IsValid() || e.IP.IsUnspecified()) }

// parseHexEndpoint decodes "0100007F:0050" (IPv4, host byte order per
// 32-bit word) or the 32-hex-digit IPv6 form.
func parseHexEndpoint(s string) (Endpoint, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return Endpoint{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return Endpoint{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return Endpoint{}, false
	}
	// each 32-bit word is in host (little-endian) order
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	ip, _ := netip.AddrFromSlice(raw)
	return Endpoint{IP: ip.Unmap(), Port: uint16(port)}, true
}

func readUnixTable(path string, m map[uint64]sockInfo) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 7 {
			continue
		}
		ino, err := strconv.ParseUint(fs[6], 10, 64)
		if err != nil {
			continue
		}
		s := sockInfo{typ: FDUnix, listening: fs[5] == "01" && fs[3] == "00010000"}
		if len(fs) > 7 {
			s.path = fs[7]
		}
		m[ino] = s
	}
}

func readNetlinkTable(path string, m map[uint64]sockInfo) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if ino, err := strconv.ParseUint(fs[len(fs)-1], 10, 64); err == nil {
			m[ino] = sockInfo{typ: FDNetlink}
		}
	}
}

// mountCache answers "is this executable on an overlayfs upper layer" from
// /proc/<pid>/mountinfo, parsed once per mount namespace.
type mountCache struct {
	byNS map[string][]mountEntry
}

type mountEntry struct {
	point, upper string // mount point; upperdir= for overlay mounts
}

func (c *mountCache) onUpperLayer(dir, exe string) bool {
	ns, err := os.Readlink(dir + "/ns/mnt")
	if err != nil {
		return false
	}
	if c.byNS == nil {
		c.byNS = map[string][]mountEntry{}
	}
	ms, ok := c.byNS[ns]
	if !ok {
		ms = readMountinfo(dir + "/mountinfo")
		if len(c.byNS) > 1024 {
			clear(c.byNS)
		}
		c.byNS[ns] = ms
	}
	best := -1
	for i, m := range ms {
		if strings.HasPrefix(exe, m.point) && (m.point == "/" || len(exe) == len(m.point) || exe[len(m.point)] == '/') {
			if best < 0 || len(m.point) > len(ms[best].point) {
				best = i
			}
		}
	}
	if best < 0 || ms[best].upper == "" {
		return false
	}
	rel := strings.TrimPrefix(exe, ms[best].point)
	_, err = os.Lstat(filepath.Join(ms[best].upper, rel))
	return err == nil
}

// readMountinfo returns every mount; overlay mounts carry their upperdir.
func readMountinfo(path string) []mountEntry {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []mountEntry
	for line := range strings.SplitSeq(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		e := mountEntry{point: unescapeMount(f[4])}
		if g[0] == "overlay" {
			for opt := range strings.SplitSeq(g[2], ",") {
				if v, ok := strings.CutPrefix(opt, "upperdir="); ok {
					e.upper = unescapeMount(v)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
