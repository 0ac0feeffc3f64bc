#!/usr/bin/env bash
# The helper scripts work from wherever they are called: scripts/pg.sh starts
# and stops a cluster named by a path relative to the caller's directory, and
# a stop that cannot stop the cluster says so and fails.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
pg=$TGDESK_SOURCE_ROOT/scripts/pg.sh

if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    echo "# PostgreSQL server binaries missing: skipping"
    exit 77
fi

# A working directory of its own; the cluster is named relative to it.
mkdir -p "$scratch/cwd"
cd "$scratch/cwd"
rel=clusters/one
abs=$scratch/cwd/$rel
port=$(freeport)
t_cleanups+=("kill -CONT \$(head -n 1 '$abs/data/postmaster.pid' 2>/dev/null) 2>/dev/null; '$pg' stop '$abs'")

postmaster() { head -n 1 "$abs/data/postmaster.pid" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
answers() { psql "host=127.0.0.1 port=$port user=postgres dbname=postgres" -qAtXc "SELECT 1" 2>/dev/null; }

run "$pg" start "$rel" "$port" --fast
expect_eq "start with a relative DIR: exit 0" 0 "$rc"
expect_eq "start with a relative DIR: nothing on stderr" "" "$err"
expect_eq "the cluster is in DIR under the caller's directory" 1 \
    "$([ -f "$abs/data/PG_VERSION" ] && echo 1 || echo 0)"
expect_eq "the cluster answers on PORT" 1 "$(answers)"
pid=$(postmaster)
expect_eq "postmaster.pid names a live process" 1 "$([ -n "$pid" ] && kill -0 "$pid" && echo 1 || echo 0)"

run "$pg" start "$rel" "$port" --fast
expect_eq "start of a running cluster: exit 0" 0 "$rc"

run "$pg" stop "$rel"
expect_eq "stop with a relative DIR: exit 0" 0 "$rc"
expect_eq "stop with a relative DIR: nothing on stderr" "" "$err"
expect_eq "stop removed postmaster.pid" 0 "$([ -e "$abs/data/postmaster.pid" ] && echo 1 || echo 0)"
if wait_for 10 gone "$pid"; then ok "the postmaster is gone"; else
    not_ok "the postmaster is gone" "pid $pid still runs"; fi
expect_eq "the cluster no longer answers" "" "$(answers)"

run "$pg" stop "$rel"
expect_eq "stop of a stopped cluster: exit 0" 0 "$rc"
expect_eq "stop of a stopped cluster: nothing on stderr" "" "$err"
mkdir -p empty
run "$pg" stop empty
expect_eq "stop of a DIR without a cluster: exit 0" 0 "$rc"
run "$pg" stop no/such/dir
expect_eq "stop of a DIR that does not exist: exit 0" 0 "$rc"

# A relative DIR from another directory: start again from a subdirectory.
mkdir -p sub
(cd sub && "$pg" start "../$rel" "$port" --fast)
expect_eq "restart with ../DIR: the cluster answers" 1 "$(answers)"
pid=$(postmaster)

# A postmaster that does not react (stopped with SIGSTOP) cannot be stopped
# in time: the stop must say so and fail, not pretend.
kill -STOP "$pid"
run env PGCTLTIMEOUT=2 "$pg" stop "$rel"
expect_eq "stop that cannot stop the cluster: exit 1" 1 "$rc"
expect_contains "stop that cannot stop the cluster: says so" "$err" "could not stop the cluster in $abs"
expect_eq "the stuck postmaster still holds its cluster" 1 \
    "$([ -f "$abs/data/postmaster.pid" ] && kill -0 "$pid" && echo 1 || echo 0)"
kill -CONT "$pid"

run "$pg" stop "$rel"
expect_eq "stop once the postmaster reacts: exit 0" 0 "$rc"
if wait_for 10 gone "$pid"; then ok "the postmaster is gone at last"; else
    not_ok "the postmaster is gone at last" "pid $pid still runs"; fi

run "$pg" frobnicate "$rel"
expect_eq "unknown command: exit 2" 2 "$rc"

finish
