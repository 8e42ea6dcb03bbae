#!/usr/bin/env bash
# Installs what kmswatch needs on Debian 12: the build and runtime libraries,
# and with --test the tools the test suite starts (dnsmasq, Prometheus,
# Alertmanager, curl, Criterion). Idempotent: packages already installed are
# skipped, and nothing is fetched when everything is present.
set -euo pipefail

want_test=0
for arg in "$@"; do
	case "$arg" in
	--test) want_test=1 ;;
	-h | --help)
		echo "usage: $0 [--test]"
		exit 0
		;;
	*)
		echo "install-deps.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

build_pkgs=(
	build-essential cmake pkg-config git
	libmicrohttpd-dev libc-ares-dev libyaml-dev nettle-dev libjansson-dev
	libcurl4-openssl-dev zlib1g-dev libcrypt-dev libsystemd-dev
	ca-certificates
)
test_pkgs=(
	libcriterion-dev clang clang-format libclang-rt-14-dev
	dnsmasq-base prometheus prometheus-alertmanager curl iproute2 procps jq
)

pkgs=("${build_pkgs[@]}")
if [ "$want_test" = 1 ]; then
	pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi

# The prometheus and alertmanager packages would start system services; the
# test suite runs its own instances on loopback, so service starts are
# suppressed for the duration of the install when no policy exists already.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod 755 "$policy"
	made_policy=1
fi
cleanup() {
	if [ "$made_policy" = 1 ]; then
		$sudo rm -f "$policy"
	fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
	$sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
