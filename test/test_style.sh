#!/usr/bin/env bash
# The code is clang-formatted and avoids the calls STYLE.md bans.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
cd "$TGDESK_SOURCE_ROOT"

files=$(find cmd internal test bench -name '*.[ch]' 2>/dev/null | sort)
if ! command -v clang-format >/dev/null; then
    echo "# clang-format missing: skipping"
    exit 77
fi
bad=""
for f in $files; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
expect_eq "every C file is clang-formatted" "" "$bad"
banned=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets|strtok)\s*\(' $files | grep -v '^test/' || true)
expect_eq "no banned calls outside tests" "" "$banned"

finish
