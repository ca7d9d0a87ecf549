package sysevent

import (
	"strconv"
	"strings"

	"github.com/nightjar-sec/nightjar/bpf"
)

// argKind says where an argument's value comes from and how Falco prints it.
type argKind uint8

const (
	aNone      argKind = iota
	aRes               // the result: a number, or the errno name on failure
	aFd                // raw.Fd
	aFd2               // raw.Fd2
	aDirfd             // raw.Dirfd (AT_FDCWD printed as -100)
	aDirfd2            // raw.Dirfd2
	aPath              // raw.Path as given
	aPath2             // raw.Path2 as given
	aName              // raw.Name
	aOpenFlags         // open flags by name
	aOctMode           // mode in octal (open, mkdir)
	aModeNames         // mode by S_I* names (chmod family)
	aAddr              // raw.Addr, rendered
	aTuple             // the fd's tuple after the call
	aDomain            // socket family name
	aType              // socket type, number
	aProto             // socket protocol, number
	aPtraceReq         // PTRACE_* name
	aTargetPID         // raw.TargetPID
	aSig               // signal name
	aID0               // raw.IDs[0]
	aID1               // raw.IDs[1]
	aID2               // raw.IDs[2]
	aArg               // raw.Arg, number
	aArg2              // raw.Arg2, number
	aFlagsTab          // raw.Flags through the syscall's flag table
	aRawFlags          // raw.Flags, number
	aBpfCmd            // BPF_* name
	aPrctlOpt          // PR_* name
	aFcntlCmd          // F_* name
	aDev               // raw.Dev
	aIno               // raw.Ino
	aExe               // exec: argv[0]
	aArgs              // exec: the arguments, space separated
	aTid               // raw.TID
	aPid               // raw.PID
	aPtid              // raw.PPID
	aCwd               // the process cwd
	aComm              // raw.Comm
	aTTY               // controlling tty
	aPgid              // raw.PGID
	aLoginUID          // raw.LoginUID
	aEUID              // raw.EUID
	aEGID              // raw.EGID
	aExecFlags         // EXE_* flags
	aCapInh            // capability sets as numbers
	aCapPrm
	aCapEff
	aExeIno
	aTrustedExe // raw.Exe
	aChild      // fork: the child's tid
	aStatus     // procexit: the wait status
)

// argSpec is one event's arguments: Falco's names, in Falco's order (the
// exit event's parameters, then the enter event's that the exit lacks).
type argSpec struct {
	names  []string
	kinds  []argKind
	byName map[string]argKind
	table  int // flag table for aFlagsTab
}

func spec(table int, pairs ...any) *argSpec {
	s := &argSpec{byName: map[string]argKind{}, table: table}
	for i := 0; i+1 < len(pairs); i += 2 {
		n, k := pairs[i].(string), pairs[i+1].(argKind)
		s.names = append(s.names, n)
		s.kinds = append(s.kinds, k)
		s.byName[n] = k
	}
	return s
}

var execArgs = []any{"res", aRes, "exe", aExe, "args", aArgs, "tid", aTid, "pid", aPid, "ptid", aPtid,
	"cwd", aCwd, "comm", aComm, "tty", aTTY, "pgid", aPgid, "loginuid", aLoginUID, "flags", aExecFlags,
	"cap_inheritable", aCapInh, "cap_permitted", aCapPrm, "cap_effective", aCapEff, "exe_ino", aExeIno,
	"uid", aEUID, "trusted_exepath", aTrustedExe, "gid", aEGID, "filename", aPath}

var (
	execveSpec   = spec(tabExec, execArgs...)
	execveatSpec = spec(tabExec, append(append([]any{}, execArgs[:len(execArgs)-2]...), "dirfd", aDirfd, "pathname", aPath)...)
	cloneSpec    = spec(tabClone, "res", aChild, "exe", aExe, "args", aArgs, "tid", aTid, "pid", aPid,
		"ptid", aPtid, "cwd", aCwd, "comm", aComm, "flags", aRawFlags, "uid", aEUID, "gid", aEGID)
	procexitSpec = spec(0, "status", aStatus)
)

