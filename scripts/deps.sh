#!/usr/bin/env bash
# Installs the Debian packages tgdesk needs (idempotent: only what is missing).
#   scripts/deps.sh run    build and run the service
#   scripts/deps.sh test   also what the test suite needs
#   scripts/deps.sh bench  also what bench/ needs
set -euo pipefail

run_pkgs=(build-essential pkg-config meson ninja-build python3
          libmicrohttpd-dev libpq-dev libjansson-dev libcurl4-openssl-dev gettext
          postgresql curl ca-certificates)
test_pkgs=(libcmocka-dev clang-format python3-yaml openssl clang libclang-rt-14-dev prometheus haproxy
           pgbouncer)

bench_pkgs=(wrk valgrind postgresql-contrib)

want=("${run_pkgs[@]}")
[ "${1:-run}" = test ] && want+=("${test_pkgs[@]}")
[ "${1:-run}" = bench ] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
