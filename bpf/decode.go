package bpf

import (
	"bytes"
	"fmt"
	"net/netip"
	"unsafe"
)

// The record's fixed part: everything before the data area, which the
// kernel sends only as far as data_len.
var hdrSize = int(unsafe.Offsetof(captureRecord{}.Data))

// A short record (kindShort) is the header cut after arg: the kernel sends
// it for syscalls whose event needs no more (close, dup*, fcntl, pipe*).
// It decodes as a KindSyscall event whose later fields are zero.
var shortSize = int(unsafe.Offsetof(captureRecord{}.Arg2))

// kindShort is KIND_SHORT in capture.h; it never reaches Event.Kind.
const kindShort = uint16(KindExit) + 1

// String slots: enum slot in capture.h.
const (
	slotPath = iota
	slotPath2
	slotName
	slotArgs
	slotExe
	slotCwd
	slotCgroup
	slotAddrPath
	slotLocalPath
	slotRemotePath
	slotEnv
	slotFdPath
	slotMax
)

// decode fills ev from one ring-buffer record: the fixed header is copied
// over the generated twin of struct record (same layout, from BTF), then
// strings are cut from the data area. No reflection.
func (c *Capture) decode(raw []byte, ev *Event) error {
	data, err := decodeHeader(&c.hdr, raw)
	if err != nil {
		return err
	}
	return fillEvent(&c.hdr, data, c.bootToEpoch, ev, &c.comm)
}

// decodeHeader copies raw's header over h and returns the data area.
func decodeHeader(h *captureRecord, raw []byte) ([]byte, error) {
	hb := unsafe.Slice((*byte)(unsafe.Pointer(h)), hdrSize)
	if len(raw) >= shortSize && len(raw) < hdrSize {
		copy(hb, raw[:shortSize])
		if h.Kind != kindShort {
			return nil, fmt.Errorf("record of %d bytes is shorter than its %d-byte header", len(raw), hdrSize)
		}
		clear(hb[shortSize:])
		h.Kind = uint16(KindSyscall)
		return nil, nil
	}
	if len(raw) < hdrSize {
		return nil, fmt.Errorf("record of %d bytes is shorter than its %d-byte header", len(raw), hdrSize)
	}
	copy(hb, raw[:hdrSize])
	return raw[hdrSize:], nil
}