// syscallSpecs are the argument lists by bpf.Syscall, for KindSyscall
// events (and for failed execs).
var syscallSpecs = func() [256]*argSpec {
	var s [256]*argSpec
	s[bpf.SysOpen] = spec(0, "fd", aRes, "name", aPath, "flags", aOpenFlags, "mode", aOctMode, "dev", aDev, "ino", aIno)
	s[bpf.SysOpenat] = spec(0, "fd", aRes, "dirfd", aDirfd, "name", aPath, "flags", aOpenFlags, "mode", aOctMode, "dev", aDev, "ino", aIno)
	s[bpf.SysOpenat2] = spec(tabResolve, "fd", aRes, "dirfd", aDirfd, "name", aPath, "flags", aOpenFlags, "mode", aOctMode, "resolve", aFlagsTab, "dev", aDev, "ino", aIno)
	s[bpf.SysCreat] = spec(0, "fd", aRes, "name", aPath, "mode", aOctMode, "dev", aDev, "ino", aIno)
	s[bpf.SysExecve] = spec(0, "res", aRes, "filename", aPath)
	s[bpf.SysExecveat] = spec(tabExecat, "res", aRes, "dirfd", aDirfd, "pathname", aPath, "flags", aFlagsTab)
	s[bpf.SysConnect] = spec(0, "res", aRes, "tuple", aTuple, "fd", aFd, "addr", aAddr)
	s[bpf.SysAccept] = spec(0, "fd", aRes, "tuple", aTuple)
	s[bpf.SysAccept4] = spec(tabSock, "fd", aRes, "tuple", aTuple, "flags", aFlagsTab)
	s[bpf.SysBind] = spec(0, "res", aRes, "addr", aAddr, "fd", aFd)
	s[bpf.SysListen] = spec(0, "res", aRes, "fd", aFd, "backlog", aArg)
	s[bpf.SysSocket] = spec(0, "fd", aRes, "domain", aDomain, "type", aType, "proto", aProto)
	s[bpf.SysSendto] = spec(0, "res", aRes, "fd", aFd, "size", aArg, "tuple", aTuple)
	s[bpf.SysRecvfrom] = spec(0, "res", aRes, "tuple", aTuple, "fd", aFd, "size", aArg)
	s[bpf.SysDup] = spec(0, "res", aRes, "oldfd", aFd)
	s[bpf.SysDup2] = spec(0, "res", aRes, "oldfd", aFd, "newfd", aFd2)
	s[bpf.SysDup3] = spec(tabDup3, "res", aRes, "oldfd", aFd, "newfd", aFd2, "flags", aFlagsTab)
	s[bpf.SysFcntl] = spec(0, "res", aRes, "fd", aFd, "cmd", aFcntlCmd)
	s[bpf.SysClose] = spec(0, "res", aRes, "fd", aFd)
	s[bpf.SysPtrace] = spec(0, "res", aRes, "addr", aArg, "data", aArg2, "request", aPtraceReq, "pid", aTargetPID)
	s[bpf.SysMemfdCreate] = spec(tabMemfd, "fd", aRes, "name", aName, "flags", aFlagsTab)
	s[bpf.SysSetuid] = spec(0, "res", aRes, "uid", aID0)
	s[bpf.SysSetgid] = spec(0, "res", aRes, "gid", aID0)
	s[bpf.SysSetresuid] = spec(0, "res", aRes, "ruid", aID0, "euid", aID1, "suid", aID2)
	s[bpf.SysSetresgid] = spec(0, "res", aRes, "rgid", aID0, "egid", aID1, "sgid", aID2)
	s[bpf.SysInitModule] = spec(0, "res", aRes, "length", aArg, "uargs", aPath)
	s[bpf.SysFinitModule] = spec(tabFinit, "res", aRes, "fd", aFd, "uargs", aPath, "flags", aFlagsTab)
	s[bpf.SysDeleteModule] = spec(tabDelete, "res", aRes, "name", aName, "flags", aFlagsTab)
	s[bpf.SysUnlink] = spec(0, "res", aRes, "path", aPath)
	s[bpf.SysUnlinkat] = spec(tabUnlink, "res", aRes, "dirfd", aDirfd, "name", aPath, "flags", aFlagsTab)
	s[bpf.SysRename] = spec(0, "res", aRes, "oldpath", aPath, "newpath", aPath2)
	s[bpf.SysRenameat] = spec(0, "res", aRes, "olddirfd", aDirfd, "oldpath", aPath, "newdirfd", aDirfd2, "newpath", aPath2)
	s[bpf.SysRenameat2] = spec(tabRename, "res", aRes, "olddirfd", aDirfd, "oldpath", aPath, "newdirfd", aDirfd2, "newpath", aPath2, "flags", aFlagsTab)
	s[bpf.SysSymlink] = spec(0, "res", aRes, "target", aPath, "linkpath", aPath2)
	s[bpf.SysSymlinkat] = spec(0, "res", aRes, "target", aPath, "linkdirfd", aDirfd2, "linkpath", aPath2)
	s[bpf.SysLink] = spec(0, "res", aRes, "oldpath", aPath, "newpath", aPath2)
	s[bpf.SysLinkat] = spec(tabLink, "res", aRes, "olddir", aDirfd, "oldpath", aPath, "newdir", aDirfd2, "newpath", aPath2, "flags", aFlagsTab)
	s[bpf.SysMkdir] = spec(0, "res", aRes, "path", aPath, "mode", aOctMode)
	s[bpf.SysMkdirat] = spec(0, "res", aRes, "dirfd", aDirfd, "path", aPath, "mode", aOctMode)
	s[bpf.SysRmdir] = spec(0, "res", aRes, "path", aPath)
	s[bpf.SysChmod] = spec(0, "res", aRes, "filename", aPath, "mode", aModeNames)
	s[bpf.SysFchmod] = spec(0, "res", aRes, "fd", aFd, "mode", aModeNames)
	s[bpf.SysFchmodat] = spec(0, "res", aRes, "dirfd", aDirfd, "filename", aPath, "mode", aModeNames)
	s[bpf.SysMount] = spec(tabMount, "res", aRes, "dev", aPath, "dir", aPath2, "type", aName, "flags", aFlagsTab)
	s[bpf.SysUmount2] = spec(tabUmount, "res", aRes, "name", aPath, "flags", aFlagsTab)
	s[bpf.SysBpf] = spec(0, "res_or_fd", aRes, "cmd", aBpfCmd)
	s[bpf.SysBpf].byName["fd"] = aRes
	s[bpf.SysSetns] = spec(tabClone, "res", aRes, "fd", aFd, "nstype", aFlagsTab)
	s[bpf.SysUnshare] = spec(tabClone, "res", aRes, "flags", aFlagsTab)
	s[bpf.SysUserfaultfd] = spec(tabUfd, "res", aRes, "flags", aFlagsTab)
	s[bpf.SysKill] = spec(0, "res", aRes, "pid", aTargetPID, "sig", aSig)
	s[bpf.SysPrctl] = spec(0, "res", aRes, "option", aPrctlOpt, "arg2_str", aName, "arg2_int", aArg)
	s[bpf.SysChdir] = spec(0, "res", aRes, "path", aPath)
	s[bpf.SysFchdir] = spec(0, "res", aRes, "fd", aFd)
	for _, c := range []bpf.Syscall{bpf.SysClone, bpf.SysClone3, bpf.SysFork, bpf.SysVfork} {
		s[c] = spec(tabClone, "res", aRes, "flags", aFlagsTab)
	}
	return s
}()

