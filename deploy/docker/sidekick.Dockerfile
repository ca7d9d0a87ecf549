# nightjar-sidekick image: the static binary on a minimal base, run as a
# non-root user, configured by environment alone (falcosidekick's variable
# names). Build from the repository root after `make build`:
#   docker build -f deploy/docker/sidekick.Dockerfile -t nightjar-sidekick .
# (`make images` does both.)
FROM gcr.io/distroless/static-debian12:nonroot

# distroless/static ships the CA certificates that HTTPS destinations need.
COPY bin/nightjar-sidekick /usr/bin/nightjar-sidekick

# The durable queue (embedded NATS JetStream) lives here: keep it on a volume
# so that accepted alerts survive a container restart.
ENV QUEUE_DIR=/var/lib/nightjar-sidekick/queue
VOLUME ["/var/lib/nightjar-sidekick"]

EXPOSE 2801
USER 65532:65532
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD ["/usr/bin/nightjar-sidekick", "healthcheck"]
ENTRYPOINT ["/usr/bin/nightjar-sidekick"]
