package state

import (
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// FDType is the kind of object an fd refers to, with Falco's names.
type FDType uint8

const (
	FDUnknown FDType = iota
	FDFile
	FDDirectory
	FDIPv4
	FDIPv6
	FDUnix
	FDPipe
	FDEvent
	FDSignal
	FDEventPoll
	FDInotify
	FDTimer
	FDNetlink
	FDBPF
	FDUserfault
	FDIOUring
	FDMemfd
)

var fdTypeNames = [...]string{
	FDUnknown: "unknown", FDFile: "file", FDDirectory: "directory", FDIPv4: "ipv4", FDIPv6: "ipv6",
	FDUnix: "unix", FDPipe: "pipe", FDEvent: "event", FDSignal: "signalfd", FDEventPoll: "eventpoll",
	FDInotify: "inotify", FDTimer: "timerfd", FDNetlink: "netlink", FDBPF: "bpf",
	FDUserfault: "userfaultfd", FDIOUring: "io_uring", FDMemfd: "memfd",
}

// Falco's one-character codes (fd.typechar); userfaultfd shares 'u' with
// unix sockets there too.
var fdTypeChars = [...]byte{
	FDUnknown: 'o', FDFile: 'f', FDDirectory: 'd', FDIPv4: '4', FDIPv6: '6', FDUnix: 'u',
	FDPipe: 'p', FDEvent: 'e', FDSignal: 's', FDEventPoll: 'l', FDInotify: 'i', FDTimer: 't',
	FDNetlink: 'n', FDBPF: 'b', FDUserfault: 'u', FDIOUring: 'r', FDMemfd: 'm',
}

// fdTypeCharStrings holds each typechar as a string so extraction does not
// allocate.
var fdTypeCharStrings = func() [len(fdTypeChars)]string {
	var out [len(fdTypeChars)]string
	for i, c := range fdTypeChars {
		out[i] = string(c)
	}
	return out
}()

func (t FDType) String() string {
	if int(t) < len(fdTypeNames) {
		return fdTypeNames[t]
	}
	return "unknown"
}

// Char is Falco's fd.typechar as a one-byte string.
func (t FDType) Char() string {
	if int(t) < len(fdTypeCharStrings) {
		return fdTypeCharStrings[t]
	}
	return "o"
}

// IsSocket reports an IP or unix socket.
func (t FDType) IsSocket() bool { return t == FDIPv4 || t == FDIPv6 || t == FDUnix || t == FDNetlink }

// L4 protocols of IP sockets (fd.l4proto).
type L4 uint8

const (
	L4Unknown L4 = iota
	L4TCP
	L4UDP
	L4ICMP
	L4Raw
)

var l4Names = [...]string{L4Unknown: "unknown", L4TCP: "tcp", L4UDP: "udp", L4ICMP: "icmp", L4Raw: "raw"}

func (p L4) String() string {
	if int(p) < len(l4Names) {
		return l4Names[p]
	}
	return "unknown"
}

// Endpoint is one side of a socket.
type Endpoint struct {
	IP   netip.Addr `json:"ip,omitzero"`
	Port uint16     `json:"port,omitempty"`
}

// FD is one open file descriptor. Its strings are computed when the fd is
// created or changes, so reading them per event costs nothing. An FD is
// immutable once in a table (updates replace it), so an Event may keep a
// pointer to it after a close.
type FD struct {
	Num   int64  `json:"num"`
	Type  FDType `json:"type"`
	Flags uint64 `json:"flags,omitempty"` // open flags (O_* as the kernel numbers them)
	Name  string `json:"name"`            // absolute path, or the socket tuple, or anon name
	// Directory and Filename split Name for files (fd.directory, fd.filename).
	Directory string `json:"dir,omitempty"`
	Filename  string `json:"file,omitempty"`

	Dev uint32 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
	// Key identifies the file (bpf.FileKey: inode and device); 0 when not
	// known. An event whose kernel-side key for this fd number differs
	// shows the entry stale (see sysevent).
	Key uint64 `json:"key,omitempty"`

	// Sockets. Local/Remote are from the process's side; Server says
	// the local side is the server (accepted or listening), which places
	// client and server for fd.cip/fd.sip.
	L4        L4       `json:"l4,omitempty"`
	Local     Endpoint `json:"local,omitzero"`
	Remote    Endpoint `json:"remote,omitzero"`
	Server    bool     `json:"server,omitempty"`
	Connected bool     `json:"connected,omitempty"`
	UnixPath  string   `json:"unix_path,omitempty"`
}

// Client and ServerEnd return the client and server endpoints.
func (f *FD) Client() Endpoint {
	if f.Server {
		return f.Remote
	}
	return f.Local
}

func (f *FD) ServerEnd() Endpoint {
	if f.Server {
		return f.Local
	}
	return f.Remote
}

// NewFileFD returns an fd for an absolute path: a directory if isDir.
func NewFileFD(num int64, name string, flags uint64, isDir bool) *FD {
	f := &FD{Num: num, Type: FDFile, Flags: flags, Name: name}
	if isDir {
		f.Type = FDDirectory
	}
	f.setPathParts()
	return f
}

func (f *FD) setPathParts() {
	switch f.Type {
	case FDDirectory:
		f.Directory = f.Name
	case FDFile, FDMemfd:
		if strings.HasPrefix(f.Name, "/") {
			f.Directory, f.Filename = path.Split(f.Name)
			if len(f.Directory) > 1 {
				f.Directory = f.Directory[:len(f.Directory)-1]
			}
		}
	}
}

// SetTuple fills the socket endpoints and recomputes Name as Falco prints
// an IP socket: "clientip:port->serverip:port".
func (f *FD) SetTuple(local, remote Endpoint, server bool) {
	f.Local, f.Remote, f.Server = local, remote, server
	if f.Type != FDIPv4 && f.Type != FDIPv6 {
		return
	}
	c, s := f.Client(), f.ServerEnd()
	if !s.IP.IsValid() && !c.IP.IsValid() {
		f.Name = ""
		return
	}
	if f.Server && !f.Remote.IP.IsValid() { // listening: only the local address
		f.Name = endpointString(f.Local)
		return
	}
	f.Name = endpointString(c) + "->" + endpointString(s)
}

func endpointString(e Endpoint) string {
	ip := "0.0.0.0"
	if e.IP.IsValid() {
		ip = e.IP.Unmap().String()
	}
	return ip + ":" + strconv.Itoa(int(e.Port))
}

// JoinPath resolves p against base (a directory) the way Falco does:
// absolute paths are kept, relative ones joined, both cleaned lexically.
func JoinPath(base, p string) string {
	if p == "" {
		return base
	}
	if p[0] == '/' {
		return path.Clean(p)
	}
	if base == "" {
		return p // unknown base: keep what the process gave
	}
	return path.Clean(base + "/" + p)
}
