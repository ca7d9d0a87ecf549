// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// Nightjar's kernel programs: the process lifecycle from the sched
// tracepoints and one enter/exit pair of syscall tracepoints per syscall.
// The enter program only remembers the raw arguments per thread; the exit
// program reads strings and kernel state (after the kernel has faulted the
// user pages in) and sends one record with arguments and result.
//
// Every record is built in a per-CPU scratch buffer (fixed header, then a
// data area holding strings) and copied to the one ring buffer with
// bpf_ringbuf_output, so a record is only as long as its strings.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "capture.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// The detector's own thread group: set at load, filtered here so the
// detector never sees (or feeds back on) its own reads and writes.
const volatile __u32 exclude_tgid = 0;

// Waking the reader for every record costs an IPI and a context switch per
// event: the reader is woken when this many bytes wait in the ring (and user
// space also polls on a short timer, so a lone record is not stuck).
const volatile __u64 wakeup_bytes = 0;

// Read syscall arguments at exit from the task's saved registers instead of
// pairing with an enter program (Config.ArgsFromRegisters): one program per
// syscall instead of two, and no per-thread map.
const volatile __u8 args_from_regs = 0;

// Copy the environment into exec records (Config.Env). Off by default: it
// is the dearest part of an exec record (about 24 of 31 us per exec here,
// reading the new image's stack pages), and the detector reads proc.env
// from /proc only when a rule asks.
const volatile __u8 capture_env = 0;

// The open filter (Config.OpenFilter): when set, an open (open, openat,
// openat2, creat) is sent only if some loaded rule could match it, judged
// on its path and class (struct open_val). open_any holds the classes sent
// whatever the path (rules that constrain no path). Opens that state
// tracking needs are always sent: directories (a later openat or fchdir
// resolves against them), relative paths (resolved in user space), and
// paths that user space would normalise (see open_wanted).
const volatile __u8 open_filter = 0;
const volatile __u8 open_any = 0;
const volatile __u8 open_path_classes = 0; // classes some path entry asks for

// Opens of classes in open_comm_classes by a task whose comm (proc.name) is
// a key of open_comms are sent whatever the path (rules on any read by tar).
const volatile __u8 open_comm_classes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); // replaced by the filter's size at load
	__type(key, char[16]);
	__type(value, __u8); // classes
} open_comms SEC(".maps");

// A cheap first test before the trie: most opens are of paths no entry
// shares the first bytes with. open_bloom holds, by a hash of a key's first
// min(8, length) bytes, the classes the key asks for; bit L-1 of
// open_bloom_lens says that some key has min(8, length) = L. A path whose
// first L bytes hit no slot (for every such L) matches no key.
#define OPEN_BLOOM 4096
const volatile __u8 open_bloom_lens = 0;
const volatile __u8 open_bloom[OPEN_BLOOM] = {};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1); // replaced by the filter's size at load
	__type(key, struct open_key);
	__type(value, struct open_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} open_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); // replaced by Config.RingSize at load
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct record);
} scratch SEC(".maps");

// Syscall arguments between enter and exit, per thread. A preallocated hash
// (faster than LRU); entries that an exit never consumes are removed when
// the thread exits or execs, so it does not fill up.
struct pending {
	__u64 args[6];
	__u32 sys;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

// Force BTF for the record so bpf2go can generate its Go twin.
const struct record *unused_record __attribute__((unused));

// Masks v in a register right before use, so that clang cannot drop the
// mask after proving a tighter bound on a copy the verifier never sees.
#define BOUND(v, mask) asm volatile("%0 &= " #mask : "+r"(v))

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += 1;
}

static __always_inline void truncated(struct record *r)
{
	if (r->truncated < 255)
		r->truncated++;
	count(CNT_TRUNCATED);
}

static __always_inline int excluded(void)
{
	return exclude_tgid != 0 && (bpf_get_current_pid_tgid() >> 32) == exclude_tgid;
}

// A short record is the header up to and including arg (KIND_SHORT): for
// the frequent fd syscalls whose event needs no more (close, dup*, fcntl,
// pipe*), it saves zeroing and copying the other ~300 bytes of the header,
// which shows in a new process, where every cache line is cold. User space
// reads the missing fields as zero.
#define SHORT_SIZE __builtin_offsetof(struct record, arg2)

// new_record zeroes the scratch record's header (only up to SHORT_SIZE for
// KIND_SHORT; the data area is covered by data_len) and sets its kind.
static __always_inline struct record *new_record(__u16 kind, __u16 sys)
{
	__u32 zero = 0;
	struct record *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	if (kind == KIND_SHORT)
		__builtin_memset(r, 0, SHORT_SIZE);
	else
		__builtin_memset(r, 0, sizeof(struct record) - sizeof(r->data));
	r->kind = kind;
	r->sys = sys;
	r->fd = r->fd2 = r->dirfd = r->dirfd2 = -1;
	return r;
}

static __always_inline __u32 pid_vnr(struct pid *p)
{
	if (!p)
		return 0;
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[level & 31]);
	return up.nr;
}

static __always_inline __u32 pid_nr(struct pid *p)
{
	if (!p)
		return 0;
	return BPF_CORE_READ(p, numbers[0].nr);
}

// The fields every record carries: who, when, with which credentials. It
// runs for every event, so it walks the current task through its BTF
// pointer (plain loads) rather than one bpf_probe_read call per field.
static __always_inline void fill_task(struct record *r)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	r->boot_ns = bpf_ktime_get_boot_ns();
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->ppid = t->real_parent->tgid;
	const struct cred *c = t->cred;
	r->uid = c->uid.val;
	r->gid = c->gid.val;
	r->euid = c->euid.val;
	r->egid = c->egid.val;
	r->loginuid = t->loginuid.val;
	// The pid namespace ids: in the initial namespace (level 0) they are
	// the global ones; otherwise read the task's own level.
	struct pid *tp = t->thread_pid;
	if (tp->level == 0) {
		r->vtid = r->tid;
		r->vpid = r->pid;
	} else {
		r->vtid = pid_vnr(tp);
		r->vpid = pid_vnr(t->group_leader->thread_pid);
	}
	bpf_get_current_comm(&r->comm, sizeof(r->comm));
}