// fillEvent fills ev from a decoded header and the record's data area.
// comm caches the last command name: consecutive events mostly come from
// the same process, and reusing the string saves an allocation each.
func fillEvent(h *captureRecord, data []byte, bootToEpoch int64, ev *Event, comm *string) error {
	if int(h.DataLen) > len(data) {
		return fmt.Errorf("record data_len %d exceeds the %d bytes received", h.DataLen, len(data))
	}
	data = data[:h.DataLen]
	if h.Kind < uint16(KindSyscall) || h.Kind > uint16(KindExit) || h.Sys >= uint16(sysCount) {
		return fmt.Errorf("record of unknown kind %d or syscall %d", h.Kind, h.Sys)
	}
	var strs [slotMax][]byte
	for i := range slotMax {
		off, n := int(h.StrOff[i]), int(h.StrLen[i])
		if n == 0 {
			continue
		}
		if off+n > len(data) {
			return fmt.Errorf("record string %d at %d+%d is outside the %d data bytes", i, off, n, len(data))
		}
		strs[i] = data[off : off+n]
	}

	args, env := ev.Args[:0], ev.Env[:0]
	*ev = Event{
		Kind:     Kind(h.Kind),
		Syscall:  Syscall(h.Sys),
		BootTime: h.BootNs,
		Time:     uint64(int64(h.BootNs) + bootToEpoch),
		PID:      h.Pid, TID: h.Tid, PPID: h.Ppid, VPID: h.Vpid, VTID: h.Vtid,
		UID: h.Uid, GID: h.Gid, EUID: h.Euid, EGID: h.Egid, LoginUID: h.Loginuid,
		Comm:           cString(h.Comm[:], comm),
		Ret:            h.Ret,
		Fd:             h.Fd,
		Fd2:            h.Fd2,
		Dirfd:          h.Dirfd,
		Dirfd2:         h.Dirfd2,
		Flags:          h.Flags,
		Mode:           h.Mode,
		Path:           string(strs[slotPath]),
		Path2:          string(strs[slotPath2]),
		Name:           string(strs[slotName]),
		Addr:           sockAddr(&h.Addr, strs[slotAddrPath]),
		Local:          sockAddr(&h.Local, strs[slotLocalPath]),
		Remote:         sockAddr(&h.Remote, strs[slotRemotePath]),
		Domain:         h.Domain,
		Type:           h.Type,
		Protocol:       h.Protocol,
		Request:        h.Request,
		TargetPID:      h.TargetPid,
		Signal:         h.Signal,
		IDs:            h.Ids,
		Arg:            h.Arg,
		Arg2:           h.Arg2,
		Dev:            h.Dev,
		Ino:            h.Ino,
		Truncated:      h.Truncated > 0,
		TruncatedCount: h.Truncated,
		Exe:            joinComponents(strs[slotExe]),
		Cwd:            joinComponents(strs[slotCwd]),
		Cgroup:         joinComponents(strs[slotCgroup]),
		FdPath:         joinComponents(strs[slotFdPath]),
		FileKeys:       h.Fkeys,
		TTY:            h.Tty,
		SID:            h.Sid,
		PGID:           h.Pgid,
		CapInheritable: h.CapInh,
		CapPermitted:   h.CapPrm,
		CapEffective:   h.CapEff,
		ExeFromMemfd:   h.ExeMemfd != 0,
		ExeUpperLayer:  h.ExeUpper != 0,
		ExeIno:         h.ExeIno,
		ChildPID:       h.ChildPid,
		ChildTID:       h.ChildTid,
		ExitCode:       h.ExitCode,
		GroupDead:      h.GroupDead != 0,
	}
	if h.StartBootNs != 0 {
		ev.StartTime = uint64(int64(h.StartBootNs) + bootToEpoch)
	}
	ev.Args = splitArgs(args, strs[slotArgs])
	ev.Env = splitArgs(env, strs[slotEnv])
	// A walk that reached the root at once has no components: "/".
	if ev.Kind == KindExec || (ev.Syscall == SysChdir || ev.Syscall == SysFchdir) && ev.Ret == 0 {
		if ev.Cwd == "" {
			ev.Cwd = "/"
		}
	}
	if ev.Kind == KindExec && ev.Cgroup == "" {
		ev.Cgroup = "/"
	}
	return nil
}

// cString returns the NUL-terminated string in b, reusing *last when it
// is the same.
func cString(b []int8, last *string) string {
	bs := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	if i := bytes.IndexByte(bs, 0); i >= 0 {
		bs = bs[:i]
	}
	if string(bs) != *last {
		*last = string(bs)
	}
	return *last
}

// splitArgs splits NUL-separated argv; a last argument cut by truncation
// has no NUL and is kept as it is.
func splitArgs(dst []string, b []byte) []string {
	start := 0
	for i, c := range b {
		if c == 0 {
			dst = append(dst, string(b[start:i]))
			start = i + 1
		}
	}
	if start < len(b) {
		dst = append(dst, string(b[start:]))
	}
	return dst
}

// joinComponents turns "leaf\0parent\0...\0" into "/.../parent/leaf";
// no components means the root, "/"; nothing at all means unknown, "".
func joinComponents(b []byte) string {
	if b == nil {
		return ""
	}
	n := 0
	for _, c := range b {
		if c == 0 {
			n++
		}
	}
	if len(b) == 0 || n == 0 {
		return "/"
	}
	out := make([]byte, 0, len(b)+1)
	end := len(b) - 1 // at the NUL ending the last (root-most) component
	for end >= 0 {
		start := end - 1
		for start >= 0 && b[start] != 0 {
			start--
		}
		out = append(out, '/')
		out = append(out, b[start+1:end]...)
		end = start
	}
	return string(out)
}

func sockAddr(r *captureSockaddrRec, path []byte) SockAddr {
	a := SockAddr{Family: r.Family}
	switch r.Family {
	case AFInet:
		a.IP = netip.AddrFrom4([4]byte(r.Addr[:4]))
		a.Port = r.Port
	case AFInet6:
		a.IP = netip.AddrFrom16(r.Addr)
		a.Port = r.Port
	case AFUnix:
		if len(path) > 0 && path[0] == 0 { // abstract namespace, shown as Falco does
			a.Path = "@" + string(trimNUL(path[1:]))
		} else {
			a.Path = string(trimNUL(path))
		}
	}
	return a
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
