#!/usr/bin/env bash
# End to end, all real processes on loopback: dnsmasq, simulated KMS hosts,
# the agent pushing to a real Alertmanager, a real Prometheus scraping the
# agent (with the shipped alert rules loaded), and a webhook receiver behind
# Alertmanager. A count drop must page; the page must survive kill -9 of the
# agent with its start time; restoring the count must send the resolution; a
# host refusing with 0xC004F041 and a domain losing its SRV record page too.
. "$(dirname "$0")/../integration/lib.sh"

CMID=2c9d4e1f-5a6b-4c7d-8e9f-a0b1c2d3e4f5
OFFICE=86d50b16-4808-41af-b83b-b338274318b2
AM=127.0.31.1:19532
PROM=127.0.31.1:19533
HOOK=127.0.31.5:19531

# The webhook receiver.
"$KMSWATCH_TOOLS/webhook" 127.0.31.5 19531 "$T/hook.log" >"$T/hook.out" &
PIDS+=($!)
for _ in $(seq 1 50); do grep -q ready "$T/hook.out" && break; sleep 0.1; done

# Alertmanager: critical pages, warning tickets; quick grouping for the test.
cat >"$T/am.yml" <<CONF
route:
  receiver: default
  group_by: [alertname, domain, host, port, product]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
    - matchers: ['severity="warning"']
      receiver: ticket
receivers:
  - name: default
    webhook_configs: [{url: "http://$HOOK/default", send_resolved: true}]
  - name: pager
    webhook_configs: [{url: "http://$HOOK/page", send_resolved: true}]
  - name: ticket
    webhook_configs: [{url: "http://$HOOK/ticket", send_resolved: true}]
CONF
prometheus-alertmanager --config.file="$T/am.yml" --storage.path="$T/am" \
	--web.listen-address="$AM" --cluster.listen-address= --log.level=warn >"$T/am.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://$AM/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://$AM/-/ready" >/dev/null || fail "alertmanager did not start: $(tail -5 "$T/am.log")"
ok "alertmanager up"

cat >"$T/sim.json" <<JSON
{"hosts": [
 {"listen": "127.0.31.10:1688", "count": 30},
 {"listen": "127.0.31.11:1688", "hresult": "0xC004F041"}
]}
JSON
start_kmssim "$CMID" "$T/sim.json"

write_dns() {
	{
		echo "local=/corp.test/"
		echo "local=/gone.test/"
		echo "srv-host=_vlmcs._tcp.corp.test,kms1.corp.test,1688,0,0"
		echo "host-record=kms1.corp.test,127.0.31.10"
		[ "$1" = with-gone ] && echo "srv-host=_vlmcs._tcp.gone.test,kms1.corp.test,1688,0,0"
		true
	} >"$T/dns.body"
}
write_dns with-gone
start_dnsmasq d 127.0.31.2 5331 <"$T/dns.body"

cat >"$T/kmswatch.yml" <<CONF
interval: 2s
timeout: 1s
probe_interval: 2s
identity: {cmid: "$CMID", workstation: kmswatch.e2e}
dns:
  resolvers: ["127.0.31.2:5331"]
  domains: [corp.test, gone.test]
hosts: ["127.0.31.11"]
products: [office-ltsc-2021]
alerts:
  count_drop: {min: 5, ratio: 0.2, window: 1h}
  resend_interval: 2s
alertmanager:
  urls: ["http://$AM"]
state_file: "$T/state"
web:
  external_url: "http://127.0.0.1:19530"
CONF
start_agent "$T/kmswatch.yml" 19530

# Prometheus scrapes the agent and evaluates the shipped rules.
cat >"$T/prom.yml" <<CONF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$KMSWATCH_SRC/deploy/prometheus/kmswatch-alerts.yml"]
scrape_configs:
  - job_name: kmswatch
    static_configs: [{targets: ["127.0.0.1:19530"]}]
CONF
prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/prom" \
	--web.listen-address="$PROM" --log.level=warn >"$T/prom.log" 2>&1 &
PIDS+=($!)

# wait_hook PATTERN SECONDS: waits for a webhook delivery matching PATTERN.
wait_hook() {
	local deadline=$((SECONDS + $2))
	while [ "$SECONDS" -lt "$deadline" ]; do
		grep -qE "$1" "$T/hook.log" 2>/dev/null && return 0
		sleep 0.3
	done
	echo "---- webhook log" >&2
	cat "$T/hook.log" >&2 || true
	fail "no webhook delivery matching $1 within $2s"
}

# A host that is not activated pages.
wait_hook '^/page .*"status":"firing".*"alertname":"KMSHostNotActivated"' 30
ok "KMSHostNotActivated paged through Alertmanager"
grep -m1 -E '^/page .*KMSHostNotActivated' "$T/hook.log" >"$T/page1" || true
grep -q '"code":"0xC004F041"' "$T/page1" ||
	fail "page lacks the code"
ok "page carries code 0xC004F041"