// send_size writes the first size bytes of r to the ring.
static __always_inline void send_size(struct record *r, __u64 size)
{
	count(CNT_SEEN);
	// Wake the reader only for the record that crosses wakeup_bytes: a
	// wakeup is an IPI (a VM exit under a hypervisor), far dearer than the
	// record itself, and a reader that is behind needs no more than one.
	// The crossing is judged on what the record takes in the ring: its size
	// rounded up to 8 plus the ring's 8-byte header. Judged on the bare
	// size, a record could step over the threshold unnoticed (it did, for
	// every record, with a 64 KiB threshold: the reader then only woke on
	// its timer and a 1 MiB ring overflowed). The second threshold is a
	// backstop for two CPUs crossing the first one at once.
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 used = ((size + 7) & ~7ULL) + 8;
	__u64 flags = BPF_RB_NO_WAKEUP;
	if ((avail < wakeup_bytes && avail + used >= wakeup_bytes) ||
	    (avail < 2 * wakeup_bytes && avail + used >= 2 * wakeup_bytes))
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, r, size, flags))
		count(CNT_DROP_RINGFULL);
}

static __always_inline void send(struct record *r)
{
	__u32 len = r->data_len;
	if (len > DATA_MAX)
		len = DATA_MAX;
	send_size(r, sizeof(struct record) - sizeof(r->data) + len);
}

// String writers: each appends to the data area and records (offset,
// length) in a slot; length excludes the terminating NUL. A string that
// fills its buffer was cut: it is counted as truncated.

static __always_inline void put_user_str(struct record *r, int slot, const void *uptr, __u32 max)
{
	__u32 off = r->data_len;
	if (!uptr || slot >= SLOT_MAX)
		return;
	if (off > DATA_MAX - STR_MAX) {
		truncated(r);
		return;
	}
	__u64 sz = max, at = off;
	BOUND(sz, 0x1fff);
	BOUND(at, 0x3fff);
	long n = bpf_probe_read_user_str(&r->data[at], sz, uptr);
	if (n <= 0)
		return;
	if (n >= max)
		truncated(r);
	r->str_off[slot] = off;
	r->str_len[slot] = n - 1;
	r->data_len = off + n;
}

// put_open_path fills the path slot of an open: from data, where the open
// filter already read it (pathn bytes with the NUL), or from user memory.
static __always_inline void put_open_path(struct record *r, long pathn, const void *uptr)
{
	if (pathn <= 0) {
		put_user_str(r, SLOT_PATH, uptr, STR_MAX);
		return;
	}
	if (pathn >= STR_MAX)
		truncated(r);
	r->str_off[SLOT_PATH] = 0;
	r->str_len[SLOT_PATH] = pathn - 1;
	r->data_len = pathn;
}

static __always_inline void put_user_bytes(struct record *r, int slot, const void *uptr, __u32 n)
{
	__u32 off = r->data_len;
	if (!uptr || slot >= SLOT_MAX || n == 0)
		return;
	if (off > DATA_MAX - STR_MAX) {
		truncated(r);
		return;
	}
	if (n > STR_MAX) {
		n = STR_MAX;
		truncated(r);
	}
	__u64 sz = n, at = off;
	BOUND(sz, 0x1fff);
	BOUND(at, 0x3fff);
	if (bpf_probe_read_user(&r->data[at], sz, uptr))
		return;
	r->str_off[slot] = off;
	r->str_len[slot] = n;
	r->data_len = off + n;
}

static __always_inline void put_kernel_bytes(struct record *r, int slot, const void *kptr, __u32 n)
{
	__u32 off = r->data_len;
	if (!kptr || slot >= SLOT_MAX || n == 0)
		return;
	if (off > DATA_MAX - STR_MAX)
		return;
	if (n > STR_MAX)
		n = STR_MAX;
	__u64 sz = n, at = off;
	BOUND(sz, 0x1fff);
	BOUND(at, 0x3fff);
	if (bpf_probe_read_kernel(&r->data[at], sz, kptr))
		return;
	r->str_off[slot] = off;
	r->str_len[slot] = n;
	r->data_len = off + n;
}

// Appends one path component (a kernel string) as "name\0"; returns 0 when
// there was no room.
static __always_inline int put_component(struct record *r, const void *kname)
{
	__u32 off = r->data_len;
	if (off > DATA_MAX - NAME_BUF)
		return 0;
	__u64 at = off;
	BOUND(at, 0x3fff);
	long n = bpf_probe_read_kernel_str(&r->data[at], NAME_BUF, kname);
	if (n <= 0)
		return 1;
	r->data_len = off + n;
	return 1;
}

// Rebuilds a path from its dentries, since bpf_d_path is refused on these
// hooks: the slot gets the components leaf first, each NUL-terminated, and
// user space reverses and joins them. Mount points are crossed up to the
// root of the task's mount tree.
static __always_inline void put_path(struct record *r, int slot, struct path *path)
{
	if (!path || slot >= SLOT_MAX)
		return;
	struct dentry *d = BPF_CORE_READ(path, dentry);
	struct vfsmount *vmnt = BPF_CORE_READ(path, mnt);
	if (!d || !vmnt)
		return;
	struct mount *mnt = container_of(vmnt, struct mount, mnt);
	__u32 start = r->data_len;
	int done = 0;

	for (int i = 0; i < MAX_COMPONENTS; i++) {
		struct dentry *root = BPF_CORE_READ(vmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (d == root) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
			if (up == mnt || !up) {
				done = 1;
				break;
			}
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vmnt = &up->mnt;
			continue;
		}
		if (!put_component(r, BPF_CORE_READ(d, d_name.name))) {
			break;
		}
		if (d == parent) { // a dentry not in any tree (memfd, deleted)
			done = 1;
			break;
		}
		d = parent;
	}
	if (!done)
		truncated(r);
	r->str_off[slot] = start;
	r->str_len[slot] = r->data_len - start;
}

struct kernfs_node___old {
	struct kernfs_node *parent;
};

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

// The cgroup v2 path of the task, components leaf first like put_path.
static __always_inline void put_cgroup(struct record *r, struct task_struct *t)
{
	struct kernfs_node *kn = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
	__u32 start = r->data_len;
	int done = 0;
	for (int i = 0; i < MAX_COMPONENTS; i++) {
		if (!kn)
			break;
		struct kernfs_node *p = kn_parent(kn);
		if (!p) { // the root's name is empty
			done = 1;
			break;
		}
		if (!put_component(r, BPF_CORE_READ(kn, name)))
			break;
		kn = p;
	}
	if (!done)
		truncated(r);
	r->str_off[SLOT_CGROUP] = start;
	r->str_len[SLOT_CGROUP] = r->data_len - start;
}

