// Shared between capture.bpf.c and the Go decoder (through the BTF of
// struct record, which bpf2go turns into the Go type captureRecord).
#pragma once

// Syscall ids: the same order as the Syscall constants in syscall.go.
enum sys_id {
	SYS_UNKNOWN,
	SYS_OPEN,
	SYS_OPENAT,
	SYS_OPENAT2,
	SYS_CREAT,
	SYS_EXECVE,
	SYS_EXECVEAT,
	SYS_CONNECT,
	SYS_ACCEPT,
	SYS_ACCEPT4,
	SYS_BIND,
	SYS_LISTEN,
	SYS_SOCKET,
	SYS_SENDTO,
	SYS_RECVFROM,
	SYS_DUP,
	SYS_DUP2,
	SYS_DUP3,
	SYS_CLOSE,
	SYS_PTRACE,
	SYS_MEMFD_CREATE,
	SYS_SETUID,
	SYS_SETGID,
	SYS_SETRESUID,
	SYS_SETRESGID,
	SYS_INIT_MODULE,
	SYS_FINIT_MODULE,
	SYS_DELETE_MODULE,
	SYS_UNLINK,
	SYS_UNLINKAT,
	SYS_RENAME,
	SYS_RENAMEAT,
	SYS_RENAMEAT2,
	SYS_SYMLINK,
	SYS_SYMLINKAT,
	SYS_LINK,
	SYS_LINKAT,
	SYS_MKDIR,
	SYS_MKDIRAT,
	SYS_RMDIR,
	SYS_CHMOD,
	SYS_FCHMOD,
	SYS_FCHMODAT,
	SYS_MOUNT,
	SYS_UMOUNT2,
	SYS_BPF,
	SYS_SETNS,
	SYS_UNSHARE,
	SYS_USERFAULTFD,
	SYS_KILL,
	SYS_PRCTL,
	SYS_CHDIR,
	SYS_FCHDIR,
	SYS_FCNTL,
	SYS_CLONE,
	SYS_CLONE3,
	SYS_FORK,
	SYS_VFORK,
	SYS_PIPE,
	SYS_PIPE2,
	SYS_SOCKETPAIR,
	SYS_SENDMSG,
	SYS_RECVMSG,
	SYS_CHROOT,
};

enum kind {
	KIND_SYSCALL = 1,
	KIND_EXEC,
	KIND_FORK,
	KIND_EXIT,
	KIND_SHORT, // a syscall record cut after arg (see SHORT_SIZE)
};

// Per-CPU counter indexes.
enum counter {
	CNT_SEEN,
	CNT_DROP_RINGFULL,
	CNT_TRUNCATED,
	CNT_FILTERED, // opens no loaded rule can match
	CNT_MAX,
};

// String slots in a record's data area.
enum slot {
	SLOT_PATH,
	SLOT_PATH2,
	SLOT_NAME,
	SLOT_ARGS,        // argv, NUL-separated
	SLOT_EXE,         // path components, leaf first, each NUL-terminated
	SLOT_CWD,         // likewise
	SLOT_CGROUP,      // likewise
	SLOT_ADDR_PATH,   // AF_UNIX path of addr (abstract: starts with NUL)
	SLOT_LOCAL_PATH,  // AF_UNIX path of local
	SLOT_REMOTE_PATH, // AF_UNIX path of remote
	SLOT_ENV,         // environment, NUL-separated (exec)
	SLOT_FD_PATH,     // path of fd from its dentries, like SLOT_EXE: sent
	                  // when the open of fd was filtered out in the kernel
	SLOT_MAX,
};

#define STR_MAX 4096     // one string (PATH_MAX); also the argv budget
#define DATA_MAX 16384   // all strings of one record
#define NAME_BUF 256     // one path component (NAME_MAX + 1)
#define MAX_COMPONENTS 48

// The open filter (Config.OpenFilter): an LPM trie of path prefixes.
#define OPEN_KEY_MAX 256 // bytes of path (with its NUL) a key holds

struct open_key {
	__u32 bits; // prefix length in bits
	char path[OPEN_KEY_MAX];
};

// What a path matching a key (as its longest stored prefix) is wanted for.
// Masks are sets of open classes (OPEN_* below); user space folds into each
// key what its shorter stored prefixes ask for.
struct open_val {
	__u8 any; // classes wanted whatever follows the key
	__u8 dir; // classes wanted when no '/' follows the key in the path
	__u16 pad;
	__u32 len; // key length in bytes
};

// An open's class: access mode times outcome; each open has exactly one.
#define OPEN_RO 1
#define OPEN_WO 2
#define OPEN_RW 4
#define OPEN_FAILED_SHIFT 3 // the same three, failed: << 3


#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

struct sockaddr_rec {
	__u16 family;
	__u16 port; // host byte order
	__u32 pad;
	__u8 addr[16]; // IPv4 in the first 4 bytes, network order
};

// Slots of record.fkeys.
enum fkey_slot {
	FKEY_FD,
	FKEY_FD2,
	FKEY_DIRFD,
	FKEY_DIRFD2,
	FKEY_RET,
	FKEY_MAX,
};

struct record {
	__u64 boot_ns;
	__u16 kind;
	__u16 sys;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 vpid;
	__u32 vtid;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 loginuid;
	__u32 tty;
	char comm[16];
	__s64 ret;
	__s64 fd;
	__s64 fd2;
	__s64 dirfd;
	__s64 dirfd2;
	__u64 flags;
	__s64 request;
	__u64 arg;
	// File keys (file_key: inode number and device folded into one) of the
	// files at fd, fd2, dirfd, dirfd2 and at the new fd ret when the
	// syscall returns; 0 when there is none. User space compares them with
	// what its fd table holds for those numbers: an entry whose key differs
	// is stale (its fd was closed untraced and the number reused).
	// Before arg2, so that short records carry them.
	__u64 fkeys[FKEY_MAX];
	__u64 arg2;
	__u64 ino;
	__u64 exe_ino;
	__u64 cap_inh;
	__u64 cap_prm;
	__u64 cap_eff;
	__u64 start_boot_ns;
	__u32 mode;
	__u32 domain;
	__u32 type;
	__u32 protocol;
	__s32 target_pid;
	__s32 signal;
	__u32 ids[3];
	__u32 dev;
	__u32 sid;
	__u32 pgid;
	__u32 child_pid;
	__u32 child_tid;
	__s32 exit_code;
	__u8 exe_memfd;
	__u8 exe_upper;
	__u8 group_dead;
	__u8 truncated; // how many strings were cut
	struct sockaddr_rec addr;
	struct sockaddr_rec local;
	struct sockaddr_rec remote;
	__u16 str_off[SLOT_MAX];
	__u16 str_len[SLOT_MAX];
	__u32 data_len;
	// Zero when sent. In the kernel, the bit length of the path at the
	// start of data during the open filter's lookup: path_bits followed by
	// data is the LPM trie key (struct open_key), so no copy is needed.
	__u32 path_bits;
	// Strings; sized beyond DATA_MAX so that a read of up to 2*STR_MAX-1 bytes
	// at any offset below DATA_MAX stays inside (the verifier checks that).
	char data[DATA_MAX + 2 * STR_MAX];
};
