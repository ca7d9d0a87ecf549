package state

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// User is one /etc/passwd entry.
type User struct {
	Name, Home, Shell string
}

// Users resolves uids and gids to names from the host's /etc/passwd and
// /etc/group. The files are read once and again only when a lookup misses
// and the file changed (checked at most once a second), so a lookup is a map
// read. Safe for concurrent use.
type Users struct {
	PasswdPath, GroupPath string

	mu          sync.Mutex
	users       map[uint32]User
	groups      map[uint32]string
	passwdMtime time.Time
	groupMtime  time.Time
	lastCheck   time.Time
}

// NewUsers returns a resolver for the host's /etc/passwd and /etc/group.
func NewUsers() *Users {
	return &Users{PasswdPath: "/etc/passwd", GroupPath: "/etc/group"}
}

// User returns the passwd entry of uid.
func (u *Users) User(uid uint32) (User, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.users == nil {
		u.reload(true)
	}
	e, ok := u.users[uid]
	if !ok && u.reload(false) {
		e, ok = u.users[uid]
	}
	return e, ok
}

// Group returns the name of gid.
func (u *Users) Group(gid uint32) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.groups == nil {
		u.reload(true)
	}
	n, ok := u.groups[gid]
	if !ok && u.reload(false) {
		n, ok = u.groups[gid]
	}
	return n, ok
}

// reload rereads the files that changed; it reports whether it did.
func (u *Users) reload(force bool) bool {
	now := time.Now()
	if !force && now.Sub(u.lastCheck) < time.Second {
		return false
	}
	u.lastCheck = now
	changed := false
	if m, ok := changedSince(u.PasswdPath, u.passwdMtime); ok || force {
		u.users = map[uint32]User{}
		readColonFile(u.PasswdPath, func(f []string) {
			if len(f) >= 7 {
				if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					if _, dup := u.users[uint32(id)]; !dup {
						u.users[uint32(id)] = User{Name: f[0], Home: f[5], Shell: f[6]}
					}
				}
			}
		})
		u.passwdMtime, changed = m, true
	}
	if m, ok := changedSince(u.GroupPath, u.groupMtime); ok || force {
		u.groups = map[uint32]string{}
		readColonFile(u.GroupPath, func(f []string) {
			if len(f) >= 3 {
				if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					if _, dup := u.groups[uint32(id)]; !dup {
						u.groups[uint32(id)] = f[0]
					}
				}
			}
		})
		u.groupMtime, changed = m, true
	}
	return changed
}

func changedSince(path string, t time.Time) (time.Time, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return t, false
	}
	return st.ModTime(), !st.ModTime().Equal(t)
}

func readColonFile(path string, fn func([]string)) {
	f, err := os.Open(path)
	if err != nil {
		return // no file: every lookup misses, as for an unknown id
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
}
