#!/usr/bin/env bash
# Activation-probe benchmark: the agent against N simulated KMS hosts on
# loopback (default 100) with 4 products each, probing as fast as the
# configuration allows, for SECONDS (default 20). Prints how many probes the
# agent completed per CPU-second of its own and its memory. Figures, not a
# test. Usage: bench/kms.sh [N] [SECONDS]
set -euo pipefail
N=${1:-100}
DURATION=${2:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${KMSWATCH_BIN:-$here/build/kmswatch}
SIM=${KMSWATCH_TOOLS:-$here/build/tests}/kmssim
[ -x "$BIN" ] && [ -x "$SIM" ] || { echo "build first: make build (with tests)" >&2; exit 1; }

T=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT
CMID=0b5e3c1a-7d2f-4e6a-8b9c-1d2e3f4a5b6c

# One simulator serves at most 64 hosts; start one per 60.
static=""
for ((first = 1; first <= N; first += 60)); do
	hosts=""
	for ((i = first; i < first + 60 && i <= N; i++)); do
		ip="127.0.$((50 + i / 250)).$((i % 250 + 2))"
		hosts+="{\"listen\": \"$ip:1688\", \"count\": $((i % 50))},"
		static+="\"$ip\", "
	done
	echo "{\"hosts\": [${hosts%,}]}" >"$T/sim$first.json"
	"$SIM" --cmid "$CMID" --config "$T/sim$first.json" >"$T/sim$first.out" 2>"$T/sim.err" &
	pids+=($!)
	for _ in $(seq 1 100); do
		grep -q ready "$T/sim$first.out" 2>/dev/null && break
		kill -0 "${pids[-1]}" 2>/dev/null || { cat "$T/sim.err" >&2; exit 1; }
		sleep 0.05
	done
done

cat >"$T/kmswatch.yml" <<CONF
interval: 3s
timeout: 2s
state_file: ""
probe_interval: 1s
concurrency: 256
identity: {cmid: "$CMID", workstation: kmswatch.bench}
dns: {resolvers: ["127.0.0.1:1"], domains: []}
hosts: [${static%, }]
products: [windows-10-11, windows-server-2022, office-ltsc-2021, office-2019]
web: {listen: ["127.0.0.1:19098"]}
CONF
"$BIN" --config.file="$T/kmswatch.yml" --log.level=warn 2>"$T/agent.log" &
agent=$!
pids+=("$agent")
for _ in $(seq 1 400); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:19098/-/ready)" = 200 ] && break
	kill -0 "$agent" 2>/dev/null || { cat "$T/agent.log" >&2; exit 1; }
	sleep 0.05
done
probes() {
	curl -s http://127.0.0.1:19098/metrics |
		awk '/^kms_agent_probes_total\{kind="kms"/ { n += $2 } END { print n + 0 }'
}
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$agent/stat"; }
p0=$(probes)
c0=$(cpu)
sleep "$DURATION"
p1=$(probes)
c1=$(cpu)
ok=$(curl -s http://127.0.0.1:19098/metrics | awk '/^kms_agent_probes_total\{kind="kms",result="ok"\}/ { print $2 }')
rss=$(awk '/^VmRSS/ { print $2 " " $3 }' "/proc/$agent/status")
hwm=$(awk '/^VmHWM/ { print $2 " " $3 }' "/proc/$agent/status")
awk -v n="$N" -v d="$DURATION" -v p="$((p1 - p0))" -v c0="$c0" -v c1="$c1" -v ok="$ok" \
	-v rss="$rss" -v hwm="$hwm" 'BEGIN {
	c = c1 - c0
	printf "simulated hosts x products     %d x 4\n", n
	printf "activation probes in %ds       %d (%.0f per second; %d ok since start)\n", d, p, p / d, ok
	printf "agent CPU time                 %.2f s\n", c
	printf "probes per CPU-second          %.0f\n", (c > 0 ? p / c : 0)
	printf "RSS now / peak                 %s / %s\n", rss, hwm
}'