// bpf_rdonly_cast turns a kernel address into a read-only BTF pointer, so
// that fields are read with plain loads (faulting loads fixed up by the
// JIT) instead of one bpf_probe_read_kernel call each: on the open path
// that is nine helper calls fewer per event.
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

// The open file behind fd in the current task, as a BTF pointer.
static __always_inline struct file *fd_file(__s64 fd)
{
	if (fd < 0)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	if ((__u64)fd >= fdt->max_fds)
		return 0;
	// A variable index into the fd array is not a BTF access: one read.
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd & 0xfffff]);
	if (!f)
		return 0;
	return bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
}

static __always_inline void put_file_id(struct record *r, struct file *f)
{
	if (!f)
		return;
	struct inode *ino = f->f_inode;
	r->ino = ino->i_ino;
	r->dev = ino->i_sb->s_dev;
}

// inode_key folds an inode number and device into a file key (bpf.FileKey
// in Go does the same).
static __always_inline __u64 inode_key(__u64 ino, __u32 dev)
{
	return ino ^ ((__u64)dev << 40);
}

// file_key_of identifies an open file by its inode. Unlike the struct file
// pointer, the key does not repeat when a closed file's memory is reused,
// and the same file opened again keeps it (and so its name).
static __always_inline __u64 file_key_of(struct file *f)
{
	struct inode *ino = f->f_inode;
	return inode_key(ino->i_ino, ino->i_sb->s_dev);
}

// file_key is file_key_of for the file at fd in the current task, 0 when fd
// is not open.
static __always_inline __u64 file_key(__s64 fd)
{
	struct file *f = fd_file(fd);
	return f ? file_key_of(f) : 0;
}

// put_fkeys fills r->fkeys for the fds the record names and, when the
// syscall made one, for the new fd ret (see struct record). A key already
// set was filled by a helper that had the fd's file in hand (put_sock_tuple,
// put_fd_path): no second lookup.
static __always_inline void put_fkeys(struct record *r, __u16 sys, long ret)
{
	if (sys != SYS_CLOSE) { // a closed fd has no file left to name
		if (!r->fkeys[FKEY_FD])
			r->fkeys[FKEY_FD] = file_key(r->fd);
		r->fkeys[FKEY_FD2] = file_key(r->fd2);
	}
	r->fkeys[FKEY_DIRFD] = file_key(r->dirfd);
	r->fkeys[FKEY_DIRFD2] = file_key(r->dirfd2);
	if (ret < 0)
		return;
	switch (sys) {
	case SYS_OPEN:
	case SYS_OPENAT:
	case SYS_OPENAT2:
	case SYS_CREAT:
		// put_file_id read the new fd's inode already: no second lookup.
		if (r->ino)
			r->fkeys[FKEY_RET] = inode_key(r->ino, r->dev);
		break;
	case SYS_DUP:
	case SYS_DUP2:
	case SYS_DUP3:
	case SYS_FCNTL: // only its dup commands get this far
		r->fkeys[FKEY_RET] = r->fkeys[FKEY_FD]; // the same open file
		break;
	case SYS_ACCEPT:
	case SYS_ACCEPT4:
		if (r->fkeys[FKEY_RET]) // put_sock_tuple's
			break;
		// fall through
	case SYS_SOCKET:
	case SYS_MEMFD_CREATE:
	case SYS_USERFAULTFD:
	case SYS_BPF:
		r->fkeys[FKEY_RET] = file_key(ret);
	}
}

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFDIR 0040000
#define S_IFREG 0100000
#define O_DIRECTORY 00200000
#define O_PATH 010000000

// put_fd_path sends the path of r->fd rebuilt from its dentries when it is a
// file or directory and the open filter is on: its open may have been
// dropped, and this is the first event that tells user space about the fd
// (dup*, fcntl F_DUPFD, fchmod, setns). User space uses it only for an fd
// its table does not hold. It reports whether it sent one, and fills the
// fd's file key while it has the file.
static __always_inline int put_fd_path(struct record *r)
{
	if (!open_filter)
		return 0;
	struct file *f = fd_file(r->fd);
	if (!f)
		return 0;
	r->fkeys[FKEY_FD] = file_key_of(f);
	umode_t m = f->f_inode->i_mode & S_IFMT;
	if (m != S_IFREG && m != S_IFDIR)
		return 0;
	struct path p = f->f_path;
	put_path(r, SLOT_FD_PATH, &p);
	return 1;
}

