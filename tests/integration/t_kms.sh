#!/usr/bin/env bash
# The activation probe against simulated KMS hosts found through a real
# dnsmasq: counts and license statuses per product over protocols 4, 5 and 6,
# every refusal code mapped to its result, the v4 fallback for old hosts,
# faults, a hung host that delays nobody, a counting host whose count the
# probe does not grow, and what the probe sends (CMID, N, workstation).
. "$(dirname "$0")/lib.sh"

CMID=6b0e2a52-3c1f-4d8e-9a7b-2f4c8d1e5a90
WIN=58e2134f-8e11-4d17-9cb2-91069c151148    # windows-10-11
OFFICE=86d50b16-4808-41af-b83b-b338274318b2 # office-ltsc-2021
SRV19=8449b1fb-f0ea-497a-99ab-66ca96e9a0f5  # windows-server-2019 (used with v4 and v5)
EPID=03612-00206-559-709370-03-1103-20348.0000-3002024

cat >"$T/sim.json" <<JSON
{"hosts": [
 {"listen": "127.0.21.10:1688", "epid": "$EPID", "hwid": "0011223344556677", "count": 30,
  "products": {"$OFFICE": {"count": 8}}},
 {"listen": "127.0.21.11:1688", "hresult": "0xC004F041"},
 {"listen": "127.0.21.12:1688", "count": 3, "products": {"$OFFICE": {"hresult": "0xC004F042"}}},
 {"listen": "127.0.21.13:1688", "count": 12, "hresult": "0x8007000D"},
 {"listen": "127.0.21.14:1688", "hresult": "0xC004F06C"},
 {"listen": "127.0.21.15:1688", "fault": "hang"},
 {"listen": "127.0.21.16:1688", "counting": true},
 {"listen": "127.0.21.17:1688", "hresult": "0x80070005"},
 {"listen": "127.0.21.18:1688", "fault": "bad-hmac"},
 {"listen": "127.0.21.19:1688", "fault": "rpc-fault"},
 {"listen": "127.0.21.20:1688", "fault": "bind-nak"},
 {"listen": "127.0.21.21:1688", "fault": "garbage"},
 {"listen": "127.0.21.22:1688", "fault": "wrong-call-id"},
 {"listen": "127.0.21.23:1688", "fault": "oversize"},
 {"listen": "127.0.21.24:1688", "fault": "close-mid"},
 {"listen": "127.0.21.25:1688", "fault": "slow", "count": 26}
]}
JSON
start_kmssim "$CMID" "$T/sim.json"

# Hosts 10-15 are published in DNS; the rest are static targets.
srv=""
for i in 10 11 12 13 14 15; do
	srv+="srv-host=_vlmcs._tcp.kms.test,h$i.kms.test,1688,0,0"$'\n'
	srv+="host-record=h$i.kms.test,127.0.21.$i"$'\n'
done
start_dnsmasq d 127.0.21.1 5321 <<CONF
local=/kms.test/
$srv
CONF

static=""
for i in $(seq 16 25); do
	static+="\"127.0.21.$i\", "
done
cat >"$T/kmswatch.yml" <<CONF
interval: 2s
timeout: 1500ms
state_file: ""
probe_interval: 3s
identity:
  cmid: "$CMID"
  workstation: kmswatch.itest
dns:
  resolvers: ["127.0.21.1:5321"]
  domains: [kms.test]
hosts: [${static%, }]
products:
  - windows-10-11
  - office-ltsc-2021
  - name: server-v4
    application: windows
    kms_counted_id: "$SRV19"
    required_count: 5
    protocol: 4
  - name: server-v5
    application: windows
    kms_counted_id: "$SRV19"
    required_count: 5
    protocol: 5
CONF

NO_WAIT=1 start_agent "$T/kmswatch.yml" 19021
wait_serving
h1='host="h10.kms.test",port="1688"'
# The healthy host's count is published while the hung host still holds its
# probe open (1.5 s per step).
wait_for "kms_probe_success{$h1,product=\"windows-10-11\"}" 1 15
wait_ready
d=$(metric "kms_probe_duration_seconds{$h1,product=\"windows-10-11\"}")
awk -v d="$d" 'BEGIN { exit !(d < 0.5) }' || fail "healthy host's probe took ${d}s beside a hung one"
ok "healthy host answered in ${d}s while the hung host held its probe"
# Let at least two rounds complete.
sleep 7
scrape

