# nightjar (detector) image: the static binary, its configuration and the
# default rules in /etc/nightjar/. It loads eBPF programs, so it runs as root
# with CAP_BPF and CAP_PERFMON (or --privileged), the host PID namespace, and
# /sys/kernel/tracing and /sys/fs/cgroup from the host; see docker-compose.yml.
# Needs Linux 5.8 or later with BTF (/sys/kernel/btf/vmlinux).
# Build from the repository root after `make build`:
#   docker build -f deploy/docker/nightjar.Dockerfile -t nightjar .
FROM gcr.io/distroless/static-debian12

COPY bin/nightjar /usr/bin/nightjar
# The image's configuration: the defaults, with metrics on loopback for the
# HEALTHCHECK below.
COPY deploy/docker/nightjar.yaml /etc/nightjar/nightjar.yaml
COPY rules/builtin/nightjar_rules.yaml /etc/nightjar/nightjar_rules.yaml
COPY rules/builtin/nightjar_rules.local.yaml /etc/nightjar/nightjar_rules.local.yaml

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["/usr/bin/nightjar", "healthcheck", "--url", "http://127.0.0.1:8765/metrics"]
ENTRYPOINT ["/usr/bin/nightjar"]
CMD ["-c", "/etc/nightjar/nightjar.yaml"]
