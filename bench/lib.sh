# Shared by bench/run.sh and bench/callgrind.sh (sourced from the repository
# root): a scratch directory, cleanup of every process started, and a
# throwaway PostgreSQL cluster with a "tgdesk" database.

pids=()
bench_cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${work:-}" ] && { scripts/pg.sh stop "$work" || true; rm -rf "$work"; }
}
trap bench_cleanup EXIT

# bench_modes VALUE: $modes from "--statements VALUE" - prepared, unnamed or both.
bench_modes() {
    case ${1:-} in
    prepared | unnamed) modes=("$1") ;;
    both) modes=(prepared unnamed) ;;
    *) echo "--statements: prepared, unnamed or both" >&2; exit 2 ;;
    esac
}

# bench_cluster NAME [--fast]: sets $work, $pgport, $pg (server) and $db (database).
bench_cluster() {
    work=$(mktemp -d "/tmp/tgdesk-$1.XXXXXX")
    chmod 755 "$work"
    pgport=$(scripts/freeport.sh)
    scripts/pg.sh start "$work" "$pgport" ${2:-}
    pg="host=127.0.0.1 port=$pgport user=postgres"
    psql "$pg dbname=postgres" -qc "CREATE DATABASE tgdesk" >/dev/null
    db="$pg dbname=tgdesk"
}