// A scan of the path at the start of a record's data, by bpf_loop (a
// plain loop is verified once per iteration, and the open programs would
// exceed the verifier's budget), 8 bytes per step with byte masks: this is
// on the path of every open, and a byte at a time cost ~70 ns per open.
struct scan {
	struct record *r;
	__u64 from; // first byte to look at
	__u64 n;    // bytes of path with the NUL
	int hit;
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

// eq returns the high bit of each byte of w that equals c (exactly: no
// borrow crosses bytes).
static __always_inline __u64 eq(__u64 w, __u8 c)
{
	__u64 x = w ^ (ONES * c);
	return ~(((x & ~HIGHS) + ~HIGHS) | x) & HIGHS;
}

// word loads the 8 bytes of data from at, with the bytes from n on (stale
// data of an earlier record) read as NUL.
static __always_inline __u64 word(struct scan *sc, __u64 at)
{
	__u64 w = 0;
	BOUND(at, 0x1ff);
	__builtin_memcpy(&w, &sc->r->data[at], 8);
	if (at + 8 > sc->n) {
		__u64 keep = sc->n > at ? sc->n - at : 0; // 0..7 bytes
		w &= (1ULL << (keep * 8)) - 1;
	}
	return w;
}

// bloom_slot hashes up to 8 bytes of path (Fibonacci hashing); the Go side
// (OpenFilter.bloom) computes the same.
static __always_inline __u32 bloom_slot(__u64 w)
{
	return (w * 0x9E3779B97F4A7C15ULL) >> 52; // 12 bits: OPEN_BLOOM slots
}

// unclean_step finds "..", "//", "/./" or a final "/.". Windows start 6
// bytes apart, so each 3-byte pattern lies whole in one of them.
static long unclean_step(__u64 i, void *ctx)
{
	struct scan *sc = ctx;
	__u64 at = i * 6;
	if (at + 3 > sc->n)
		return 1;
	__u64 w = word(sc, at);
	__u64 dot = eq(w, '.'), slash = eq(w, '/'), nul = eq(w, 0);
	if ((dot & dot >> 8) | (slash & slash >> 8) | (slash & dot >> 8 & (slash | nul) >> 16)) {
		sc->hit = 1;
		return 1;
	}
	return 0;
}

// slash_step finds a '/' from sc->from on.
static long slash_step(__u64 i, void *ctx)
{
	struct scan *sc = ctx;
	__u64 at = sc->from + i * 8;
	if (at + 1 >= sc->n)
		return 1;
	if (eq(word(sc, at), '/')) {
		sc->hit = 1;
		return 1;
	}
	return 0;
}

// open_wanted decides whether an open is sent (Config.OpenFilter). Its
// path was read to r->data (n bytes with the NUL).
static __always_inline int open_wanted(struct record *r, long n, __u64 flags, long ret)
{
	__u8 cls = OPEN_RW; // also the invalid access mode 3
	if ((flags & 3) == 0)
		cls = OPEN_RO;
	else if ((flags & 3) == 1)
		cls = OPEN_WO;
	if (ret < 0)
		cls <<= OPEN_FAILED_SHIFT;
	if (cls & open_any)
		return 1;
	if (cls & open_comm_classes) {
		char comm[16] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		__u8 *c = bpf_map_lookup_elem(&open_comms, comm);
		if (c && (*c & cls))
			return 1;
	}
	if (flags & (O_DIRECTORY | O_PATH))
		return 1;
	if (n < 2 || n > OPEN_KEY_MAX || r->data[0] != '/')
		return 1; // relative (resolved in user space), empty, or too long for a key
	// Rules see the path cleaned lexically: one with "..", "//", "/./" or
	// a trailing "/" or "/." would not compare as written, so it is sent.
	// (".." anywhere also covers rules on fd.nameraw contains "../".)
	struct scan sc = {.r = r, .n = n};
	bpf_loop(OPEN_KEY_MAX / 6 + 1, unclean_step, &sc, 0);
	if (sc.hit)
		return 1;
	__u64 last = n - 2;
	BOUND(last, 0xff);
	if (n > 2 && r->data[last] == '/')
		return 1;
	// A directory may be a later openat's dirfd or fchdir's target.
	if (ret >= 0) {
		struct file *f = fd_file(ret);
		if (f && (f->f_inode->i_mode & S_IFMT) == S_IFDIR)
			return 1;
	}
	if (!(cls & open_path_classes))
		return 0;
	__u64 w0 = word(&sc, 0);
	__u8 near = 0;
	// Unrolled over L = 1..8; the verifier drops the lengths not in use.
#define BLOOM_TEST(L)                                                                      \
	if (open_bloom_lens & (1 << ((L) - 1)))                                            \
		near |= open_bloom[bloom_slot((L) == 8 ? w0 : w0 & ((1ULL << (8 * (L))) - 1))];
	BLOOM_TEST(1)
	BLOOM_TEST(2)
	BLOOM_TEST(3)
	BLOOM_TEST(4)
	BLOOM_TEST(5)
	BLOOM_TEST(6)
	BLOOM_TEST(7)
	BLOOM_TEST(8)
#undef BLOOM_TEST
	if (!(near & cls))
		return 0;
	r->path_bits = n * 8;
	struct open_val *v = bpf_map_lookup_elem(&open_paths, &r->path_bits);
	r->path_bits = 0;
	if (!v)
		return 0;
	__u8 mask = v->any;
	if (v->dir & cls) {
		struct scan rest = {.r = r, .from = v->len, .n = n};
		bpf_loop(OPEN_KEY_MAX / 8 + 1, slash_step, &rest, 0);
		if (!rest.hit)
			mask |= v->dir;
	}
	return (mask & cls) != 0;
}

static __always_inline void sock_addr(struct record *r, struct sock *sk, struct sockaddr_rec *out,
				      int slot, int remote)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	out->family = fam;
	if (fam == AF_INET) {
		__u32 a = remote ? BPF_CORE_READ(sk, __sk_common.skc_daddr)
				 : BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(out->addr, &a, 4);
		out->port = remote ? bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport))
				   : BPF_CORE_READ(sk, __sk_common.skc_num);
	} else if (fam == AF_INET6) {
		if (remote)
			BPF_CORE_READ_INTO(&out->addr, sk, __sk_common.skc_v6_daddr);
		else
			BPF_CORE_READ_INTO(&out->addr, sk, __sk_common.skc_v6_rcv_saddr);
		out->port = remote ? bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport))
				   : BPF_CORE_READ(sk, __sk_common.skc_num);
	} else if (fam == AF_UNIX) {
		struct unix_sock *us = (struct unix_sock *)sk;
		if (remote) {
			struct sock *peer = BPF_CORE_READ(us, peer);
			if (!peer)
				return;
			us = (struct unix_sock *)peer;
		}
		struct unix_address *ua = BPF_CORE_READ(us, addr);
		if (!ua)
			return;
		int len = BPF_CORE_READ(ua, len);
		if (len <= 2)
			return;
		void *name = (void *)ua + bpf_core_field_offset(struct unix_address, name);
		put_kernel_bytes(r, slot, name + 2, (len - 2) & 127);
	}
}

// put_sock_tuple fills the socket tuple of fd, when fd is a socket, and the
// fd's file key into r->fkeys[slot] (the slot of fd in the record).
static __always_inline void put_sock_tuple(struct record *r, __s64 fd, int slot)
{
	struct file *f = fd_file(fd);
	if (!f)
		return;
	r->fkeys[slot] = file_key_of(f);
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return;
	struct socket *so = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return;
	r->protocol = BPF_CORE_READ(sk, sk_protocol);
	r->type = BPF_CORE_READ(sk, sk_type);
	r->domain = BPF_CORE_READ(sk, __sk_common.skc_family);
	sock_addr(r, sk, &r->local, SLOT_LOCAL_PATH, 0);
	sock_addr(r, sk, &r->remote, SLOT_REMOTE_PATH, 1);
}

