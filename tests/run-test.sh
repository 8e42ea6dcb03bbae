#!/usr/bin/env bash
# Runs one test command with sanitizer reports redirected to a private
# directory; any report there fails the test, whichever process wrote it.
set -u
reports=$(mktemp -d "${TMPDIR:-/tmp}/kmswatch-san.XXXXXX")
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="log_path=$reports/lsan${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
"$@"
rc=$?
if [ -n "$(ls -A "$reports")" ]; then
	echo "run-test: sanitizer reports:" >&2
	for f in "$reports"/*; do
		echo "==== $f" >&2
		cat "$f" >&2
	done
	[ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
