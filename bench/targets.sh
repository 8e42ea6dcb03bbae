#!/usr/bin/env bash
# Scale benchmark: the agent against N loopback targets (default 1000): half
# accept connections, half refuse them, all behind a loopback dnsmasq that
# publishes them as SRV records of one domain. Prints the first full cycle's
# duration, CPU time per cycle and the agent's memory. Figures, not a test.
# Usage: bench/targets.sh [N] [INTERVAL]
set -euo pipefail
N=${1:-1000}
INTERVAL=${2:-20s}
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${KMSWATCH_BIN:-$here/build/kmswatch}
FIX=${KMSWATCH_TOOLS:-$here/build/tests}/tcpfixture
[ -x "$BIN" ] && [ -x "$FIX" ] || { echo "build first: make build (and the tests)" >&2; exit 1; }

T=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT

# SRV records for N targets on 127.0.40.x/127.0.41.x; even ports listen.
{
	echo "port=5340"
	echo "listen-address=127.0.40.1"
	echo "bind-interfaces"
	echo "no-resolv"
	echo "no-hosts"
	echo "local=/bench.test/"
} >"$T/dnsmasq.conf"
listen=()
for i in $(seq 1 "$N"); do
	host="h$i.bench.test"
	ip="127.0.$((41 + i / 250)).$((i % 250 + 2))"
	port=$((40000 + i))
	echo "srv-host=_vlmcs._tcp.bench.test,$host,$port,0,0" >>"$T/dnsmasq.conf"
	echo "host-record=$host,$ip" >>"$T/dnsmasq.conf"
	if [ $((i % 2)) = 0 ] && [ "${#listen[@]}" -lt 180 ]; then
		listen+=(open "$ip" "$port")
	fi
done
user=()
[ "$(id -u)" = 0 ] && user=(--user=root)
dnsmasq -k --conf-file="$T/dnsmasq.conf" --pid-file= --log-facility="$T/dnsmasq.log" "${user[@]}" &
pids+=($!)
"$FIX" "${listen[@]}" >"$T/fix.out" &
pids+=($!)
cat >"$T/kmswatch.yml" <<CONF
interval: $INTERVAL
timeout: 2s
dns:
  resolvers: ["127.0.40.1:5340"]
  domains: [bench.test]
hosts: []
# Discovery and reachability only; bench/kms.sh measures the activation probe.
products: []
state_file: ""
web:
  listen: ["127.0.0.1:19099"]
CONF
sleep 0.5
start=$(date +%s.%N)
"$BIN" --config.file="$T/kmswatch.yml" --log.level=warn 2>"$T/agent.log" &
agent=$!
pids+=("$agent")
for _ in $(seq 1 1200); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:19099/-/ready)" = 200 ] && break
	kill -0 "$agent" 2>/dev/null || { cat "$T/agent.log" >&2; exit 1; }
	sleep 0.05
done
ready=$(date +%s.%N)
metrics=$(curl -s http://127.0.0.1:19099/metrics)
cycle=$(awk '/^kms_agent_cycle_duration_seconds /{print $2}' <<<"$metrics")
targets=$(awk '/^kms_agent_targets\{source="srv"\}/{print $2}' <<<"$metrics")
ticks=$(getconf CLK_TCK)
cpu1=$(awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$agent/stat")
# One more cycle, to measure the steady-state cost of a cycle.
c0=$(awk '/^kms_agent_cycles_total /{print $2}' <<<"$metrics")
for _ in $(seq 1 600); do
	[ "$(curl -s http://127.0.0.1:19099/metrics | awk '/^kms_agent_cycles_total /{print $2}')" -gt "$c0" ] && break
	sleep 0.2
done
cpu2=$(awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$agent/stat")
rss=$(awk '/^VmRSS/{print $2 " " $3}' "/proc/$agent/status")
hwm=$(awk '/^VmHWM/{print $2 " " $3}' "/proc/$agent/status")
size=$(curl -s http://127.0.0.1:19099/metrics | wc -c)
printf 'targets                      %s (SRV records of one domain)\n' "$targets"
awk -v a="$start" -v b="$ready" 'BEGIN { printf "start to ready               %.3f s\n", b - a }'
printf 'first cycle duration         %s s (checks spread over min(N x 10 ms, interval/4))\n' "$cycle"
printf 'CPU time, start to ready     %.3f s\n' "$cpu1"
awk -v a="$cpu1" -v b="$cpu2" 'BEGIN { printf "CPU time of one more cycle   %.3f s\n", b - a }'
printf 'RSS now / peak               %s / %s\n' "$rss" "$hwm"
printf 'exposition size              %s bytes\n' "$size"
