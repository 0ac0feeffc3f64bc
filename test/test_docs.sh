#!/usr/bin/env bash
# Docs move with the code: every variable is in .env.example and the README,
# docker-compose.yml parses, the Dockerfile is multi-stage.
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

finish
