#!/usr/bin/env bash
# Grafana dashboards and provisioning examples: every dashboard is valid JSON
# with panels, takes its data source from a variable, queries only metrics the
# agent serves (README.md, section Metrics) in PromQL that parses. Needs jq
# and promtool, no Grafana.
# "[ test ] && ok ... || bad ..." is safe here: ok never fails.
# shellcheck disable=SC2015
set -uo pipefail

SRC=${KMSWATCH_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PASS=0
FAIL=0
T=$(mktemp -d "${TMPDIR:-/tmp}/kmswatch-dash.XXXXXX")
trap 'rm -rf "$T"' EXIT

ok() {
	PASS=$((PASS + 1))
	echo "ok $((PASS + FAIL)) - $*"
}

bad() {
	FAIL=$((FAIL + 1))
	echo "not ok $((PASS + FAIL)) - $*" >&2
}

for tool in jq promtool; do
	command -v $tool >/dev/null || {
		echo "$tool not found" >&2
		exit 1
	}
done

KNOWN=$(awk '/^## /{ m = ($0 == "## Metrics") } m && /^\|/' "$SRC/README.md" |
	grep -o '`kms_[a-z_]*' | tr -d '`' | sort -u)
[ -n "$KNOWN" ] && ok "README.md lists $(wc -l <<<"$KNOWN") metrics" || bad "no metrics found in README.md"

shopt -s nullglob
files=("$SRC"/dashboards/*.json)
[ "${#files[@]}" -gt 0 ] && ok "${#files[@]} dashboard(s) found" || bad "no dashboards in dashboards/"

for f in "${files[@]}"; do
	d=$(basename "$f")
	if ! jq empty "$f" 2>"$T/err"; then
		bad "$d: not valid JSON: $(cat "$T/err")"
		continue
	fi
	ok "$d: valid JSON"

	[ "$(jq -r '(.title // "") != "" and (.uid // "") != ""' "$f")" = true ] &&
		ok "$d: has a title and a uid" || bad "$d: needs a title and a uid"

	# Panels, including those nested in collapsed rows.
	n=$(jq '[.panels[]?, (.panels[]?.panels[]?)] | map(select(.type != "row")) | length' "$f")
	[ "$n" -gt 0 ] && ok "$d: $n panels" || bad "$d: no panels"

	dup=$(jq -r '[.panels[]?, (.panels[]?.panels[]?)] | map(.id) | group_by(.) | map(select(length > 1) | .[0]) | .[]' "$f")
	[ -z "$dup" ] && ok "$d: panel ids are unique" || bad "$d: duplicate panel ids: $dup"

	missing=$(jq -r '[.panels[]?, (.panels[]?.panels[]?)] | map(select(.gridPos == null) | .title) | .[]' "$f")
	[ -z "$missing" ] && ok "$d: every panel has a gridPos" || bad "$d: panels without gridPos: $missing"

	# The data source comes from a variable of type datasource (prometheus),
	# never a uid of one Grafana installation.
	[ "$(jq -r '[.templating.list[]? | select(.type == "datasource" and .query == "prometheus")] | length' "$f")" -ge 1 ] &&
		ok "$d: has a prometheus datasource variable" || bad "$d: no datasource variable of type prometheus"
	fixed=$(jq -r '[.. | objects | select(has("datasource")) | .datasource | objects | select(.type == "prometheus") | .uid] | map(select(. != "${datasource}" and . != "$datasource")) | unique | .[]' "$f")
	[ -z "$fixed" ] && ok "$d: every Prometheus query uses \${datasource}" ||
		bad "$d: hard-wired data source uids: $fixed"

	# Every query: panel targets and variable queries.
	jq -r '[.. | objects | .expr? | strings] + [.templating.list[]? | select(.type == "query") |
		(.query | if type == "object" then .query else . end) | strings] | .[]' "$f" >"$T/exprs"
	nexpr=$(grep -c . "$T/exprs")
	[ "$nexpr" -gt 0 ] && ok "$d: $nexpr queries" || bad "$d: no queries"

	used=$(grep -o 'kms_[a-z_]*' "$T/exprs" | sort -u)
	unknown=$(comm -23 <(echo "$used") <(echo "$KNOWN"))
	[ -z "$unknown" ] && ok "$d: queries use only metrics from README.md ($(wc -l <<<"$used") of them)" ||
		bad "$d: metrics not in README.md: ${unknown//$'\n'/ }"

	# PromQL syntax: promtool check rules parses each query as a recording
	# rule, with Grafana's variables replaced by plausible values.
	{
		echo "groups:"
		echo "  - name: dashboard"
		echo "    rules:"
		i=0
		while IFS= read -r e; do
			case $e in label_values\(*) continue ;; esac
			i=$((i + 1))
			e=${e//\$__rate_interval/5m}
			e=${e//\$__interval/1m}
			e=$(sed -E 's/\$\{?[a-z_]+\}?/.*/g' <<<"$e")
			echo "      - record: dashboard:query_$i"
			printf '        expr: %s\n' "$(jq -Rn --arg e "$e" '$e')"
		done <"$T/exprs"
	} >"$T/exprs.yml"
	if out=$(promtool check rules "$T/exprs.yml" 2>&1); then
		ok "$d: every PromQL query parses"
	else
		echo "$out" >&2
		bad "$d: PromQL that does not parse"
	fi
	# Variable queries: label_values(SELECTOR, label) with a known metric.
	badvar=$(grep '^label_values(' "$T/exprs" | grep -Ev '^label_values\(kms_[a-z_]+(\{[^}]*\})?, *[a-z_]+\)$' || true)
	[ -z "$badvar" ] && ok "$d: variable queries are label_values(metric, label)" ||
		bad "$d: odd variable queries: $badvar"
done

# Provisioning examples: present and of the expected kinds.
P=$SRC/deploy/grafana/provisioning
for kind in datasources dashboards; do
	ymls=("$P/$kind"/*.yml)
	if [ "${#ymls[@]}" -eq 0 ]; then
		bad "no provisioning example in deploy/grafana/provisioning/$kind"
		continue
	fi
	for y in "${ymls[@]}"; do
		if grep -q '^apiVersion: 1$' "$y" && grep -q "^$( [ $kind = dashboards ] && echo providers || echo datasources):" "$y"; then
			ok "provisioning/$kind/$(basename "$y") has apiVersion 1 and a $kind list"
		else
			bad "provisioning/$kind/$(basename "$y") lacks apiVersion: 1 or its list"
		fi
	done
done
grep -q 'type: prometheus' "$P"/datasources/*.yml && ok "the example data source is of type prometheus" ||
	bad "the example data source is not of type prometheus"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
