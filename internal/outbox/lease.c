#include "outbox/lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "db/array.h"
#include "log.h"
#include "metrics/tgm.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/periodic.h"
#include "util/strnum.h"

/* The local lease ends this long before the database's. */
#define LEASE_MARGIN_MS 1500
/* A slot nobody used this long is given back. */
#define LEASE_IDLE_MS 5000
/* A slot another instance holds is asked for again after this long. */
#define LEASE_OTHER_MS 1000
/* An instance is live while its heartbeat is younger than this. */
#define LIVE_SQL "interval '3 seconds'"
/*
 * The others stop counting an instance 3 s after its last heartbeat
 * (LIVE_SQL) and may then raise their shares of the global limit at once.
 * So an instance starts no call later than SEND_AFTER_HEARTBEAT_MS after
 * sending its last heartbeat: those calls have left its window
 * (LEASE_RATE_WINDOW_MS) by then. With a heartbeat a second, a tick may
 * run 0.8 s late before sending pauses.
 */
#define SEND_AFTER_HEARTBEAT_MS (3000 - LEASE_RATE_WINDOW_MS - 175)
#define STALE_SQL               "interval '2.5 seconds'"
/* A lease's expiry as the token a renewal hands back (microseconds). */
#define TOKEN_SQL(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

#define STR_(x)   #x
#define STR(x)    STR_(x)
#define LEASE_SQL "make_interval(secs => " STR(LEASE_MS) " / 1000.0)"

