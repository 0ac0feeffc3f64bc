#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh Debian 12 machine:
# installs what is missing, starts a throwaway PostgreSQL cluster, builds with
# warnings as errors, runs every test in a normal and in an ASan+UBSan build,
# stops the cluster, and prints "N passed, N failed" last.
#   scripts/test.sh            everything
#   scripts/test.sh -- ARGS    extra arguments for `meson test` (e.g. a test name);
#                              the fuzz run is skipped then
# TGDESK_FUZZ_SECONDS (default 45) bounds the libFuzzer run of the update parser.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

extra=()
if [ "${1:-}" = -- ]; then shift; extra=("$@"); fi

scripts/deps.sh test

# The cluster lives where the postgres user can reach it (not under /root).
pgtmp=$(mktemp -d /tmp/tgdesk-test-pg.XXXXXX)
chmod 755 "$pgtmp"
port=$(scripts/freeport.sh)
cleanup() {
    scripts/pg.sh stop "$pgtmp" || true
    rm -rf "$pgtmp"
}
trap cleanup EXIT
scripts/pg.sh start "$pgtmp" "$port" --fast
export TGDESK_TEST_PG="host=127.0.0.1 port=$port user=postgres dbname=postgres"
echo "test: PostgreSQL on 127.0.0.1:$port ($pgtmp)"

# build/test: everything; build/asan: all but the tree checks and the long
# fault tests (suite slow), under
# AddressSanitizer + UndefinedBehaviorSanitizer; build/tsan: the threaded
# modules under ThreadSanitizer.
builds=(test asan tsan)
declare -A suites=([test]="" [asan]="--no-suite lint --no-suite slow" [tsan]="--suite threads")
# The whole suite: build/test runs the long fault tests (suite slow) on
# their own afterwards, three at a time - they mostly wait (a frozen
# database, trickling clients, a paused instance), so that halves their time.
if [ ${#extra[@]} -eq 0 ]; then suites[test]="--no-suite slow"; fi
setup() { # NAME ARGS...
    local dir=build/$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" --werror "$@" >/dev/null
    else
        meson setup "$dir" --werror "$@" >/dev/null
    fi
}
setup test -Dbuildtype=debugoptimized
setup asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
setup tsan -Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false

status=0
timings=()
run_build() { # NAME: compile, then its tests
    local b=$1 t0=$SECONDS t1
    echo "== build/$b"
    meson compile -C "build/$b" >"build/$b-compile.log" 2>&1 ||
        { cat "build/$b-compile.log"; echo "0 passed, 1 failed"; exit 1; }
    t1=$SECONDS
    # A run that selects no test of this build (e.g. `-- docs` in build/tsan)
    # writes no log: an older one must not be counted again.
    rm -f "build/$b/meson-logs/testlog.json" "build/$b/meson-logs/slowlog.json"
    # shellcheck disable=SC2086 # the suite options are meant to split
    meson test -C "build/$b" --print-errorlogs --num-processes 2 ${suites[$b]} "${extra[@]}" ||
        status=1
    timings+=("$b: compile $((t1 - t0)) s, tests $((SECONDS - t1)) s")
    if [ "$b" = test ] && [ ${#extra[@]} -eq 0 ]; then
        t1=$SECONDS
        meson test -C build/test --print-errorlogs --num-processes 3 --suite slow \
            --logbase slowlog || status=1
        timings+=("test, suite slow: $((SECONDS - t1)) s")
    fi
}
run_build test
run_build asan

# The update parser and the JSON scanner under libFuzzer for a bounded time
# (clang), on one core beside the ThreadSanitizer build, whose few tests
# mostly wait.
fuzz_seconds=${TGDESK_FUZZ_SECONDS:-45}
fuzz=skip
if [ ${#extra[@]} -eq 0 ] && [ "$fuzz_seconds" -gt 0 ]; then
    echo "== fuzz (${fuzz_seconds}s, in the background)"
    fuzz_t0=$SECONDS
    scripts/fuzz.sh "$fuzz_seconds" >build/fuzz.log 2>&1 &
    fuzz_pid=$!
fi
run_build tsan
if [ -n "${fuzz_pid:-}" ]; then
    if wait "$fuzz_pid"; then
        fuzz=ok
        grep -E '^stat::number_of_executed_units|^Done' build/fuzz.log || true
    else
        fuzz=fail
        tail -n 40 build/fuzz.log
    fi
    timings+=("fuzz: $((SECONDS - fuzz_t0)) s")
fi

# Where the time went (CI must stay under 15 minutes).
printf 'time: %s\n' "${timings[@]}" "total $SECONDS s"

# Tally every test of every build from meson's machine-readable logs.
/usr/bin/python3 - "$status" "$fuzz" "${builds[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
if sys.argv[2] == "ok":
    passed += 1
elif sys.argv[2] == "fail":
    failed += 1
    print("FAILED: fuzz (see build/fuzz.log)")
logs = [f"build/{b}/meson-logs/{log}.json" for b in sys.argv[3:] for log in ("testlog", "slowlog")]
for path in logs:
    try:
        f = open(path)
    except FileNotFoundError:
        continue  # no test of this build was selected
    with f:
        for line in f:
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"FAILED: {path.split('/')[1]}/{json.loads(line)['name']} ({r})")
if sys.argv[1] != "0" and failed == 0:
    print("FAILED: meson test exited non-zero without a failed test in its log")
    failed = 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
PY
