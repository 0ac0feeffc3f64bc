#!/usr/bin/env bash
# Sets everything up and runs tgdesk (the Quickstart's first command):
# installs what is missing, builds a release binary and, when DATABASE_URL is
# not configured, starts a project-local PostgreSQL (created on first use in
# .local/, reused afterwards). Extra arguments go to tgdesk (default: serve).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh run

if [ -f build/release/build.ninja ]; then :; else
    meson setup build/release -Dbuildtype=release >/dev/null
fi
meson compile -C build/release >build/release-compile.log 2>&1 ||
    { cat build/release-compile.log; exit 1; }
bin=$root/build/release/tgdesk

configured() { # NAME: set in the environment or in ./.env
    [ -n "${!1:-}" ] || { [ -f .env ] && grep -qE "^(export )?$1=.+" .env; }
}

if ! configured DATABASE_URL; then
    # PostgreSQL refuses to run as root and its user must reach the data
    # directory; when the checkout is somewhere it cannot (e.g. /root), the
    # cluster lives in /var/tmp and .local/pg points there.
    pgdir=$root/.local/pg
    mkdir -p "$root/.local"
    if [ "$(id -u)" -eq 0 ] && ! (cd / && runuser -u postgres -- test -x "$root/.local"); then
        real=/var/tmp/tgdesk-pg-$(printf '%s' "$root" | md5sum | cut -c1-12)
        mkdir -p "$real"
        chmod 755 "$real"
        [ -L "$pgdir" ] || ln -sfn "$real" "$pgdir"
        pgdir=$real
    fi
    # The port is chosen once, when the cluster is created, and kept.
    mkdir -p "$pgdir"
    if [ -f "$pgdir/port" ]; then
        pgport=$(cat "$pgdir/port")
    else
        pgport=${TGDESK_LOCAL_PG_PORT:-54329}
        if (exec 3<>"/dev/tcp/127.0.0.1/$pgport") 2>/dev/null; then
            pgport=$(scripts/freeport.sh)
        fi
        echo "$pgport" >"$pgdir/port"
    fi
    scripts/pg.sh start "$pgdir" "$pgport"
    pgci="host=127.0.0.1 port=$pgport user=postgres"
    if ! psql "$pgci dbname=postgres" -qAtc "SELECT 1 FROM pg_database WHERE datname = 'tgdesk'" | grep -q 1; then
        psql "$pgci dbname=postgres" -qc "CREATE DATABASE tgdesk" >/dev/null
    fi
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$pgport/tgdesk"
    echo "run: project-local PostgreSQL on 127.0.0.1:$pgport (data in .local/pg; stop with: scripts/pg.sh stop $pgdir)"
fi

configured LOG_FORMAT || export LOG_FORMAT=text
port=${PORT:-8080}

# No secret, no service: a webhook secret made once (32 of A-Z a-z 0-9 _ -
# from /dev/urandom) and kept in .local/, so it stays the same across runs.
secret_hint='<your WEBHOOK_SECRET>'
if configured WEBHOOK_SECRET; then
    [ -z "${WEBHOOK_SECRET:-}" ] || secret_hint=$WEBHOOK_SECRET
else
    mkdir -p "$root/.local"
    if ! grep -qE '^[A-Za-z0-9_-]{32}$' "$root/.local/webhook-secret" 2>/dev/null; then
        s=
        while [ ${#s} -lt 32 ]; do
            s=$s$(head -c 64 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9_-')
        done
        (umask 077 && printf '%s\n' "${s:0:32}" >"$root/.local/webhook-secret")
    fi
    WEBHOOK_SECRET=$(head -n 1 "$root/.local/webhook-secret")
    export WEBHOOK_SECRET
    secret_hint=$WEBHOOK_SECRET
    echo "run: no WEBHOOK_SECRET: using the one kept in .local/webhook-secret"
fi

# No bot token: a local Telegram sandbox (test/fake_tg.c) plays the Bot API
# and records what the bot says.
fake_pid=
if ! configured TELEGRAM_BOT_TOKEN; then
    sandbox_port=${TGDESK_SANDBOX_PORT:-8081}
    mkdir -p "$root/.local"
    "$root/build/release/test/fake-tg" --port "$sandbox_port" \
        --record "$root/.local/sandbox-calls.jsonl" >"$root/.local/sandbox.out" 2>&1 &
    fake_pid=$!
    trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null' EXIT
    for _ in $(seq 1 100); do
        grep -q 'listening' "$root/.local/sandbox.out" 2>/dev/null && break
        sleep 0.05
    done
    export TELEGRAM_BOT_TOKEN=123456789:sandbox-token-of-the-local-fake
    export TELEGRAM_API_URL=http://127.0.0.1:$sandbox_port
    configured ADMIN_IDS || export ADMIN_IDS=5550000001
    echo "run: no TELEGRAM_BOT_TOKEN: the bot talks to a local Telegram sandbox on port $sandbox_port"
fi

cat <<MSG
run: starting tgdesk on port $port. From another terminal:
       curl -i http://127.0.0.1:$port/livez
     post a user's message as Telegram would:
       curl -i -H 'Content-Type: application/json' \\
            -H 'X-Telegram-Bot-Api-Secret-Token: $secret_hint' \\
            --data-binary @test/fixtures/updates/private_text.json http://127.0.0.1:$port/webhook
MSG
if [ -n "$fake_pid" ]; then
    cat <<MSG
     and read what the bot answered (the sandbox records every Bot API call):
       curl -s http://127.0.0.1:$sandbox_port/control/calls     (or: tail .local/sandbox-calls.jsonl)
MSG
fi
echo "     stop with Ctrl-C."
set +e
"$bin" "${@:-serve}"
rc=$?
exit $rc
