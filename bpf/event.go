// Package bpf is the kernel side of the detector: eBPF programs on the sched
// and syscall tracepoints, the loader that attaches only the tracepoints a
// configuration needs, and the decoder from ring-buffer records to Event.
package bpf

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// Kind says which hook produced an event.
type Kind uint8

const (
	// KindSyscall is one completed syscall: its arguments and its result
	// (Ret), captured at exit (see Config.EnterPrograms).
	KindSyscall Kind = iota + 1
	// KindExec is a successful exec (sched_process_exec), in the context
	// of the process after the exec: Path is the filename given to exec,
	// Args argv, Exe the executable's path rebuilt from its dentries, Cwd
	// the working directory. Syscall is SysExecve or SysExecveat (Falco's
	// evt.type for it; SysExecveat is reliable only when execveat is
	// attached) and Ret is 0. A failed execve/execveat arrives as a
	// KindSyscall event instead; a successful one never does, so an exec is
	// reported once.
	KindExec
	// KindFork is a new task (sched_process_fork) reported in the context
	// of the parent: ChildPID/ChildTID name the child; ChildPID == PID means
	// a new thread in the same process. Syscall is SysClone, SysClone3,
	// SysFork or SysVfork, from the syscall number the parent entered with
	// (SysUnknown for kernel threads). When that syscall is attached too, its
	// own KindSyscall event follows (from the parent, Ret = the child's tid).
	KindFork
	// KindExit is a task that exits (sched_process_exit): ExitCode is the
	// raw wait status, GroupDead is true when the last thread of the
	// process exits (free the process then).
	KindExit
)