// spec returns the event's argument list (nil if none is known).
func (e *Event) spec() *argSpec {
	switch e.kind {
	case kindExecve:
		if e.Raw.Syscall == bpf.SysExecveat {
			return execveatSpec
		}
		return execveSpec
	case kindClone:
		return cloneSpec
	case kindProcexit:
		return procexitSpec
	}
	return syscallSpecs[int(e.Raw.Syscall)&0xff]
}

// argKindOf resolves evt.arg's argument: a name (evt.arg.flags) or an
// index (evt.arg[0]).
func (e *Event) argKindOf(a *argRef) (argKind, int) {
	s := e.spec()
	if s == nil {
		return aNone, 0
	}
	if a.key != "" {
		return s.byName[a.key], s.table
	}
	if a.index >= 0 && a.index < len(s.kinds) {
		return s.kinds[a.index], s.table
	}
	return aNone, 0
}

type argRef struct {
	key   string
	index int
}

// argString renders one argument as Falco's evt.arg does (names for flags
// and enumerations, errno names for failures). Numbers allocate only past
// 99 (strconv's small-number cache).
func (e *Event) argString(k argKind, table int) (string, bool) {
	r, p := e.Raw, e.Proc
	switch k {
	case aRes:
		if r.Ret < 0 {
			return errnoName(r.Ret), true
		}
		return strconv.FormatInt(r.Ret, 10), true
	case aPath:
		return r.Path, true
	case aPath2:
		return r.Path2, true
	case aName:
		return r.Name, true
	case aOpenFlags:
		return formatOpenFlags(r.Flags), true
	case aOctMode:
		return octal(uint64(r.Mode)), true
	case aModeNames:
		return formatFlags(tabMode, uint64(r.Mode)), true
	case aFlagsTab:
		if table == 0 {
			return strconv.FormatUint(r.Flags, 10), true
		}
		return formatFlags(table, r.Flags), true
	case aExecFlags:
		var v uint64
		if p.ExeUpperLayer {
			v |= 2
		}
		if p.ExeFromMemfd {
			v |= 4
		}
		return formatFlags(tabExec, v), true
	case aAddr:
		return addrString(r.Addr), r.Addr.Family != 0
	case aTuple:
		if e.FD != nil && e.FD.Name != "" {
			return e.FD.Name, true
		}
		return "", false
	case aDomain:
		return enumName(socketFamilies, int64(r.Domain)), true
	case aPtraceReq:
		return enumName(ptraceRequests, r.Request), true
	case aSig:
		return signalName(r.Signal), true
	case aBpfCmd:
		return enumName(bpfCommands, r.Request), true
	case aPrctlOpt:
		return enumName(prctlOptions, r.Request), true
	case aFcntlCmd:
		return enumName(fcntlCommands, r.Request), true
	case aExe:
		return p.Exe, true
	case aArgs:
		return p.ArgsLine, true
	case aCwd:
		return p.Cwd, true
	case aComm:
		return r.Comm, true
	case aTrustedExe:
		return p.ExePath, true
	case aID0, aID1, aID2:
		// Falco prints a uid or gid argument by name when it resolves.
		id := r.IDs[int(k-aID0)]
		switch r.Syscall {
		case bpf.SysSetuid, bpf.SysSetresuid:
			if u, ok := e.p.table.Users().User(id); ok {
				return u.Name, true
			}
		case bpf.SysSetgid, bpf.SysSetresgid:
			if g, ok := e.p.table.Users().Group(id); ok {
				return g, true
			}
		}
	case aNone:
		return "", false
	}
	v, ok := e.argInt(k)
	if !ok {
		return "", false
	}
	return strconv.FormatInt(v, 10), true
}

