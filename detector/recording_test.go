package detector

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/bpf"
)

func TestRecordingRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.njr")
	h := &RecordingHeader{Created: time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC), Hostname: "node-1", Version: "test",
		Syscalls: []string{"openat", "connect"}, Snapshot: []byte(`{"version":1,"processes":[]}`)}
	r, err := CreateRecording(path, h)
	if err != nil {
		t.Fatal(err)
	}
	events := []bpf.Event{
		{Kind: bpf.KindExec, Syscall: bpf.SysExecve, Time: 1, PID: 10, TID: 10, PPID: 1, Comm: "cat", Args: []string{"cat", "/etc/shadow"},
			Exe: "/usr/bin/cat", Cwd: "/root", Fd: -1, Fd2: -1, Dirfd: -1, Dirfd2: -1},
		{Kind: bpf.KindSyscall, Syscall: bpf.SysOpenat, Time: 2, PID: 10, TID: 10, Ret: 3, Fd: -1, Fd2: -1, Dirfd: -100, Dirfd2: -1,
			Path: "/etc/shadow", Flags: 0, Ino: 42},
		{Kind: bpf.KindSyscall, Syscall: bpf.SysConnect, Time: 3, PID: 11, Ret: 0, Fd: 3, Fd2: -1, Dirfd: -1, Dirfd2: -1,
			Addr:   bpf.SockAddr{Family: bpf.AFInet, IP: netip.MustParseAddr("198.51.100.7"), Port: 2222},
			Remote: bpf.SockAddr{Family: bpf.AFInet6, IP: netip.MustParseAddr("::1"), Port: 22}},
		{Kind: bpf.KindExit, Time: 4, PID: 10, GroupDead: true},
	}
	for i := range events {
		if err := r.Write(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	rp, err := OpenRecording(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if !reflect.DeepEqual(&rp.Header, h) {
		t.Fatalf("header %+v, want %+v", rp.Header, h)
	}
	var ev bpf.Event
	for i := range events {
		if err := rp.Read(&ev); err != nil {
			t.Fatal(err)
		}
		// Read into a reused event: nothing from the previous one leaks.
		if !reflect.DeepEqual(ev, events[i]) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, ev, events[i])
		}
	}
	if err := rp.Read(&ev); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("hello"), 0o600)
	if _, err := OpenRecording(bad); err == nil || !strings.Contains(err.Error(), "not a nightjar recording") {
		t.Fatalf("bad file: %v", err)
	}
}
