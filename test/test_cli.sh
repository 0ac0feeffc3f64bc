#!/usr/bin/env bash
# The command line and configuration errors, as an operator sees them.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"

run "$TGDESK_BIN" --help
expect_eq "--help exits 0" 0 "$rc"
expect_contains "--help shows usage" "$out" "Usage: tgdesk"
for v in DATABASE_URL TELEGRAM_BOT_TOKEN WEBHOOK_SECRET DB_POOL_MAX TELEGRAM_GLOBAL_RPS; do
    expect_contains "--help lists $v" "$out" "$v"
done

run "$TGDESK_BIN" --version
expect_eq "--version exits 0" 0 "$rc"
expect_contains "--version prints the version" "$out" "tgdesk 0."

run "$TGDESK_BIN" frobnicate
expect_eq "unknown command exits 2" 2 "$rc"
expect_contains "unknown command is named" "$err" "unknown command 'frobnicate'"
expect_eq "unknown command: one line" 1 "$(printf '%s\n' "$err" | wc -l)"

run "$TGDESK_BIN" --frob
expect_eq "unknown option exits 2" 2 "$rc"
expect_contains "unknown option is named" "$err" "unknown option '--frob'"

run "$TGDESK_BIN" serve extra
expect_eq "serve with an argument exits 2" 2 "$rc"

run "$TGDESK_BIN" migrate sideways
expect_eq "unknown migrate subcommand exits 2" 2 "$rc"
run env DATABASE_URL=postgres:///x "$TGDESK_BIN" migrate down abc
expect_eq "migrate down with a bad N exits 2" 2 "$rc"
expect_contains "migrate down names the bad N" "$err" "'abc'"

run "$TGDESK_BIN" serve
expect_eq "missing DATABASE_URL exits 2" 2 "$rc"
expect_contains "missing DATABASE_URL is named" "$err" "DATABASE_URL"

run env DATABASE_URL='postgres://desk:s3cr3t-pw@127.0.0.1:1/db' PORT=70000 \
    TELEGRAM_BOT_TOKEN=12345:tooshort-but-secret WORKERS=zero "$TGDESK_BIN" serve
expect_eq "bad values exit 2" 2 "$rc"
expect_contains "bad PORT is named with its value" "$err" 'PORT="70000"'
expect_contains "bad WORKERS is named" "$err" 'WORKERS="zero"'
expect_contains "bad token is named" "$err" "TELEGRAM_BOT_TOKEN"
expect_not_contains "the token is masked" "$err" "tooshort-but-secret"
expect_not_contains "the database password is masked" "$err$out" "s3cr3t-pw"
expect_eq "one line per bad variable" 3 "$(printf '%s\n' "$err" | grep -c '^config: ')"

printf 'PORT=abc\nDATABASE_URL=postgres://127.0.0.1:1/db\n' >.env
run "$TGDESK_BIN" migrate status
expect_eq "a bad value in .env exits 2" 2 "$rc"
expect_contains "the .env value is named" "$err" 'PORT="abc"'
run env PORT=8099 DB_INIT_RETRIES=1 LOG_FORMAT=text "$TGDESK_BIN" migrate status
expect_eq "the environment wins over .env (then the database is down: 1)" 1 "$rc"
rm .env

# The database is down: serve retries as configured, then exits 1.
port=$(freeport)
start=$(date +%s%N)
run env DATABASE_URL="postgresql://desk:pw-n0t-shown@127.0.0.1:$port/tgdesk" \
    DB_INIT_RETRIES=3 DB_INIT_RETRY_DELAY=0.3 DB_CONNECT_TIMEOUT=2 WEBHOOK_SECRET="$secret" \
    "$TGDESK_BIN" serve
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "database down: serve exits 1" 1 "$rc"
expect_eq "database down: three attempts logged" 3 "$(grep -c '"database not reachable"' <<<"$err")"
expect_contains "database down: attempts are numbered" "$err" '"attempt":3,"attempts":3'
expect_contains "database down: a clear final message" "$err" "giving up"
expect_not_contains "database down: password never logged" "$err" "pw-n0t-shown"
expect_not_contains "database down: the webhook secret never logged" "$err" "$secret"
if [ "$elapsed_ms" -ge 550 ]; then ok "database down: retries are spaced (${elapsed_ms} ms)"; else
    not_ok "database down: retries are spaced" "took only ${elapsed_ms} ms"; fi
if /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin if l.strip()]' <<<"$err"; then
    ok "log lines are JSON"
else
    not_ok "log lines are JSON" "$err"
fi

run env DATABASE_URL="postgresql://127.0.0.1:$port/tgdesk" DB_INIT_RETRIES=1 LOG_FORMAT=text \
    WEBHOOK_SECRET="$secret" "$TGDESK_BIN" serve
expect_eq "text logs: exits 1" 1 "$rc"
expect_contains "text logs: level and message" "$err" "ERROR giving up"

finish
