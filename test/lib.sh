# Helpers for the shell integration tests (TAP output, one process per file).
# Each test runs tgdesk in a scratch directory with a clean environment, so a
# developer's .env or exported variables cannot change the outcome.
set -u

: "${TGDESK_BIN:?TGDESK_BIN is set by meson test}"
: "${TGDESK_SOURCE_ROOT:?TGDESK_SOURCE_ROOT is set by meson test}"

t_n=0
t_fail=0
scratch=$(mktemp -d /tmp/tgdesk-t.XXXXXX)
chmod 755 "$scratch"
cd "$scratch"
t_cleanups=()
t_exit() {
    local c
    for c in "${t_cleanups[@]}"; do eval "$c" || true; done
    rm -rf "$scratch"
}
trap t_exit EXIT

# Forget every tgdesk variable the caller's environment may hold.
for v in $("$TGDESK_BIN" --help | awk '/^  [A-Z][A-Z0-9_]+ /{print $1}'); do unset "$v"; done

ok() { t_n=$((t_n + 1)); echo "ok $t_n - $1"; }
not_ok() {
    t_n=$((t_n + 1)); t_fail=$((t_fail + 1))
    echo "not ok $t_n - $1"
    shift
    local l
    for l in "$@"; do printf '#   %s\n' "$l"; done
}
expect_eq() { # DESC EXPECTED ACTUAL
    if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "actual:   $3"; fi
}
expect_contains() { # DESC HAYSTACK NEEDLE
    if [[ "$2" == *"$3"* ]]; then ok "$1"; else not_ok "$1" "missing: $3" "in: ${2:0:2000}"; fi
}
expect_not_contains() { # DESC HAYSTACK NEEDLE
    if [[ "$2" != *"$3"* ]]; then ok "$1"; else not_ok "$1" "unexpected: $3" "in: ${2:0:2000}"; fi
}
finish() {
    echo "1..$t_n"
    [ "$t_fail" -eq 0 ]
}

# run CMD...: sets $out, $err and $rc.
run() {
    set +e
    "$@" >"$scratch/out" 2>"$scratch/err"
    rc=$?
    set -e
    out=$(cat "$scratch/out")
    err=$(cat "$scratch/err")
}

need_pg() {
    if [ -z "${TGDESK_TEST_PG:-}" ]; then
        echo "# TGDESK_TEST_PG is not set: skipping"
        exit 77
    fi
}

# new_db: creates an empty database and prints its conninfo; dropped at exit.
new_db() {
    local name=tgdesk_s_$$_${RANDOM}${RANDOM}
    psql "$TGDESK_TEST_PG" -qAtc "CREATE DATABASE $name" >/dev/null
    t_cleanups+=("psql '$TGDESK_TEST_PG' -qAtc 'DROP DATABASE IF EXISTS $name WITH (FORCE)' >/dev/null 2>&1")
    echo "$TGDESK_TEST_PG dbname=$name"
}

# sql CONNINFO QUERY: prints the unaligned, tuples-only result.
sql() { psql "$1" -qAtX -v ON_ERROR_STOP=1 -c "$2"; }

freeport() { "$TGDESK_SOURCE_ROOT/scripts/freeport.sh"; }

# wait_http URL [SECONDS]: waits until URL answers at all.
wait_http() {
    local i
    for i in $(seq 1 $((${2:-10} * 20))); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.05
    done
    return 1
}
