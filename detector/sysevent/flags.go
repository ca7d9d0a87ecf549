package sysevent

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// flagName is one named bit (or bit group) of a flags argument, in the
// kernel's numbering; tables list them in the order Falco prints them
// (libs driver/flags_table.c).
type flagName struct {
	name string
	val  uint64
}

var openFlags = []flagName{
	{"O_LARGEFILE", 0o100000}, {"O_DIRECTORY", unix.O_DIRECTORY}, {"O_DIRECT", unix.O_DIRECT},
	{"O_TRUNC", unix.O_TRUNC}, {"O_SYNC", unix.O_SYNC}, {"O_NONBLOCK", unix.O_NONBLOCK},
	{"O_EXCL", unix.O_EXCL}, {"O_DSYNC", unix.O_DSYNC}, {"O_APPEND", unix.O_APPEND},
	{"O_CREAT", unix.O_CREAT}, {"O_RDWR", unix.O_RDWR}, {"O_WRONLY", unix.O_WRONLY},
	{"O_CLOEXEC", unix.O_CLOEXEC}, {"O_TMPFILE", oTmpfile},
}

// formatOpenFlags renders open flags as Falco does: O_RDONLY for a
// read-only open (0 in the kernel's numbering), O_SYNC rather than
// O_SYNC|O_DSYNC, O_TMPFILE rather than O_DIRECTORY|O_TMPFILE.
func formatOpenFlags(v uint64) string {
	return cached(0, v, func() string {
		var b strings.Builder
		rest := v
		if rest&oTmpfile != 0 {
			rest &^= oDirectory
		}
		for _, f := range openFlags {
			if f.name == "O_CLOEXEC" && v&oAccmode == 0 {
				sep(&b)
				b.WriteString("O_RDONLY")
			}
			if f.val != 0 && rest&f.val == f.val {
				sep(&b)
				b.WriteString(f.name)
				rest &^= f.val
			}
		}
		if b.Len() == 0 {
			return "O_RDONLY"
		}
		return b.String()
	})
}