// A sockaddr from user memory (connect, bind, sendto, recvfrom).
static __always_inline void put_user_sockaddr(struct record *r, const void *uaddr, __u64 ulen)
{
	__u16 fam = 0;
	if (!uaddr || bpf_probe_read_user(&fam, sizeof(fam), uaddr))
		return;
	r->addr.family = fam;
	if (fam == AF_INET) {
		struct sockaddr_in in = {};
		bpf_probe_read_user(&in, sizeof(in), uaddr);
		r->addr.port = bpf_ntohs(in.sin_port);
		__builtin_memcpy(r->addr.addr, &in.sin_addr.s_addr, 4);
	} else if (fam == AF_INET6) {
		struct sockaddr_in6 in6 = {};
		bpf_probe_read_user(&in6, sizeof(in6), uaddr);
		r->addr.port = bpf_ntohs(in6.sin6_port);
		__builtin_memcpy(r->addr.addr, &in6.sin6_addr, 16);
	} else if (fam == AF_UNIX && ulen > 2) {
		char first = 0;
		bpf_probe_read_user(&first, 1, uaddr + 2);
		if (first == 0) // abstract: a name of addrlen-2 bytes, not a string
			put_user_bytes(r, SLOT_ADDR_PATH, uaddr + 2, (ulen - 2) & 127);
		else
			put_user_str(r, SLOT_ADDR_PATH, uaddr + 2, 108);
	}
}

#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

// x86-64 syscall numbers, for the sched hooks.
#define NR_CLONE 56
#define NR_FORK 57
#define NR_VFORK 58
#define NR_EXECVEAT 322
#define NR_CLONE3 435

