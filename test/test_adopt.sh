#!/usr/bin/env bash
# `tgdesk adopt`: the Python bot's database (both id widths, built here in
# plain SQL with a few thousand rows and every status) becomes tgdesk's
# without losing a row; refusals name what is wrong and change nothing; then
# the desk runs on the adopted database with the old request numbers.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg
export LOG_LEVEL=warn

# old_schema DB WIDTH BASE: the Python bot's tables (WIDTH integer or bigint
# for the Telegram ids, as before and after its fix_bigint_columns), 1000
# users from BASE, 3000 requests (every status; one active request at most
# per user), 12000 messages, 500 logs; the sequences ran ahead of the rows.
old_schema() {
    local width=$1 base=$2
    sql "$db" "
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT INTO alembic_version VALUES ('c4f1e2d3a5b6');
CREATE TABLE requests (id serial PRIMARY KEY, user_id $width NOT NULL, issue text NOT NULL,
    assigned_admin $width, status varchar(20) NOT NULL, solution text,
    created_at timestamp without time zone, updated_at timestamp without time zone);
CREATE INDEX ix_requests_user_id ON requests (user_id);
CREATE TABLE messages (id serial PRIMARY KEY, request_id integer REFERENCES requests (id),
    sender_id $width NOT NULL, sender_type varchar(10) NOT NULL, message text NOT NULL,
    timestamp timestamp without time zone);
CREATE TABLE logs (id serial PRIMARY KEY, timestamp timestamp without time zone,
    level varchar(20), message text, context text);
-- Users 1..1000 hold request i = their number: statuses cycle through all
-- the old bot wrote; requests 1001..3000 are finished ones.
INSERT INTO requests (user_id, issue, assigned_admin, status, solution, created_at, updated_at)
SELECT $base + (i - 1) % 1000, 'issue #' || i || ' ünïcödé ''quoted''',
    CASE WHEN i % 7 = 3 THEN NULL ELSE $base + 5000000 + i % 3 END,
    CASE WHEN i <= 1000 THEN (ARRAY['open', 'in_progress', 'assigned', 'solved', 'resolved',
        'closed', 'Resolved', 'OPEN'])[1 + i % 8]
        ELSE (ARRAY['solved', 'resolved', 'closed'])[1 + i % 3] END,
    CASE WHEN i % 2 = 0 THEN 'solution ' || i END,
    timestamp '2023-03-26 00:30:00' + i * interval '7 minutes',
    timestamp '2023-03-26 00:30:00' + i * interval '7 minutes' + interval '3 hours'
FROM generate_series(1, 3000) AS i;
INSERT INTO messages (request_id, sender_id, sender_type, message, timestamp)
SELECT r, CASE WHEN k % 2 = 0 THEN $base + (r - 1) % 1000 ELSE $base + 5000000 END,
    CASE WHEN k % 2 = 0 THEN 'user' ELSE 'admin' END, 'message ' || r || '/' || k,
    timestamp '2023-03-26 00:30:00' + r * interval '7 minutes' + k * interval '1 minute'
FROM generate_series(1, 3000) AS r, generate_series(0, 3) AS k ORDER BY r, k;
INSERT INTO logs (timestamp, level, message, context)
SELECT timestamp '2023-10-29 00:00:00' + i * interval '1 minute',
    (ARRAY['INFO', 'WARNING', 'ERROR', 'DEBUG', 'CRITICAL'])[1 + i % 5], 'event ' || i,
    CASE i % 3 WHEN 0 THEN '{\"request_id\": ' || i || '}' WHEN 1 THEN '{''user_id'': ' || i || '}' END
FROM generate_series(1, 500) AS i;
DELETE FROM messages WHERE request_id = 2999;
DELETE FROM requests WHERE id = 2999;
SELECT setval('requests_id_seq', 3010);
SELECT setval('messages_id_seq', 12000);
" >/dev/null
}

