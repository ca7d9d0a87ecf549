package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// The default rules, each behaviour done for real.
func TestDefaultRulesEndToEnd(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	r := newReceiver(t)
	p := startNightjar(t, r)
	dir := t.TempDir()

	t.Run("sensitive file read", func(t *testing.T) {
		h := helperAs(t, dir, "njcat")
		pid := runHelper(t, h, "open", "/etc/shadow")
		expectAlert(t, r, p, "cat /etc/shadow", alert.PriorityWarning, byPID("Sensitive file read by untrusted program", pid),
			map[string]string{"fd.name": "/etc/shadow", "proc.name": "njcat", "user.name": "root", "container.id": "host"})
	})
	t.Run("symlink to /etc/shadow", func(t *testing.T) {
		h := helperAs(t, dir, "njln")
		link := filepath.Join(dir, "shadow-link")
		pid := runHelper(t, h, "symlink", "/etc/shadow", link)
		expectAlert(t, r, p, "symlink", alert.PriorityWarning, byPID("Symlink created to sensitive file", pid),
			map[string]string{"evt.arg.target": "/etc/shadow", "evt.arg.linkpath": link})
	})
	t.Run("hard link to /etc/shadow", func(t *testing.T) {
		h := helperAs(t, dir, "njlink")
		// The link must be on /etc's file system.
		link := "/etc/.nightjar-e2e-" + randHex(4)
		defer os.Remove(link)
		pid := runHelper(t, h, "link", "/etc/shadow", link)
		expectAlert(t, r, p, "hard link", alert.PriorityWarning, byPID("Hard link created to sensitive file", pid),
			map[string]string{"evt.arg.oldpath": "/etc/shadow"})
	})
	t.Run("ptrace attach", func(t *testing.T) {
		h := helperAs(t, dir, "njinject")
		pid := runHelper(t, h, "ptrace-attach")
		a := expectAlert(t, r, p, "ptrace attach", alert.PriorityWarning, byPID("PTRACE attach to process", pid),
			map[string]string{"proc.name": "njinject"})
		if a != nil && a.OutputFields["evt.arg.request"] != "PTRACE_ATTACH" {
			t.Errorf("request = %v", a.OutputFields["evt.arg.request"])
		}
	})
	t.Run("ptrace anti-debug", func(t *testing.T) {
		h := helperAs(t, dir, "njantidebug")
		pid := runHelper(t, h, "traceme")
		expectAlert(t, r, p, "PTRACE_TRACEME", alert.PriorityNotice, byPID("PTRACE anti-debug", pid), nil)
	})
	t.Run("memfd exec", func(t *testing.T) {
		h := helperAs(t, dir, "njmemfd")
		pid := runHelper(t, h, "memfd-exec")
		expectAlert(t, r, p, "memfd exec", alert.PriorityCritical, byPID("Fileless execution via memfd", pid), nil)
	})
	t.Run("exec from /dev/shm", func(t *testing.T) {
		bin := "/dev/shm/nj-e2e-" + randHex(4)
		data, _ := os.ReadFile("/bin/true")
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(bin)
		pid := runCmd(t, bin)
		expectAlert(t, r, p, "exec from /dev/shm", alert.PriorityWarning, byPID("Execution from /dev/shm", pid),
			map[string]string{"proc.exepath": bin})
	})
	t.Run("exec from /tmp", func(t *testing.T) {
		bin := filepath.Join(dir, "njdropped")
		data, _ := os.ReadFile("/bin/true")
		os.WriteFile(bin, data, 0o755)
		pid := runCmd(t, bin)
		expectAlert(t, r, p, "exec from /tmp", alert.PriorityNotice, byPID("Execution from /tmp", pid), nil)
	})
	t.Run("netcat -e", func(t *testing.T) {
		nc, err := exec.LookPath("nc.traditional")
		if err != nil {
			t.Fatal("nc.traditional (Debian package netcat-traditional, listed in .ci/packages) is not installed")
		}
		ln := listen(t, "127.0.0.1:0")
		pid := runCmd(t, nc, "-w", "1", "-e", "/bin/true", "127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		expectAlert(t, r, p, "nc -e", alert.PriorityCritical, byPID("Netcat with command execution", pid), nil)
	})
	t.Run("ssh to a non-standard port", func(t *testing.T) {
		ln := listen(t, "127.0.0.1:0")
		h := helperAs(t, dir, "ssh")
		pid := runHelper(t, h, "connect", ln.Addr().String())
		expectAlert(t, r, p, "ssh -p", alert.PriorityNotice, byPID("SSH connection to non-standard port", pid),
			map[string]string{"fd.sport": strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "proc.name": "ssh"})
	})
	t.Run("reverse shell", func(t *testing.T) {
		ln := listen(t, "127.0.0.1:0")
		h := helperAs(t, dir, "njrev")
		pid := runHelper(t, h, "revshell", ln.Addr().String())
		expectAlert(t, r, p, "dup2 onto stdin", alert.PriorityWarning, byPID("Standard stream redirected to network socket", pid), nil)
		a := expectAlert(t, r, p, "reverse shell", alert.PriorityCritical, byPID("Reverse shell", pid),
			map[string]string{"proc.name": "sh"})
		if a != nil {
			if s, _ := a.OutputFields["proc.stdin.name"].(string); !strings.HasSuffix(s, "->"+ln.Addr().String()) {
				t.Errorf("proc.stdin.name = %q, want the connection to %s", s, ln.Addr())
			}
		}
	})
	t.Run("mining pool port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:3333")
		if err != nil {
			t.Skipf("port 3333 is taken on this machine: %v", err)
		}
		defer ln.Close()
		h := helperAs(t, dir, "njminer")
		pid := runHelper(t, h, "connect", "127.0.0.1:3333")
		expectAlert(t, r, p, "connect :3333", alert.PriorityCritical, byPID("Connection to mining pool port", pid), nil)
	})
	t.Run("private key search", func(t *testing.T) {
		pid := runCmd(t, "grep", "-rl", "BEGIN RSA PRIVATE", dir)
		expectAlert(t, r, p, "grep for keys", alert.PriorityWarning, byPID("Search for private keys or passwords", pid), nil)
	})
	t.Run("cloud credential search", func(t *testing.T) {
		pid := runCmd(t, "find", dir, "-path", "*.aws/credentials")
		expectAlert(t, r, p, "find aws creds", alert.PriorityWarning, byPID("Search for cloud credentials", pid), nil)
	})
	t.Run("log cleared", func(t *testing.T) {
		log := "/var/log/nightjar-e2e-" + randHex(4) + ".log"
		if err := os.WriteFile(log, []byte("evidence\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(log)
		h := helperAs(t, dir, "njwipe")
		pid := runHelper(t, h, "open-trunc", log)
		expectAlert(t, r, p, "truncate log", alert.PriorityWarning, byPID("Log file cleared", pid), map[string]string{"fd.name": log})
	})
	t.Run("bulk data removal", func(t *testing.T) {
		f := filepath.Join(dir, "data")
		os.WriteFile(f, []byte("data"), 0o600)
		pid := runCmd(t, "shred", "-u", f)
		expectAlert(t, r, p, "shred", alert.PriorityWarning, byPID("Bulk data removal", pid), nil)
	})
	t.Run("release_agent", func(t *testing.T) {
		f := filepath.Join(dir, "release_agent")
		os.WriteFile(f, nil, 0o600)
		h := helperAs(t, dir, "njescape")
		pid := runHelper(t, h, "open-trunc", f)
		expectAlert(t, r, p, "release_agent", alert.PriorityCritical, byPID("Container escape via release_agent", pid), nil)
	})
	t.Run("bpf by unexpected program", func(t *testing.T) {
		h := helperAs(t, dir, "njbpf")
		pid := runHelper(t, h, "bpf-prog")
		expectAlert(t, r, p, "bpf program load", alert.PriorityNotice, byPID("BPF program loaded by unexpected program", pid), nil)
	})
	t.Run("packet socket", func(t *testing.T) {
		h := helperAs(t, dir, "njsniff")
		pid := runHelper(t, h, "packet-socket")
		expectAlert(t, r, p, "AF_PACKET", alert.PriorityNotice, byPID("Packet socket created by unexpected program", pid), nil)
	})
	t.Run("setuid to root", func(t *testing.T) {
		h := helperAs(t, dir, "njsuid")
		pid := runHelper(t, h, "setuid-root")
		expectAlert(t, r, p, "setuid(0)", alert.PriorityCritical, byPID("Privilege change to root by non-root process", pid), nil)
	})

	t.Run("shell spawned by a server", func(t *testing.T) {
		h := helperAs(t, dir, "nginx")
		runHelper(t, h, "spawn", "/bin/sh", "-c", "true")
		expectAlert(t, r, p, "nginx -> sh", alert.PriorityError,
			byField("Shell spawned by server process", "proc.pname", "nginx"), map[string]string{"proc.name": "sh"})
	})
	t.Run("system account with a terminal shell", func(t *testing.T) {
		h := helperAs(t, dir, "njsu")
		runHelper(t, h, "pty-shell", "33") // www-data on Debian
		expectAlert(t, r, p, "www-data shell", alert.PriorityWarning,
			byField("System account ran an interactive shell", "user.uid", "33"), map[string]string{"proc.name": "sh"})
	})
	t.Run("write below /etc", func(t *testing.T) {
		f := "/etc/nightjar-e2e-" + randHex(4)
		defer os.Remove(f)
		pid := runHelper(t, helperAs(t, dir, "njetc"), "create", f)
		expectAlert(t, r, p, "write /etc", alert.PriorityError, byPID("Write below /etc", pid), map[string]string{"fd.name": f})
	})
	t.Run("write and mkdir below a binary directory", func(t *testing.T) {
		f := "/usr/local/bin/nightjar-e2e-" + randHex(4)
		defer os.Remove(f)
		pid := runHelper(t, helperAs(t, dir, "njbin"), "create", f)
		expectAlert(t, r, p, "write bin dir", alert.PriorityError, byPID("Write below binary directory", pid), map[string]string{"fd.name": f})
		d := "/usr/local/bin/.nightjar-e2e-" + randHex(4)
		defer os.Remove(d)
		pid = runHelper(t, helperAs(t, dir, "njmkdir"), "mkdir", d)
		expectAlert(t, r, p, "mkdir bin dir", alert.PriorityError, byPID("Directory created below binary directory", pid), map[string]string{"fs.path.name": d})
	})
	t.Run("shell history and logs deleted", func(t *testing.T) {
		hist := filepath.Join(dir, ".bash_history")
		os.WriteFile(hist, []byte("ls\n"), 0o600)
		pid := runHelper(t, helperAs(t, dir, "njrm"), "unlink", hist)
		expectAlert(t, r, p, "rm .bash_history", alert.PriorityWarning, byPID("Shell history cleared", pid), nil)
		log := "/var/log/nightjar-e2e-" + randHex(4) + ".log"
		os.WriteFile(log, nil, 0o600)
		pid = runHelper(t, helperAs(t, dir, "njrmlog"), "unlink", log)
		expectAlert(t, r, p, "rm log", alert.PriorityWarning, byPID("Log file deleted", pid), map[string]string{"fs.path.name": log})
	})
	// A container made for the test: a runtime-style cgroup; namespaces
	// come from the behaviours themselves (unshare).
	t.Run("container", func(t *testing.T) {
		c := newContainer(t)
		inContainer := map[string]string{"container.id": c.ID}
		h := helperAs(t, dir, "njctr")
		pid := c.run(t, h, "unshare-mount", t.TempDir())
		expectAlert(t, r, p, "unshare in container", alert.PriorityWarning, byPID("Namespace change in container", pid), inContainer)
		expectAlert(t, r, p, "mount in container", alert.PriorityWarning, byPID("Mount in container", pid), inContainer)

		pid = c.run(t, h, "packet-socket")
		expectAlert(t, r, p, "AF_PACKET in container", alert.PriorityNotice, byPID("Packet socket created in container", pid), inContainer)

		ln, err := net.Listen("tcp", "127.0.0.1:6443")
		if err != nil {
			t.Fatalf("port 6443 (the Kubernetes API port) is taken: %v", err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		pid = c.run(t, h, "connect", "127.0.0.1:6443")
		expectAlert(t, r, p, "API server from container", alert.PriorityNotice, byPID("Kubernetes API server contacted from container", pid), inContainer)

		pid = c.run(t, h, "pty-shell")
		a, _ := r.wait(alertTimeout, func(a *alert.Alert) bool {
			pp, _ := num(a.OutputFields["proc.pid"])
			return a.Rule == "Terminal shell in container" && a.OutputFields["container.id"] == c.ID && pp != int64(pid)
		})
		if a == nil {
			t.Errorf("terminal shell in container: no alert\n%s", p.log())
		} else if a.Priority != alert.PriorityNotice || a.OutputFields["proc.name"] != "sh" {
			t.Errorf("terminal shell in container: %s", a.Output)
		}
	})

	// Noise: building and testing a package of this project (go, gcc,
	// git, make) raises nothing of Warning or above. The workload runs in
	// its own session, so its alerts are the ones whose proc.sid is its pid.
	t.Run("noise of a build", func(t *testing.T) {
		out := t.TempDir()
		script := `set -e
go build -o "$1/alert.a" ./alert/
go vet ./alert/
go test -count=1 ./alert/ >/dev/null
git status --short >/dev/null 2>&1 || git --version >/dev/null # a checkout may come without .git
make -n build >/dev/null
if command -v gcc >/dev/null; then printf 'int main(void){return 0;}\n' > "$1/m.c" && gcc -o "$1/m" "$1/m.c" && "$1/m"; fi`
		cmd := exec.Command("sh", "-c", script, "sh", out)
		cmd.Dir = "../.."
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("workload: %v\n%s", err, b)
		}
		sid := int64(cmd.Process.Pid)
		time.Sleep(2 * time.Second) // alerts still on their way
		var seen int
		for _, a := range r.all() {
			s, ok := num(a.OutputFields["proc.sid"])
			if !ok || s != sid {
				continue
			}
			seen++
			if a.Priority.AtLeast(alert.PriorityWarning) {
				t.Errorf("the build raised %s: %s", a.Priority, a.Output)
			}
		}
		t.Logf("the build raised %d alerts below Warning", seen)
	})
}