expect "kms_current_count{$h1,product=\"windows-10-11\"}" 30
expect "kms_current_count{$h1,product=\"office-ltsc-2021\"}" 8
expect "kms_current_count{$h1,product=\"server-v4\"}" 30
expect "kms_current_count{$h1,product=\"server-v5\"}" 30
expect "kms_host_license_status{$h1,product=\"windows-10-11\",status=\"licensed\"}" 1
expect "kms_probe_hresult{$h1,product=\"windows-10-11\"}" 0
expect "kms_required_count{product=\"windows-10-11\"}" 25
expect "kms_required_count{product=\"office-ltsc-2021\"}" 5
expect "kms_activation_interval_seconds{$h1,product=\"windows-10-11\"}" 7200
expect "kms_renewal_interval_seconds{$h1,product=\"windows-10-11\"}" 604800
expect "kms_host_info{$h1,product=\"windows-10-11\",epid=\"$EPID\",os_build=\"20348\",platform=\"03612\",key_group=\"00206\",lcid=\"1103\",hwid=\"0011223344556677\",protocol=\"6\"}" 1
expect "kms_host_info{$h1,product=\"server-v4\",epid=\"$EPID\",os_build=\"20348\",platform=\"03612\",key_group=\"00206\",lcid=\"1103\",hwid=\"\",protocol=\"4\"}" 1
expect "kms_host_info{$h1,product=\"server-v5\",epid=\"$EPID\",os_build=\"20348\",platform=\"03612\",key_group=\"00206\",lcid=\"1103\",hwid=\"\",protocol=\"5\"}" 1
# Day 300 of 2024 is 2024-10-26.
expect "kms_host_key_install_timestamp_seconds{$h1,product=\"windows-10-11\"}" 1729900800
expect "kms_host_outdated{$h1,product=\"windows-10-11\"}" 0

p() { echo "host=\"$1\",port=\"1688\",product=\"$2\""; }
expect "kms_probe_result{$(p h11.kms.test windows-10-11),result=\"host_not_activated\"}" 1
expect "kms_host_license_status{$(p h11.kms.test windows-10-11),status=\"not_activated\"}" 1
expect "kms_probe_hresult{$(p h11.kms.test windows-10-11)}" 3221549121
expect "kms_probe_result{$(p h12.kms.test office-ltsc-2021),result=\"product_not_covered\"}" 1
expect "kms_host_license_status{$(p h12.kms.test office-ltsc-2021),status=\"product_not_covered\"}" 1
expect "kms_current_count{$(p h12.kms.test windows-10-11)}" 3
expect "kms_probe_result{$(p h14.kms.test windows-10-11),result=\"clock_skew\"}" 1
expect "kms_probe_result{$(p 127.0.21.17 windows-10-11),result=\"host_error\"}" 1
expect "kms_probe_hresult{$(p 127.0.21.17 windows-10-11)}" 2147942405

# An old host refuses v6 with 0x8007000D; the agent falls back to v4.
expect "kms_probe_success{$(p h13.kms.test windows-10-11)}" 1
expect "kms_current_count{$(p h13.kms.test windows-10-11)}" 12
expect "kms_host_outdated{$(p h13.kms.test windows-10-11)}" 1
grep -q "kms_host_info{$(p h13.kms.test windows-10-11),.*protocol=\"4\"} 1" "$T/metrics.txt" ||
	fail "fallback answer not reported as protocol 4"
ok "old host answered over protocol 4 after refusing protocol 6"

# Faults.
expect "kms_probe_result{$(p h15.kms.test windows-10-11),result=\"timeout\"}" 1
expect "kms_probe_hresult{$(p h15.kms.test windows-10-11)}" 3221549113
expect "kms_probe_result{$(p 127.0.21.18 windows-10-11),result=\"protocol_error\"}" 1
expect "kms_probe_result{$(p 127.0.21.19 windows-10-11),result=\"rpc_error\"}" 1
expect "kms_probe_result{$(p 127.0.21.20 windows-10-11),result=\"rpc_error\"}" 1
expect "kms_probe_result{$(p 127.0.21.21 windows-10-11),result=\"protocol_error\"}" 1
expect "kms_probe_result{$(p 127.0.21.22 windows-10-11),result=\"protocol_error\"}" 1
expect "kms_probe_result{$(p 127.0.21.23 windows-10-11),result=\"protocol_error\"}" 1
expect "kms_probe_result{$(p 127.0.21.24 windows-10-11),result=\"protocol_error\"}" 1
# One byte every 20 ms cannot hold a probe past its step deadline (1.5 s).
expect "kms_probe_result{$(p 127.0.21.25 windows-10-11),result=\"timeout\"}" 1
d=$(metric "kms_probe_duration_seconds{$(p 127.0.21.25 windows-10-11)}")
awk -v d="$d" 'BEGIN { exit !(d < 4) }' || fail "trickling host held the probe for ${d}s"
ok "trickling host cut off at the deadline (${d}s)"
grep -q 'HMAC' "$T/agent.log" || fail "the failed integrity check is not named in the log"
ok "failed integrity check named in the log"

