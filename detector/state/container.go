package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// HostContainerID is Falco's container.id (and container.name) for
// processes that run outside any container.
const HostContainerID = "host"

// Container runtimes recognised from a cgroup path.
const (
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
	RuntimeCRI        = "cri" // a kubepods cgroupfs path: containerd or cri-o, not told apart
)

// cgroupPrefixes are the systemd scope prefixes each runtime gives a
// container's cgroup ("<prefix><64 hex>.scope"). Order matters: the longer
// prefixes first so "cri-containerd-" is not read as "containerd-".
var cgroupPrefixes = []struct{ prefix, runtime string }{
	{"cri-containerd-", RuntimeContainerd},
	{"docker-", RuntimeDocker},
	{"crio-", RuntimeCRIO},
	{"libpod-", RuntimePodman},
}

// ContainerFromCgroup returns the container id (Falco's 12-character short
// form), the full 64-character id and the runtime for a cgroup path such
// as "/system.slice/docker-<id>.scope" or "/kubepods/besteffort/pod<uid>/<id>";
// a path of no container gives ("host", "", "").
//
// The monitor processes of cri-o and podman (crio-conmon-<id>.scope,
// libpod-conmon-<id>.scope) run on the host, so they are not containers.
func ContainerFromCgroup(path string) (id, full, runtime string) {
	// Scan from the innermost component outwards: a nested cgroup
	// (".../docker-<id>.scope/init") still belongs to the container.
	for path != "" {
		i := strings.LastIndexByte(path, '/')
		comp := path[i+1:]
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
		if f, rt := containerComponent(comp, path); f != "" {
			return f[:12], f, rt
		}
	}
	return HostContainerID, "", ""
}

func containerComponent(comp, parent string) (full, runtime string) {
	base := strings.TrimSuffix(comp, ".scope")
	for _, p := range cgroupPrefixes {
		if rest, ok := strings.CutPrefix(base, p.prefix); ok {
			if isHexID(rest) {
				return rest, p.runtime
			}
			return "", ""
		}
	}
	if !isHexID(base) {
		return "", ""
	}
	// A bare 64-hex component: cgroupfs drivers. Its parent says whose.
	switch {
	case strings.Contains(parent, "kubepods"):
		return base, RuntimeCRI
	case strings.HasSuffix(parent, "/libpod_parent") || strings.Contains(parent, "libpod"):
		return base, RuntimePodman
	default: // "/docker/<id>" and docker-in-docker nestings
		return base, RuntimeDocker
	}
}

func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ContainerFromCgroupFile reads a /proc/<pid>/cgroup file's content (cgroup
// v2 "0::/path" or v1 "N:controllers:/path" lines) and returns the first
// container found on any line.
func ContainerFromCgroupFile(content string) (id, full, runtime string) {
	for line := range strings.SplitSeq(content, "\n") {
		// the path is after the second colon
		i := strings.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := strings.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		if id, full, rt := ContainerFromCgroup(line[i+1+j+1:]); full != "" {
			return id, full, rt
		}
	}
	return HostContainerID, "", ""
}

// containerNames resolves container names where the runtime keeps them in
// a local file (docker's config.v2.json); others stay empty. Results,
// misses included, are cached by full id.
type containerNames struct {
	mu        sync.Mutex
	dockerDir string
	cache     map[string]string
}

func (c *containerNames) name(full, runtime string) string {
	if full == "" {
		return HostContainerID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.cache[full]; ok {
		return n
	}
	n := ""
	if runtime == RuntimeDocker && c.dockerDir != "" {
		n = dockerName(filepath.Join(c.dockerDir, "containers", full, "config.v2.json"))
	}
	if c.cache == nil {
		c.cache = map[string]string{}
	}
	if len(c.cache) > 4096 { // bounded: containers come and go
		clear(c.cache)
	}
	c.cache[full] = n
	return n
}

func dockerName(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var cfg struct{ Name string }
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	return strings.TrimPrefix(cfg.Name, "/")
}