# expected: every old row as tgdesk should keep it (times as epochs, read
# in $tz), written before adopting.
dump_old() {
    local tz=$1
    sql "$db" "SELECT id || '|' || user_id || '|' || issue || '|' || coalesce(assigned_admin::text, '-') || '|' ||
        CASE WHEN lower(status) IN ('in_progress', 'assigned') THEN CASE WHEN assigned_admin IS NULL THEN 'open' ELSE 'assigned' END
            WHEN lower(status) = 'resolved' THEN 'solved' ELSE lower(status) END || '|' || coalesce(solution, '-') || '|' ||
        extract(epoch FROM created_at AT TIME ZONE '$tz') || '|' || extract(epoch FROM updated_at AT TIME ZONE '$tz')
        FROM requests ORDER BY id" >"$scratch/requests.want"
    sql "$db" "SELECT id || '|' || request_id || '|' || sender_id || '|' || sender_type || '|' || message || '|' ||
        extract(epoch FROM timestamp AT TIME ZONE '$tz') FROM messages ORDER BY id" >"$scratch/messages.want"
    sql "$db" "SELECT id || '|' || extract(epoch FROM timestamp AT TIME ZONE '$tz') || '|' ||
        CASE lower(level) WHEN 'warning' THEN 'warn' WHEN 'critical' THEN 'error' ELSE lower(level) END || '|' ||
        message || '|' || coalesce(context, '-') FROM logs ORDER BY id" >"$scratch/logs.want"
    sql "$db" "SELECT user_id || '|' || extract(epoch FROM min(created_at) AT TIME ZONE '$tz')
        FROM requests GROUP BY user_id ORDER BY user_id" >"$scratch/users.want"
}

dump_new() {
    sql "$db" "SELECT id || '|' || user_id || '|' || issue || '|' || coalesce(assigned_admin::text, '-') || '|' ||
        status || '|' || coalesce(solution, '-') || '|' || extract(epoch FROM created_at) || '|' ||
        extract(epoch FROM updated_at) FROM requests ORDER BY id" >"$scratch/requests.got"
    sql "$db" "SELECT id || '|' || request_id || '|' || sender_id || '|' || sender_type || '|' || message || '|' ||
        extract(epoch FROM timestamp) FROM messages ORDER BY id" >"$scratch/messages.got"
    sql "$db" "SELECT id || '|' || extract(epoch FROM timestamp) || '|' || level || '|' || message || '|' ||
        coalesce(context->>'text', CASE WHEN context = '{}' THEN '-' ELSE context::text END)
        FROM logs ORDER BY id" >"$scratch/logs.got"
    sql "$db" "SELECT user_id || '|' || extract(epoch FROM created_at) FROM users ORDER BY user_id" >"$scratch/users.got"
}

# same_rows TABLE DESC: the kept rows are exactly the expected ones.
same_rows() {
    if diff -q "$scratch/$1.want" "$scratch/$1.got" >/dev/null; then
        ok "$2 ($(wc -l <"$scratch/$1.got") rows)"
    else
        not_ok "$2" "$(diff "$scratch/$1.want" "$scratch/$1.got" | head -n 6)"
    fi
}