// The syscall tracepoints' context, as in their tracefs format files. Not
// the vmlinux.h types: those carry CO-RE relocations, and the verifier
// refuses the pointer arithmetic they produce on a context pointer.
struct sys_enter_ctx {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct sys_exit_ctx {
	__u64 common;
	long id;
	long ret;
};

// Reads only the nargs arguments the tracepoint has: the kernel refuses to
// attach a program that reads past the end of the tracepoint's record.
static __always_inline int on_enter(struct sys_enter_ctx *ctx, __u32 sys, int nargs)
{
	if (excluded())
		return 0;
	// fcntl is frequent (runtimes toggle O_NONBLOCK all the time) and only
	// its dup commands change fd state: keep just those.
	if (sys == SYS_FCNTL && ctx->args[1] != F_DUPFD && ctx->args[1] != F_DUPFD_CLOEXEC)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending p = {};
	p.sys = sys;
	if (nargs > 0)
		p.args[0] = ctx->args[0];
	if (nargs > 1)
		p.args[1] = ctx->args[1];
	if (nargs > 2)
		p.args[2] = ctx->args[2];
	if (nargs > 3)
		p.args[3] = ctx->args[3];
	if (nargs > 4)
		p.args[4] = ctx->args[4];
	if (nargs > 5)
		p.args[5] = ctx->args[5];
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

#define PR_SET_NAME 15

// The task's saved user registers (x86-64).
static __always_inline struct pt_regs *user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline int on_exit(struct sys_exit_ctx *ctx, __u32 sys)
{
	__u64 a0, a1, a2, a3, a4, a5;
	long ret = ctx->ret;
	if (args_from_regs) {
		// No enter program: the arguments are still in the registers the
		// task entered with (x86-64 syscall convention).
		if (excluded())
			return 0;
		struct pt_regs *regs = user_regs();
		a0 = regs->di;
		a1 = regs->si;
		a2 = regs->dx;
		a3 = regs->r10;
		a4 = regs->r8;
		a5 = regs->r9;
		if (sys == SYS_FCNTL && a1 != F_DUPFD && a1 != F_DUPFD_CLOEXEC)
			return 0;
		// The new child also returns from clone/fork (with 0); the parent's
		// return names it.
		if ((sys == SYS_CLONE || sys == SYS_CLONE3 || sys == SYS_FORK || sys == SYS_VFORK) && ret == 0)
			return 0;
		// execveat keeps its enter program (see sched_exec); a failed one
		// must not leave its entry behind.
		if (sys == SYS_EXECVEAT) {
			__u32 tid = (__u32)bpf_get_current_pid_tgid();
			bpf_map_delete_elem(&pending, &tid);
		}
	} else {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		struct pending *p = bpf_map_lookup_elem(&pending, &tid);
		if (!p)
			return 0; // the enter was missed (attached mid-syscall) or excluded
		if (p->sys != sys) {
			bpf_map_delete_elem(&pending, &tid);
			return 0;
		}
		a0 = p->args[0];
		a1 = p->args[1];
		a2 = p->args[2];
		a3 = p->args[3];
		a4 = p->args[4];
		a5 = p->args[5];
		bpf_map_delete_elem(&pending, &tid);
	}

	// A successful exec is reported by sched_process_exec, with the new
	// process's data; only failures come from here.
	if ((sys == SYS_EXECVE || sys == SYS_EXECVEAT) && ret == 0)
		return 0;

	switch (sys) {
	case SYS_CLOSE:
	case SYS_DUP:
	case SYS_DUP2:
	case SYS_DUP3:
	case SYS_FCNTL:
	case SYS_PIPE:
	case SYS_PIPE2: {
		// A dup of a file is sent whole, with the path of the fd (its open
		// may have been filtered out).
		int dup = sys != SYS_CLOSE && sys != SYS_PIPE && sys != SYS_PIPE2;
		int fdpath = dup && open_filter && ret >= 0;
		struct record *r = new_record(fdpath ? KIND_SYSCALL : KIND_SHORT, sys);
		if (!r)
			return 0;
		r->fd = (int)a0;
		fill_task(r);
		r->ret = ret;
		if (sys == SYS_DUP2 || sys == SYS_DUP3) {
			r->fd2 = (int)a1;
			if (sys == SYS_DUP3)
				r->flags = a2;
		} else if (sys == SYS_FCNTL) {
			r->request = (int)a1;
			r->arg = a2;
		} else if (sys == SYS_PIPE || sys == SYS_PIPE2) {
			// The two new fds, written by the kernel into the user's array.
			int fds[2] = {-1, -1};
			if (ret == 0)
				bpf_probe_read_user(fds, sizeof(fds), (void *)a0);
			r->fd = fds[0];
			r->fd2 = fds[1];
			if (sys == SYS_PIPE2)
				r->flags = a1;
		}
		int withpath = fdpath && put_fd_path(r);
		put_fkeys(r, sys, ret);
		if (withpath) {
			send(r);
		} else {
			r->kind = KIND_SHORT;
			send_size(r, SHORT_SIZE);
		}
		return 0;
	}
	}

	// The open filter reads the path first, into the scratch record's data
	// (which new_record leaves alone), so a sent open reads it only once.
	long pathn = 0;
	if (open_filter && (sys == SYS_OPEN || sys == SYS_OPENAT || sys == SYS_OPENAT2 || sys == SYS_CREAT)) {
		__u32 zero = 0;
		struct record *s = bpf_map_lookup_elem(&scratch, &zero);
		if (!s)
			return 0;
		const void *upath = (void *)a0;
		__u64 flags = a1;
		if (sys == SYS_CREAT) {
			flags = 0x241;
		} else if (sys == SYS_OPENAT) {
			upath = (void *)a1;
			flags = a2;
		} else if (sys == SYS_OPENAT2) {
			upath = (void *)a1;
			flags = 0;
			bpf_probe_read_user(&flags, sizeof(flags), (void *)a2); // open_how.flags
		}
		pathn = bpf_probe_read_user_str(s->data, STR_MAX, upath);
		if (!open_wanted(s, pathn, flags, ret)) {
			count(CNT_FILTERED);
			return 0;
		}
	}

	struct record *r = new_record(KIND_SYSCALL, sys);
	if (!r)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	fill_task(r);
	r->ret = ret;

	switch (sys) {
	case SYS_OPEN:
		put_open_path(r, pathn, (void *)a0);
		r->flags = a1;
		r->mode = a2;
		if (ret >= 0)
			put_file_id(r, fd_file(ret));
		break;
	case SYS_CREAT:
		put_open_path(r, pathn, (void *)a0);
		r->flags = 0x241; // O_CREAT|O_WRONLY|O_TRUNC, as creat is defined
		r->mode = a1;
		if (ret >= 0)
			put_file_id(r, fd_file(ret));
		break;
	case SYS_OPENAT:
		r->dirfd = (int)a0;
		put_open_path(r, pathn, (void *)a1);
		r->flags = a2;
		r->mode = a3;
		if (ret >= 0)
			put_file_id(r, fd_file(ret));
		break;
	case SYS_OPENAT2: {
		r->dirfd = (int)a0;
		put_open_path(r, pathn, (void *)a1);
		struct open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)a2);
		r->flags = how.flags;
		r->mode = how.mode;
		r->arg = how.resolve;
		if (ret >= 0)
			put_file_id(r, fd_file(ret));
		break;
	}
	case SYS_EXECVE:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		break;
	case SYS_EXECVEAT:
		r->dirfd = (int)a0;
		put_user_str(r, SLOT_PATH, (void *)a1, STR_MAX);
		r->flags = a4;
		break;
	case SYS_CONNECT:
		r->fd = (int)a0;
		put_user_sockaddr(r, (void *)a1, a2);
		put_sock_tuple(r, r->fd, FKEY_FD);
		break;
	case SYS_ACCEPT:
	case SYS_ACCEPT4:
		r->fd = (int)a0;
		if (sys == SYS_ACCEPT4)
			r->flags = a3;
		if (ret >= 0)
			put_sock_tuple(r, ret, FKEY_RET);
		break;
	case SYS_BIND:
		r->fd = (int)a0;
		put_user_sockaddr(r, (void *)a1, a2);
		put_sock_tuple(r, r->fd, FKEY_FD);
		break;
	case SYS_LISTEN:
		r->fd = (int)a0;
		r->arg = a1;
		put_sock_tuple(r, r->fd, FKEY_FD);
		break;
	case SYS_SOCKET:
		r->domain = a0;
		r->type = a1;
		r->protocol = a2;
		break;
	case SYS_SENDTO:
	case SYS_RECVFROM:
		r->fd = (int)a0;
		r->arg = a2;
		if (sys == SYS_SENDTO) {
			put_user_sockaddr(r, (void *)a4, a5);
		} else if (a4 && a5) {
			int alen = 0;
			bpf_probe_read_user(&alen, sizeof(alen), (void *)a5);
			put_user_sockaddr(r, (void *)a4, alen);
		}
		put_sock_tuple(r, r->fd, FKEY_FD);
		break;
	case SYS_PTRACE:
		r->request = (long)a0;
		r->target_pid = (int)a1;
		r->arg = a2;
		r->arg2 = a3;
		break;
	case SYS_MEMFD_CREATE:
		put_user_str(r, SLOT_NAME, (void *)a0, 256);
		r->flags = a1;
		break;
	case SYS_SETUID:
	case SYS_SETGID:
		r->ids[0] = a0;
		break;
	case SYS_SETRESUID:
	case SYS_SETRESGID:
		r->ids[0] = a0;
		r->ids[1] = a1;
		r->ids[2] = a2;
		break;
	case SYS_INIT_MODULE:
		r->arg = a1;
		put_user_str(r, SLOT_PATH, (void *)a2, STR_MAX);
		break;
	case SYS_FINIT_MODULE: {
		r->fd = (int)a0;
		put_user_str(r, SLOT_PATH, (void *)a1, STR_MAX);
		r->flags = a2;
		struct file *f = fd_file(r->fd);
		if (f) {
			__u32 off = r->data_len;
			if (put_component(r, BPF_CORE_READ(f, f_path.dentry, d_name.name)) &&
			    r->data_len > off) {
				r->str_off[SLOT_NAME] = off;
				r->str_len[SLOT_NAME] = r->data_len - off - 1;
			}
		}
		break;
	}
	case SYS_DELETE_MODULE:
		put_user_str(r, SLOT_NAME, (void *)a0, 64);
		r->flags = a1;
		break;
	case SYS_UNLINK:
	case SYS_RMDIR:
	case SYS_CHDIR:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		break;
	case SYS_UNLINKAT:
		r->dirfd = (int)a0;
		put_user_str(r, SLOT_PATH, (void *)a1, STR_MAX);
		r->flags = a2;
		break;
	case SYS_RENAME:
	case SYS_LINK:
	case SYS_SYMLINK:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		put_user_str(r, SLOT_PATH2, (void *)a1, STR_MAX);
		break;
	case SYS_RENAMEAT:
	case SYS_RENAMEAT2:
	case SYS_LINKAT:
		r->dirfd = (int)a0;
		put_user_str(r, SLOT_PATH, (void *)a1, STR_MAX);
		r->dirfd2 = (int)a2;
		put_user_str(r, SLOT_PATH2, (void *)a3, STR_MAX);
		if (sys != SYS_RENAMEAT)
			r->flags = a4;
		break;
	case SYS_SYMLINKAT:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		r->dirfd2 = (int)a1;
		put_user_str(r, SLOT_PATH2, (void *)a2, STR_MAX);
		break;
	case SYS_MKDIR:
	case SYS_CHMOD:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		r->mode = a1;
		break;
	case SYS_MKDIRAT:
	case SYS_FCHMODAT:
		r->dirfd = (int)a0;
		put_user_str(r, SLOT_PATH, (void *)a1, STR_MAX);
		r->mode = a2;
		break;
	case SYS_FCHMOD:
		r->fd = (int)a0;
		r->mode = a1;
		put_fd_path(r);
		break;
	case SYS_MOUNT:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		put_user_str(r, SLOT_PATH2, (void *)a1, STR_MAX);
		put_user_str(r, SLOT_NAME, (void *)a2, 256);
		r->flags = a3;
		break;
	case SYS_UMOUNT2:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		r->flags = a1;
		break;
	case SYS_BPF:
		r->request = (int)a0;
		break;
	case SYS_SETNS:
		r->fd = (int)a0;
		r->flags = a1;
		put_fd_path(r);
		break;
	case SYS_UNSHARE:
	case SYS_USERFAULTFD:
		r->flags = a0;
		break;
	case SYS_KILL:
		r->target_pid = (int)a0;
		r->signal = (int)a1;
		break;
	case SYS_PRCTL:
		r->request = (int)a0;
		r->arg = a1;
		if (a0 == PR_SET_NAME)
			put_user_str(r, SLOT_NAME, (void *)a1, 16);
		break;
	case SYS_FCHDIR:
		r->fd = (int)a0;
		break;
	case SYS_CLONE:
		r->flags = a0;
		break;
	case SYS_SOCKETPAIR: {
		// The two new fds, written by the kernel into the user's array.
		int fds[2] = {-1, -1};
		void *ufds = (void *)a3;
		if (ret == 0)
			bpf_probe_read_user(fds, sizeof(fds), ufds);
		r->fd = fds[0];
		r->fd2 = fds[1];
		if (sys == SYS_PIPE2)
			r->flags = a1;
		if (sys == SYS_SOCKETPAIR) {
			r->domain = a0;
			r->type = a1;
			r->protocol = a2;
		}
		break;
	}
	case SYS_SENDMSG:
	case SYS_RECVMSG: {
		r->fd = (int)a0;
		r->flags = a2;
		struct user_msghdr mh = {};
		if (!bpf_probe_read_user(&mh, sizeof(mh), (void *)a1) && mh.msg_name && mh.msg_namelen > 0)
			put_user_sockaddr(r, mh.msg_name, mh.msg_namelen);
		put_sock_tuple(r, r->fd, FKEY_FD);
		break;
	}
	case SYS_CHROOT:
		put_user_str(r, SLOT_PATH, (void *)a0, STR_MAX);
		break;
	case SYS_CLONE3: {
		__u64 flags = 0;
		bpf_probe_read_user(&flags, sizeof(flags), (void *)a0);
		r->flags = flags;
		break;
	}
	}
	if ((sys == SYS_CHDIR || sys == SYS_FCHDIR) && ret == 0) {
		struct path pwd = BPF_CORE_READ(t, fs, pwd);
		put_path(r, SLOT_CWD, &pwd);
	}
	put_fkeys(r, sys, ret);
	send(r);
	return 0;
}

