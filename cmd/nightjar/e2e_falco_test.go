package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nightjar-sec/nightjar/alert"
)

// falcoRules is Falco's own stable ruleset, unmodified.
const falcoRules = "../../../shared/compat/falco/falco_rules.yaml"

// Falco's stable rules that a host without containers can trigger, each
// triggered for real, with Falco's rules file loaded unmodified.
func TestFalcoRulesEndToEnd(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	if _, err := os.Stat(falcoRules); err != nil {
		t.Fatalf("Falco's rules (the shared compat directory): %v", err)
	}
	r := newReceiver(t)
	// rule_matching all: several of Falco's rules overlap (untrusted and
	// trusted-after-startup reads), and each must fire.
	p := startNightjar(t, r, "-r", falcoRules, "-o", "rule_matching=all")
	dir := t.TempDir()

	// Started first: it must run for more than 5 s before its read.
	nginx := helperAs(t, dir, "nginx")
	late := exec.Command(nginx, "6s", "/etc/shadow")
	late.Env = append(os.Environ(), "NJ_HELPER=sleep-open")
	if err := late.Start(); err != nil {
		t.Fatal(err)
	}
	defer late.Process.Kill()

	byName := func(rule, name string) func(*alert.Alert) bool { return byField(rule, "proc.name", name) }
	t.Run("Read sensitive file untrusted", func(t *testing.T) {
		runHelper(t, helperAs(t, dir, "fjcat"), "open", "/etc/shadow")
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("Read sensitive file untrusted", "fjcat"),
			map[string]string{"fd.name": "/etc/shadow"})
	})
	t.Run("Directory traversal monitored file read", func(t *testing.T) {
		runHelper(t, helperAs(t, dir, "fjtrav"), "open", "/etc/../etc/../etc/hostname")
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("Directory traversal monitored file read", "fjtrav"),
			map[string]string{"fd.name": "/etc/hostname", "fd.nameraw": "/etc/../etc/../etc/hostname"})
	})
	t.Run("Run shell untrusted", func(t *testing.T) {
		runHelper(t, helperAs(t, dir, "httpd"), "spawn", "/bin/sh", "-c", "true")
		expectAlert(t, r, p, t.Name(), alert.PriorityNotice, byField("Run shell untrusted", "proc.pname", "httpd"), nil)
	})
	t.Run("System user interactive", func(t *testing.T) {
		runHelper(t, helperAs(t, dir, "sshd"), "spawn-as-nobody", "/bin/true")
		expectAlert(t, r, p, t.Name(), alert.PriorityInformational, byField("System user interactive", "proc.pname", "sshd"),
			map[string]string{"user.name": "nobody"})
	})
	t.Run("Search Private Keys or Passwords", func(t *testing.T) {
		runCmd(t, "grep", "-rl", "BEGIN RSA PRIVATE", dir)
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byField("Search Private Keys or Passwords", "proc.cmdline",
			"grep -rl BEGIN RSA PRIVATE "+dir), nil)
	})
	t.Run("Find AWS Credentials", func(t *testing.T) {
		runCmd(t, "find", dir, "-path", "*.aws/credentials")
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byField("Find AWS Credentials", "proc.cmdline",
			"find "+dir+" -path *.aws/credentials"), nil)
	})
	t.Run("Clear Log Activities", func(t *testing.T) {
		log := "/var/log/nightjar-e2e-" + randHex(4) + ".log"
		if err := os.WriteFile(log, []byte("evidence\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(log)
		runHelper(t, helperAs(t, dir, "fjwipe"), "open-trunc", log)
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("Clear Log Activities", "fjwipe"), map[string]string{"fd.name": log})
	})
	t.Run("Remove Bulk Data from Disk", func(t *testing.T) {
		f := filepath.Join(dir, "data")
		os.WriteFile(f, []byte("data"), 0o600)
		runCmd(t, "shred", "-u", f)
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("Remove Bulk Data from Disk", "shred"), nil)
	})
	t.Run("Create Symlink Over Sensitive Files", func(t *testing.T) {
		link := filepath.Join(dir, "shadow-link")
		runHelper(t, helperAs(t, dir, "fjln"), "symlink", "/etc/shadow", link)
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("Create Symlink Over Sensitive Files", "fjln"),
			map[string]string{"evt.arg.target": "/etc/shadow", "evt.arg.linkpath": link})
	})
	t.Run("Create Hardlink Over Sensitive Files", func(t *testing.T) {
		link := "/etc/.nightjar-e2e-" + randHex(4)
		defer os.Remove(link)
		runHelper(t, helperAs(t, dir, "fjlink"), "link", "/etc/shadow", link)
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("Create Hardlink Over Sensitive Files", "fjlink"),
			map[string]string{"evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": link})
	})
	t.Run("PTRACE attached to process", func(t *testing.T) {
		runHelper(t, helperAs(t, dir, "fjinject"), "ptrace-attach")
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("PTRACE attached to process", "fjinject"), nil)
	})
	t.Run("PTRACE anti-debug attempt", func(t *testing.T) {
		runHelper(t, helperAs(t, dir, "fjantidebug"), "traceme")
		expectAlert(t, r, p, t.Name(), alert.PriorityNotice, byName("PTRACE anti-debug attempt", "fjantidebug"), nil)
	})
	t.Run("Execution from /dev/shm", func(t *testing.T) {
		bin := "/dev/shm/nj-e2e-" + randHex(4)
		data, _ := os.ReadFile("/bin/true")
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(bin)
		runCmd(t, bin)
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byField("Execution from /dev/shm", "proc.exepath", bin), nil)
	})
	t.Run("Fileless execution via memfd_create", func(t *testing.T) {
		runHelper(t, helperAs(t, dir, "fjmemfd"), "memfd-exec")
		expectAlert(t, r, p, t.Name(), alert.PriorityCritical, byField("Fileless execution via memfd_create", "proc.pname", "nightjar.test"), nil)
	})
	t.Run("Disallowed SSH Connection Non Standard Port", func(t *testing.T) {
		// Falco's outbound macro leaves out loopback and private networks:
		// connect to a documentation address inside a network namespace
		// made for the test (no other network is touched).
		ssh := helperAs(t, dir, "ssh")
		cmd := exec.Command("unshare", "-n", "sh", "-c",
			"ip link set lo up && ip addr add 198.51.100.1/32 dev lo && exec "+ssh+" 198.51.100.1:4444")
		cmd.Env = append(os.Environ(), "NJ_HELPER=listen-connect")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ssh in a network namespace: %v\n%s", err, out)
		}
		expectAlert(t, r, p, t.Name(), alert.PriorityNotice, byName("Disallowed SSH Connection Non Standard Port", "ssh"),
			map[string]string{"fd.rport": "4444"})
	})
	t.Run("Read sensitive file trusted after startup", func(t *testing.T) {
		if err := late.Wait(); err != nil {
			t.Fatalf("nginx helper: %v", err)
		}
		expectAlert(t, r, p, t.Name(), alert.PriorityWarning, byName("Read sensitive file trusted after startup", "nginx"),
			map[string]string{"fd.name": "/etc/shadow"})
	})

	// Falco's container rules, in a container made for the test (a
	// runtime-named cgroup).
	t.Run("container", func(t *testing.T) {
		c := newContainer(t)
		inCtr := func(rule, name string) func(*alert.Alert) bool {
			return func(a *alert.Alert) bool {
				return a.Rule == rule && a.OutputFields["proc.name"] == name
			}
		}
		ctrDir := t.TempDir()
		// The shell's parent is named as runc is (Falco's container_entrypoint).
		c.run(t, helperAs(t, ctrDir, "runc"), "pty-shell")
		expectAlert(t, r, p, "Terminal shell in container", alert.PriorityNotice,
			func(a *alert.Alert) bool {
				return a.Rule == "Terminal shell in container" && a.OutputFields["proc.pname"] == "runc"
			}, nil)

		nc, err := exec.LookPath("nc.traditional")
		if err != nil {
			t.Fatal("nc.traditional (Debian package netcat-traditional, listed in .ci/packages) is not installed")
		}
		ncLink := filepath.Join(ctrDir, "nc")
		if err := os.Symlink(nc, ncLink); err != nil {
			t.Fatal(err)
		}
		ln := listen(t, "127.0.0.1:0")
		c.run(t, ncLink, "", "-w", "1", "-e", "/bin/true", "127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		expectAlert(t, r, p, "Netcat Remote Code Execution in Container", alert.PriorityWarning,
			inCtr("Netcat Remote Code Execution in Container", "nc"), nil)

		c.run(t, helperAs(t, ctrDir, "fjsniff"), "packet-socket")
		expectAlert(t, r, p, "Packet socket created in container", alert.PriorityNotice,
			inCtr("Packet socket created in container", "fjsniff"), nil)

		c.run(t, helperAs(t, ctrDir, "fjrev"), "revshell", ln.Addr().String())
		expectAlert(t, r, p, "Redirect STDOUT/STDIN to Network Connection in Container", alert.PriorityNotice,
			inCtr("Redirect STDOUT/STDIN to Network Connection in Container", "fjrev"), nil)

		// A binary written into the container's overlay (upper layer) and run.
		ov := t.TempDir()
		for _, d := range []string{"lower", "upper", "work", "merged"} {
			os.Mkdir(filepath.Join(ov, d), 0o755)
		}
		merged := filepath.Join(ov, "merged")
		opts := "lowerdir=" + filepath.Join(ov, "lower") + ",upperdir=" + filepath.Join(ov, "upper") + ",workdir=" + filepath.Join(ov, "work")
		if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", opts, merged).CombinedOutput(); err != nil {
			t.Fatalf("mount overlay: %v %s", err, out)
		}
		defer exec.Command("umount", merged).Run()
		data, _ := os.ReadFile("/bin/true")
		if err := os.WriteFile(filepath.Join(merged, "fjdropped"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		c.run(t, filepath.Join(merged, "fjdropped"), "")
		expectAlert(t, r, p, "Drop and execute new binary in container", alert.PriorityCritical,
			inCtr("Drop and execute new binary in container", "fjdropped"), nil)

		ra := filepath.Join(ctrDir, "release_agent")
		os.WriteFile(ra, nil, 0o600)
		c.run(t, helperAs(t, ctrDir, "fjescape"), "open-trunc", ra)
		expectAlert(t, r, p, "Detect release_agent File Container Escapes", alert.PriorityCritical,
			inCtr("Detect release_agent File Container Escapes", "fjescape"), nil)
	})
}
