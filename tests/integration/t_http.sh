#!/usr/bin/env bash
# The HTTP surface: routes, methods, content negotiation (gzip, OpenMetrics),
# the status page, and abuse (huge headers, many connections, idle ones) that
# must neither crash the agent nor stop it serving.
. "$(dirname "$0")/lib.sh"

start_tcpfixture open 127.0.15.10 1688
cat >"$T/kmswatch.yml" <<CONF
interval: 2s
timeout: 1s
state_file: ""
dns:
  resolvers: ["127.0.15.1:5305"]
  domains: []
hosts: ["127.0.15.10", "<b>odd\"name.invalid"]
CONF
# The second host is not a valid name; the configuration must reject it.
set +e
"$KMSWATCH_BIN" check-config --config.file="$T/kmswatch.yml" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" != 0 ] || fail "a host name with markup was accepted"
ok "host names with markup are rejected"
sed -i 's/, "<b>odd\\"name.invalid"//' "$T/kmswatch.yml"
start_agent "$T/kmswatch.yml" 19016

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

[ "$(code "$WEB/nope")" = 404 ] || fail "unknown path not 404"
ok "unknown path: 404"
[ "$(code "$WEB/metrics/x")" = 404 ] || fail "/metrics/x not 404"
ok "/metrics/x: 404"
[ "$(code -X POST "$WEB/metrics")" = 405 ] || fail "POST /metrics not 405"
allow=$(curl -s -D - -o /dev/null -X DELETE "$WEB/metrics" | tr -d '\r' | awk -F': ' 'tolower($1) == "allow" { print $2 }')
[ "$allow" = "GET, HEAD" ] || fail "Allow header: $allow"
ok "wrong method: 405 with Allow: $allow"
[ "$(code "$WEB/-/healthy")" = 200 ] || fail "/-/healthy"
[ "$(code "$WEB/-/ready")" = 200 ] || fail "/-/ready"
ok "/-/healthy and /-/ready: 200"

# HEAD carries no body.
len=$(curl -s -I "$WEB/metrics" -o /dev/null -w '%{size_download}')
[ "$len" = 0 ] || fail "HEAD returned a body"
ok "HEAD /metrics: no body"

# gzip when asked for, identical once decompressed.
# Two scrapes may straddle the end of a cycle: compare what does not change
# from one cycle to the next (no timings, no agent counters).
stable() { grep -v '^kms_agent\|^# \|_seconds' || true; }
curl -s "$WEB/metrics" | stable >"$T/plain"
grep -q '^kms_tcp_connect_success{host="127.0.15.10"' "$T/plain" || fail "plain body lacks the target"
enc=$(curl -s -D - -o "$T/gz" -H 'Accept-Encoding: gzip' "$WEB/metrics" | tr -d '\r' |
	awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')
[ "$enc" = gzip ] || fail "Content-Encoding: $enc"
gunzip -c "$T/gz" | stable >"$T/unzipped"
cmp -s "$T/plain" "$T/unzipped" || fail "gzip body differs from the plain one"
ok "gzip encoding when accepted"
enc=$(curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip;q=0' "$WEB/metrics" | tr -d '\r' |
	awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')
[ -z "$enc" ] || fail "gzip;q=0 still compressed"
ok "gzip;q=0 honoured"

# OpenMetrics when asked for.
ct=$(curl -s -o "$T/om" -w '%{content_type}' \
	-H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5' "$WEB/metrics")
[[ "$ct" == application/openmetrics-text* ]] || fail "OpenMetrics Content-Type: $ct"
[ "$(tail -n 1 "$T/om")" = "# EOF" ] || fail "OpenMetrics body does not end with # EOF"
grep -q '^# TYPE kms_agent_cycles counter$' "$T/om" || fail "OpenMetrics counter family"
ok "OpenMetrics when accepted"

# The status page names the target.
curl -s "$WEB/" >"$T/status.html"
grep -q '127.0.15.10' "$T/status.html" || fail "status page lacks the target"
grep -q '<h1>kmswatch</h1>' "$T/status.html" || fail "status page heading"
ok "status page lists targets"

# A 64 KiB header is refused (it exceeds the per-connection memory limit);
# the agent keeps serving.
big=$(head -c 65536 /dev/zero | tr '\0' 'a')
c=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$WEB/metrics" || true)
[ "$c" != 200 ] || fail "64 KiB header accepted"
ok "oversized request refused ($c)"
[ "$(code "$WEB/-/healthy")" = 200 ] || fail "not serving after an oversized request"
ok "still serving"

# Idle connections that never send a request do not block others.
for _ in $(seq 1 20); do
	exec {fd}<>/dev/tcp/127.0.0.1/19016
	IDLE+=("$fd")
done
[ "$(code -m 2 "$WEB/-/healthy")" = 200 ] || fail "idle connections block the server"
ok "idle connections do not block requests"
for fd in "${IDLE[@]}"; do exec {fd}>&-; done

# 200 requests, 20 at a time.
seq 1 200 | xargs -P 20 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$WEB/metrics" >"$T/codes"
n=$(grep -c '^200$' "$T/codes")
[ "$n" = 200 ] || fail "only $n of 200 parallel scrapes succeeded"
ok "200 parallel scrapes succeeded"

# Garbage instead of HTTP.
head -c 4096 /dev/urandom >"$T/junk"
exec {fd}<>/dev/tcp/127.0.0.1/19016
cat "$T/junk" >&"$fd" || true
exec {fd}>&-
[ "$(code "$WEB/-/healthy")" = 200 ] || fail "not serving after garbage"
ok "garbage on the socket does no harm"

kill -0 "$AGENT_PID" || fail "agent died"
finish