adopt_variant() { # WIDTH BASE TZ
    local width=$1 base=$2 tz=$3 v="$1 ids"
    db=$(new_db)
    old_schema "$width" "$base"
    dump_old "$tz"
    local before
    before=$(sql "$db" "SELECT (SELECT count(*) FROM requests) || ' ' || (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM logs)")

    run env DATABASE_URL="$db" ADOPT_TIMEZONE="$tz" "$TGDESK_BIN" adopt --dry-run
    expect_eq "$v: dry run exits 0" 0 "$rc"
    expect_contains "$v: dry run says it rolled back" "$out" "dry run: rolled back, nothing was changed"
    expect_contains "$v: dry run counts the rows" "$out" "kept 2999 requests"
    if [ "$width" = integer ]; then
        expect_contains "$v: dry run names the ids it widens" "$out" \
            "widening to bigint: requests.user_id requests.assigned_admin messages.sender_id"
    else
        expect_not_contains "$v: nothing to widen" "$out" "widening"
    fi
    expect_eq "$v: dry run changed nothing" "false|false|$before" \
        "$(sql "$db" "SELECT (to_regclass('schema_migrations') IS NOT NULL) || '|' || (to_regclass('users') IS NOT NULL) || '|' || (SELECT count(*) FROM requests) || ' ' || (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM logs)")"

    # An earlier release left an empty schema_migrations behind when it failed here.
    [ "$width" = bigint ] && sql "$db" "CREATE TABLE schema_migrations (version bigint PRIMARY KEY,
        name text NOT NULL, checksum text NOT NULL, applied_at timestamptz,
        dirty boolean NOT NULL DEFAULT false, error text)" >/dev/null
    run env DATABASE_URL="$db" "$TGDESK_BIN" migrate up
    expect_eq "$v: migrate up on the old database exits 1" 1 "$rc"
    expect_contains "$v: migrate up says to run tgdesk adopt" "$err" 'run `tgdesk adopt'

    run env DATABASE_URL="$db" WEBHOOK_INSECURE=true PORT=0 DB_INIT_RETRIES=3 DB_INIT_RETRY_DELAY=10 "$TGDESK_BIN" serve
    expect_eq "$v: serve on the old database exits 1 at once" 1 "$rc"
    expect_contains "$v: serve says to run tgdesk adopt" "$err" 'run `tgdesk adopt'
    [ "$width" = bigint ] ||
        expect_eq "$v: refusing left no trace" "f" "$(sql "$db" "SELECT to_regclass('schema_migrations') IS NOT NULL")"

    run env DATABASE_URL="$db" ADOPT_TIMEZONE="$tz" "$TGDESK_BIN" adopt
    expect_eq "$v: adopt exits 0" 0 "$rc"
    [ "$rc" = 0 ] || echo "# $err"
    expect_contains "$v: adopt reports the rows kept" "$out" "kept 2999 requests ("
    expect_contains "$v: adopt reports the other rows" "$out" "11996 messages, 500 logs, with their ids; derived 1000 users"
    expect_contains "$v: adopt applied the later migrations too" "$out" "applied 0008_outbox_due_by_time"
    dump_new
    same_rows requests "$v: every request kept: id, user, issue, admin, mapped status, solution, times in $tz"
    same_rows messages "$v: every message kept with its id and time"
    same_rows logs "$v: every log row kept, level mapped, context kept"
    same_rows users "$v: one user per requester, since their first request"
    expect_eq "$v: JSON context stays JSON" '3' \
        "$(sql "$db" "SELECT context->>'request_id' FROM logs WHERE id = 3")"
    expect_eq "$v: timestamps are timestamptz, ids bigint" "bigint bigint bigint timestamp with time zone" \
        "$(sql "$db" "SELECT string_agg(data_type, ' ' ORDER BY data_type) FROM information_schema.columns WHERE table_schema = current_schema() AND ((table_name = 'requests' AND column_name IN ('user_id', 'assigned_admin', 'created_at')) OR (table_name = 'messages' AND column_name = 'sender_id'))")"
    expect_eq "$v: resolved_at of finished requests, first answers derived" "true|2999" \
        "$(sql "$db" "SELECT (count(*) FILTER (WHERE status IN ('solved', 'closed')) = count(*) FILTER (WHERE resolved_at = updated_at) AND count(resolved_at) = count(*) FILTER (WHERE status IN ('solved', 'closed'))) || '|' || count(first_response_at) FROM requests")"
    expect_eq "$v: every migration recorded" "$(sql "$db" "SELECT count(*) FROM schema_migrations WHERE NOT dirty")" \
        "$(grep -c '^applied' <<<"$out")"
    run env DATABASE_URL="$db" "$TGDESK_BIN" migrate status
    expect_eq "$v: migrate status is clean" 0 "$rc"
    expect_contains "$v: alembic_version stays, with a note" \
        "$(sql "$db" "SELECT version_num || ' ' || obj_description('alembic_version'::regclass, 'pg_class') FROM alembic_version")" \
        "c4f1e2d3a5b6 Adopted by tgdesk on "
    expect_eq "$v: the old tables are gone" "" \
        "$(sql "$db" "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tgdesk_adopt%'")"
    expect_eq "$v: statistics taken" "4" \
        "$(sql "$db" "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('users', 'requests', 'messages', 'logs') AND last_analyze IS NOT NULL")"
    # Ids continue past the highest the old bot handed out (its sequences ran ahead).
    expect_eq "$v: sequences continue past the old ones" "3010 true|12000 true|500 true" \
        "$(sql "$db" "SELECT (SELECT last_value || ' ' || is_called FROM requests_id_seq) || '|' || (SELECT last_value || ' ' || is_called FROM messages_id_seq) || '|' || (SELECT last_value || ' ' || is_called FROM logs_id_seq)")"

    run env DATABASE_URL="$db" "$TGDESK_BIN" adopt
    expect_eq "$v: a second adopt exits 0" 0 "$rc"
    expect_contains "$v: a second adopt finds nothing to do" "$out" "nothing to adopt"
}