const struct pool_stmt lease_statements[] = {
    /*
     * The instance's lease (and heartbeat), one row whatever it holds. $2
     * is the token (the expiry in microseconds) the last answer returned,
     * NULL at first. "kept": the lease was still running AND is the one
     * this instance last heard of - a renewal that committed but whose
     * answer was lost (a dropped connection, a deadline) must not pass for
     * kept, since the lease may have lapsed before it. Not kept: another
     * instance may have taken any slot, so every slot is given up here and
     * its rows go (only when the lease had really run out: a late copy of
     * an old renewal deletes nothing under a running lease; in slot order,
     * as everything here locks slot rows). joined_at restarts when the
     * previous heartbeat is older than the others may wait for (2.5 s of
     * the 3 s in which they count an instance live): this instance then
     * waits for every other to have counted it again (lease_live).
     */
    {"lease_renew",
     "WITH r AS (INSERT INTO sender_instances (instance, expires_at)"
     " VALUES ($1, clock_timestamp() + " LEASE_SQL ") ON CONFLICT (instance) DO UPDATE"
     " SET prev_expires_at = sender_instances.expires_at, heartbeat_at = clock_timestamp(),"
     " expires_at = clock_timestamp() + " LEASE_SQL ","
     " joined_at = CASE WHEN sender_instances.heartbeat_at < clock_timestamp() - " STALE_SQL
     " THEN clock_timestamp() ELSE sender_instances.joined_at END"
     " RETURNING coalesce(prev_expires_at > clock_timestamp() AND " TOKEN_SQL(
         "prev_expires_at") " = $2::bigint, false) AS kept, " TOKEN_SQL("expires_at") " AS token,"
                                                                                      " coalesce("
                                                                                      "prev_"
                                                                                      "expires_at "
                                                                                      "> "
                                                                                      "clock_"
                                                                                      "timestamp(),"
                                                                                      " false) AS "
                                                                                      "running),"
                                                                                      " d AS "
                                                                                      "(DELETE "
                                                                                      "FROM "
                                                                                      "chat_leases "
                                                                                      "WHERE slot "
                                                                                      "IN (SELECT "
                                                                                      "slot FROM "
                                                                                      "chat_leases"
                                                                                      " WHERE "
                                                                                      "instance = "
                                                                                      "$1 AND NOT "
                                                                                      "(SELECT "
                                                                                      "running "
                                                                                      "FROM r) "
                                                                                      "ORDER BY "
                                                                                      "slot FOR "
                                                                                      "UPDATE))"
                                                                                      " SELECT "
                                                                                      "kept, token "
                                                                                      "FROM r",
     2},
    /* Live instances; how many of them sort before this one (its share of
     * the rate); and how many others have not renewed since this one
     * (re)joined, so may not count it yet. */
    {"lease_live",
     "SELECT count(*), count(*) FILTER (WHERE instance < $1),"
     " count(*) FILTER (WHERE instance <> $1 AND heartbeat_at < (SELECT joined_at"
     " FROM sender_instances WHERE instance = $1) + interval '100 milliseconds')"
     " FROM sender_instances"
     " WHERE heartbeat_at > clock_timestamp() - " LIVE_SQL " OR instance = $1",
     1},
    /* Now and then, in a transaction of its own: instances gone for an
     * hour, with their slot rows, and slot rows naming no instance (an
     * acquisition that raced the holder's own reset). */
    {"lease_gc",
     "WITH gone AS (DELETE FROM sender_instances"
     " WHERE heartbeat_at < clock_timestamp() - interval '1 hour' RETURNING instance)"
     " DELETE FROM chat_leases WHERE slot IN (SELECT l.slot FROM chat_leases l"
     " WHERE l.instance IN (SELECT instance FROM gone)"
     " OR (l.taken_at < clock_timestamp() - interval '1 minute'"
     " AND NOT EXISTS (SELECT 1 FROM sender_instances i WHERE i.instance = l.instance))"
     " ORDER BY l.slot FOR UPDATE)",
     0},
    {"lease_release",
     "DELETE FROM chat_leases WHERE slot IN (SELECT slot FROM chat_leases"
     " WHERE instance = $1 AND slot = ANY($2::int[]) ORDER BY slot FOR UPDATE)",
     2},
    /*
     * Takes slots ($2, sorted) that are free or ours, while our own lease
     * runs, and slots whose holder's lease ran out: that holder's row is
     * locked first, so a renewal of it on its way either waits and then
     * finds its lease lapsed (and gives up all its slots), or is seen here
     * as renewed. Whoever took a slot since this statement began is never
     * among those locked, so a fresh holder is not overwritten. Lock order:
     * instance rows before slot rows (the count below runs once, before
     * the first row is inserted; a renewal locks its own row first too),
     * and slot rows in slot order, as every statement here does; slots a
     * live instance holds are left out beforehand, so their rows are
     * mostly not even locked.
     */
    {"lease_acquire",
     "WITH dead AS (SELECT instance FROM sender_instances WHERE instance IN (SELECT instance"
     " FROM chat_leases WHERE slot = ANY($2::int[]) AND instance <> $1)"
     " AND expires_at < clock_timestamp() ORDER BY instance FOR UPDATE)"
     " INSERT INTO chat_leases (slot, instance) SELECT s, $1 FROM unnest($2::int[]) AS s"
     " WHERE EXISTS (SELECT 1 FROM sender_instances WHERE instance = $1"
     " AND expires_at > clock_timestamp()) AND (SELECT count(*) FROM dead) >= 0"
     " AND NOT EXISTS (SELECT 1 FROM chat_leases l WHERE l.slot = s AND l.instance <> $1"
     " AND l.instance NOT IN (SELECT instance FROM dead))"
     " ORDER BY s"
     " ON CONFLICT (slot) DO UPDATE SET instance = excluded.instance, taken_at = clock_timestamp()"
     " WHERE chat_leases.instance = excluded.instance"
     " OR chat_leases.instance IN (SELECT instance FROM dead) RETURNING slot",
     2},
    {"lease_quit",
     "WITH s AS (DELETE FROM chat_leases WHERE instance = $1)"
     " DELETE FROM sender_instances WHERE instance = $1",
     1},
};
const size_t lease_statements_count = sizeof(lease_statements) / sizeof(lease_statements[0]);

/* S_BACKOFF: taking it failed (no database); asked for again at until. */
enum slot_state { S_FREE, S_ACQUIRING, S_HELD, S_RELEASING, S_OTHER, S_BACKOFF };

struct slot {
    enum slot_state state;
    int64_t until; /* S_OTHER, S_BACKOFF: when to ask again */
    int64_t used;  /* last leases_check() */
};

struct leases {
    struct pool *pool;
    char instance[128];
    pthread_mutex_t lock;
    struct slot slots[LEASE_SLOTS];
    /* The local end of the instance's lease (monotonic ms): every held
     * slot is held until then. Starts at 0: nothing held. */
    int64_t until;
    /* Counts the renewals that found the lease lapsed: an acquisition
     * answered across one is not trusted. */
    uint64_t gen;
    struct periodic *keeper;
    struct pool_conn *keeper_conn; /* the keeper's own, kept between ticks */
    char token[24];                /* what the last renewal answered ("": none yet) */
    uint64_t ticks;
    atomic_int live, rank;
    /* Calls may start from send_from until send_until (monotonic ms):
     * send_from is a window after every other live instance had counted
     * this one in (INT64_MAX until they have), send_until is
     * SEND_AFTER_HEARTBEAT_MS after the last heartbeat. */
    atomic_long send_from, send_until;
};

