#!/usr/bin/env bash
# Reloading: SIGHUP and POST /-/reload take a good configuration (domains and
# targets that leave it leave the metrics), reject a bad one while the old one
# keeps running, and SIGTERM/SIGINT stop the agent cleanly and quickly.
. "$(dirname "$0")/lib.sh"

R=127.0.14.1 P=5304
start_dnsmasq r $R $P <<CONF
local=/a.test/
local=/b.test/
srv-host=_vlmcs._tcp.a.test,kms.a.test,1688,0,0
srv-host=_vlmcs._tcp.b.test,kms.b.test,1688,0,0
host-record=kms.a.test,127.0.14.10
host-record=kms.b.test,127.0.14.11
CONF
start_tcpfixture open 127.0.14.10 1688 open 127.0.14.11 1688 open 127.0.14.12 1688

write_config() {
	cat >"$T/kmswatch.yml" <<CONF
interval: 1s
timeout: 500ms
state_file: ""
dns:
  resolvers: ["$R:$P"]
  domains: [$1]
hosts: [$2]
CONF
}

write_config "a.test, b.test" '"127.0.14.12"'
start_agent "$T/kmswatch.yml" 19015
scrape
rr="resolver=\"$R:$P\""
expect "kms_srv_lookup_success{domain=\"b.test\",$rr}" 1
expect 'kms_tcp_connect_success{host="kms.b.test",port="1688",source="srv"}' 1
expect 'kms_tcp_connect_success{host="127.0.14.12",port="1688",source="static"}' 1
expect kms_agent_config_last_reload_successful 1
t0=$(metric kms_agent_config_last_reload_success_timestamp_seconds)

# A good configuration by SIGHUP: b.test and the static host go away.
write_config "a.test" ""
kill -HUP "$AGENT_PID"
wait_for "kms_srv_lookup_success{domain=\"b.test\",$rr}" absent
wait_for 'kms_tcp_connect_success{host="kms.b.test",port="1688",source="srv"}' absent
wait_for 'kms_tcp_connect_success{host="127.0.14.12",port="1688",source="static"}' absent
expect 'kms_srv_consistent{domain="b.test"}' absent
expect "kms_srv_lookup_success{domain=\"a.test\",$rr}" 1
expect kms_agent_config_last_reload_successful 1
t1=$(metric kms_agent_config_last_reload_success_timestamp_seconds)
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b > a) }' || fail "reload timestamp did not advance"
ok "reload timestamp advanced"

# A bad configuration by SIGHUP: rejected, the old one keeps working.
printf 'interval: often\n' >"$T/kmswatch.yml"
kill -HUP "$AGENT_PID"
wait_for kms_agent_config_last_reload_successful 0
wait_cycles 2
expect "kms_srv_lookup_success{domain=\"a.test\",$rr}" 1
grep -q 'kmswatch.yml:1:11' "$T/agent.log" || fail "the rejected file's error is not in the log"
ok "rejected configuration logged with its position"

# POST /-/reload: 500 with a message while bad, 200 once fixed.
code=$(curl -s -o "$T/body" -w '%{http_code}' -X POST "$WEB/-/reload")
[ "$code" = 500 ] || fail "POST /-/reload of a bad file answered $code"
grep -q rejected "$T/body" || fail "POST /-/reload body: $(cat "$T/body")"
ok "POST /-/reload rejects a bad file with 500"
code=$(curl -s -o /dev/null -w '%{http_code}' "$WEB/-/reload")
[ "$code" = 405 ] || fail "GET /-/reload answered $code"
ok "GET /-/reload is 405"
write_config "a.test, b.test" ""
code=$(curl -s -o "$T/body" -w '%{http_code}' -X POST "$WEB/-/reload")
[ "$code" = 200 ] || fail "POST /-/reload of a good file answered $code: $(cat "$T/body")"
ok "POST /-/reload takes a good file"
scrape
expect kms_agent_config_last_reload_successful 1
wait_for "kms_srv_lookup_success{domain=\"b.test\",$rr}" 1

# Many reloads in a row while checks are in flight must not crash or leak.
for _ in $(seq 1 20); do
	kill -HUP "$AGENT_PID"
	sleep 0.05
done
wait_cycles 1
expect kms_agent_config_last_reload_successful 1

# SIGTERM stops it with status 0 within two seconds.
kill -TERM "$AGENT_PID"
for _ in $(seq 1 20); do
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$AGENT_PID" 2>/dev/null && fail "agent still running 2s after SIGTERM"
set +e
wait "$AGENT_PID"
rc=$?
set -e
[ "$rc" = 0 ] || fail "agent exited with $rc after SIGTERM"
ok "SIGTERM: clean exit 0"

start_agent "$T/kmswatch.yml" 19015
kill -INT "$AGENT_PID"
set +e
timeout 3 tail --pid="$AGENT_PID" -f /dev/null
wait "$AGENT_PID"
rc=$?
set -e
[ "$rc" = 0 ] || fail "agent exited with $rc after SIGINT"
ok "SIGINT: clean exit 0"
finish
