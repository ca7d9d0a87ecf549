package sysevent

import (
	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/state"
)

// Kernel constants the state updates need (the same on amd64 and arm64).
const (
	oCreat     = 0o100
	oWronly    = 0o1
	oRdwr      = 0o2
	oAccmode   = 0o3
	oTrunc     = 0o1000
	oDirectory = 0o200000
	oTmpfile   = 0o20000000 // __O_TMPFILE
	oCloexec   = 0o2000000
	sockClo    = 0o2000000 // SOCK_CLOEXEC
	fDupfd     = 0
	fDupfdClo  = 1030
	fSetfd     = 2
	einprogres = -115

	afNetlink = 16
	sockTypeM = 0xf
	ipprotoIC = 1
	ipprotoI6 = 58
)

// syscall applies a syscall event to the state and fills e.FD and the
// paths, in Falco's order: what the syscall creates is in place before the
// rules see the event; what it removes is removed but still referenced by e.
func (p *Processor) syscall(e *Event, raw *bpf.Event) {
	pr, t := e.Proc, p.table
	ok := raw.Ret >= 0
	dropStale(t, pr, raw)
	// With its open filter on, the kernel sends the path of a file fd
	// with the events that may be the first to tell of it (its open may
	// have been dropped): it fills an fd the table does not hold. An fd it
	// does hold keeps its name, which is the path as opened rather than
	// as the dentries spell it.
	if raw.FdPath != "" && raw.Fd >= 0 && pr.FD(raw.Fd) == nil {
		f := state.NewFileFD(raw.Fd, raw.FdPath, 0, false)
		f.Key = raw.FileKeys[bpf.FileKeyFd]
		t.SetFD(pr, f)
	}
	newKey := raw.FileKeys[bpf.FileKeyRet]
	switch raw.Syscall {
	case bpf.SysOpen, bpf.SysOpenat, bpf.SysOpenat2, bpf.SysCreat:
		dirfd := int64(atFDCWD)
		if raw.Syscall == bpf.SysOpenat || raw.Syscall == bpf.SysOpenat2 {
			dirfd = raw.Dirfd
		}
		flags := raw.Flags
		if raw.Syscall == bpf.SysCreat {
			flags = oCreat | oWronly | oTrunc
		}
		e.RawPath = raw.Path
		e.Path = state.JoinPath(state.Dir(pr, dirfd), raw.Path)
		num := raw.Ret
		if !ok {
			num = -1 // Falco's fd.num for a failed open (open_file_failed tests fd.num=-1)
		}
		f := state.NewFileFD(num, e.Path, flags, flags&oDirectory != 0 && flags&oTmpfile == 0)
		f.Dev, f.Ino, f.Key = encodeDev(raw.Dev), raw.Ino, newKey
		if ok {
			t.SetFD(pr, f)
		}
		e.FD = f // a failed open still names its file (fd.name), as Falco does

	case bpf.SysSocket:
		if ok {
			f := &state.FD{Num: raw.Ret, Type: sockType(raw.Domain), Key: newKey}
			if f.Type == state.FDIPv4 || f.Type == state.FDIPv6 {
				f.L4 = l4(raw.Type, raw.Protocol)
			}
			if raw.Type&sockClo != 0 {
				f.Flags = oCloexec
			}
			t.SetFD(pr, f)
			e.FD = f
		}

	case bpf.SysConnect:
		f := socketFD(pr, raw.Fd, raw.FileKeys[bpf.FileKeyFd], raw.Remote, raw.Addr)
		if ok || raw.Ret == einprogres {
			old := f.Name
			f.Connected = true
			p.setTuple(f, raw.Local, pick(raw.Remote, raw.Addr), false)
			t.SetFD(pr, f)
			e.nameChanged = f.Name != old
		}
		e.FD = f

	case bpf.SysAccept, bpf.SysAccept4:
		if ok {
			f := &state.FD{Num: raw.Ret, Type: familyType(raw.Local.Family, raw.Remote.Family), Connected: true, Key: newKey}
			if lf := pr.FD(raw.Fd); lf != nil {
				f.L4 = lf.L4
				if f.Type == state.FDUnknown {
					f.Type = lf.Type
				}
			} else if f.Type == state.FDIPv4 || f.Type == state.FDIPv6 {
				f.L4 = state.L4TCP // accept: a stream socket
			}
			if raw.Flags&sockClo != 0 {
				f.Flags = oCloexec
			}
			p.setTuple(f, raw.Local, raw.Remote, true)
			t.SetFD(pr, f)
			e.FD = f
		} else {
			e.FD = pr.FD(raw.Fd)
		}

	case bpf.SysBind:
		f := socketFD(pr, raw.Fd, raw.FileKeys[bpf.FileKeyFd], raw.Local, raw.Addr)
		if ok {
			old := f.Name
			f.Server = true
			p.setTuple(f, pick(raw.Local, raw.Addr), bpf.SockAddr{}, true)
			t.SetFD(pr, f)
			e.nameChanged = f.Name != old
		}
		e.FD = f

	case bpf.SysListen:
		if f := pr.FD(raw.Fd); f != nil && ok && !f.Server {
			c := *f
			c.Server = true
			t.SetFD(pr, &c)
			e.FD = &c
		} else {
			e.FD = f
		}

	case bpf.SysSendto, bpf.SysRecvfrom:
		f := pr.FD(raw.Fd)
		if f != nil && ok && !f.Connected && (raw.Remote.Family != 0 || raw.Addr.Family != 0) {
			// an unconnected (UDP) socket: the tuple is this datagram's
			c := *f
			p.setTuple(&c, raw.Local, pick(raw.Remote, raw.Addr), f.Server)
			t.SetFD(pr, &c)
			e.nameChanged = c.Name != f.Name
			f = &c
		}
		e.FD = f

	case bpf.SysDup, bpf.SysDup2, bpf.SysDup3:
		if ok {
			e.FD = t.DupFD(pr, raw.Fd, raw.Ret, raw.Syscall == bpf.SysDup3 && raw.Flags&oCloexec != 0)
		} else {
			e.FD = pr.FD(raw.Fd)
		}

	case bpf.SysFcntl:
		switch {
		case ok && (raw.Request == fDupfd || raw.Request == fDupfdClo):
			e.FD = t.DupFD(pr, raw.Fd, raw.Ret, raw.Request == fDupfdClo)
		case ok && raw.Request == fSetfd && pr.FD(raw.Fd) != nil:
			// FD_CLOEXEC set or cleared: decides what survives an exec
			c := *pr.FD(raw.Fd)
			c.Flags &^= oCloexec
			if raw.Arg&1 != 0 {
				c.Flags |= oCloexec
			}
			t.SetFD(pr, &c)
			e.FD = &c
		default:
			e.FD = pr.FD(raw.Fd)
		}

	case bpf.SysClose:
		if ok {
			e.FD = t.CloseFD(pr, raw.Fd)
		} else {
			e.FD = pr.FD(raw.Fd)
		}

	case bpf.SysChdir, bpf.SysFchdir:
		if raw.Syscall == bpf.SysFchdir {
			e.FD = pr.FD(raw.Fd)
		} else {
			e.RawPath = raw.Path
			e.Path = state.JoinPath(pr.Cwd, raw.Path)
		}
		if ok {
			switch {
			case raw.Cwd != "":
				pr.SetCwd(raw.Cwd)
			case e.Path != "":
				pr.SetCwd(e.Path)
			case e.FD != nil:
				pr.SetCwd(e.FD.Name)
			}
		}

	case bpf.SysMemfdCreate:
		if ok {
			f := &state.FD{Num: raw.Ret, Type: state.FDMemfd, Name: "memfd:" + raw.Name, Key: newKey}
			if raw.Flags&1 != 0 { // MFD_CLOEXEC
				f.Flags = oCloexec
			}
			t.SetFD(pr, f)
			e.FD = f
		}

	case bpf.SysUserfaultfd:
		if ok {
			f := &state.FD{Num: raw.Ret, Type: state.FDUserfault, Name: "userfaultfd", Key: newKey}
			if raw.Flags&oCloexec != 0 {
				f.Flags = oCloexec
			}
			t.SetFD(pr, f)
			e.FD = f
		}

	case bpf.SysBpf:
		if ok && raw.Ret > 0 && bpfCreatesFD(raw.Request) {
			t.SetFD(pr, &state.FD{Num: raw.Ret, Type: state.FDBPF, Name: "bpf", Key: newKey})
		}

	case bpf.SysExecve, bpf.SysExecveat: // failed execs only
		e.RawPath = raw.Path
		e.Path = state.JoinPath(state.Dir(pr, dirfdOr(raw.Dirfd)), raw.Path)

	case bpf.SysFchmod, bpf.SysSetns, bpf.SysFinitModule:
		e.FD = pr.FD(raw.Fd)

	case bpf.SysUnlink, bpf.SysRmdir, bpf.SysMkdir, bpf.SysChmod, bpf.SysUmount2, bpf.SysInitModule:
		if raw.Path != "" && raw.Syscall != bpf.SysInitModule {
			e.RawPath = raw.Path
			e.Path = state.JoinPath(pr.Cwd, raw.Path)
		}

	case bpf.SysUnlinkat, bpf.SysMkdirat, bpf.SysFchmodat:
		e.RawPath = raw.Path
		e.Path = state.JoinPath(state.Dir(pr, raw.Dirfd), raw.Path)

	case bpf.SysMount:
		e.RawPath, e.RawPath2 = raw.Path, raw.Path2
		e.Path = raw.Path // the device or source: not necessarily a path
		e.Path2 = state.JoinPath(pr.Cwd, raw.Path2)

	case bpf.SysRename, bpf.SysLink:
		e.RawPath, e.RawPath2 = raw.Path, raw.Path2
		e.Path = state.JoinPath(pr.Cwd, raw.Path)
		e.Path2 = state.JoinPath(pr.Cwd, raw.Path2)

	case bpf.SysRenameat, bpf.SysRenameat2, bpf.SysLinkat:
		e.RawPath, e.RawPath2 = raw.Path, raw.Path2
		e.Path = state.JoinPath(state.Dir(pr, raw.Dirfd), raw.Path)
		e.Path2 = state.JoinPath(state.Dir(pr, raw.Dirfd2), raw.Path2)

	case bpf.SysSymlink, bpf.SysSymlinkat:
		// The target is stored as given: a relative target is relative to
		// the link's directory, not to the cwd, so it is not resolved.
		e.RawPath, e.RawPath2 = raw.Path, raw.Path2
		e.Path = raw.Path
		dirfd := int64(atFDCWD)
		if raw.Syscall == bpf.SysSymlinkat {
			dirfd = raw.Dirfd2
		}
		e.Path2 = state.JoinPath(state.Dir(pr, dirfd), raw.Path2)
	}
}