int lease_slot(int64_t chat_id)
{
    /* The same in SQL: ((chat_id % 1024) + 1024) % 1024 */
    return (int)(((chat_id % LEASE_SLOTS) + LEASE_SLOTS) % LEASE_SLOTS);
}

const char *leases_instance(const struct leases *l)
{
    return l->instance;
}

int leases_live(struct leases *l)
{
    int n = atomic_load(&l->live);
    return n < 1 ? 1 : n;
}

int leases_rank(struct leases *l)
{
    return atomic_load(&l->rank);
}

int64_t leases_may_send(struct leases *l, int64_t now)
{
    int64_t from = atomic_load(&l->send_from);
    if (now < from)
        return from == INT64_MAX ? LEASE_RENEW_MS / 10 : from - now;
    return now < atomic_load(&l->send_until) ? 0 : LEASE_RENEW_MS / 10;
}

enum lease_state leases_check(struct leases *l, int slot, int64_t now, int64_t *until)
{
    struct slot *s = &l->slots[slot];
    enum lease_state st = LEASE_WAIT;
    pthread_mutex_lock(&l->lock);
    if ((s->state == S_OTHER || s->state == S_BACKOFF) && now >= s->until)
        s->state = S_FREE;
    switch (s->state) {
    case S_FREE:
        s->state = S_ACQUIRING;
        st = LEASE_WANT;
        break;
    case S_HELD:
        s->used = now;
        if (now < l->until) {
            *until = l->until;
            st = LEASE_HELD;
        }
        break;
    case S_OTHER:
        st = LEASE_OTHER;
        break;
    case S_ACQUIRING:
    case S_RELEASING:
    case S_BACKOFF:
        break;
    }
    pthread_mutex_unlock(&l->lock);
    return st;
}

/* A PostgreSQL array of slot numbers in b; NULL when out of memory. */
static const char *slot_array(struct buf *b, const int *slots, size_t n)
{
    db_array_open(b);
    for (size_t i = 0; i < n; i++)
        db_array_i64(b, slots[i]);
    return db_array_close(b);
}

/* Marks the slots answered in column 0 of res held, the others of
 * slots[0..n) as held elsewhere (S_OTHER) - unless the lease lapsed since
 * the statement was sent (gen changed): then none is trusted. Returns how
 * many are held. Lock not held. */
static int settle_slots(struct leases *l, const int *slots, size_t n, PGresult *res, uint64_t gen)
{
    bool got[LEASE_SLOTS] = {false};
    int held = 0;
    for (int i = 0; res && i < PQntuples(res); i++) {
        int64_t k;
        if (strnum_i64(PQgetvalue(res, i, 0), 0, LEASE_SLOTS - 1, &k) == 0)
            got[k] = true;
    }
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&l->lock);
    bool trusted = gen == l->gen;
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &l->slots[slots[i]];
        if (got[slots[i]] && trusted) {
            s->state = S_HELD;
            s->used = now;
            held++;
        } else {
            s->state = got[slots[i]] ? S_FREE : S_OTHER;
            s->until = now + LEASE_OTHER_MS;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return held;
}

/* Sets the slots in [0, n) to state st (S_OTHER and S_BACKOFF for
 * LEASE_OTHER_MS). */
static void slots_back(struct leases *l, const int *slots, size_t n, enum slot_state st)
{
    int64_t until = clock_mono_ms() + LEASE_OTHER_MS;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < n; i++) {
        l->slots[slots[i]].state = st;
        l->slots[slots[i]].until = until;
    }
    pthread_mutex_unlock(&l->lock);
}

/*
 * Alone (no other live instance), an acquisition also takes up to this many
 * free slots after the wanted ones, so that a stream of new chats costs a
 * round trip per that many chats rather than one each; slots nobody used go
 * back after LEASE_IDLE_MS as every slot does. With others live, only what
 * is wanted is taken: the rest is theirs to take.
 */
