#!/usr/bin/env bash
# The command line and configuration errors: check-config prints the effective
# configuration or file:line:col errors and exits non-zero; the agent refuses
# to start on a bad file; nothing crashes on malformed, empty or huge input.
. "$(dirname "$0")/lib.sh"

K=$KMSWATCH_BIN

out=$("$K" version)
[[ "$out" == "kmswatch "* ]] || fail "version printed: $out"
ok "version: $out"

set +e
"$K" --no-such-flag >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "unknown flag exit code $rc, expected 2"
ok "unknown flag exits 2"

# check_bad FILE EXPECTED-TEXT: check-config must fail and print the text.
check_bad() {
	local file=$1 want=$2 rc
	set +e
	"$K" check-config --config.file="$file" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "check-config accepted $file"
	grep -qF -- "$want" "$T/err" || {
		cat "$T/err" >&2
		fail "check-config on $file: missing \"$want\""
	}
	[ ! -s "$T/out" ] || fail "check-config printed a configuration for a bad file"
	ok "rejected $(basename "$file"): $want"
}

printf 'interval: 1m\ntimeout: [5s\n' >"$T/syntax.yml"
check_bad "$T/syntax.yml" "$T/syntax.yml:3:1: invalid YAML"

printf 'interval: 1m\nconcurrency: lots\n' >"$T/type.yml"
check_bad "$T/type.yml" "$T/type.yml:2:14: concurrency"

printf 'dns:\n  resolvers: [system]\n  domain: [x.test]\n' >"$T/unknown.yml"
check_bad "$T/unknown.yml" "$T/unknown.yml:3:3: unknown key \"domain\""

printf 'dns:\n  resolvers: "10.0.0.1"\n' >"$T/scalar.yml"
check_bad "$T/scalar.yml" "$T/scalar.yml:2:14: dns.resolvers: expected a list"

printf 'hosts: ["kms.test:0"]\n' >"$T/port.yml"
check_bad "$T/port.yml" "$T/port.yml:1:9: hosts"

printf 'interval: 1m\ntimeout: 2m\n' >"$T/timeout.yml"
check_bad "$T/timeout.yml" "timeout"

printf -- '- just\n- a list\n' >"$T/list.yml"
check_bad "$T/list.yml" "$T/list.yml:1:1"

head -c 1200000 /dev/zero | tr '\0' '#' >"$T/huge.yml"
check_bad "$T/huge.yml" "larger than"

check_bad "$T/does-not-exist.yml" "does-not-exist.yml"

# An empty file is valid: every default applies.
: >"$T/empty.yml"
"$K" check-config --config.file="$T/empty.yml" >"$T/out" 2>/dev/null || fail "empty file rejected"
grep -q '^interval: 1m$' "$T/out" || fail "empty file: no default interval"
grep -q '"system"' "$T/out" || fail "empty file: no default resolver"
grep -q '":9688"' "$T/out" || fail "empty file: no default listen address"
ok "empty file gives the defaults"

# The shipped configuration is valid, and the canonical print loads again.
"$K" check-config --config.file="$KMSWATCH_SRC/config/kmswatch.yml" >"$T/canon.yml" 2>/dev/null ||
	fail "config/kmswatch.yml is invalid"
"$K" check-config --config.file="$T/canon.yml" >"$T/canon2.yml" 2>/dev/null ||
	fail "canonical print does not load"
cmp -s "$T/canon.yml" "$T/canon2.yml" || fail "canonical print is not stable"
ok "config/kmswatch.yml is valid and its canonical print is stable"
for f in "$KMSWATCH_SRC"/config/examples/*.yml; do
	"$K" check-config --config.file="$f" >/dev/null 2>&1 || fail "$f is invalid"
	ok "example $(basename "$f") is valid"
done

# The agent itself refuses to start on a bad configuration, at once.
set +e
timeout 10 "$K" --config.file="$T/type.yml" --web.listen-address=127.0.0.1:19014 2>"$T/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "agent exit code $rc on a bad configuration, expected 1"
grep -qF "type.yml:2:14" "$T/err" || fail "agent did not log the error position"
ok "agent refuses a bad configuration"

set +e
timeout 10 "$K" --config.file="$T/empty.yml" --web.listen-address=nonsense 2>"$T/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "agent exit code $rc on a bad listen address, expected 1"
ok "agent refuses a bad --web.listen-address"
finish