// dropStale removes the entries of pr that the event's file keys show
// stale. Without close traced (bpf.Config.StateWithoutClose) an entry
// outlives its fd: when the number is reused by a syscall that is not
// traced (eventfd, pidfd_open, ...), the next event naming it must not see
// the old file. An entry with no key (0: not known) is kept.
func dropStale(t *state.Table, pr *state.Process, raw *bpf.Event) {
	check := func(num int64, key uint64) {
		if f := pr.FD(num); num >= 0 && f != nil && f.Key != 0 && f.Key != key {
			t.CloseFD(pr, num)
		}
	}
	switch raw.Syscall {
	case bpf.SysClose, bpf.SysPipe, bpf.SysPipe2, bpf.SysSocketpair:
		// close: no file is left at Fd to compare; the others make Fd.
	default:
		check(raw.Fd, raw.FileKeys[bpf.FileKeyFd])
	}
	check(raw.Dirfd, raw.FileKeys[bpf.FileKeyDirfd])
	check(raw.Dirfd2, raw.FileKeys[bpf.FileKeyDirfd2])
}

// socketFD returns a copy of fd num of pr to update, or a new socket fd
// of the address's family when the table does not know it.
func socketFD(pr *state.Process, num int64, key uint64, addrs ...bpf.SockAddr) *state.FD {
	if f := pr.FD(num); f != nil {
		c := *f
		return &c
	}
	var fam uint16
	for _, a := range addrs {
		if a.Family != 0 {
			fam = a.Family
			break
		}
	}
	f := &state.FD{Num: num, Type: familyType(fam, 0), Key: key}
	if f.Type == state.FDIPv4 || f.Type == state.FDIPv6 {
		f.L4 = state.L4TCP
	}
	return f
}

