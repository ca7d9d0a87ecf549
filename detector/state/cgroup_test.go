package state

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestContainerFromRealCgroup moves a process into a cgroup named as
// docker names its containers' and reads its container id from /proc.
func TestContainerFromRealCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create cgroups (CI runs tests as root)")
	}
	// cgroup v1 (a pids hierarchy) or v2 (the unified root).
	var root string
	for _, r := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(r, "cgroup.procs")); err == nil {
			root = r
			break
		}
	}
	if root == "" {
		t.Fatal("no cgroup hierarchy with cgroup.procs under /sys/fs/cgroup")
	}
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dir := filepath.Join(root, "nightjar-test", "docker-"+id+".scope")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	defer os.Remove(filepath.Join(root, "nightjar-test"))
	defer os.Remove(dir)

	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move pid into the cgroup: %v", err)
	}
	tbl := New(Options{})
	p := tbl.Lookup(uint32(cmd.Process.Pid))
	if p == nil {
		t.Fatal("sleep not found in /proc")
	}
	if p.ContainerID != id[:12] || p.ContainerFullID != id || p.ContainerRuntime != RuntimeDocker {
		t.Errorf("container %q %q %q, want %q docker", p.ContainerID, p.ContainerFullID, p.ContainerRuntime, id[:12])
	}
	// An exec event carries the v2 cgroup path (as the kernel capture
	// does): the container must survive it, on v1 and v2 hosts alike.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	tbl.Remove(p.PID) // as if only the events knew it: no /proc state carried over
	tbl.Put(&Process{PID: p.PID, StartTime: p.StartTime, ContainerID: HostContainerID})
	e := tbl.Exec(&ExecInfo{PID: p.PID, Comm: "sleep", Argv: []string{"sleep", "30"}, StartTime: p.StartTime, Cgroup: cgroupV2Path(string(b))})
	if e.ContainerID != id[:12] || e.ContainerRuntime != RuntimeDocker {
		t.Errorf("after exec (v2 path %q): container %q %q", cgroupV2Path(string(b)), e.ContainerID, e.ContainerRuntime)
	}
	// The process must leave before the cgroup can be removed.
	cmd.Process.Kill()
	cmd.Wait()
}
