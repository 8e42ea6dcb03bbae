#!/usr/bin/env bash
# TCP reachability: open, refused, a listener whose accept queue is full (the
# connection times out), a name that does not resolve, IPv6 loopback; hung
# targets must not delay a healthy one; and a cycle over 2,000 targets.
. "$(dirname "$0")/lib.sh"

full=()
for p in $(seq 20001 20020); do
	full+=(full 127.0.12.20 "$p")
done
start_tcpfixture open 127.0.12.10 1688 open ::1 21688 closed 127.0.12.11 1688 "${full[@]}"

hosts='"127.0.12.10:1688", "127.0.12.11:1688", "[::1]:21688", "nothere.invalid"'
for p in $(seq 20001 20020); do
	hosts+=", \"127.0.12.20:$p\""
done

cat >"$T/kmswatch.yml" <<CONF
interval: 30s
timeout: 3s
state_file: ""
dns:
  resolvers: ["127.0.12.1:5302"]
  domains: []
hosts: [$hosts]
CONF

# No resolver listens on 127.0.12.1: the name lookup fails fast, the IP
# literals need no lookup at all.
NO_WAIT=1 start_agent "$T/kmswatch.yml" 19012
wait_serving
start=$SECONDS
# The healthy target's result is published long before the hung targets'
# 3-second deadline.
wait_for 'kms_tcp_connect_success{host="127.0.12.10",port="1688",source="static"}' 1 2
expect 'kms_tcp_connect_result{host="127.0.12.20",port="20001",result="timeout"}' absent
[ "$(curl -s -o /dev/null -w '%{http_code}' "$WEB/-/ready")" = 503 ] || fail "ready before the cycle ended"
ok "not ready while the first cycle runs"
wait_ready
elapsed=$((SECONDS - start))
[ "$elapsed" -le 8 ] || fail "first cycle took ${elapsed}s with a 3s timeout"
ok "first cycle ended within the deadline (${elapsed}s)"

scrape
expect 'kms_tcp_connect_result{host="127.0.12.11",port="1688",result="refused"}' 1
expect 'kms_tcp_connect_result{host="::1",port="21688",result="ok"}' 1
expect 'kms_tcp_connect_result{host="nothere.invalid",port="1688",result="resolve_failed"}' 1
for p in 20001 20010 20020; do
	expect "kms_tcp_connect_result{host=\"127.0.12.20\",port=\"$p\",result=\"timeout\"}" 1
done
d=$(metric 'kms_tcp_connect_duration_seconds{host="127.0.12.20",port="20001"}')
awk -v d="$d" 'BEGIN { exit !(d >= 2.5 && d <= 4) }' || fail "timeout after ${d}s, not ~3s"
ok "connect timeout honoured (${d}s)"
expect 'kms_agent_targets{source="static"}' 24
promtool_check
kill "$AGENT_PID"
wait "$AGENT_PID" || fail "agent did not exit cleanly"
ok "agent stopped"

# 2,000 targets: 1,999 refusing ports and one open, with a concurrency cap.
hosts='"127.0.12.10:1688"'
for i in $(seq 1 1999); do
	hosts+=", \"127.0.13.$((i % 250 + 1)):$((30000 + i))\""
done
cat >"$T/many.yml" <<CONF
interval: 8s
timeout: 2s
state_file: ""
concurrency: 64
dns:
  resolvers: ["127.0.12.1:5302"]
  domains: []
hosts: [$hosts]
CONF
start_agent "$T/many.yml" 19013
scrape
expect 'kms_agent_targets{source="static"}' 2000
expect 'kms_tcp_connect_success{host="127.0.12.10",port="1688",source="static"}' 1
expect 'kms_tcp_connect_result{host="127.0.13.250",port="31999",result="refused"}' 1
n=$(grep -c '^kms_tcp_connect_success{' "$T/metrics.txt")
[ "$n" = 2000 ] || fail "$n targets reported, expected 2000"
ok "all 2000 targets reported"
d=$(metric kms_agent_cycle_duration_seconds)
echo "# first cycle over 2000 targets took ${d}s"
promtool_check
finish
