#!/usr/bin/env bash
# Runs the libFuzzer target of the update parser for a bounded time.
#   scripts/fuzz.sh [SECONDS]   (default 60)
# Builds build/fuzz with clang, -Dfuzzing_engine=libfuzzer and ASan+UBSan,
# seeds a fresh corpus under build/fuzz with the fixtures, and fuzzes. Exits
# non-zero when the fuzzer finds a crash, a leak or a failed check; the
# reproducer is left in build/fuzz/artifacts/ (replay it with
# build/fuzz/test/fuzz/fuzz_update FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case $seconds in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

dir=build/fuzz
if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" >/dev/null
else
    CC=clang meson setup "$dir" -Dfuzzing_engine=libfuzzer -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null
fi
meson compile -C "$dir" test/fuzz/fuzz_update >/dev/null

corpus=$dir/corpus-update
rm -rf "$corpus"
mkdir -p "$corpus" "$dir/artifacts"
cp test/fixtures/updates/* test/fixtures/bad/* "$corpus"/

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec "$dir/test/fuzz/fuzz_update" -max_total_time="$seconds" -max_len=65536 \
    -dict=test/fuzz/update.dict -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
    "$corpus"