# The count drops from 30 to 12: a fall of 18, more than min 5 and ratio 20 %.
sed -i 's/"count": 30/"count": 12/' "$T/sim.json"
reload_kmssim
wait_hook '^/page .*"status":"firing".*"alertname":"KMSCountDropped"' 30
ok "KMSCountDropped paged"
curl -sf "$WEB/alerts" >"$T/alerts.json"
start1=$(jq -r '.[] | select(.labels.alertname == "KMSCountDropped") | .startsAt' "$T/alerts.json")
[ -n "$start1" ] || fail "/alerts lacks KMSCountDropped"
jq -e '.[] | select(.labels.alertname == "KMSCountDropped") | .annotations.runbook_url | endswith("/runbooks#kmscountdropped")' "$T/alerts.json" >/dev/null ||
	fail "runbook_url"
rb=$(jq -r '.[] | select(.labels.alertname == "KMSCountDropped") | .annotations.runbook_url' "$T/alerts.json")
# Into a file first: grep -q stopping early would break curl's pipe.
curl -sf "${rb%%#*}" >"$T/runbooks.html" || fail "the runbook page is not served"
grep -q 'id="kmscountdropped"' "$T/runbooks.html" || fail "the runbook page lacks the anchor"
ok "KMSCountDropped in /alerts since $start1, runbook reachable"
scrape
expect "kms_alert{alertname=\"KMSCountDropped\",severity=\"critical\",code=\"\",host=\"kms1.corp.test\",port=\"1688\",product=\"office-ltsc-2021\"}" 1

# kill -9 and restart: the drop is still firing, with its original start.
sleep 1
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
jq -e '.version == 1 and (.alerts | map(select(.fingerprint | startswith("KMSCountDropped|"))) | length) == 1' "$T/state" >/dev/null ||
	fail "state file unreadable after kill -9, or without the firing drop"
ok "state file readable after kill -9"
start_agent "$T/kmswatch.yml" 19530
curl -sf "$WEB/alerts" >"$T/alerts2.json"
start2=$(jq -r '.[] | select(.labels.alertname == "KMSCountDropped") | .startsAt' "$T/alerts2.json")
[ "$start2" = "$start1" ] || fail "after restart KMSCountDropped starts at '$start2', not $start1"
ok "after kill -9 and restart KMSCountDropped still fires since $start2"
sleep 5
curl -sf "http://$AM/api/v2/alerts?filter=alertname%3D%22KMSCountDropped%22" >"$T/am.json"
amstart=$(jq -r '.[0].startsAt' "$T/am.json")
[ "$(jq -r '.[0].status.state' "$T/am.json")" = active ] || fail "Alertmanager no longer has the drop active"
[ "${amstart%%.*}" = "${start1%%.*}" ] || fail "Alertmanager start $amstart differs from $start1"
ok "Alertmanager keeps the drop active with its start time"
grep -qE '^/page .*"status":"resolved".*"alertname":"KMSCountDropped"' "$T/hook.log" &&
	fail "the restart resolved the drop"
ok "no resolution sent across the restart"

# The count recovers: the page resolves.
sed -i 's/"count": 12/"count": 30/' "$T/sim.json"
reload_kmssim
wait_hook '^/page .*"status":"resolved".*"alertname":"KMSCountDropped"' 40
ok "KMSCountDropped resolution delivered"

# The SRV record of gone.test disappears: KMSNoSRVRecords pages.
kill "$PID_d"
wait "$PID_d" 2>/dev/null || true
write_dns without
start_dnsmasq d 127.0.31.2 5331 <"$T/dns.body"
wait_hook '^/page .*"status":"firing".*"alertname":"KMSNoSRVRecords".*"domain":"gone.test"' 30
ok "KMSNoSRVRecords paged for gone.test"

# Prometheus scraped the agent and its shipped rules see the same thing.
q() { curl -sf "http://$PROM/api/v1/query" --data-urlencode "query=$1"; }
for _ in $(seq 1 30); do
	[ "$(q 'kms_alert{alertname="KMSHostNotActivated"}' | jq '.data.result | length')" -ge 1 ] && break
	sleep 1
done
[ "$(q 'kms_alert{alertname="KMSHostNotActivated"}' | jq '.data.result | length')" -ge 1 ] ||
	fail "Prometheus has no kms_alert series"
ok "Prometheus scraped kms_alert"
curl -sf "http://$PROM/api/v1/rules" >"$T/rules.json"
bad=$(jq '[.data.groups[].rules[] | select(.health != "ok")] | length' "$T/rules.json")
[ "$bad" = 0 ] || fail "$bad shipped rules fail to evaluate: $(jq -c '[.data.groups[].rules[] | select(.health != "ok") | {name, lastError}]' "$T/rules.json")"
ok "every shipped rule evaluates against the agent's metrics"
# The shipped rule waits 5 minutes before firing; pending shows that it
# matches the agent's data.
sel='.data.alerts[] | select(.labels.alertname == "KMSHostNotActivated" and (.state == "pending" or .state == "firing") and .labels.code == "0xC004F041")'
for _ in $(seq 1 30); do
	curl -sf "http://$PROM/api/v1/alerts" >"$T/palerts.json"
	jq -e "$sel" "$T/palerts.json" >/dev/null && break
	sleep 1
done
jq -e "$sel" "$T/palerts.json" >/dev/null ||
	fail "the shipped rule KMSHostNotActivated does not match in Prometheus: $(head -c 400 "$T/palerts.json")"
ok "the shipped rule KMSHostNotActivated matches the agent's data in Prometheus"
finish
