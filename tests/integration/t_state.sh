#!/usr/bin/env bash
# The state file: kill -9 the agent repeatedly while it writes its state; the
# file must always be readable and the agent must start from it. A missing,
# truncated or corrupt file is logged and replaced, never a crash.
. "$(dirname "$0")/lib.sh"

CMID=4f1e2d3c-5b6a-4978-8a6b-5c4d3e2f1a0b
hosts=""
static=""
for i in $(seq 10 60); do
	hosts+="{\"listen\": \"127.0.41.$i:1688\", \"count\": $i},"
	static+="\"127.0.41.$i\", "
done
echo "{\"hosts\": [${hosts%,}]}" >"$T/sim.json"
start_kmssim "$CMID" "$T/sim.json"

cat >"$T/kmswatch.yml" <<CONF
interval: 1s
timeout: 500ms
probe_interval: 1s
identity: {cmid: "$CMID", workstation: kmswatch.state}
dns: {resolvers: ["127.0.41.1:5341"], domains: []}
hosts: [${static%, }]
products: [windows-10-11, office-ltsc-2021, windows-server-2022]
state_file: "$T/state"
CONF

start_agent "$T/kmswatch.yml" 19041
wait_for 'kms_current_count{host="127.0.41.60",port="1688",product="windows-10-11"}' 60 20
# 51 hosts x 3 products: written when a round completes.
for _ in $(seq 1 50); do
	jq -e '.version == 1 and (.series | length) == 153' "$T/state" >/dev/null 2>&1 && break
	sleep 0.2
done
jq -e '.version == 1 and (.series | length) == 153' "$T/state" >/dev/null ||
	fail "state file lacks the series: $(jq '.series | length' "$T/state" 2>&1)"
ok "state file holds the count histories"

# 20 kills at random moments of the agent's life.
for round in $(seq 1 20); do
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	kill -9 "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null || true
	jq -e '.version == 1' "$T/state" >/dev/null ||
		fail "round $round: state file unreadable after kill -9: $(head -c 200 "$T/state")"
	[ ! -e "$T/state.corrupt" ] || fail "round $round: the file was judged corrupt"
	NO_WAIT=1 start_agent "$T/kmswatch.yml" 19041
	wait_serving
done
ok "20 kills: the state file was readable every time"
wait_ready
grep -q 'count histories' "$T/agent.log" || fail "the agent did not say it restored the state"
ok "the agent restores the state at start"

# A corrupt file is moved aside and the agent starts afresh.
kill "$AGENT_PID"
wait "$AGENT_PID" || true
head -c 100 "$T/state" >"$T/state.tmp" && mv "$T/state.tmp" "$T/state"
start_agent "$T/kmswatch.yml" 19041
[ -e "$T/state.corrupt" ] || fail "the truncated file was not moved aside"
grep -q 'unusable' "$T/agent.log" || fail "the corrupt file was not logged"
ok "truncated state file moved aside and logged"
kill "$AGENT_PID"
wait "$AGENT_PID" || true
head -c 5000 /dev/urandom >"$T/state"
start_agent "$T/kmswatch.yml" 19041
ok "garbage state file: the agent starts"
sleep 2
jq -e '.version == 1' "$T/state" >/dev/null || fail "the state file was not rewritten"
ok "the state file was rewritten"
kill "$AGENT_PID"
wait "$AGENT_PID" || fail "agent did not stop cleanly"
jq -e '.version == 1' "$T/state" >/dev/null || fail "state file unreadable after a clean stop"
ok "clean stop leaves a readable state file"

# A state file in a directory that cannot be written: logged, the agent runs.
sed -i "s|state_file: .*|state_file: \"$T/no/such/dir/state\"|" "$T/kmswatch.yml"
start_agent "$T/kmswatch.yml" 19041
sleep 2
scrape
expect kms_agent_state_file_last_write_successful 0
kill -0 "$AGENT_PID" || fail "agent died"
ok "an unwritable state file does not stop the agent"
finish
