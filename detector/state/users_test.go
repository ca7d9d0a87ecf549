package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	dir := t.TempDir()
	pw, gr := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	os.WriteFile(pw, []byte("root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000::/home/alice:/bin/zsh\n"), 0o644)
	os.WriteFile(gr, []byte("root:x:0:\nstaff:x:50:alice\n"), 0o644)
	u := &Users{PasswdPath: pw, GroupPath: gr}
	if e, ok := u.User(1000); !ok || e.Name != "alice" || e.Home != "/home/alice" || e.Shell != "/bin/zsh" {
		t.Errorf("User(1000) = %+v, %v", e, ok)
	}
	if n, ok := u.Group(50); !ok || n != "staff" {
		t.Errorf("Group(50) = %q, %v", n, ok)
	}
	if _, ok := u.User(1001); ok {
		t.Error("User(1001) found in a file without it")
	}
	// A user added later is found once the file changed (after the 1 s
	// re-check interval).
	os.WriteFile(pw, []byte("root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n"), 0o644)
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(pw, future, future)
	u.lastCheck = time.Time{}
	if e, ok := u.User(1001); !ok || e.Name != "bob" {
		t.Errorf("User(1001) after change = %+v, %v", e, ok)
	}
}
