#!/usr/bin/env bash
# The example Alertmanager configuration: it loads, every alert of the rules
# file routes by its severity (critical to pager, warning to ticket, info to
# null), and the inhibit rules silence what they should and nothing else,
# checked against a real Alertmanager on loopback.
# "[ test ] && ok ... || bad ..." is safe here: ok never fails.
# shellcheck disable=SC2015
set -uo pipefail

SRC=${KMSWATCH_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CONF=$SRC/deploy/alertmanager/alertmanager.yml
RULES=$SRC/deploy/prometheus/kmswatch-alerts.yml
AM_BIN=${AM_BIN:-/usr/bin/prometheus-alertmanager}
PASS=0
FAIL=0
T=$(mktemp -d "${TMPDIR:-/tmp}/kmswatch-am.XXXXXX")
AM_PID=

cleanup() {
	if [ -n "$AM_PID" ]; then
		kill "$AM_PID" 2>/dev/null
		wait "$AM_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() {
	PASS=$((PASS + 1))
	echo "ok $((PASS + FAIL)) - $*"
}

bad() {
	FAIL=$((FAIL + 1))
	echo "not ok $((PASS + FAIL)) - $*" >&2
}

for tool in amtool curl jq; do
	command -v $tool >/dev/null || {
		echo "$tool not found" >&2
		exit 1
	}
done

if out=$(amtool check-config "$CONF" 2>&1); then
	ok "amtool check-config alertmanager.yml"
else
	echo "$out" >&2
	bad "amtool check-config alertmanager.yml"
fi

# route LABELS...: the receiver(s) amtool picks for an alert with these labels.
route() {
	amtool config routes test --config.file="$CONF" "$@" 2>/dev/null
}

expect_route() {
	local want=$1 got
	shift
	got=$(route "$@")
	[ "$got" = "$want" ] && ok "$* -> $want" || bad "$* -> '$got', want $want"
}

expect_route pager severity=critical alertname=KMSCountDropped host=kms1 port=1688 product=windows-10-11
expect_route ticket severity=warning alertname=KMSCountNearThreshold host=kms1 port=1688 product=windows-10-11
expect_route null severity=info alertname=KMSHostKeyChanged host=kms1 port=1688
# A KMS alert without a known severity, and a foreign alert: not lost.
expect_route ticket alertname=KMSCountDropped
expect_route ticket severity=critical alertname=SomethingElse

# Every rule of the rules file routes by the severity it carries.
want_receiver() {
	case $1 in
	critical) echo pager ;;
	warning) echo ticket ;;
	info) echo null ;;
	*) echo "?" ;;
	esac
}
pairs=$(awk '/^ *- alert: / { a = $3 } /^ *severity: / && a != "" { print a, $2; a = "" }' "$RULES" | sort -u)
[ "$(wc -l <<<"$pairs")" -ge 15 ] && ok "$(wc -l <<<"$pairs") alerts read from the rules file" ||
	bad "too few alerts in the rules file: $pairs"
while read -r name sev; do
	want=$(want_receiver "$sev")
	got=$(route alertname="$name" severity="$sev")
	[ "$got" = "$want" ] && ok "$name ($sev) -> $want" || bad "$name ($sev) -> '$got', want $want"
done <<<"$pairs"

# Inhibition, on a real Alertmanager: loopback only, no clustering.
if [ ! -x "$AM_BIN" ]; then
	bad "$AM_BIN not found (Debian package prometheus-alertmanager)"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
# A fixed port below the kernel's ephemeral range, like every other test's,
# so that it cannot collide with the local end of some client connection.
port=19061
AM="http://127.0.0.1:$port"
"$AM_BIN" --config.file="$CONF" --storage.path="$T/data" \
	--web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
	--log.level=warn >"$T/am.log" 2>&1 &
AM_PID=$!
ready=0
for _ in $(seq 1 100); do
	if curl -sf "$AM/-/ready" >/dev/null; then
		ready=1
		break
	fi
	kill -0 "$AM_PID" 2>/dev/null || break
	sleep 0.1
done
if [ "$ready" = 1 ]; then
	ok "Alertmanager serves on $AM"
else
	cat "$T/am.log" >&2
	bad "Alertmanager did not start"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi

# The alerts, as the rules would send them (job/instance left out: the inhibit
# rules do not look at them).
jq -n '
def a(l): {labels: l, annotations: {summary: "test"}, generatorURL: "http://test/"};
[
  a({alertname: "KMSCountBelowThreshold", severity: "critical", code: "0xC004F038",
     host: "kms1.example", port: "1688", product: "windows-10-11"}),
  a({alertname: "KMSCountNearThreshold", severity: "warning",
     host: "kms1.example", port: "1688", product: "windows-10-11"}),
  a({alertname: "KMSCountNearThreshold", severity: "warning",
     host: "kms1.example", port: "1688", product: "office-ltsc-2021"}),
  a({alertname: "KMSCountNearThreshold", severity: "warning",
     host: "kms2.example", port: "1688", product: "windows-10-11"}),
  a({alertname: "KMSNoSRVRecords", severity: "critical", code: "0x8007232B",
     domain: "a.example", resolver: "system"}),
  a({alertname: "KMSDNSFailure", severity: "warning", code: "0x8007232A",
     domain: "b.example", resolver: "system", result: "servfail"}),
  a({alertname: "KMSNoHostReachable", severity: "critical", code: "0xC004F074",
     domain: "c.example"}),
  a({alertname: "KMSHostUnreachable", severity: "warning", code: "0x800706BA",
     domain: "c.example", host: "kms3.example", port: "1688", result: "refused"}),
  a({alertname: "KMSHostUnreachable", severity: "warning", code: "0x800706BA",
     domain: "d.example", host: "kms4.example", port: "1688", result: "refused"}),
  a({alertname: "KMSHostUnreachable", severity: "warning", code: "0xC004F039",
     host: "kms5.example", port: "1689", result: "timeout"}),
  a({alertname: "KMSProbeStale", severity: "warning",
     host: "kms4.example", port: "1688", product: "windows-10-11"}),
  a({alertname: "KMSProbeStale", severity: "warning",
     host: "kms6.example", port: "1688", product: "windows-10-11"})
]' >"$T/alerts.json"
if curl -sf -XPOST -H 'Content-Type: application/json' --data @"$T/alerts.json" \
	"$AM/api/v2/alerts" >/dev/null; then
	ok "12 alerts posted"
else
	bad "posting alerts to $AM failed"
fi

# state ALERTNAME KEY=VALUE...: "active" or "suppressed" for the one alert
# with these labels.
state() {
	local name=$1 filter
	shift
	filter="filter=alertname%3D%22$name%22"
	for kv in "$@"; do
		filter="$filter&filter=${kv%%=*}%3D%22${kv#*=}%22"
	done
	curl -sf "$AM/api/v2/alerts?$filter" | jq -r '[.[].status.state] | join(",")'
}

# The inhibitor learns about source alerts asynchronously: wait until the
# first expected inhibition shows.
for _ in $(seq 1 50); do
	[ "$(state KMSCountNearThreshold host=kms1.example product=windows-10-11)" = suppressed ] && break
	sleep 0.1
done

expect_state() {
	local want=$1 why=$2 got
	shift 2
	got=$(state "$@")
	[ "$got" = "$want" ] && ok "$* is $want ($why)" || bad "$* is '$got', want $want ($why)"
}

expect_state suppressed "below threshold on the same host, port and product" \
	KMSCountNearThreshold host=kms1.example product=windows-10-11
expect_state active "another product of the same host" \
	KMSCountNearThreshold host=kms1.example product=office-ltsc-2021
expect_state active "another host" \
	KMSCountNearThreshold host=kms2.example
expect_state active "a critical alert of the same host does not silence critical ones" \
	KMSCountBelowThreshold host=kms1.example
expect_state active "a domain-level critical elsewhere must not silence it" \
	KMSDNSFailure domain=b.example
expect_state suppressed "KMSNoHostReachable for the same domain" \
	KMSHostUnreachable host=kms3.example
expect_state active "its domain has a reachable host" \
	KMSHostUnreachable host=kms4.example
expect_state active "a static host (no domain) is not covered by any domain" \
	KMSHostUnreachable host=kms5.example
expect_state suppressed "its host is unreachable" \
	KMSProbeStale host=kms4.example
expect_state active "its host is reachable" \
	KMSProbeStale host=kms6.example
expect_state active "sources are never inhibited by these rules" \
	KMSNoHostReachable domain=c.example

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