var (
	cloneFlags = []flagName{
		{"CLONE_FILES", unix.CLONE_FILES}, {"CLONE_FS", unix.CLONE_FS}, {"CLONE_IO", unix.CLONE_IO},
		{"CLONE_NEWIPC", unix.CLONE_NEWIPC}, {"CLONE_NEWNET", unix.CLONE_NEWNET}, {"CLONE_NEWNS", unix.CLONE_NEWNS},
		{"CLONE_NEWPID", unix.CLONE_NEWPID}, {"CLONE_NEWUTS", unix.CLONE_NEWUTS}, {"CLONE_PARENT", unix.CLONE_PARENT},
		{"CLONE_PARENT_SETTID", unix.CLONE_PARENT_SETTID}, {"CLONE_PTRACE", unix.CLONE_PTRACE},
		{"CLONE_SIGHAND", unix.CLONE_SIGHAND}, {"CLONE_SYSVSEM", unix.CLONE_SYSVSEM}, {"CLONE_THREAD", unix.CLONE_THREAD},
		{"CLONE_UNTRACED", unix.CLONE_UNTRACED}, {"CLONE_VM", unix.CLONE_VM}, {"CLONE_NEWUSER", unix.CLONE_NEWUSER},
		{"CLONE_CHILD_CLEARTID", unix.CLONE_CHILD_CLEARTID}, {"CLONE_CHILD_SETTID", unix.CLONE_CHILD_SETTID},
		{"CLONE_SETTLS", unix.CLONE_SETTLS}, {"CLONE_VFORK", unix.CLONE_VFORK}, {"CLONE_NEWCGROUP", unix.CLONE_NEWCGROUP},
	}
	memfdFlags  = []flagName{{"MFD_CLOEXEC", 1}, {"MFD_ALLOW_SEALING", 2}, {"MFD_HUGETLB", 4}}
	unlinkFlags = []flagName{{"AT_REMOVEDIR", unix.AT_REMOVEDIR}}
	linkFlags   = []flagName{{"AT_SYMLINK_FOLLOW", unix.AT_SYMLINK_FOLLOW}, {"AT_EMPTY_PATH", unix.AT_EMPTY_PATH}}
	execatFlags = []flagName{{"AT_EMPTY_PATH", unix.AT_EMPTY_PATH}, {"AT_SYMLINK_NOFOLLOW", unix.AT_SYMLINK_NOFOLLOW}}
	renameFlags = []flagName{{"RENAME_NOREPLACE", 1}, {"RENAME_EXCHANGE", 2}, {"RENAME_WHITEOUT", 4}}
	mountFlags  = []flagName{
		{"RDONLY", unix.MS_RDONLY}, {"NOSUID", unix.MS_NOSUID}, {"NODEV", unix.MS_NODEV}, {"NOEXEC", unix.MS_NOEXEC},
		{"SYNCHRONOUS", unix.MS_SYNCHRONOUS}, {"REMOUNT", unix.MS_REMOUNT}, {"MANDLOCK", unix.MS_MANDLOCK},
		{"DIRSYNC", unix.MS_DIRSYNC}, {"NOATIME", unix.MS_NOATIME}, {"NODIRATIME", unix.MS_NODIRATIME},
		{"BIND", unix.MS_BIND}, {"MOVE", unix.MS_MOVE}, {"REC", unix.MS_REC}, {"SILENT", unix.MS_SILENT},
		{"POSIXACL", unix.MS_POSIXACL}, {"UNBINDABLE", unix.MS_UNBINDABLE}, {"PRIVATE", unix.MS_PRIVATE},
		{"SLAVE", unix.MS_SLAVE}, {"SHARED", unix.MS_SHARED}, {"RELATIME", unix.MS_RELATIME},
		{"KERNMOUNT", unix.MS_KERNMOUNT}, {"I_VERSION", unix.MS_I_VERSION}, {"STRICTATIME", unix.MS_STRICTATIME},
		{"LAZYTIME", unix.MS_LAZYTIME},
	}
	umountFlags = []flagName{{"FORCE", 1}, {"DETACH", 2}, {"EXPIRE", 4}, {"NOFOLLOW", 8}}
	finitFlags  = []flagName{{"MODULE_INIT_IGNORE_MODVERSIONS", 1}, {"MODULE_INIT_IGNORE_VERMAGIC", 2}, {"MODULE_INIT_COMPRESSED_FILE", 4}}
	deleteFlags = []flagName{{"O_NONBLOCK", unix.O_NONBLOCK}, {"O_TRUNC", unix.O_TRUNC}}
	sockFlags   = []flagName{{"SOCK_NONBLOCK", unix.SOCK_NONBLOCK}, {"SOCK_CLOEXEC", unix.SOCK_CLOEXEC}}
	dup3Flags   = []flagName{{"O_CLOEXEC", unix.O_CLOEXEC}}
	ufdFlags    = []flagName{{"O_NONBLOCK", unix.O_NONBLOCK}, {"O_CLOEXEC", unix.O_CLOEXEC}}
	resolveFl   = []flagName{{"RESOLVE_BENEATH", 8}, {"RESOLVE_IN_ROOT", 0x10}, {"RESOLVE_NO_MAGICLINKS", 2},
		{"RESOLVE_NO_SYMLINKS", 4}, {"RESOLVE_NO_XDEV", 1}, {"RESOLVE_CACHED", 0x20}}
	execFlags = []flagName{{"EXE_WRITABLE", 1}, {"EXE_UPPER_LAYER", 2}, {"EXE_FROM_MEMFD", 4}}
	modeNames = []flagName{
		{"S_IXOTH", 0o1}, {"S_IWOTH", 0o2}, {"S_IROTH", 0o4}, {"S_IXGRP", 0o10}, {"S_IWGRP", 0o20},
		{"S_IRGRP", 0o40}, {"S_IXUSR", 0o100}, {"S_IWUSR", 0o200}, {"S_IRUSR", 0o400},
		{"S_ISVTX", 0o1000}, {"S_ISGID", 0o2000}, {"S_ISUID", 0o4000},
	}
)