func pick(a, b bpf.SockAddr) bpf.SockAddr {
	if a.Family != 0 {
		return a
	}
	return b
}

// setTuple sets an fd's endpoints from socket addresses; for a unix socket
// the name is the path.
func (p *Processor) setTuple(f *state.FD, local, remote bpf.SockAddr, server bool) {
	if f.Type == state.FDUnknown {
		f.Type = familyType(local.Family, remote.Family)
	}
	if f.Type == state.FDUnix {
		path := remote.Path
		if path == "" || server {
			if local.Path != "" {
				path = local.Path
			}
		}
		if path != "" {
			f.UnixPath, f.Name = path, path
		}
		f.Server = server
		return
	}
	f.SetTuple(endpoint(local), endpoint(remote), server)
}

func endpoint(a bpf.SockAddr) state.Endpoint {
	if a.Family != bpf.AFInet && a.Family != bpf.AFInet6 {
		return state.Endpoint{}
	}
	return state.Endpoint{IP: a.IP.Unmap(), Port: a.Port}
}

func familyType(fams ...uint16) state.FDType {
	for _, f := range fams {
		switch f {
		case bpf.AFInet:
			return state.FDIPv4
		case bpf.AFInet6:
			return state.FDIPv6
		case bpf.AFUnix:
			return state.FDUnix
		}
	}
	return state.FDUnknown
}

func sockType(domain uint32) state.FDType {
	if domain == afNetlink {
		return state.FDNetlink
	}
	return familyType(uint16(domain))
}

func l4(typ, proto uint32) state.L4 {
	switch {
	case proto == ipprotoIC || proto == ipprotoI6:
		return state.L4ICMP
	case typ&sockTypeM == 1:
		return state.L4TCP
	case typ&sockTypeM == 2:
		return state.L4UDP
	case typ&sockTypeM == 3:
		return state.L4Raw
	}
	return state.L4Unknown
}

// bpfCreatesFD reports the bpf(2) commands whose result is a new fd.
func bpfCreatesFD(cmd int64) bool {
	switch cmd {
	case 0, 5, 7, 13, 14, 17, 18, 19, 28: // MAP_CREATE, PROG_LOAD, OBJ_GET, *_GET_FD_BY_ID, RAW_TRACEPOINT_OPEN, BTF_LOAD, BTF_GET_FD_BY_ID, LINK_CREATE
		return true
	}
	return false
}