// argInt is an argument's raw number (evt.rawarg).
func (e *Event) argInt(k argKind) (int64, bool) {
	r, p := e.Raw, e.Proc
	switch k {
	case aRes:
		return r.Ret, true
	case aFd:
		return r.Fd, true
	case aFd2:
		return r.Fd2, true
	case aDirfd:
		return r.Dirfd, true
	case aDirfd2:
		return r.Dirfd2, true
	case aOpenFlags, aFlagsTab, aRawFlags:
		return int64(r.Flags), true
	case aOctMode, aModeNames:
		return int64(r.Mode), true
	case aDomain:
		return int64(r.Domain), true
	case aType:
		return int64(r.Type), true
	case aProto:
		return int64(r.Protocol), true
	case aPtraceReq, aBpfCmd, aPrctlOpt, aFcntlCmd:
		return r.Request, true
	case aTargetPID:
		return int64(r.TargetPID), true
	case aSig:
		return int64(r.Signal), true
	case aID0:
		return int64(r.IDs[0]), true
	case aID1:
		return int64(r.IDs[1]), true
	case aID2:
		return int64(r.IDs[2]), true
	case aArg:
		return int64(r.Arg), true
	case aArg2:
		return int64(r.Arg2), true
	case aDev:
		return int64(r.Dev), true
	case aIno:
		return int64(r.Ino), true
	case aTid:
		return int64(r.TID), true
	case aPid:
		return int64(r.PID), true
	case aPtid:
		return int64(p.PPID), true
	case aTTY:
		return int64(p.TTY), true
	case aPgid:
		return int64(p.PGID), true
	case aLoginUID:
		return int64(int32(r.LoginUID)), true
	case aEUID:
		return int64(r.EUID), true
	case aEGID:
		return int64(r.EGID), true
	case aCapInh:
		return int64(p.CapInheritable), true
	case aCapPrm:
		return int64(p.CapPermitted), true
	case aCapEff:
		return int64(p.CapEffective), true
	case aExeIno:
		return int64(p.ExeIno), true
	case aChild:
		return int64(r.ChildTID), true
	case aStatus:
		return int64(r.ExitCode), true
	}
	return 0, false
}

