package state

import "testing"

const cid = "4f66ad9a0b2e3f6c1a7b8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"

func TestContainerFromCgroup(t *testing.T) {
	for _, tc := range []struct {
		path, id, runtime string
	}{
		{"/", "host", ""},
		{"/user.slice/user-0.slice/session-1.scope", "host", ""},
		{"/system.slice/docker-" + cid + ".scope", cid[:12], RuntimeDocker},
		{"/docker/" + cid, cid[:12], RuntimeDocker},
		{"/system.slice/docker-" + cid + ".scope/init.scope", cid[:12], RuntimeDocker},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-" + cid + ".scope", cid[:12], RuntimeContainerd},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podabc.slice/crio-" + cid + ".scope", cid[:12], RuntimeCRIO},
		{"/kubepods.slice/kubepods-burstable.slice/crio-conmon-" + cid + ".scope", "host", ""},
		{"/kubepods/besteffort/pod0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/" + cid, cid[:12], RuntimeCRI},
		{"/machine.slice/libpod-" + cid + ".scope", cid[:12], RuntimePodman},
		{"/machine.slice/libpod-" + cid + ".scope/container", cid[:12], RuntimePodman},
		{"/machine.slice/libpod-conmon-" + cid + ".scope", "host", ""},
		{"/libpod_parent/libpod-" + cid, cid[:12], RuntimePodman},
		{"/system.slice/docker-" + cid[:63] + ".scope", "host", ""},   // too short
		{"/system.slice/docker-" + cid[:63] + "Z.scope", "host", ""},  // not hex
		{"/process_api/12019598e381ed18c92ffe2d6866b8fe", "host", ""}, // 32 hex: not an id
	} {
		id, full, rt := ContainerFromCgroup(tc.path)
		if id != tc.id || rt != tc.runtime {
			t.Errorf("ContainerFromCgroup(%q) = %q, %q; want %q, %q", tc.path, id, rt, tc.id, tc.runtime)
		}
		if tc.id != "host" && full != cid {
			t.Errorf("ContainerFromCgroup(%q) full id = %q", tc.path, full)
		}
	}
}

func TestContainerFromCgroupFile(t *testing.T) {
	v1 := "12:pids:/\n11:memory:/docker/" + cid + "\n1:name=systemd:/docker/" + cid + "\n"
	if id, _, rt := ContainerFromCgroupFile(v1); id != cid[:12] || rt != RuntimeDocker {
		t.Errorf("v1 file: %q %q", id, rt)
	}
	if id, _, _ := ContainerFromCgroupFile("0::/init.scope\n"); id != "host" {
		t.Errorf("host v2 file: %q", id)
	}
}
