package bpf

import (
	"testing"
)

func TestLoadAll(t *testing.T) {
	c, err := Load(Config{Syscalls: SupportedSyscalls(), RingSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("attached %d, unavailable %v", len(c.Attached()), c.Unavailable())
}

func TestLoadOne(t *testing.T) {
	c, err := Load(Config{Syscalls: []string{"openat"}, NoStateSyscalls: true, RingSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
}