var kindNames = [...]string{KindSyscall: "syscall", KindExec: "exec", KindFork: "fork", KindExit: "exit"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Address families as the kernel numbers them.
const (
	AFUnix  = 1
	AFInet  = 2
	AFInet6 = 10
)

// SockAddr is a socket address: IP and Port for AF_INET/AF_INET6, Path for
// AF_UNIX (an abstract socket's name starts with "@"). Family 0 means none.
type SockAddr struct {
	Family uint16     `json:"family,omitempty"`
	IP     netip.Addr `json:"ip,omitzero"`
	Port   uint16     `json:"port,omitempty"`
	Path   string     `json:"path,omitempty"`
}

// Event is one decoded record. Decode into a caller-owned Event that is
// reused: every field is overwritten, and Args and Env keep their capacity
// (copy them to keep them past the next Read).
//
// Which argument slots a syscall fills (Falco's parameter names in
// brackets; Ret is always the syscall's return value, -errno on failure;
// -512 to -516 (ERESTART*) means a signal interrupted the call and the
// kernel restarts it: another event with the final result follows):
//
//	open/creat          Path [name], Flags, Mode; Dev, Ino of the opened file
//	openat/openat2      Dirfd, Path, Flags, Mode (openat2: Arg=resolve); Dev, Ino
//	execve/execveat     (failures only) Path [filename]; execveat Dirfd, Flags
//	connect             Fd, Addr [sockaddr given], Local/Remote [tuple]
//	accept/accept4      Fd (listening), Local/Remote of the new socket (Ret); accept4 Flags
//	bind                Fd, Addr, Local
//	listen              Fd, Arg [backlog], Local
//	socket              Domain, Type, Protocol
//	sendto/recvfrom     Fd, Arg [size], Addr (sendto: dest, recvfrom: source), Local/Remote
//	dup                 Fd [oldfd]
//	dup2/dup3           Fd [oldfd], Fd2 [newfd], dup3 Flags
//	fcntl               Fd, Request [cmd], Arg (only F_DUPFD and F_DUPFD_CLOEXEC are sent)
//	close               Fd
//	ptrace              Request, TargetPID [pid], Arg [addr], Arg2 [data]
//	memfd_create        Name, Flags
//	setuid/setgid       IDs[0]
//	setresuid/setresgid IDs = {r, e, s}
//	init_module         Arg [len], Path [uargs]
//	finit_module        Fd, Path [uargs], Flags, Name [leaf name of the fd's file]
//	delete_module       Name, Flags
//	unlink/rmdir        Path;  unlinkat Dirfd, Path, Flags
//	rename/link         Path [oldpath], Path2 [newpath]
//	renameat(2)/linkat  Dirfd, Path, Dirfd2, Path2, Flags
//	symlink             Path [target], Path2 [linkpath]; symlinkat Dirfd2 [linkdirfd]
//	mkdir               Path, Mode;  mkdirat Dirfd, Path, Mode
//	chmod               Path, Mode;  fchmod Fd, Mode;  fchmodat Dirfd, Path, Mode
//	mount               Path [dev], Path2 [dir], Name [type], Flags
//	umount2             Path [name], Flags
//	bpf                 Request [cmd]
//	setns               Fd, Flags [nstype]
//	unshare/userfaultfd Flags
//	kill                TargetPID [pid], Signal
//	prctl               Request [option], Arg [arg2], Name (PR_SET_NAME's string)
//	chdir/fchdir        Path (chdir) or Fd (fchdir); Cwd: the new working directory
//	clone/clone3/fork/vfork  Flags (clone)
//	pipe/pipe2          Fd, Fd2 [the new fds, on success]; pipe2 Flags
//	socketpair          Domain, Type, Protocol, Fd, Fd2 [the new fds]
//	sendmsg/recvmsg     Fd, Flags, Addr [msg_name], Local/Remote
//	chroot              Path
type Event struct {
	Kind    Kind    `json:"kind"`
	Syscall Syscall `json:"syscall,omitempty"`

	// Time is wall-clock nanoseconds since the epoch (Falco's evt.time),
	// converted from BootTime with the offset measured when the capture was
	// loaded. BootTime is the kernel's CLOCK_BOOTTIME in ns (it counts
	// suspend, so it is monotonic and never jumps with settimeofday).
	Time     uint64 `json:"time"`
	BootTime uint64 `json:"boot_time"`

	// PID is the thread group id (Falco's proc.pid), TID the thread id
	// (thread.tid), PPID the parent's thread group id. VPID/VTID are the
	// same seen from the task's own pid namespace (proc.vpid in a container).
	PID, TID, PPID uint32
	VPID, VTID     uint32
	// Credentials of the task when the event happened (after an exec: the
	// new credentials). LoginUID is 4294967295 when unset.
	UID, GID, EUID, EGID uint32
	LoginUID             uint32
	Comm                 string

	Ret int64 `json:"ret"`

	// Syscall arguments: see the table above. Unused slots are zero
	// (Fd/Fd2/Dirfd/Dirfd2 are -1 when unused, as 0 is a valid fd).
	Fd, Fd2        int64
	Dirfd, Dirfd2  int64
	Flags          uint64
	Mode           uint32
	Path, Path2    string
	Name           string
	Addr           SockAddr
	Local, Remote  SockAddr
	Domain, Type   uint32
	Protocol       uint32
	Request        int64
	TargetPID      int32
	Signal         int32
	IDs            [3]uint32
	Arg, Arg2      uint64
	Dev            uint32 // st_dev of an opened file, kernel encoding (major<<20|minor)
	Ino            uint64
	Truncated      bool // a string (path, argv, ...) was longer than its buffer and was cut
	TruncatedCount uint8
	// FdPath is the path of Fd rebuilt from its dentries, sent with dup*,
	// fcntl F_DUPFD, fchmod and setns of a file or directory fd when
	// Config.OpenFilter is set: the open that made Fd may have been
	// filtered out in the kernel, and user space learns the fd from it.
	FdPath string
	// FileKeys identify the files at Fd, Fd2, Dirfd, Dirfd2 and at the new
	// fd Ret (for syscalls that make one) when the syscall returned: the
	// inode number and device folded by FileKey; 0 where there is no file
	// (and for the Fd of close). An fd table checks its entries with them:
	// when close is not traced (Config.StateWithoutClose), an entry whose
	// key differs from the kernel's names a file closed since.
	FileKeys [FileKeyMax]uint64

	// Exec and process state: filled for KindExec; Cwd also for chdir/fchdir.
	Args           []string
	Env            []string // NAME=value, as the new image got them (up to 4 KiB, then Truncated); only with Config.Env
	Exe            string   // the executable's path, rebuilt from its dentries (no mount namespaces resolved beyond the task's root)
	Cwd            string
	Cgroup         string // the task's cgroup v2 path, e.g. /system.slice/docker-<id>.scope
	TTY            uint32 // controlling tty as a device number (major<<20|minor), 0 if none
	SID, PGID      uint32
	CapInheritable uint64
	CapPermitted   uint64
	CapEffective   uint64
	ExeFromMemfd   bool   // the executable is a memfd (its dentry name starts "memfd:")
	ExeUpperLayer  bool   // the executable is on an overlayfs upper layer
	ExeIno         uint64 // inode number of the executable
	StartTime      uint64 // process start, epoch ns (exec and fork's child)

	// KindFork: the new task. KindExit: how it ended.
	ChildPID, ChildTID uint32
	ExitCode           int32
	GroupDead          bool
}

// Slots of Event.FileKeys.
const (
	FileKeyFd = iota
	FileKeyFd2
	FileKeyDirfd
	FileKeyDirfd2
	FileKeyRet
	FileKeyMax
)

// FileKey folds an inode number and device (kernel encoding, as in
// Event.Dev) the way the kernel does for Event.FileKeys.
func FileKey(dev uint32, ino uint64) uint64 {
	return ino ^ uint64(dev)<<40
}

// StatFileKey is FileKey of a stat(2) result, whose device is in the
// userspace encoding: the kernel's is major<<20 | minor.
func StatFileKey(st *unix.Stat_t) uint64 {
	return FileKey(unix.Major(st.Dev)<<20|unix.Minor(st.Dev), st.Ino)
}
