#!/usr/bin/env bash
# Prometheus side of the deployment files: the alert rules, their promtool
# unit tests and the example prometheus.yml. Needs promtool only (no agent).
# "[ test ] && ok ... || bad ..." is safe here: ok never fails.
# shellcheck disable=SC2015
set -uo pipefail

SRC=${KMSWATCH_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
P=$SRC/deploy/prometheus
RULES=$P/kmswatch-alerts.yml
PASS=0
FAIL=0

ok() {
	PASS=$((PASS + 1))
	echo "ok $((PASS + FAIL)) - $*"
}

bad() {
	FAIL=$((FAIL + 1))
	echo "not ok $((PASS + FAIL)) - $*" >&2
}

# run DESCRIPTION COMMAND...: passes when the command succeeds; shows its
# output otherwise.
run() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		echo "$out" >&2
		bad "$what"
	fi
}

command -v promtool >/dev/null || {
	echo "promtool not found (Debian package prometheus)" >&2
	exit 1
}

# The alerts of DESIGN.md, with their severity and code(s) ("-" for none).
ALERTS="
KMSNoSRVRecords critical 0x8007232B,0x8007251D
KMSDNSFailure warning 0x8007232A
KMSSRVInconsistent warning -
KMSHostUnreachable warning 0x800706BA,0xC004F039
KMSNoHostReachable critical 0xC004F074
KMSHostNotActivated critical 0xC004F041
KMSProductNotCovered warning 0xC004F042
KMSClockSkew warning 0xC004F06C
KMSHostOutdated warning 0x8007000D
KMSCountBelowThreshold critical 0xC004F038
KMSCountNearThreshold warning -
KMSCountDropped critical -
KMSHostKeyChanged info -
KMSTooManyHosts warning -
KMSProbeStale warning -
"

run "promtool check rules kmswatch-alerts.yml" promtool check rules "$RULES"
run "promtool check rules kmswatch-agent-alerts.yml" promtool check rules "$P/kmswatch-agent-alerts.yml"
run "promtool check config prometheus.yml (and the rule file it loads)" \
	promtool check config "$P/prometheus.yml"
run "promtool test rules tests/*.yml" promtool test rules "$P"/tests/*.yml

# One line per rule: NAME|severity|label code|annotation code|runbook_url|
# annotation keys present. Labels and annotations are told apart by the
# section they appear in.
summary_of_rules() {
	awk '
	function flush() {
		if (name != "")
			print name "|" sev "|" lcode "|" acode "|" url "|" keys
	}
	/^ *- alert: / { flush(); name = $3; sev = lcode = acode = url = keys = ""; sect = ""; next }
	name == "" { next }
	/^ *labels:/ { sect = "labels"; next }
	/^ *annotations:/ { sect = "annotations"; next }
	/^ *(expr|for):/ { sect = ""; next }
	{
		line = $0
		sub(/^ */, "", line)
		if (match(line, /^[a-z_]+:/) == 0)
			next
		key = substr(line, 1, RLENGTH - 1)
		val = substr(line, RLENGTH + 1)
		sub(/^ */, "", val)
		gsub(/"/, "", val)
		if (sect == "labels" && key == "severity") sev = val
		if (sect == "labels" && key == "code") lcode = val
		if (sect == "annotations") {
			keys = keys " " key
			if (key == "code") acode = val
			if (key == "runbook_url") url = val
		}
	}
	END { flush() }' "$RULES"
}
RULE_LINES=$(summary_of_rules)

n=$(grep -c . <<<"$RULE_LINES")
[ "$n" -ge 15 ] && ok "$n rules parsed" || bad "only $n rules parsed"

while read -r name sev codes; do
	[ -n "$name" ] || continue
	lower=$(tr '[:upper:]' '[:lower:]' <<<"$name")
	mine=$(grep "^$name|" <<<"$RULE_LINES")
	if [ -z "$mine" ]; then
		bad "$name: no rule in kmswatch-alerts.yml"
		continue
	fi
	errs=""
	seen_codes=""
	while IFS='|' read -r _ rsev lcode acode url keys; do
		[ "$rsev" = "$sev" ] || errs="$errs severity=$rsev (want $sev);"
		for k in summary description remedy runbook_url; do
			grep -qw "$k" <<<"$keys" || errs="$errs no $k annotation;"
		done
		[ "$url" = "http://{{ \$labels.instance }}/runbooks#$lower" ] ||
			errs="$errs runbook_url=$url;"
		if [ "$codes" = - ]; then
			[ -z "$lcode$acode" ] || errs="$errs has a code ($lcode/$acode) but should not;"
		else
			[ -n "$lcode" ] && [ "$lcode" = "$acode" ] ||
				errs="$errs code label '$lcode' and annotation '$acode' differ or are missing;"
			grep -qw -- "$lcode" <<<"${codes//,/ }" || errs="$errs unexpected code $lcode;"
			seen_codes="$seen_codes $lcode"
		fi
	done <<<"$mine"
	if [ "$codes" != - ]; then
		for c in ${codes//,/ }; do
			grep -qw -- "$c" <<<"$seen_codes" || errs="$errs no rule with code $c;"
		done
	fi
	if [ -z "$errs" ]; then
		ok "$name: severity $sev, code ${codes}, summary, description, remedy, runbook_url"
	else
		bad "$name:$errs"
	fi
done <<<"$ALERTS"

# No rule outside the table.
extra=$(cut -d'|' -f1 <<<"$RULE_LINES" | sort -u | while read -r r; do
	grep -q "^$r " <<<"$ALERTS" || echo "$r"
done)
[ -z "$extra" ] && ok "no alert outside DESIGN.md's table" || bad "unexpected alerts: $extra"

# Every alert has a unit test in which it fires and one in which it does not.
# Tests are written as "alertname: X" followed by "exp_alerts: []" (quiet) or
# "exp_alerts:" with a list (fires).
COVER=$(awk '
	/^ *alertname: / { a = $2 }
	/^ *exp_alerts: *\[\] *$/ { if (a != "") quiet[a] = 1 }
	/^ *exp_alerts: *$/ { if (a != "") fires[a] = 1 }
	END {
		for (a in fires) print a, "fires"
		for (a in quiet) print a, "quiet"
	}' "$P"/tests/*.yml)
while read -r name _; do
	[ -n "$name" ] || continue
	if grep -qx "$name fires" <<<"$COVER" && grep -qx "$name quiet" <<<"$COVER"; then
		ok "$name: tested firing and quiet"
	else
		bad "$name: the tests need a case where it fires and one where it does not"
	fi
done <<<"$ALERTS"

# The rules use only metrics the agent serves (README.md, section Metrics).
KNOWN=$(awk '/^## /{ m = ($0 == "## Metrics") } m && /^\|/' "$SRC/README.md" |
	grep -o '`kms_[a-z_]*' | tr -d '`' | sort -u)
[ -n "$KNOWN" ] && ok "README.md lists $(wc -l <<<"$KNOWN") metrics" || bad "no metrics found in README.md"
used=$(grep -v '^ *#' "$RULES" | grep -o 'kms_[a-z_]*' | sort -u)
unknown=$(comm -23 <(echo "$used") <(echo "$KNOWN"))
[ -z "$unknown" ] && ok "the rules use only metrics from README.md" ||
	bad "metrics not in README.md: ${unknown//$'\n'/ }"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
