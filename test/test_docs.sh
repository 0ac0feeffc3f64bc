#!/usr/bin/env bash
# Docs move with the code: every variable is in .env.example and the README,
# docker-compose.yml parses, the Dockerfile is multi-stage, links lead
# somewhere, no outside document is referred to, the licence matches.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
src=$TGDESK_SOURCE_ROOT

vars=$("$TGDESK_BIN" --help | awk '/^  [A-Z][A-Z0-9_]+ /{print $1}')
expect_eq "--help lists the whole configuration" 1 "$([ "$(wc -w <<<"$vars")" -ge 30 ] && echo 1 || echo 0)"
for v in $vars; do
    if grep -qE "^#? ?$v=" "$src/.env.example"; then ok ".env.example documents $v"; else
        not_ok ".env.example documents $v"; fi
    if grep -qE "^\| \`$v\`" "$src/README.md"; then ok "README configuration table has $v"; else
        not_ok "README configuration table has $v"; fi
done

compose=$(/usr/bin/python3 - "$src/docker-compose.yml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
svc = doc["services"]
print(" ".join(sorted(svc)))
print(svc["tgdesk"]["environment"]["DATABASE_URL"])
PY
)
expect_contains "docker-compose.yml parses and has postgres" "$compose" "postgres"
expect_contains "docker-compose.yml has tgdesk" "$compose" "tgdesk"
expect_contains "compose points tgdesk at its postgres" "$compose" "@postgres:5432/"
expect_eq "Dockerfile is multi-stage" 2 "$(grep -c '^FROM ' "$src/Dockerfile")"
expect_contains "Dockerfile has a HEALTHCHECK" "$(cat "$src/Dockerfile")" "HEALTHCHECK"

readme=$(cat "$src/README.md")
expect_contains "README has a Quickstart" "$readme" "## Quickstart"
expect_contains "README quickstart: run" "$readme" "scripts/run.sh"
expect_contains "README quickstart: test" "$readme" "scripts/test.sh"
expect_contains "CI runs the README's test command" "$(cat "$src/.ci/run")" "scripts/test.sh"

# Every relative link of the README and docs/ leads to a file of the repository.
links=$(cd "$src" && /usr/bin/python3 - README.md docs/*.md <<'PY'
import os, re, sys
for f in sys.argv[1:]:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", open(f).read()):
        if "://" in target:
            continue
        if not os.path.exists(os.path.join(os.path.dirname(f), target)):
            print(f"{f}: {target}")
PY
)
expect_eq "README and docs/ link only to files that exist" "" "$links"

# The repository stands alone: the README, the docs and the helpers say what
# they mean in their own words instead of pointing at an outside document
# (the brackets keep this pattern from matching itself).
refs=$(cd "$src" && grep -rnE '\.\./s[h]ared|\b[S]PEC\b' README.md LICENSE docs scripts bench/run.sh \
    .env.example Dockerfile docker-compose.yml || true)
expect_eq "README, docs and scripts refer to no outside document" "" "$refs"

# The licence file is the one meson.build declares.
expect_contains "meson.build declares the MIT licence" "$(cat "$src/meson.build")" "license : 'MIT'"
expect_eq "LICENSE is the MIT licence" "MIT License" "$(head -n 1 "$src/LICENSE")"
expect_contains "LICENSE names the copyright holders" "$(cat "$src/LICENSE")" \
    "Copyright (c) 2026 The tgdesk authors"

finish
