# nightjar-sidekick image: the static binary on a minimal base, run as a
# non-root user, configured by environment alone (falcosidekick's variable
# names). Build from the repository root after `make build`:
#   docker build -f deploy/docker/sidekick.Dockerfile -t nightjar-sidekick .
# (`make images` does both.)

# The queue's directory, made here because the runtime base has no shell.
# It must exist in the image owned by the runtime user: Docker creates a
# missing mount point, and the directory of a fresh named volume, as
# root:root 0755 unless the image holds the directory, in which case a new
# named volume copies its ownership. Without it the sidekick, which is not
# root, cannot create its queue ("queue.dir: permission denied") under
# `docker run` or docker compose. (Kubernetes sets the volume's group with
# fsGroup instead.)
FROM busybox:1.37 AS state
RUN mkdir -p -m 0750 /state/queue

FROM gcr.io/distroless/static-debian12:nonroot

# distroless/static ships the CA certificates that HTTPS destinations need.
COPY bin/nightjar-sidekick /usr/bin/nightjar-sidekick

# The durable queue (embedded NATS JetStream) lives here: keep it on a volume
# so that accepted alerts survive a container restart. The directory is
# copied in before VOLUME: changes to a volume's path after it is declared
# are discarded.
COPY --from=state --chown=65532:65532 /state /var/lib/nightjar-sidekick
ENV QUEUE_DIR=/var/lib/nightjar-sidekick/queue
VOLUME ["/var/lib/nightjar-sidekick"]

EXPOSE 2801
USER 65532:65532
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD ["/usr/bin/nightjar-sidekick", "healthcheck"]
ENTRYPOINT ["/usr/bin/nightjar-sidekick"]