adopt_variant integer 100000 UTC
adopt_variant bigint 6100000000 Europe/Berlin
BIGDB=$db

# ---- refusals: nothing changes ------------------------------------------------

db=$(new_db)
old_schema integer 1000
sql "$db" "UPDATE requests SET status = 'escalated' WHERE id IN (1001, 1004);
           UPDATE requests SET status = 'waiting' WHERE id = 1010;
           UPDATE logs SET level = 'NOTICE' WHERE id = 1" >/dev/null
run env DATABASE_URL="$db" "$TGDESK_BIN" adopt
expect_eq "unknown statuses: adopt exits 1" 1 "$rc"
expect_contains "unknown statuses: each is listed with its count" "$err" "requests.status 'escalated' has no tgdesk status (2 rows)"
expect_contains "unknown statuses: the other one too" "$err" "requests.status 'waiting' has no tgdesk status (1 rows)"
expect_contains "unknown levels listed" "$err" "logs.level 'NOTICE' is not a level tgdesk knows (1 rows)"
expect_eq "unknown statuses: nothing changed" "false|escalated" \
    "$(sql "$db" "SELECT (to_regclass('schema_migrations') IS NOT NULL) || '|' || status FROM requests WHERE id = 1001")"
sql "$db" "UPDATE requests SET status = 'closed' WHERE id IN (1001, 1004, 1010);
           UPDATE logs SET level = 'INFO' WHERE id = 1;
           UPDATE requests SET status = 'open' WHERE id = 2001" >/dev/null
run env DATABASE_URL="$db" "$TGDESK_BIN" adopt
expect_eq "two active requests of one user: adopt exits 1" 1 "$rc"
expect_contains "two active requests of one user: named" "$err" "user 1000 has several active requests (1, 2001)"
run env DATABASE_URL="$db" ADOPT_TIMEZONE=Mars/Olympus "$TGDESK_BIN" adopt
expect_eq "unknown time zone: adopt exits 1" 1 "$rc"
expect_contains "unknown time zone: said so" "$err" "ADOPT_TIMEZONE=Mars/Olympus is not a time zone PostgreSQL knows"

db=$(new_db)
old_schema integer 1000
sql "$db" "ALTER TABLE requests ADD COLUMN priority integer; ALTER TABLE messages DROP COLUMN sender_type;
           ALTER TABLE logs ALTER COLUMN timestamp TYPE text; CREATE TABLE users (id integer)" >/dev/null
run env DATABASE_URL="$db" "$TGDESK_BIN" adopt
expect_eq "unrecognised database: adopt exits 1" 1 "$rc"
expect_contains "unrecognised: an extra column named" "$err" "column requests.priority is not the Python bot's"
expect_contains "unrecognised: a missing column named" "$err" "column messages.sender_type is missing"
expect_contains "unrecognised: a wrong type named" "$err" "column logs.timestamp is text, expected timestamp"
expect_contains "unrecognised: a clashing table named" "$err" "table users exists already"
expect_contains "unrecognised: nothing changed" "$err" "this database is not the Python bot's (4 differences above); nothing was changed"

db=$(new_db)
run env DATABASE_URL="$db" "$TGDESK_BIN" adopt --force
expect_eq "adopt --force: unknown option, exit 2" 2 "$rc"
run env DATABASE_URL="$db" "$TGDESK_BIN" adopt --dry-run now
expect_eq "adopt with an extra argument: exit 2" 2 "$rc"
run env DATABASE_URL="$db" "$TGDESK_BIN" adopt
expect_eq "empty database: adopt exits 1" 1 "$rc"
expect_contains "empty database: the tables are missing" "$err" "table requests is missing"

# ---- the lock step, and failures after the commit ------------------------------

