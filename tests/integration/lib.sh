# Shared helpers for the integration and end-to-end tests. Every process a test
# starts binds to loopback only and is stopped when the test exits.
set -euo pipefail

: "${KMSWATCH_BIN:?KMSWATCH_BIN must point at the agent binary}"
: "${KMSWATCH_SRC:?KMSWATCH_SRC must point at the source tree}"
: "${KMSWATCH_TOOLS:?KMSWATCH_TOOLS must point at the test tools}"

T=$(mktemp -d "${TMPDIR:-/tmp}/kmswatch-test.XXXXXX")
PIDS=()
CHECKS=0

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ] && [ -f "$T/agent.log" ]; then
		echo "---- agent log (last 40 lines)" >&2
		tail -n 40 "$T/agent.log" >&2
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok $CHECKS - $*"
}

# Ends a test with the plain closing line.
finish() {
	echo "$CHECKS passed, 0 failed"
}

# start_dnsmasq NAME ADDRESS PORT: the configuration body comes on stdin.
start_dnsmasq() {
	local name=$1 addr=$2 port=$3
	{
		echo "port=$port"
		echo "listen-address=$addr"
		echo "bind-interfaces"
		echo "no-resolv"
		echo "no-hosts"
		echo "no-negcache"
		cat
	} >"$T/$name.conf"
	local user=()
	[ "$(id -u)" = 0 ] && user=(--user=root)
	dnsmasq -k --conf-file="$T/$name.conf" --pid-file= --log-facility="$T/$name.log" \
		"${user[@]}" &
	local pid=$!
	PIDS+=("$pid")
	eval "PID_$name=$pid"
	# Ready when it answers a query (any answer) over TCP.
	for _ in $(seq 1 50); do
		if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	fail "dnsmasq $name did not start on $addr:$port"
}

# start_tcpfixture MODE ADDR PORT [...]
start_tcpfixture() {
	"$KMSWATCH_TOOLS/tcpfixture" "$@" >"$T/tcpfixture.$#.out" &
	local pid=$!
	PIDS+=("$pid")
	for _ in $(seq 1 50); do
		grep -q ready "$T/tcpfixture.$#.out" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "tcpfixture did not start"
}

# start_agent CONFIG PORT [extra flags]: starts the agent and waits until it
# has completed its first cycle.
start_agent() {
	local config=$1 port=$2
	shift 2
	# Without state_file the agent would use the system's state file, and a
	# test must never touch an installed agent's state.
	grep -q '^state_file:' "$config" || fail "$config sets no state_file (use \"\" or a file under \$T)"
	WEB="http://127.0.0.1:$port"
	"$KMSWATCH_BIN" --config.file="$config" --web.listen-address="127.0.0.1:$port" \
		--log.level=debug "$@" >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	[ "${NO_WAIT:-0}" = 1 ] || wait_ready
}

# Waits until the agent serves HTTP at all (before its first cycle ends).
wait_serving() {
	for _ in $(seq 1 200); do
		curl -s -o /dev/null "$WEB/-/healthy" && return 0
		sleep 0.05
	done
	fail "agent does not serve HTTP"
}

wait_ready() {
	for _ in $(seq 1 200); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$WEB/-/ready")" = 200 ]; then
			return 0
		fi
		kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited during start-up"
		sleep 0.1
	done
	fail "agent not ready after 20s"
}

scrape() {
	curl -sf "$WEB/metrics" >"$T/metrics.txt" || fail "scrape of $WEB/metrics failed"
}

# metric SERIES: the value of one exact series from the last scrape, or
# "absent".
metric() {
	local v
	v=$(awk -v s="$1" 'substr($0, 1, length(s) + 1) == s " " { print $2; found = 1 }
		END { if (!found) print "absent" }' "$T/metrics.txt")
	echo "$v"
}

# expect SERIES VALUE: asserts on the last scrape.
expect() {
	local got
	got=$(metric "$1")
	[ "$got" = "$2" ] || fail "$1: expected $2, got $got"
	ok "$1 = $2"
}

# wait_for SERIES VALUE [SECONDS]: scrapes until the series has the value.
wait_for() {
	local series=$1 want=$2 secs=${3:-20} got
	local deadline=$((SECONDS + secs))
	while :; do
		scrape
		got=$(metric "$series")
		if [ "$got" = "$want" ]; then
			ok "$series = $want"
			return 0
		fi
		[ "$SECONDS" -ge "$deadline" ] && fail "$series: expected $want, got $got after ${secs}s"
		sleep 0.2
	done
}

# Waits until the agent has finished N more cycles than now.
wait_cycles() {
	local n=$1
	scrape
	local start
	start=$(metric kms_agent_cycles_total)
	local deadline=$((SECONDS + 30))
	while :; do
		scrape
		[ "$(metric kms_agent_cycles_total)" -ge $((start + n)) ] && return 0
		[ "$SECONDS" -ge "$deadline" ] && fail "agent did not complete $n cycles in 30s"
		sleep 0.2
	done
}

# promtool's linter objects to any gauge named *_count; kms_current_count and
# kms_required_count are the metric contract's names (they mirror slmgr's
# "current count"), so exactly those findings are tolerated. Parse errors and
# every other finding fail.
promtool_check() {
	local out rest
	out=$(promtool check metrics <"$T/metrics.txt" 2>&1) && {
		ok "promtool check metrics accepts the exposition"
		return 0
	}
	rest=$(grep -Ev '^kms_(current|required)_count non-histogram and non-summary metrics should not have "_count" suffix$' <<<"$out" || true)
	if [ -n "$rest" ]; then
		echo "$out" >&2
		fail "promtool check metrics rejected the exposition"
	fi
	ok "promtool check metrics accepts the exposition (only the _count naming note)"
}

# start_kmssim CMID CONFIG: the KMS host simulator (loopback only; answers
# only requests with CMID). Its per-host statistics go to $T/kmssim.json.
start_kmssim() {
	"$KMSWATCH_TOOLS/kmssim" --cmid "$1" --config "$2" --stats "$T/kmssim.json" \
		>"$T/kmssim.out" 2>"$T/kmssim.err" &
	KMSSIM_PID=$!
	PIDS+=("$KMSSIM_PID")
	for _ in $(seq 1 50); do
		grep -q '^ready' "$T/kmssim.out" 2>/dev/null && return 0
		kill -0 "$KMSSIM_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/kmssim.err" >&2
	fail "kmssim did not start"
}

# Makes the simulator reread its configuration and waits until it has.
reload_kmssim() {
	local before
	before=$(grep -c '^reloaded' "$T/kmssim.out" || true)
	kill -HUP "$KMSSIM_PID"
	for _ in $(seq 1 50); do
		[ "$(grep -c '^reloaded' "$T/kmssim.out" || true)" -gt "$before" ] && return 0
		sleep 0.1
	done
	cat "$T/kmssim.err" >&2
	fail "kmssim did not reload"
}

# sim_stat LISTEN FIELD: one field of the simulator's statistics for a host.
sim_stat() {
	jq -r --arg h "$1" ".hosts[\$h].$2 // \"absent\"" "$T/kmssim.json" 2>/dev/null || echo absent
}
