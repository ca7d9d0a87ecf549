package bpf

import "errors"

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("bpf: capture closed")

// Config says what to capture.
type Config struct {
	// RingSize is the ring buffer's size in bytes: a power of two and a
	// multiple of the page size; 0 means DefaultRingSize.
	RingSize int
	// Syscalls are the Falco event type names to attach (see
	// SupportedSyscalls); unknown names are an error.
	Syscalls []string
	// NoStateSyscalls leaves out StateSyscalls (attach exactly Syscalls).
	NoStateSyscalls bool
	// ExcludePID is a thread group id whose events the kernel drops (the
	// detector's own process); 0 excludes nothing.
	ExcludePID int
}

// DefaultRingSize is the ring buffer size when Config.RingSize is 0.
const DefaultRingSize = 8 << 20

// Stats are the capture's counters since Load. Seen counts every record the
// kernel programs tried to send; Seen = Delivered + DroppedRingFull, where
// Delivered counts what entered the ring (read or still waiting to be read).
type Stats struct {
	Seen            uint64
	Delivered       uint64
	DroppedRingFull uint64
	// Truncated counts strings (paths, argv, names) cut to fit their buffer:
	// the event was still sent, with Event.Truncated set.
	Truncated uint64
	// Decoded counts records read and decoded in user space, by kind and,
	// for KindSyscall, by syscall name; DecodeErrors counts records that
	// could not be decoded (a bug, never expected).
	DecodedByKind    map[string]uint64
	DecodedBySyscall map[string]uint64
	DecodeErrors     uint64
}
