#!/usr/bin/env bash
# The code avoids the banned calls (unbounded or unchecked string and number
# handling: sprintf, strcpy, strcat, atoi, ...) and is clang-formatted. The
# banned-call check always runs; only the format check needs clang-format.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
cd "$TGDESK_SOURCE_ROOT"

files=$(find cmd internal test bench -name '*.[ch]' 2>/dev/null | sort)
expect_eq "there are C files to check" 1 "$([ -n "$files" ] && echo 1 || echo 0)"

# shellcheck disable=SC2086 # one argument per file
banned=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets|strtok)\s*\(' $files | grep -v '^test/' || true)
expect_eq "no banned calls outside tests" "" "$banned"

if command -v clang-format >/dev/null; then
    bad=""
    for f in $files; do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
    done
    expect_eq "every C file is clang-formatted" "" "$bad"
else
    echo "# clang-format missing: the format check is skipped"
fi

finish