// resolved are the kinds Falco prints in evt.args as the raw number with
// its resolved form in parentheses: "flags=4289(O_TRUNC|O_CREAT|O_WRONLY)".
func resolved(k argKind, ret int64) bool {
	switch k {
	case aOpenFlags, aFlagsTab, aModeNames, aDomain, aPtraceReq, aSig, aBpfCmd, aPrctlOpt,
		aFcntlCmd, aExecFlags, aID0, aID1, aID2:
		return true
	case aRes:
		return ret < 0
	}
	return false
}

// args renders every argument as Falco's evt.args does: "name=value "
// for each, the resolved form in parentheses after the number where there
// is one. It allocates: it is for output, not conditions.
func (e *Event) args() string {
	s := e.spec()
	if s == nil {
		return ""
	}
	var b strings.Builder
	for i, n := range s.names {
		k := s.kinds[i]
		v, ok := e.argString(k, s.table)
		if !ok {
			continue
		}
		b.WriteString(n)
		b.WriteByte('=')
		if raw, rok := e.argInt(k); rok && resolved(k, e.Raw.Ret) && v != strconv.FormatInt(raw, 10) {
			b.WriteString(strconv.FormatInt(raw, 10))
			b.WriteByte('(')
			b.WriteString(v)
			b.WriteByte(')')
		} else {
			b.WriteString(v)
		}
		b.WriteByte(' ')
	}
	return b.String()
}

func octal(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0" + strconv.FormatUint(v, 8)
}

func addrString(a bpf.SockAddr) string {
	switch a.Family {
	case bpf.AFInet, bpf.AFInet6:
		return a.IP.Unmap().String() + ":" + strconv.Itoa(int(a.Port))
	case bpf.AFUnix:
		return a.Path
	}
	return ""
}