#define SYSCALL(name, id, nargs)                                                          \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                       \
	int enter_##name(struct sys_enter_ctx *ctx) { return on_enter(ctx, id, nargs); } \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                        \
	int exit_##name(struct sys_exit_ctx *ctx) { return on_exit(ctx, id); }

SYSCALL(open, SYS_OPEN, 3)
SYSCALL(openat, SYS_OPENAT, 4)
SYSCALL(openat2, SYS_OPENAT2, 4)
SYSCALL(creat, SYS_CREAT, 2)
SYSCALL(execve, SYS_EXECVE, 3)
SYSCALL(execveat, SYS_EXECVEAT, 5)
SYSCALL(connect, SYS_CONNECT, 3)
SYSCALL(accept, SYS_ACCEPT, 3)
SYSCALL(accept4, SYS_ACCEPT4, 4)
SYSCALL(bind, SYS_BIND, 3)
SYSCALL(listen, SYS_LISTEN, 2)
SYSCALL(socket, SYS_SOCKET, 3)
SYSCALL(sendto, SYS_SENDTO, 6)
SYSCALL(recvfrom, SYS_RECVFROM, 6)
SYSCALL(dup, SYS_DUP, 1)
SYSCALL(dup2, SYS_DUP2, 2)
SYSCALL(dup3, SYS_DUP3, 3)
SYSCALL(close, SYS_CLOSE, 1)
SYSCALL(ptrace, SYS_PTRACE, 4)
SYSCALL(memfd_create, SYS_MEMFD_CREATE, 2)
SYSCALL(setuid, SYS_SETUID, 1)
SYSCALL(setgid, SYS_SETGID, 1)
SYSCALL(setresuid, SYS_SETRESUID, 3)
SYSCALL(setresgid, SYS_SETRESGID, 3)
SYSCALL(init_module, SYS_INIT_MODULE, 3)
SYSCALL(finit_module, SYS_FINIT_MODULE, 3)
SYSCALL(delete_module, SYS_DELETE_MODULE, 2)
SYSCALL(unlink, SYS_UNLINK, 1)
SYSCALL(unlinkat, SYS_UNLINKAT, 3)
SYSCALL(rename, SYS_RENAME, 2)
SYSCALL(renameat, SYS_RENAMEAT, 4)
SYSCALL(renameat2, SYS_RENAMEAT2, 5)
SYSCALL(symlink, SYS_SYMLINK, 2)
SYSCALL(symlinkat, SYS_SYMLINKAT, 3)
SYSCALL(link, SYS_LINK, 2)
SYSCALL(linkat, SYS_LINKAT, 5)
SYSCALL(mkdir, SYS_MKDIR, 2)
SYSCALL(mkdirat, SYS_MKDIRAT, 3)
SYSCALL(rmdir, SYS_RMDIR, 1)
SYSCALL(chmod, SYS_CHMOD, 2)
SYSCALL(fchmod, SYS_FCHMOD, 2)
SYSCALL(fchmodat, SYS_FCHMODAT, 3)
SYSCALL(mount, SYS_MOUNT, 5)
SYSCALL(umount, SYS_UMOUNT2, 2) // umount2(2) is the kernel's sys_umount
SYSCALL(bpf, SYS_BPF, 3)
SYSCALL(setns, SYS_SETNS, 2)
SYSCALL(unshare, SYS_UNSHARE, 1)
SYSCALL(userfaultfd, SYS_USERFAULTFD, 1)
SYSCALL(kill, SYS_KILL, 2)
SYSCALL(prctl, SYS_PRCTL, 5)
SYSCALL(chdir, SYS_CHDIR, 1)
SYSCALL(fchdir, SYS_FCHDIR, 1)
SYSCALL(fcntl, SYS_FCNTL, 3)
SYSCALL(clone, SYS_CLONE, 5)
SYSCALL(clone3, SYS_CLONE3, 2)
SYSCALL(fork, SYS_FORK, 0)
SYSCALL(vfork, SYS_VFORK, 0)
SYSCALL(pipe, SYS_PIPE, 1)
SYSCALL(pipe2, SYS_PIPE2, 2)
SYSCALL(socketpair, SYS_SOCKETPAIR, 4)
SYSCALL(sendmsg, SYS_SENDMSG, 3)
SYSCALL(recvmsg, SYS_RECVMSG, 3)
SYSCALL(chroot, SYS_CHROOT, 1)

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

