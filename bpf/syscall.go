package bpf

import "sort"

// Syscall names a syscall independently of its number; String gives Falco's
// event type name ("openat", "connect", ...). The values are shared with the
// C side (SYS_* in capture.h): keep the two lists in the same order.
type Syscall uint16

const (
	SysUnknown Syscall = iota
	SysOpen
	SysOpenat
	SysOpenat2
	SysCreat
	SysExecve
	SysExecveat
	SysConnect
	SysAccept
	SysAccept4
	SysBind
	SysListen
	SysSocket
	SysSendto
	SysRecvfrom
	SysDup
	SysDup2
	SysDup3
	SysClose
	SysPtrace
	SysMemfdCreate
	SysSetuid
	SysSetgid
	SysSetresuid
	SysSetresgid
	SysInitModule
	SysFinitModule
	SysDeleteModule
	SysUnlink
	SysUnlinkat
	SysRename
	SysRenameat
	SysRenameat2
	SysSymlink
	SysSymlinkat
	SysLink
	SysLinkat
	SysMkdir
	SysMkdirat
	SysRmdir
	SysChmod
	SysFchmod
	SysFchmodat
	SysMount
	SysUmount2
	SysBpf
	SysSetns
	SysUnshare
	SysUserfaultfd
	SysKill
	SysPrctl
	SysChdir
	SysFchdir
	SysFcntl
	SysClone
	SysClone3
	SysFork
	SysVfork
	SysPipe
	SysPipe2
	SysSocketpair
	SysSendmsg
	SysRecvmsg
	SysChroot
	sysCount
)

// syscallNames are Falco's event type names, which are also the kernel's
// tracepoint names (sys_enter_<name>).
var syscallNames = [sysCount]string{
	SysOpen: "open", SysOpenat: "openat", SysOpenat2: "openat2", SysCreat: "creat",
	SysExecve: "execve", SysExecveat: "execveat", SysConnect: "connect", SysAccept: "accept",
	SysAccept4: "accept4", SysBind: "bind", SysListen: "listen", SysSocket: "socket",
	SysSendto: "sendto", SysRecvfrom: "recvfrom", SysDup: "dup", SysDup2: "dup2", SysDup3: "dup3",
	SysClose: "close", SysPtrace: "ptrace", SysMemfdCreate: "memfd_create", SysSetuid: "setuid",
	SysSetgid: "setgid", SysSetresuid: "setresuid", SysSetresgid: "setresgid",
	SysInitModule: "init_module", SysFinitModule: "finit_module", SysDeleteModule: "delete_module",
	SysUnlink: "unlink", SysUnlinkat: "unlinkat", SysRename: "rename", SysRenameat: "renameat",
	SysRenameat2: "renameat2", SysSymlink: "symlink", SysSymlinkat: "symlinkat", SysLink: "link",
	SysLinkat: "linkat", SysMkdir: "mkdir", SysMkdirat: "mkdirat", SysRmdir: "rmdir",
	SysChmod: "chmod", SysFchmod: "fchmod", SysFchmodat: "fchmodat", SysMount: "mount",
	SysUmount2: "umount2", SysBpf: "bpf", SysSetns: "setns", SysUnshare: "unshare",
	SysUserfaultfd: "userfaultfd", SysKill: "kill", SysPrctl: "prctl", SysChdir: "chdir",
	SysFchdir: "fchdir", SysFcntl: "fcntl", SysClone: "clone", SysClone3: "clone3",
	SysFork: "fork", SysVfork: "vfork", SysPipe: "pipe", SysPipe2: "pipe2", SysSocketpair: "socketpair",
	SysSendmsg: "sendmsg", SysRecvmsg: "recvmsg", SysChroot: "chroot",
}

var syscallByName = func() map[string]Syscall {
	m := make(map[string]Syscall, sysCount)
	for i, n := range syscallNames {
		if n != "" {
			m[n] = Syscall(i)
		}
	}
	return m
}()

// String returns Falco's event type name, or "" for SysUnknown.
func (s Syscall) String() string {
	if s < sysCount {
		return syscallNames[s]
	}
	return ""
}

// SyscallByName returns the Syscall for a Falco event type name.
func SyscallByName(name string) (Syscall, bool) {
	s, ok := syscallByName[name]
	return s, ok
}

// SupportedSyscalls returns the Falco event type names the capture can
// attach, sorted.
func SupportedSyscalls() []string {
	out := make([]string, 0, sysCount)
	for _, n := range syscallNames {
		if n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// StateSyscalls are the syscalls that process and fd state tracking needs;
// Load attaches them in addition to Config.Syscalls unless
// Config.NoStateSyscalls is set. The process lifecycle (exec, fork, exit)
// comes from the sched tracepoints, which are always attached.
func StateSyscalls() []string {
	return []string{"open", "openat", "openat2", "creat", "socket", "connect", "accept", "accept4",
		"bind", "dup", "dup2", "dup3", "fcntl", "close", "chdir", "fchdir", "memfd_create",
		"pipe", "pipe2", "socketpair"}
}
