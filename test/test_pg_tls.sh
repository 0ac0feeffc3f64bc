#!/usr/bin/env bash
# TLS to PostgreSQL: a certificate authority made here with openssl, a
# cluster of the test's own with ssl=on that accepts TCP over TLS only.
# sslmode=verify-full with sslrootcert connects (every connection of the
# desk encrypted); a wrong host name or another CA is refused with libpq's
# reason; a remote host without sslmode require or stronger is warned about.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg
command -v openssl >/dev/null || { echo "# openssl is missing: skipping"; exit 77; }
export LOG_LEVEL=warn

private_pg
admin="host=$ppg_dir port=$ppg_port user=postgres dbname=tgdesk"

# A CA, a server certificate for db.tgdesk.test signed by it, and a CA nobody trusts.
ca=$scratch/ca
mkdir -p "$ca"
(
    cd "$ca"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=tgdesk test CA"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=db.tgdesk.test"
    printf 'subjectAltName=DNS:db.tgdesk.test\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext
    openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.crt -days 2 -subj "/CN=rogue CA"
) >"$scratch/openssl.log" 2>&1 || { not_ok "openssl made the certificates" "$(cat "$scratch/openssl.log")"; finish; exit 1; }
ok "openssl made a CA and a server certificate"
cp "$ca/server.crt" "$ca/server.key" "$ppg_dir/data/"
chmod 600 "$ppg_dir/data/server.key"
[ "$(id -u)" -eq 0 ] && chown postgres: "$ppg_dir/data/server.crt" "$ppg_dir/data/server.key"
printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n' >"$ppg_dir/data/pg_hba.conf"
for setting in "ssl = on" "ssl_cert_file = 'server.crt'" "ssl_key_file = 'server.key'"; do
    sql "$admin" "ALTER SYSTEM SET $setting" >/dev/null
done
sql "$admin" "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
expect_eq "the cluster has TLS on" "on" "$(sql "$admin" "SHOW ssl")"

base_url="host=db.tgdesk.test hostaddr=127.0.0.1 port=$ppg_port user=postgres dbname=tgdesk"
good="$base_url sslmode=verify-full sslrootcert=$ca/ca.crt"

run env DATABASE_URL="$good" "$TGDESK_BIN" migrate up
expect_eq "verify-full with the CA: migrate up exits 0" 0 "$rc"

run env DATABASE_URL="host=wrong.tgdesk.test hostaddr=127.0.0.1 port=$ppg_port user=postgres dbname=tgdesk sslmode=verify-full sslrootcert=$ca/ca.crt" "$TGDESK_BIN" migrate status
expect_eq "a wrong host name: refused (exit 1)" 1 "$rc"
expect_contains "a wrong host name: the reason is given" "$err" \
    'server certificate for \"db.tgdesk.test\" does not match host name \"wrong.tgdesk.test\"'

run env DATABASE_URL="$base_url sslmode=verify-full sslrootcert=$ca/rogue.crt" "$TGDESK_BIN" migrate status
expect_eq "another CA: refused (exit 1)" 1 "$rc"
expect_contains "another CA: the reason is given" "$err" "certificate verify failed"

run env DATABASE_URL="$base_url sslmode=disable" "$TGDESK_BIN" migrate status
expect_eq "without TLS: the server refuses" 1 "$rc"
expect_contains "without TLS: pg_hba says so" "$err" "no encryption"

run env DATABASE_URL="$base_url sslmode=verify-full sslrootcert=$scratch/none.crt" "$TGDESK_BIN" migrate status
expect_eq "a missing sslrootcert: refused" 1 "$rc"
expect_contains "a missing sslrootcert: named" "$err" "none.crt"

# The whole desk over verify-full: every connection encrypted.
db=$good
q() { sql "$admin" "$1"; }
pending_none() { sql_is "$admin" "SELECT count(*) FROM outbox WHERE status = 'pending'" 0; }
start_fake
start_tgdesk DATABASE_URL="$good" TELEGRAM_GLOBAL_RPS=10000 DB_POOL_MIN=2 || {
    not_ok "tgdesk serves over verify-full" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
ok "tgdesk serves over verify-full"
say message 501 6400000001 6400000001 'over TLS' --name Tess
settle
expect_eq "the update was stored" "1" "$(q "SELECT count(*) FROM requests WHERE user_id = 6400000001")"
expect_eq "every tgdesk connection uses TLS" "t" \
    "$(q "SELECT count(*) > 0 AND bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'tgdesk'")"
expect_not_contains "no TLS warning for verify-full" "$(cat "$scratch/tgdesk.log")" "may go unencrypted"
stop_tgdesk

# The warning at start: a remote host without sslmode require or stronger.
tls_warning() { # URL: the warnings `serve` logs before stopping
    local port
    port=$(freeport)
    env DATABASE_URL="$1" WEBHOOK_INSECURE=true PORT="$port" DRAIN_SECONDS=0 LOG_LEVEL=warn \
        "$TGDESK_BIN" serve 2>"$scratch/warn.log" &
    local pid=$!
    wait_http "http://127.0.0.1:$port/livez" 20 || true
    kill -TERM $pid 2>/dev/null
    wait $pid || true
    grep 'may go unencrypted' "$scratch/warn.log" || true
}
w=$(tls_warning "$base_url sslrootcert=$ca/ca.crt")
expect_contains "no sslmode (prefer): warned" "$w" '"host":"db.tgdesk.test","sslmode":"prefer"'
expect_contains "the warning names the variable" "$w" '"variable":"DATABASE_URL"'
w=$(tls_warning "postgresql://postgres@db.tgdesk.test:$ppg_port/tgdesk?hostaddr=127.0.0.1&sslmode=allow")
expect_contains "a URI with sslmode=allow: warned" "$w" '"sslmode":"allow"'
w=$(tls_warning "$base_url sslmode=require")
expect_eq "sslmode=require: no warning" "" "$w"
w=$(tls_warning "host=$ppg_dir port=$ppg_port user=postgres dbname=tgdesk")
expect_eq "a Unix socket: no warning" "" "$w"
w=$(PGSSLMODE=verify-full PGSSLROOTCERT=$ca/ca.crt tls_warning "$base_url")
expect_eq "PGSSLMODE=verify-full in the environment: no warning" "" "$w"

finish