// tableIDs key the render cache.
var flagTables = [][]flagName{nil, cloneFlags, memfdFlags, unlinkFlags, linkFlags, execatFlags, renameFlags,
	mountFlags, umountFlags, finitFlags, deleteFlags, sockFlags, dup3Flags, ufdFlags, resolveFl, execFlags, modeNames}

// formatFlags renders v with table tab (an index of flagTables) as
// "A|B|C"; bits no name covers are left out, as Falco does; 0 is "0".
func formatFlags(tab int, v uint64) string {
	return cached(tab, v, func() string {
		var b strings.Builder
		rest := v
		for _, f := range flagTables[tab] {
			if f.val != 0 && rest&f.val == f.val {
				sep(&b)
				b.WriteString(f.name)
				rest &^= f.val
			}
		}
		if b.Len() == 0 {
			return strconv.FormatUint(v, 10)
		}
		return b.String()
	})
}

const (
	tabClone = iota + 1
	tabMemfd
	tabUnlink
	tabLink
	tabExecat
	tabRename
	tabMount
	tabUmount
	tabFinit
	tabDelete
	tabSock
	tabDup3
	tabUfd
	tabResolve
	tabExec
	tabMode
)

func sep(b *strings.Builder) {
	if b.Len() > 0 {
		b.WriteByte('|')
	}
}

// The render cache: flags values repeat, so each (table, value) string is
// built once. Bounded: cleared when it grows past cacheMax.
const cacheMax = 4096

var renderCache struct {
	sync.Mutex
	m map[[2]uint64]string
}

func cached(tab int, v uint64, build func() string) string {
	k := [2]uint64{uint64(tab), v}
	renderCache.Lock()
	s, ok := renderCache.m[k]
	renderCache.Unlock()
	if ok {
		return s
	}
	s = build()
	renderCache.Lock()
	if renderCache.m == nil || len(renderCache.m) > cacheMax {
		renderCache.m = map[[2]uint64]string{}
	}
	renderCache.m[k] = s
	renderCache.Unlock()
	return s
}

