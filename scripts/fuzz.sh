#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time, SECONDS in all:
#   scripts/fuzz.sh [SECONDS]   (default 60)
# a third each on fuzz_update (the update parser), fuzz_update_diff (the
# parser against the jansson-based one it replaced, test/fuzz/update_ref.c)
# and fuzz_jscan (util/jscan against jansson); a target left 0 seconds only
# runs its seeds.
# Builds build/fuzz with clang, -Dfuzzing_engine=libfuzzer and ASan+UBSan,
# seeds a fresh corpus per target under build/fuzz with the fixtures, and
# fuzzes one target after the other. Exits non-zero when a fuzzer finds a
# crash, a leak or a failed check, without running the targets after it; the
# reproducer is left in build/fuzz/artifacts/, named after its target (replay
# it with build/fuzz/test/fuzz/fuzz_TARGET FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case $seconds in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac
jscan_seconds=$((seconds / 3))
diff_seconds=$((seconds / 3))
update_seconds=$((seconds - jscan_seconds - diff_seconds))

dir=build/fuzz
if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" >/dev/null
else
    CC=clang meson setup "$dir" -Dfuzzing_engine=libfuzzer -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null
fi
meson compile -C "$dir" test/fuzz/fuzz_update test/fuzz/fuzz_update_diff test/fuzz/fuzz_jscan \
    >/dev/null
mkdir -p "$dir/artifacts"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

fuzz() { # TARGET SECONDS DICT
    local corpus=$dir/corpus-$1 limit=-max_total_time=$2
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp test/fixtures/updates/* test/fixtures/bad/* "$corpus"/
    # -max_total_time=0 would mean no limit: run the seeds alone instead.
    if [ "$2" -eq 0 ]; then limit=-runs=0; fi
    echo "== fuzz_$1 (${2}s)"
    "$dir/test/fuzz/fuzz_$1" "$limit" -max_len=65536 -dict="$3" \
        -artifact_prefix="$dir/artifacts/fuzz_$1-" -print_final_stats=1 "$corpus"
}

# The update parser's dictionary is JSON syntax and Bot API names: it suits
# the scanner too.
# set -e stops at the first failure, a finding or not.
fuzz update "$update_seconds" test/fuzz/update.dict
fuzz update_diff "$diff_seconds" test/fuzz/update.dict
fuzz jscan "$jscan_seconds" test/fuzz/update.dict
