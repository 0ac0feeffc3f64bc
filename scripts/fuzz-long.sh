#!/usr/bin/env bash
# The long fuzzing run (not in CI): the update parser's libFuzzer target,
# fuzz_update, for RUNS executions (default 10 million) under ASan+UBSan:
#   scripts/fuzz-long.sh [RUNS]
# Builds build/fuzz with scripts/fuzz.sh, seeds build/fuzz/corpus-long
# with the fixtures (the corpus is kept between runs, so a second run goes on
# from what the first found) and prints libFuzzer's final figures
# (stat::number_of_executed_units, the time, the corpus size). Exits non-zero
# on a crash, a leak or a failed check; the reproducer is left in
# build/fuzz/artifacts/fuzz_update-long-*. Expect tens of minutes; run it
# under nice on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10000000}
case $runs in
'' | *[!0-9]*)
    echo "usage: $0 [RUNS]" >&2
    exit 2
    ;;
esac

# scripts/fuzz.sh 0 builds build/fuzz (clang, libFuzzer, ASan+UBSan) and
# runs every target's seeds once.
scripts/fuzz.sh 0 >/dev/null
dir=build/fuzz
corpus=$dir/corpus-long
mkdir -p "$corpus"
cp test/fixtures/updates/* test/fixtures/bad/* "$corpus"/
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== fuzz_update, $runs executions"
start=$(date +%s)
"$dir/test/fuzz/fuzz_update" -runs="$runs" -max_len=65536 -dict=test/fuzz/update.dict \
    -artifact_prefix="$dir/artifacts/fuzz_update-long-" -print_final_stats=1 "$corpus"
echo "== done: $runs executions in $(($(date +%s) - start)) s, no crash;" \
    "corpus: $(find "$corpus" -type f | wc -l) files"