// Enumerations: exact values with names.
var (
	ptraceRequests = map[int64]string{
		0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
		4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT", 8: "PTRACE_KILL",
		9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS", 14: "PTRACE_GETFPREGS",
		15: "PTRACE_SETFPREGS", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH", 18: "PTRACE_GETFPXREGS",
		19: "PTRACE_SETFPXREGS", 21: "PTRACE_OLDSETOPTIONS", 24: "PTRACE_SYSCALL",
		25: "PTRACE_GET_THREAD_AREA", 26: "PTRACE_SET_THREAD_AREA", 30: "PTRACE_ARCH_PRCTL",
		31: "PTRACE_SYSEMU", 32: "PTRACE_SYSEMU_SINGLESTEP", 33: "PTRACE_SINGLEBLOCK",
		0x4200: "PTRACE_SETOPTIONS", 0x4201: "PTRACE_GETEVENTMSG", 0x4202: "PTRACE_GETSIGINFO",
		0x4203: "PTRACE_SETSIGINFO", 0x4204: "PTRACE_GETREGSET", 0x4205: "PTRACE_SETREGSET",
		0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT", 0x4208: "PTRACE_LISTEN",
		0x4209: "PTRACE_PEEKSIGINFO", 0x420a: "PTRACE_GETSIGMASK", 0x420b: "PTRACE_SETSIGMASK",
	}
	prctlOptions = map[int64]string{
		3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE", 7: "PR_GET_KEEPCAPS", 8: "PR_SET_KEEPCAPS",
		15: "PR_SET_NAME", 16: "PR_GET_NAME", 21: "PR_GET_SECCOMP", 22: "PR_SET_SECCOMP",
		23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 27: "PR_GET_SECUREBITS", 28: "PR_SET_SECUREBITS",
		33: "PR_MCE_KILL", 35: "PR_SET_MM", 36: "PR_SET_CHILD_SUBREAPER", 37: "PR_GET_CHILD_SUBREAPER",
		38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS", 40: "PR_GET_TID_ADDRESS",
		41: "PR_SET_THP_DISABLE", 42: "PR_GET_THP_DISABLE", 47: "PR_CAP_AMBIENT",
	}
	bpfCommands = map[int64]string{
		0: "BPF_MAP_CREATE", 1: "BPF_MAP_LOOKUP_ELEM", 2: "BPF_MAP_UPDATE_ELEM", 3: "BPF_MAP_DELETE_ELEM",
		4: "BPF_MAP_GET_NEXT_KEY", 5: "BPF_PROG_LOAD", 6: "BPF_OBJ_PIN", 7: "BPF_OBJ_GET",
		8: "BPF_PROG_ATTACH", 9: "BPF_PROG_DETACH", 10: "BPF_PROG_TEST_RUN", 11: "BPF_PROG_GET_NEXT_ID",
		12: "BPF_MAP_GET_NEXT_ID", 13: "BPF_PROG_GET_FD_BY_ID", 14: "BPF_MAP_GET_FD_BY_ID",
		15: "BPF_OBJ_GET_INFO_BY_FD", 16: "BPF_PROG_QUERY", 17: "BPF_RAW_TRACEPOINT_OPEN", 18: "BPF_BTF_LOAD",
		19: "BPF_BTF_GET_FD_BY_ID", 20: "BPF_TASK_FD_QUERY", 21: "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
		22: "BPF_MAP_FREEZE", 23: "BPF_BTF_GET_NEXT_ID", 24: "BPF_MAP_LOOKUP_BATCH",
		25: "BPF_MAP_LOOKUP_AND_DELETE_BATCH", 26: "BPF_MAP_UPDATE_BATCH", 27: "BPF_MAP_DELETE_BATCH",
		28: "BPF_LINK_CREATE", 29: "BPF_LINK_UPDATE", 30: "BPF_LINK_GET_FD_BY_ID", 31: "BPF_LINK_GET_NEXT_ID",
		32: "BPF_ENABLE_STATS", 33: "BPF_ITER_CREATE", 34: "BPF_LINK_DETACH", 35: "BPF_PROG_BIND_MAP",
	}
	fcntlCommands = map[int64]string{
		0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK", 6: "F_SETLK",
		7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN", 10: "F_SETSIG", 11: "F_GETSIG", 15: "F_SETOWN_EX",
		16: "F_GETOWN_EX", 36: "F_OFD_GETLK", 37: "F_OFD_SETLK", 38: "F_OFD_SETLKW", 1024: "F_SETLEASE",
		1025: "F_GETLEASE", 1026: "F_NOTIFY", 1029: "F_CANCELLK", 1030: "F_DUPFD_CLOEXEC",
		1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ",
	}
	socketFamilies = map[int64]string{
		0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
		6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE",
		12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK",
		17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA",
		23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC", 29: "AF_CAN", 30: "AF_TIPC",
		31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC", 34: "AF_ISDN", 35: "AF_PHONET",
		36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC",
	}
)

// enumName returns the name of v in m, or v in decimal.
func enumName(m map[int64]string, v int64) string {
	if n, ok := m[v]; ok {
		return n
	}
	return strconv.FormatInt(v, 10)
}

// errnoName is Falco's rendering of a failed result: the errno's name.
func errnoName(ret int64) string {
	if n := unix.ErrnoName(unix.Errno(-ret)); n != "" {
		return n
	}
	return strconv.FormatInt(ret, 10)
}

// signalName renders a signal number as SIGKILL etc.
func signalName(sig int32) string {
	if n := unix.SignalName(unix.Signal(sig)); n != "" {
		return n
	}
	return strconv.FormatInt(int64(sig), 10)
}

// capNames renders a capability set as Falco does: the CAP_ names of the
// set bits, space separated.
func capNames(set uint64) string {
	return cached(-1, set, func() string {
		var b strings.Builder
		// Bits without a name are left out, as Falco does.
		for i, n := range capabilityNames {
			if set&(1<<i) == 0 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(n)
		}
		return b.String()
	})
}

var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}