// The process data a rule may want after an exec: sent with the exec and
// nowhere else, since it only changes there (and cwd on chdir).
SEC("tracepoint/sched/sched_process_exec")
int sched_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	if (excluded())
		return 0;
	// Which exec: the enter program's record when execveat is attached (the
	// saved orig_ax register was seen to read 59, execve, after an execveat
	// by the time this tracepoint runs, so it is only the fallback).
	__u32 old_tid = ctx->old_pid;
	__u16 sys = user_regs()->orig_ax == NR_EXECVEAT ? SYS_EXECVEAT : SYS_EXECVE;
	struct pending *p = bpf_map_lookup_elem(&pending, &old_tid);
	if (p && p->sys == SYS_EXECVEAT)
		sys = SYS_EXECVEAT;
	// A non-leader thread that execs takes the leader's tid: its entry
	// would never meet its exit.
	if (p && old_tid != (__u32)bpf_get_current_pid_tgid())
		bpf_map_delete_elem(&pending, &old_tid);

	struct record *r = new_record(KIND_EXEC, sys);
	if (!r)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	fill_task(r);

	// The filename as given to exec, from the tracepoint's own copy.
	__u32 loc = ctx->__data_loc_filename & 0xffff;
	__u32 off = r->data_len;
	__u64 at = off;
	BOUND(at, 0x3fff);
	long n = bpf_probe_read_kernel_str(&r->data[at], STR_MAX, (void *)ctx + loc);
	if (n > 0) {
		if (n >= STR_MAX)
			truncated(r);
		r->str_off[SLOT_PATH] = off;
		r->str_len[SLOT_PATH] = n - 1;
		r->data_len = off + n;
	}

	// argv, NUL-separated, from the new image's stack.
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long as = BPF_CORE_READ(mm, arg_start), ae = BPF_CORE_READ(mm, arg_end);
	if (ae > as)
		put_user_bytes(r, SLOT_ARGS, (void *)as, ae - as);

	struct file *exe = BPF_CORE_READ(mm, exe_file);
	if (exe) {
		struct path ep = BPF_CORE_READ(exe, f_path);
		put_path(r, SLOT_EXE, &ep);
		struct inode *ino = BPF_CORE_READ(exe, f_inode);
		r->exe_ino = BPF_CORE_READ(ino, i_ino);
		char name[8] = {};
		bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
		r->exe_memfd = name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' &&
			       name[4] == 'd' && name[5] == ':';
		if (BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
			struct ovl_inode *oi = container_of(ino, struct ovl_inode, vfs_inode);
			struct dentry *upper = BPF_CORE_READ(oi, __upperdentry);
			r->exe_upper = upper && BPF_CORE_READ(upper, d_inode, i_ino) == r->exe_ino;
		}
	}
	struct path pwd = BPF_CORE_READ(t, fs, pwd);
	put_path(r, SLOT_CWD, &pwd);
	put_cgroup(r, t);
	// The environment last: it is the first thing to give up room.
	unsigned long es = BPF_CORE_READ(mm, env_start), ee = BPF_CORE_READ(mm, env_end);
	if (capture_env && ee > es)
		put_user_bytes(r, SLOT_ENV, (void *)es, ee - es);

	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	struct tty_struct *tty = BPF_CORE_READ(sig, tty);
	if (tty) {
		__u32 major = BPF_CORE_READ(tty, driver, major);
		__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
		r->tty = major << 20 | minor;
	}
	r->sid = pid_nr(BPF_CORE_READ(sig, pids[PIDTYPE_SID]));
	r->pgid = pid_nr(BPF_CORE_READ(sig, pids[PIDTYPE_PGID]));
	const struct cred *c = BPF_CORE_READ(t, cred);
	r->cap_inh = BPF_CORE_READ(c, cap_inheritable.val);
	r->cap_prm = BPF_CORE_READ(c, cap_permitted.val);
	r->cap_eff = BPF_CORE_READ(c, cap_effective.val);
	r->start_boot_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	send(r);
	return 0;
}

// A new task, reported from the parent with the child's ids (tp_btf gives
// the child's task_struct, which the classic tracepoint does not).
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	if (excluded())
		return 0;
	// Which syscall made the task: the number the parent entered with
	// (kernel threads have none).
	__u16 sys = 0;
	switch (user_regs()->orig_ax) {
	case NR_CLONE:
		sys = SYS_CLONE;
		break;
	case NR_CLONE3:
		sys = SYS_CLONE3;
		break;
	case NR_FORK:
		sys = SYS_FORK;
		break;
	case NR_VFORK:
		sys = SYS_VFORK;
		break;
	}
	struct record *r = new_record(KIND_FORK, sys);
	if (!r)
		return 0;
	fill_task(r);
	r->child_pid = BPF_CORE_READ(child, tgid);
	r->child_tid = BPF_CORE_READ(child, pid);
	r->start_boot_ns = BPF_CORE_READ(child, start_boottime);
	send(r);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	if (excluded())
		return 0;
	// A thread that dies inside a syscall leaves its entry behind.
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&pending, &tid);
	struct record *r = new_record(KIND_EXIT, 0);
	if (!r)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	fill_task(r);
	r->exit_code = BPF_CORE_READ(t, exit_code);
	r->group_dead = ctx->group_dead; // the last thread of the process

	send(r);
	return 0;
}
