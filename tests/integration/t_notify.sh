#!/usr/bin/env bash
# The push to Alertmanager when Alertmanager is down or hangs: failures are
# counted and retried, the agent keeps serving and probing, and the alerts
# arrive once a real Alertmanager listens.
. "$(dirname "$0")/lib.sh"

CMID=7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d
cat >"$T/sim.json" <<JSON
{"hosts": [{"listen": "127.0.51.10:1688", "hresult": "0xC004F041"}]}
JSON
start_kmssim "$CMID" "$T/sim.json"
# 127.0.51.2 hangs: its accept queue is full, so connections time out.
start_tcpfixture full 127.0.51.2 19553

cat >"$T/kmswatch.yml" <<CONF
interval: 1s
timeout: 500ms
probe_interval: 1s
identity: {cmid: "$CMID", workstation: kmswatch.notify}
dns: {resolvers: ["127.0.51.1:5351"], domains: []}
hosts: ["127.0.51.10"]
products: [windows-10-11]
alerts: {resend_interval: 1s}
alertmanager:
  urls: ["http://127.0.51.1:19552", "http://127.0.51.2:19553"]
  timeout: 500ms
state_file: ""
CONF
start_agent "$T/kmswatch.yml" 19051

down='url="http://127.0.51.1:19552"'
hung='url="http://127.0.51.2:19553"'
for _ in $(seq 1 60); do
	scrape
	f1=$(metric "kms_agent_alertmanager_notifications_failed_total{$down}")
	f2=$(metric "kms_agent_alertmanager_notifications_failed_total{$hung}")
	[ "$f1" != absent ] && [ "$f2" != absent ] && [ "$f1" -ge 2 ] && [ "$f2" -ge 1 ] && break
	sleep 0.25
done
[ "$f1" -ge 2 ] || fail "failures to a down Alertmanager not counted ($f1)"
ok "down Alertmanager: $f1 failed posts counted and retried"
[ "$f2" -ge 1 ] || fail "failures to a hung Alertmanager not counted ($f2)"
ok "hung Alertmanager: $f2 posts timed out"
expect "kms_agent_alertmanager_notifications_total{$down}" 0
# The agent went on probing meanwhile.
c1=$(metric kms_agent_cycles_total)
sleep 2
scrape
c2=$(metric kms_agent_cycles_total)
[ "$c2" -gt "$c1" ] || fail "cycles stalled while Alertmanager is unreachable"
ok "cycles go on ($c1 -> $c2) while Alertmanager is unreachable"
expect "kms_alert{alertname=\"KMSHostNotActivated\",severity=\"critical\",code=\"0xC004F041\",host=\"127.0.51.10\",port=\"1688\",product=\"windows-10-11\"}" 1
grep -q 'alertmanager http://127.0.51.1:19552' "$T/agent.log" || fail "failure not logged"
ok "failure logged with the URL"

# Alertmanager comes up: the retried alert arrives.
printf 'route: {receiver: x}\nreceivers: [{name: x}]\n' >"$T/am.yml"
prometheus-alertmanager --config.file="$T/am.yml" --storage.path="$T/am" \
	--web.listen-address=127.0.51.1:19552 --cluster.listen-address= --log.level=warn \
	>"$T/am.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do
	n=$(curl -sf "http://127.0.51.1:19552/api/v2/alerts?filter=alertname%3D%22KMSHostNotActivated%22" |
		jq length 2>/dev/null || echo 0)
	[ "$n" = 1 ] && break
	sleep 0.5
done
[ "$n" = 1 ] || fail "the alert never reached Alertmanager"
ok "the alert reached Alertmanager once it was up"
# The counters reach /metrics with the next snapshot (the next cycle).
for _ in $(seq 1 20); do
	scrape
	sent=$(metric "kms_agent_alertmanager_notifications_total{$down}")
	[ "$sent" != absent ] && [ "$sent" -ge 1 ] && break
	sleep 0.25
done
[ "$sent" -ge 1 ] || fail "accepted posts not counted"
ok "$sent accepted posts counted"
kill -0 "$AGENT_PID" || fail "agent died"
finish
