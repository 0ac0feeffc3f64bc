#!/usr/bin/env bash
# A PostgreSQL cluster of tgdesk's own, never the system one.
#   scripts/pg.sh start DIR PORT [--fast]   create (first time) and start it
#   scripts/pg.sh stop DIR                  stop it
# The cluster listens on 127.0.0.1:PORT and on a socket in DIR. PostgreSQL
# refuses to run as root, so as root it runs as the "postgres" user; DIR and
# its parents must be reachable by that user. --fast turns fsync off: for
# throwaway test clusters only.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

# Runs a command as the cluster's owner, from / (it may not enter the caller's cwd).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

cmd=${1:?usage: pg.sh start DIR PORT [--fast] | stop DIR}
dir=${2:?DIR missing}

case "$cmd" in
start)
    port=${3:?PORT missing}
    fast=${4:-}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if ! as_owner test -w "$dir"; then
        echo "pg: $dir is not reachable by the postgres user" >&2
        exit 1
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300"
    [ "$fast" = --fast ] && opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        exit 0
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
        { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
    ;;
stop)
    [ -f "$dir/data/PG_VERSION" ] || exit 0
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: pg.sh start DIR PORT [--fast] | stop DIR" >&2
    exit 2
    ;;
esac