#define PREFETCH_ALONE 64

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int leases_acquire(struct leases *l, const int *want, size_t nwant)
{
    int slots[LEASE_SLOTS];
    size_t n = nwant;
    memcpy(slots, want, nwant * sizeof(*want));
    if (nwant > 0 && nwant < PREFETCH_ALONE && leases_live(l) == 1) {
        pthread_mutex_lock(&l->lock);
        for (int k = 1; k < LEASE_SLOTS && n < PREFETCH_ALONE; k++) {
            struct slot *s = &l->slots[(want[0] + k) % LEASE_SLOTS];
            if (s->state == S_FREE) {
                s->state = S_ACQUIRING;
                slots[n++] = (want[0] + k) % LEASE_SLOTS;
            }
        }
        pthread_mutex_unlock(&l->lock);
    }
    qsort(slots, n, sizeof(*slots), cmp_int); /* slot rows are locked in slot order */
    struct buf b;
    buf_init(&b, 64 * 1024);
    const char *p[2] = {l->instance, slot_array(&b, slots, n)};
    struct pool_conn *c = NULL;
    PGresult *res = NULL;
    pthread_mutex_lock(&l->lock);
    uint64_t gen = l->gen;
    bool running = clock_mono_ms() < l->until; /* else the database refuses anyway */
    pthread_mutex_unlock(&l->lock);
    int held = -1;
    if (running && p[1] && pool_acquire(l->pool, 2000, &c) == 0 &&
        pool_run(c, "lease_acquire", 2, p, &res, NULL) == 0)
        held = settle_slots(l, slots, n, res, gen);
    else
        slots_back(l, slots, n, S_BACKOFF); /* not a busy loop while the database is away */
    PQclear(res);
    pool_release(l->pool, c);
    buf_free(&b);
    return held;
}

/* Ticks between two lease_gc runs of the keeper (about a minute). */
#define GC_TICKS 60

/* One tick of the keeper on its connection c: the instance's lease and
 * heartbeat, the live instances, the slots given back. Returns false when
 * the connection failed. */
static bool tick(struct leases *l, struct pool_conn *c)
{
    int give[LEASE_SLOTS];
    size_t ngive = 0, held = 0;
    int64_t t0 = clock_mono_ms();
    pthread_mutex_lock(&l->lock);
    for (int k = 0; k < LEASE_SLOTS; k++) {
        struct slot *s = &l->slots[k];
        if (s->state != S_HELD)
            continue;
        if (t0 - s->used >= LEASE_IDLE_MS) {
            s->state = S_RELEASING;
            give[ngive++] = k;
        } else {
            held++;
        }
    }
    pthread_mutex_unlock(&l->lock);

    struct buf b;
    buf_init(&b, 64 * 1024);
    const char *p[2] = {l->instance, slot_array(&b, give, ngive)};
    const char *pr[2] = {l->instance, l->token[0] ? l->token : NULL};
    const struct pool_step steps[] = {
        {.name = "lease_renew", .nparams = 2, .values = pr},
        {.name = "lease_live", .nparams = 1, .values = p},
        {.name = "lease_release", .nparams = 2, .values = p},
    };
    enum { NSTEPS = sizeof(steps) / sizeof(steps[0]) };
    PGresult *res[NSTEPS] = {NULL};
    bool ok = p[1] && pool_exec_steps(c, steps, NSTEPS, res) == 0;
    for (size_t i = 0; ok && i < NSTEPS; i++)
        ok =
            PQresultStatus(res[i]) == PGRES_COMMAND_OK || PQresultStatus(res[i]) == PGRES_TUPLES_OK;
    ok = ok && PQntuples(res[0]) == 1 && PQntuples(res[1]) == 1 &&
         strlen(PQgetvalue(res[0], 0, 1)) < sizeof(l->token);
    if (ok) {
        int64_t live = 1, rank = 0;
        strnum_i64(PQgetvalue(res[1], 0, 0), 1, 1000000, &live);
        strnum_i64(PQgetvalue(res[1], 0, 1), 0, 1000000, &rank);
        int64_t waiting = 1;
        strnum_i64(PQgetvalue(res[1], 0, 2), 0, 1000000, &waiting);
        atomic_store(&l->live, (int)live);
        atomic_store(&l->rank, (int)rank);
        /* Until every other live instance has counted this one, its calls
         * would go on top of their shares; and for a window after that,
         * their windows may still hold calls they started under their
         * larger shares. Alone, there is nobody to wait for. */
        if (waiting > 0)
            atomic_store(&l->send_from, INT64_MAX);
        else if (live == 1)
            atomic_store(&l->send_from, 0);
        else if (atomic_load(&l->send_from) == INT64_MAX)
            atomic_store(&l->send_from, clock_mono_ms() + LEASE_RATE_WINDOW_MS);
        atomic_store(&l->send_until, t0 + SEND_AFTER_HEARTBEAT_MS);
        bool kept = PQgetvalue(res[0], 0, 0)[0] == 't';
        snprintf(l->token, sizeof(l->token), "%s", PQgetvalue(res[0], 0, 1));
        int lost = 0;
        pthread_mutex_lock(&l->lock);
        if (!kept) {
            /* Lapsed (or new): any slot may have been taken meanwhile, and
             * the database no longer names us anywhere. Start over. */
            l->gen++;
            for (int k = 0; k < LEASE_SLOTS; k++) {
                struct slot *s = &l->slots[k];
                lost += s->state == S_HELD || s->state == S_RELEASING;
                if (s->state == S_HELD || s->state == S_RELEASING)
                    s->state = S_FREE; /* S_ACQUIRING: its answer is not trusted */
            }
        }
        /* Never later than the database's expiry: counted from before the
         * renewal was sent. */
        l->until = t0 + LEASE_MS - LEASE_MARGIN_MS;
        for (size_t i = 0; i < ngive; i++)
            if (l->slots[give[i]].state == S_RELEASING)
                l->slots[give[i]].state = S_FREE;
        pthread_mutex_unlock(&l->lock);
        if (lost > 0) {
            tgm_outbox_leases_lost(lost);
            LOG(LOG_WARN, "chat slots given up: this instance's lease had lapsed",
                LOG_INT("slots", lost), LOG_STR("instance", l->instance));
        }
    } else {
        /* Nothing known: held slots simply run out locally; the ones being
         * given back stay ours in the database until the lease lapses. */
        slots_back(l, give, ngive, S_BACKOFF);
    }
    for (size_t i = 0; i < NSTEPS; i++)
        PQclear(res[i]);
    buf_free(&b);
    tgm_outbox_slots_held((int64_t)held);
    return ok;
}