# The counting host counts the probe once, however often it probes.
expect "kms_current_count{$(p 127.0.21.16 windows-10-11)}" 1
req=$(sim_stat 127.0.21.16:1688 requests)
[ "$req" != absent ] && [ "$req" -ge 4 ] || fail "counting host saw $req requests"
[ "$(sim_stat 127.0.21.16:1688 distinct_cmids)" = 1 ] || fail "probe used more than one CMID"
ok "counting host: $req requests, one CMID, count stays 1"

# What the probe sends.
[ "$(sim_stat 127.0.21.16:1688 last_cmid)" = "$CMID" ] || fail "CMID sent: $(sim_stat 127.0.21.16:1688 last_cmid)"
[ "$(sim_stat 127.0.21.16:1688 last_workstation)" = kmswatch.itest ] || fail "workstation sent"
ok "probe sends the configured CMID and workstation name"
[ "$(sim_stat 127.0.21.16:1688 foreign)" = 0 ] || fail "foreign requests seen"

# A rate of one probe per target and product per probe interval.
rounds=$(metric 'kms_agent_probes_total{kind="kms",result="ok"}')
awk -v r="$rounds" 'BEGIN { exit !(r > 0) }' || fail "no successful probes counted"
per_host=$(sim_stat 127.0.21.10:1688 requests)
elapsed=$(awk -v s="$(metric kms_agent_start_time_seconds)" 'BEGIN { srand(); print srand() - s }')
max=$(awk -v e="$elapsed" 'BEGIN { print int((e / 3 + 2) * 4) }')
[ "$per_host" -le "$max" ] || fail "$per_host probes of one host in ${elapsed}s (at most $max expected)"
ok "probe rate bounded: $per_host requests to one host in ${elapsed}s for 4 products"

promtool_check

curl -s "$WEB/" >"$T/status.html"
grep -q '<td>h12.kms.test</td><td>1688</td><td>office-ltsc-2021</td><td class="bad">product_not_covered</td>' "$T/status.html" ||
	fail "status page lacks the activation table"
ok "status page shows activation results"

# /probe: success, refusal, timeout and bad parameters.
code=$(curl -s -o "$T/probe" -w '%{http_code}' "$WEB/probe?target=127.0.21.10:1688&product=office-ltsc-2021")
[ "$code" = 200 ] || fail "/probe answered $code"
grep -q '^kms_probe_success{host="127.0.21.10",port="1688",product="office-ltsc-2021"} 1$' "$T/probe" ||
	fail "/probe success: $(cat "$T/probe")"
grep -q '^kms_current_count{host="127.0.21.10",port="1688",product="office-ltsc-2021"} 8$' "$T/probe" ||
	fail "/probe count"
ok "/probe success with the count"
code=$(curl -s -o "$T/probe" -w '%{http_code}' "$WEB/probe?target=127.0.21.11&product=windows-10-11")
[ "$code" = 200 ] || fail "/probe of a refusing host answered $code"
grep -q 'result="host_not_activated"} 1$' "$T/probe" || fail "/probe refusal"
grep -q '^kms_probe_success{.*} 0$' "$T/probe" || fail "/probe refusal success value"
ok "/probe refusal: 200 with kms_probe_success 0"
code=$(curl -s -m 10 -o "$T/probe" -w '%{http_code}' "$WEB/probe?target=127.0.21.15&product=windows-10-11")
[ "$code" = 200 ] || fail "/probe of a hung host answered $code"
grep -q 'result="timeout"} 1$' "$T/probe" || fail "/probe timeout"
ok "/probe timeout: 200 with result timeout"
for q in "product=windows-10-11" "target=127.0.21.10" "target=127.0.21.10&product=nope" \
	"target=a:b:c:99999&product=windows-10-11" "target=&product=windows-10-11"; do
	code=$(curl -s -o "$T/probe" -w '%{http_code}' "$WEB/probe?$q")
	[ "$code" = 400 ] || fail "/probe?$q answered $code"
	ok "/probe?$q: 400 ($(head -c 60 "$T/probe" | tr '\n' ' '))"
done

# A count that changes on the host shows at the next round.
sed -i 's/"count": 30,/"count": 17,/' "$T/sim.json"
reload_kmssim
wait_for "kms_current_count{$h1,product=\"windows-10-11\"}" 17 15

kill -0 "$AGENT_PID" || fail "agent died"
finish