# A lock wait that ends otherwise than by lock_timeout: the server's message,
# not a guess about the old bot.
db=$(new_db)
old_schema integer 1000
psql "$db" -qAtX -c "BEGIN; LOCK TABLE logs IN ACCESS SHARE MODE; SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
t_cleanups+=("kill $holder 2>/dev/null")
wait_for 10 sql_is "$db" "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'logs' AND l.granted AND l.pid <> pg_backend_pid()" 1
env DATABASE_URL="$db" "$TGDESK_BIN" adopt >"$scratch/lock.out" 2>"$scratch/lock.err" &
adopt_pid=$!
adopt_waits() { sql_is "$db" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tgdesk' AND wait_event_type = 'Lock'" 1; }
wait_for 20 adopt_waits || true
sql "$db" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'tgdesk' AND wait_event_type = 'Lock'" >/dev/null
set +e
wait $adopt_pid
rc=$?
set -e
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
expect_eq "the lock wait cancelled: adopt exits 1" 1 "$rc"
expect_contains "the lock wait cancelled: the server's message" "$(cat "$scratch/lock.err")" \
    "cannot lock the old tables: ERROR:  canceling statement due to user request; nothing was changed"
expect_not_contains "the lock wait cancelled: no guess about the old bot" "$(cat "$scratch/lock.err")" "Python bot"
expect_eq "the lock wait cancelled: nothing changed" "f" "$(sql "$db" "SELECT to_regclass('schema_migrations') IS NOT NULL")"

# The adoption committed, then a later migration fails: the
# way on is said, and `migrate up` takes it.
sql "$db" "CREATE FUNCTION no_senders() RETURNS event_trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF current_query() LIKE '%CREATE TABLE sender_instances%' THEN
        RAISE EXCEPTION 'no sender_instances today';
    END IF;
END \$\$;
CREATE EVENT TRIGGER no_senders ON ddl_command_start WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION no_senders()" >/dev/null
run env DATABASE_URL="$db" "$TGDESK_BIN" adopt
expect_eq "a later migration fails after the commit: adopt exits 1" 1 "$rc"
expect_contains "a later migration fails after the commit: the adoption committed" "$out" "committed"
expect_contains "a later migration fails after the commit: said, with the way on" "$err" \
    'the adoption is committed, but applying the later migrations failed (logged above); run `tgdesk migrate up` to finish the rest'
sql "$db" "DROP EVENT TRIGGER no_senders" >/dev/null
run env DATABASE_URL="$db" "$TGDESK_BIN" migrate up
expect_eq "migrate up finishes the adoption: exits 0" 0 "$rc"
expect_eq "migrate up finishes the adoption: every migration applied, the rows kept" \
    "$(ls "$TGDESK_SOURCE_ROOT"/sql/migrations/*.up.sql | wc -l)|2999" \
    "$(sql "$db" "SELECT (SELECT count(*) FROM schema_migrations WHERE NOT dirty) || '|' || (SELECT count(*) FROM requests)")"

# ---- the desk on the adopted database (bigint ids above 2^31) ---------------------

db=$BIGDB
STAFF=6105000000
# User 6100000007 holds request 8, open since the old bot.
USER=6100000007
R=8
expect_eq "the old request is open" "open|$USER" "$(q "SELECT status || '|' || user_id FROM requests WHERE id = $R")"
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$STAFF || {
    not_ok "tgdesk serves the adopted database" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
ok "tgdesk serves the adopted database"
mark
say message 901 $USER $USER 'Still waiting since the old bot' --name Olga
settle
expect_eq "the user's message joins the old request" "$R|1" \
    "$(q "SELECT request_id || '|' || (SELECT count(*) FROM requests WHERE user_id = $USER AND status IN ('open', 'assigned')) FROM messages WHERE message = 'Still waiting since the old bot'")"
expect_contains "staff are told about the old request number" "$(calls)" "sendMessage $STAFF Request #$R"
mark
say message 902 $STAFF $STAFF "/reply $R Sorry for the wait" --name Sam
expect_calls "staff answer it with its old number (and hold it now)" "sendMessage $USER Sorry for the wait" \
    "sendMessage $STAFF Request #$R is now assigned to Sam."
expect_eq "the old request is assigned to the staff member" "assigned|$STAFF" "$(q "SELECT status || '|' || assigned_admin FROM requests WHERE id = $R")"
# A new user's request takes a number after the old bot's.
say message 903 6100999999 6100999999 'First time here' --name Nina
expect_eq "a new request continues the numbering" "3011" "$(q "SELECT id FROM requests WHERE user_id = 6100999999")"
stop_tgdesk
expect_eq "tgdesk stops cleanly" 0 "$stop_rc"

finish
