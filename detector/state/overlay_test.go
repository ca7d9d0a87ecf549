package state

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExeUpperLayer runs one binary copied to an overlayfs upper layer and
// one from the lower layer, both through the merged mount.
func TestExeUpperLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to mount overlayfs (CI runs tests as root)")
	}
	dir := t.TempDir()
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "upper", "upsleep"), img, 0o755)
	os.WriteFile(filepath.Join(dir, "lower", "lowsleep"), img, 0o755)
	merged := filepath.Join(dir, "merged")
	opts := "lowerdir=" + filepath.Join(dir, "lower") + ",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)

	tbl := New(Options{})
	for name, want := range map[string]bool{"upsleep": true, "lowsleep": false} {
		cmd := exec.Command(filepath.Join(merged, name), "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for the exec to complete before reading /proc.
		exe := filepath.Join(merged, name)
		for i := 0; i < 200; i++ {
			if l, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe"); l == exe {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		p := tbl.Lookup(uint32(cmd.Process.Pid))
		cmd.Process.Kill()
		cmd.Wait()
		if p == nil {
			t.Fatalf("%s not found in /proc", name)
		}
		if p.ExePath != filepath.Join(merged, name) || p.ExeUpperLayer != want {
			t.Errorf("%s: exepath %q upper layer %v, want %v", name, p.ExePath, p.ExeUpperLayer, want)
		}
	}
}
