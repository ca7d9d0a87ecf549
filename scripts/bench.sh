#!/usr/bin/env bash
# make bench: every benchmark of the project in one run, bounded to about
# 20 minutes on a 2-core machine, raw output in bench-results/<UTC time>/,
# then a summary with ratios against baselines measured in the same run
# (durable ingest / bare handler, capture on / off, ...) and the targets.
#
# Needs root (eBPF capture, the detector) and Go. Knobs (environment):
#   BENCH_BACKLOG=N   alerts in the sidekick backlog-memory run (default
#                     1000000, ~10 min here; 0 skips it)
#   BENCH_ROUNDS=N    off/on rounds of the detector overhead loops (default 11)
#   BENCH_COUNT=N     -count for the CPU-bound micro-benchmarks (default 3)
#   FALCO_RULES=FILE  Falco's stable rules (default: shared/compat/falco,
#                     looked for beside or above the checkout)
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
BACKLOG=${BENCH_BACKLOG:-1000000}
ROUNDS=${BENCH_ROUNDS:-11}
COUNT=${BENCH_COUNT:-3}

if [ "$(id -u)" != 0 ]; then
	echo "bench.sh: needs root (eBPF capture and the detector)" >&2
	exit 1
fi
if [ -z "${FALCO_RULES:-}" ]; then
	for d in shared/compat/falco ../shared/compat/falco; do
		if [ -f "$d/falco_rules.yaml" ]; then FALCO_RULES=$d/falco_rules.yaml; break; fi
	done
fi
if [ ! -f "${FALCO_RULES:-}" ]; then
	echo "bench.sh: Falco's falco_rules.yaml not found; set FALCO_RULES" >&2
	exit 1
fi

out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The machine and its load, before and after: the numbers mean little
# without them on a shared machine. What a system call, a goroutine hand-off
# and a loopback exchange cost here (benchtool machine) says how this machine
# compares with another: the sidekick's CPU per alert is mostly those.
$GO build -o "$tools/benchtool" ./scripts/benchtool
{
	echo "start: $(date -u +%FT%TZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "uptime: $(uptime)"
	echo "cpus: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo || true
	dmesg 2>/dev/null | grep -m1 -o 'Hypervisor detected.*' || true
	echo "kernel: $(uname -r)"
	$GO version
	"$tools/benchtool" machine || echo "benchtool machine: failed"
} >"$out/machine.log"

# bench NAME ARGS...: one go test -bench run, raw output to $out/NAME.txt.
bench() {
	local name=$1
	shift
	log "$name: go test $*"
	if ! $GO test -run '^$' "$@" >"$out/$name.txt" 2>&1; then
		log "$name: FAILED (see $out/$name.txt)"
		failed+=("$name")
	fi
}
failed=()

# CPU-bound micro-benchmarks first, while nothing of ours runs beside them.
bench rules ./rules -bench 'Engine|Alert' -benchtime 2s -cpu 1 -count "$COUNT" -benchmem
bench rules-filter ./rules/filter -bench 'Match|CompileFalcoRules' -benchtime 0.5s -count 1 -benchmem
bench detector-state ./detector/sysevent ./detector/state -bench . -benchtime 1s -count 1 -benchmem
bench outputs ./outputs/slack ./outputs/opsgenie ./outputs/datadog ./outputs/smtp -bench . -benchtime 2000x -count 1 -benchmem

# Kernel capture: each loop off and on in the same run; exec rate with drops.
bench bpf ./bpf -bench 'Exec$|OpenClose$|Decode' -benchtime 1s -count "$COUNT" -benchmem
bench bpf-rate ./bpf -bench 'ExecRate' -benchtime 2000x -count 1
# The loops' kernel-side cost measured precisely: the same programs
# detached and re-attached between short windows, 30 ABBA rounds each.
bench bpf-toggle ./bpf -bench 'Toggle' -benchtime 30x -count 1

# The detector end to end: overhead of the real binary with Falco's stable
# rules plus the project's rules, its CPU per event, the zero-drop rate.
log "detector: building nightjar"
CGO_ENABLED=0 $GO build -o "$tools/nightjar" ./cmd/nightjar
log "detector: benchtool detector -rounds $ROUNDS"
if ! "$tools/benchtool" detector -nightjar "$tools/nightjar" -falco-rules "$FALCO_RULES" -rounds "$ROUNDS" >"$out/detector-e2e.txt" 2>"$out/detector-e2e.log"; then
	log "detector: FAILED (see $out/detector-e2e.log)"
	failed+=(detector)
fi
bench detector-latency ./cmd/nightjar -bench . -benchtime 100x -count 1 -timeout 10m

# The sidekick: ingest durable vs bare (and paced 5,000/s), delivery, and
# memory with a backlog (the long one, last).
bench sidekick-ingest ./forwarder/api -bench Ingest -benchtime 20000x -count 1 -timeout 15m
bench sidekick-deliver ./forwarder/dispatch -bench Deliver -benchtime 20000x -count 1 -timeout 15m
# The real binary in its own process at 5,000 alerts/s, delivering to a
# local sink, beside a bare server process paced the same (benchtool ingest),
# in 3 alternating rounds: one busy minute here doubles a p99.
log "sidekick: benchtool ingest -rate 5000 -d 10s -rounds 3 (real binary vs bare server)"
CGO_ENABLED=0 $GO build -o "$tools/nightjar-sidekick" ./cmd/nightjar-sidekick
if ! "$tools/benchtool" ingest -sidekick "$tools/nightjar-sidekick" -rate 5000 -d 10s -rounds 3 >"$out/sidekick-e2e.txt" 2>"$out/sidekick-e2e.log"; then
	log "sidekick-e2e: FAILED (see $out/sidekick-e2e.log)"
	failed+=(sidekick-e2e)
fi
bench sidekick-route ./forwarder/route -bench . -benchtime 1s -count 1 -benchmem
if [ "$BACKLOG" -gt 0 ]; then
	NIGHTJAR_BACKLOG=$BACKLOG bench sidekick-backlog ./cmd/nightjar-sidekick -bench BacklogRSS -benchtime 1x -count 1 -timeout 40m
fi

echo "end: $(date -u +%FT%TZ) uptime: $(uptime)" >>"$out/machine.log"

log "raw results in $out"
cat "$out/machine.log"
echo
"$tools/benchtool" summary "$out" | tee "$out/summary.md"
# Bar charts of the ratios and targets (docs/benchmarks.md embeds copies).
"$tools/benchtool" plot "$out" "$out"
log "plots: $out/overhead.png $out/targets.png"
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench.sh: failed: ${failed[*]}" >&2
	exit 1
fi