/* The keeper's round, every LEASE_RENEW_MS on a connection it keeps. */
static int64_t keeper_round(void *arg)
{
    struct leases *l = arg;
    struct pool_conn *c = l->keeper_conn;
    if (!c && pool_acquire(l->pool, 1000, &c) < 0)
        c = NULL;
    if (c && tick(l, c)) {
        if (++l->ticks % GC_TICKS == 0)
            pool_run(c, "lease_gc", 0, NULL, NULL, NULL);
        if (pool_conn_expired(c)) {
            /* kept for good otherwise: recycled as every connection is */
            pool_release(l->pool, c);
            c = NULL;
        }
    } else if (c) {
        pool_release(l->pool, c); /* a broken one is replaced */
        c = NULL;
    }
    l->keeper_conn = c;
    return LEASE_RENEW_MS;
}

struct leases *leases_start(struct pool *pool)
{
    struct leases *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->pool = pool;
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    /* 64 random bits: two containers may well share a host name and pid 1,
     * and two instances of one name would share one lease. */
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rnd = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec;
    }
    snprintf(l->instance, sizeof(l->instance), "%s:%ld:%016" PRIx64, host[0] ? host : "tgdesk",
             (long)getpid(), rnd);
    atomic_store(&l->live, 1);
    atomic_store(&l->send_from, INT64_MAX); /* until the first heartbeat */
    pthread_mutex_init(&l->lock, NULL);
    l->keeper = periodic_start(0, keeper_round, l);
    if (!l->keeper) {
        LOG(LOG_ERROR, "cannot start the lease keeper", LOG_STR("error", strerror(errno)));
        leases_stop(l);
        return NULL;
    }
    tgm_instance_info(l->instance);
    LOG(LOG_INFO, "sender instance", LOG_STR("instance", l->instance));
    return l;
}

void leases_stop(struct leases *l)
{
    if (!l)
        return;
    periodic_stop(l->keeper);
    /* The slots go back at once rather than when their leases run out. */
    struct pool_conn *c = l->keeper_conn;
    if (l->keeper && (c || pool_acquire(l->pool, 1000, &c) == 0)) {
        const char *p[1] = {l->instance};
        pool_run(c, "lease_quit", 1, p, NULL, NULL);
        pool_release(l->pool, c);
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}
