#!/usr/bin/env bash
# Every language's catalog is complete: the texts marked in the sources
# (extracted again here, as po/meson.build extracts them) are all in
# po/tgdesk.pot and translated - not missing, empty or fuzzy - in every
# po/LANG.po of po/LINGUAS, and msgfmt --check finds nothing wrong
# (placeholders, header, Plural-Forms). A broken copy of a catalog must
# fail the same checks.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
po=$TGDESK_SOURCE_ROOT/po
: "${TGDESK_XGETTEXT_ARGS:?set by test/meson.build from po/meson.build}"

# The texts as the sources have them now. (The locations and the header
# date are left aside: only the texts count.)
# shellcheck disable=SC2086
(cd "$TGDESK_SOURCE_ROOT" && xgettext --package-name=tgdesk -f po/POTFILES -D . -k_ \
    $TGDESK_XGETTEXT_ARGS -o "$scratch/fresh.pot") ||
    not_ok "xgettext extracts the marked texts"
expect_eq "xgettext found the texts" 1 "$([ "$(grep -c '^msgid ' "$scratch/fresh.pot")" -gt 40 ] && echo 1 || echo 0)"

# po/tgdesk.pot is up to date: the same texts both ways.
if msgcmp --use-untranslated "$po/tgdesk.pot" "$scratch/fresh.pot" 2>"$scratch/pot1" &&
    msgcmp --use-untranslated "$scratch/fresh.pot" "$po/tgdesk.pot" 2>"$scratch/pot2"; then
    ok "po/tgdesk.pot has exactly the texts of the sources"
else
    not_ok "po/tgdesk.pot has exactly the texts of the sources (meson compile tgdesk-pot)" \
        "$(cat "$scratch/pot1" "$scratch/pot2")"
fi

# complete FILE: every text translated, nothing fuzzy, msgfmt --check clean.
# Prints what is wrong; returns non-zero then.
complete() {
    local f=$1 stats bad=0
    msgcmp "$f" "$scratch/fresh.pot" 2>&1 || bad=1
    stats=$(msgfmt --check --statistics -o /dev/null "$f" 2>&1) || bad=1
    case $stats in *fuzzy* | *untranslated*) bad=1 ;; esac
    echo "$stats"
    return $bad
}

langs=$(grep -v '^#' "$po/LINGUAS" | tr -s ' \n' '  ')
expect_eq "LINGUAS names the shipped languages" "de es ru" "$(echo $langs | tr ' ' '\n' | sort | xargs)"
for l in $langs; do
    if out=$(complete "$po/$l.po"); then
        ok "$l.po is complete: $out"
    else
        not_ok "$l.po is complete (translate what is listed, then rebuild)" "$out"
    fi
    expect_contains "$l.po says its language" "$(cat "$po/$l.po")" "\"Language: $l\\n\""
    expect_contains "$l.po has Plural-Forms" "$(cat "$po/$l.po")" '"Plural-Forms: nplurals='
done

# The checks can fail: a text dropped, one made fuzzy, one untranslated,
# one with a placeholder lost.
/usr/bin/python3 - "$po/ru.po" "$scratch" <<'PY'
import re, sys
src, out = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2]
blocks = src.split("\n\n")
def write(name, bs):
    open(f"{out}/{name}.po", "w", encoding="utf-8").write("\n\n".join(bs))
i = next(k for k, b in enumerate(blocks) if 'msgid "Thank you!"' in b)
write("dropped", blocks[:i] + blocks[i + 1:])
write("fuzzy", blocks[:i] + ["#, fuzzy\n" + blocks[i]] + blocks[i + 1:])
write("untranslated", blocks[:i] + [re.sub(r'msgstr ".*"', 'msgstr ""', blocks[i])] + blocks[i + 1:])
j = next(k for k, b in enumerate(blocks) if 'msgid "Request #%lld is closed.' in b)
write("placeholder", blocks[:j] + [blocks[j].replace('msgstr "Запрос #%lld', 'msgstr "Запрос #')] + blocks[j + 1:])
PY
for broken in dropped fuzzy untranslated placeholder; do
    if out=$(complete "$scratch/$broken.po"); then
        not_ok "a catalog with a text $broken fails the check" "$out"
    else
        ok "a catalog with a text $broken fails the check"
    fi
done

finish
