/*
 * pool.c - the PostgreSQL connection pool (see pool.h).
 *
 * One mutex guards the slots, the idle stack, the waiter queue and the
 * counters. It is never held across network I/O: an acquirer takes an idle
 * connection or reserves an empty slot under the lock, pings or connects
 * outside it, and re-locks only to publish the outcome.
 *
 * Waiters queue in FIFO order, each on its own condition variable, and a
 * connection coming back (or a slot becoming empty) is handed straight to the
 * longest waiter. Without the hand-over a thread that releases and at once
 * re-acquires would win the race against the thread it just woke, and under
 * saturation some waiters would starve until DB_POOL_TIMEOUT.
 *
 * Query durations are recorded with relaxed atomics so that workers never
 * contend on the pool mutex to time a statement.
 */
#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/conn.h"
#include "db/sqlstate.h"
#include "log.h"
#include "util/clock.h"
#include "util/strnum.h"

const double pool_hist_bounds[POOL_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

/* A connection idle for longer than this is pinged before it is handed out. */
#define PING_IDLE_MS 1000
/*
 * Generic plans (plan_cache_mode=force_generic_plan) are made once and kept
 * until the server invalidates them, which (auto)analyze does - a minute
 * apart at best (autovacuum_naptime), then only after a tenth of a table
 * changed. A plan made while a table was small scans it whole, and kept
 * doing so as the table grew. So a connection drops its plans ("DISCARD
 * PLANS", in place of the ping) 1 s after it opened, then after 2, 4 and 8 s
 * (young tables grow fastest), then every 10 s; the next use plans again,
 * from the tables' current sizes.
 */
#define PLAN_FIRST_AGE_MS 1000
#define PLAN_MAX_AGE_MS   10000
/* Back-off after a failed connect: doubles per consecutive failure. */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 1000
/* A wait on the socket lasts at most this long, so that a stop set meanwhile is seen. */
#define WAIT_SLICE_MS 200
/* How long pool_release waits for a cancelled query's results. */
#define DRAIN_TIMEOUT_MS  4000
#define DRAIN_MAX_RESULTS 1024
/* pool_exec_sql labels beyond the registered statements; more share "other". */
#define LABELS_MAX 32
/* Slots of the name index: a power of two, well above statements and labels. */
#define NAME_SLOTS           1024
#define LABEL_NAME_MAX       64
#define MAINTAIN_INTERVAL_MS 1000

enum slot_state {
    SLOT_FREE,    /* no connection */
    SLOT_PENDING, /* reserved: a connection is being opened or closed outside the lock */
    SLOT_IDLE,    /* open and on the idle stack */
    SLOT_BUSY,    /* checked out, or being validated or cleaned by its holder */
};

enum close_reason { CLOSE_LIFETIME, CLOSE_IDLE, CLOSE_BROKEN, CLOSE_DIRTY };

static const char *const close_reason_names[] = {"lifetime", "idle", "broken", "dirty"};

struct pool_conn {
    struct pool *pool;
    PGconn *pg; /* NULL while the slot holds no connection */
    int index;
    enum slot_state state; /* guarded by pool->mu */
    int64_t created_ms;
    int64_t expires_ms;   /* INT64_MAX: never recycled for age */
    int64_t last_used_ms; /* last check-in */
    int64_t planned_ms;   /* plans dropped (or the connection opened) */
    int64_t plan_age_ms;  /* when they are dropped next */
    bool broken;          /* a statement found the connection dead */
    bool begin_pending;   /* pool_begin(): BEGIN goes with the next statement */
    int64_t deadline_ns;  /* pool_acquire_bounded(): every wait ends by then; 0: none */
};

/* Counts per bucket; the last one holds durations above every bound. */
struct hist {
    _Atomic uint64_t buckets[POOL_HIST_BUCKETS + 1];
    _Atomic uint64_t sum_ns;
};

struct qstat {
    const char *name;             /* the statement's name, or buf for a label */
    const struct pool_stmt *stmt; /* a registered statement; NULL for a label */
    char buf[LABEL_NAME_MAX];
    struct hist h;
    _Atomic uint64_t errors;
};

/* A caller blocked in pool_acquire, linked into the FIFO queue. */
struct waiter {
    struct waiter *next;
    pthread_cond_t cond;
    bool done;
    int err;                /* 0: conn is set */
    struct pool_conn *conn; /* live (pg set) or an empty reserved slot (pg NULL) */
};

struct pool {
    /* Settings, copied from the options. */
    int max;
    int min;
    int64_t timeout_ms;
    int64_t recycle_ms;
    int64_t idle_timeout_ms;
    bool pre_ping;
    int64_t slow_ms;
    int64_t deadline_ms; /* client-side deadline of a statement (or a round trip) */
    int64_t connect_ms;  /* of a connect, start-up and preparing included */
    bool unnamed;        /* statements sent with their text, none prepared */
    const struct db_params *params;
    const struct pool_stmt *stmts;
    size_t nstmts;

    /* Timing: atomics, no lock needed. */
    struct qstat *stmt_stats; /* one per statement */
    struct qstat labels[LABELS_MAX];
    _Atomic size_t nlabels;
    /* Every statement and label by name (open addressing; NULL: empty). */
    _Atomic(struct qstat *) names[NAME_SLOTS];
    struct qstat other;
    atomic_bool other_warned;
    pthread_mutex_t label_mu; /* serialises label registration only */
    struct hist acquire_hist;
    _Atomic uint64_t acquires;
    _Atomic uint64_t deadlines;
    _Atomic int64_t stop_ns; /* pool_stop_by(): every wait ends by then; 0: none */

    /* Everything below is guarded by mu. */
    pthread_mutex_t mu;
    pthread_condattr_t condattr; /* CLOCK_MONOTONIC, for every condvar here */
    struct pool_conn *conns;     /* max slots; addresses stay put */
    int *idle;                   /* stack of slot indexes, top = most recently used */
    int nidle;
    int *free_slots; /* stack of empty slot indexes */
    int nfree;
    int nbusy;
    int npending;
    struct waiter *wait_head, *wait_tail;
    int nwaiting;
    bool shutdown;
    int fail_streak;       /* failed connects (or unanswered statements) in a row */
    bool probing;          /* with fail_streak > 0: the one connect being tried */
    int64_t down_until_ms; /* fail fast until then */
    uint64_t rng;
    uint64_t timeouts, unavailable, connects, connect_failures;
    uint64_t closed[4]; /* by enum close_reason */

    pthread_t maint;
    bool maint_started;
    bool maint_stop;
    pthread_cond_t maint_cond;
};

static struct timespec deadline_at(int64_t ns)
{
    return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* ---- histograms ---- */

static void hist_observe(struct hist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < POOL_HIST_BUCKETS && s > pool_hist_bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

/* The count is the sum of the buckets, so a snapshot always adds up. */
static void hist_snapshot(struct hist *h, struct pool_hist *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (size_t i = 0; i <= POOL_HIST_BUCKETS; i++) {
        uint64_t n = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < POOL_HIST_BUCKETS)
            ret->buckets[i] = n;
        ret->count += n;
    }
    ret->sum_seconds = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9;
}

/* ---- slot bookkeeping (all *_locked functions run with p->mu held) ---- */

static void set_state_locked(struct pool *p, struct pool_conn *c, enum slot_state s)
{
    if (c->state == SLOT_BUSY)
        p->nbusy--;
    else if (c->state == SLOT_PENDING)
        p->npending--;
    if (s == SLOT_BUSY)
        p->nbusy++;
    else if (s == SLOT_PENDING)
        p->npending++;
    c->state = s;
}

static bool down_locked(const struct pool *p, int64_t now)
{
    return now < p->down_until_ms;
}

static void waiter_push_locked(struct pool *p, struct waiter *w)
{
    w->next = NULL;
    if (p->wait_tail)
        p->wait_tail->next = w;
    else
        p->wait_head = w;
    p->wait_tail = w;
    p->nwaiting++;
}

static struct waiter *waiter_pop_locked(struct pool *p)
{
    struct waiter *w = p->wait_head;
    if (!w)
        return NULL;
    p->wait_head = w->next;
    if (!p->wait_head)
        p->wait_tail = NULL;
    p->nwaiting--;
    return w;
}

static void waiter_remove_locked(struct pool *p, struct waiter *w)
{
    struct waiter *prev = NULL;
    for (struct waiter *it = p->wait_head; it; prev = it, it = it->next) {
        if (it != w)
            continue;
        if (prev)
            prev->next = w->next;
        else
            p->wait_head = w->next;
        if (p->wait_tail == w)
            p->wait_tail = prev;
        p->nwaiting--;
        return;
    }
}

static void waiter_wake_locked(struct waiter *w, int err, struct pool_conn *c)
{
    w->done = true;
    w->err = err;
    w->conn = c;
    pthread_cond_signal(&w->cond);
}

static void fail_waiters_locked(struct pool *p, int err)
{
    struct waiter *w;
    while ((w = waiter_pop_locked(p)) != NULL) {
        if (err == -ECONNREFUSED)
            p->unavailable++;
        waiter_wake_locked(w, err, NULL);
    }
}

/* Publishes a live connection: to the longest waiter, else onto the idle stack. */
static void conn_put_locked(struct pool *p, struct pool_conn *c)
{
    struct waiter *w = waiter_pop_locked(p);
    if (w) {
        set_state_locked(p, c, SLOT_BUSY);
        waiter_wake_locked(w, 0, c);
        return;
    }
    set_state_locked(p, c, SLOT_IDLE);
    p->idle[p->nidle++] = c->index;
}

/*
 * Empties a slot whose connection is closed. The longest waiter gets it to
 * open a connection of its own - unless the server is known to be down, in
 * which case every waiter gives up now rather than at its deadline.
 */
static void slot_free_locked(struct pool *p, struct pool_conn *c)
{
    c->pg = NULL;
    if (p->wait_head && !down_locked(p, clock_mono_ms()) && !p->shutdown) {
        set_state_locked(p, c, SLOT_PENDING);
        waiter_wake_locked(waiter_pop_locked(p), 0, c);
        return;
    }
    set_state_locked(p, c, SLOT_FREE);
    p->free_slots[p->nfree++] = c->index;
    if (down_locked(p, clock_mono_ms()))
        fail_waiters_locked(p, -ECONNREFUSED);
}

static void idle_remove_locked(struct pool *p, int pos)
{
    memmove(&p->idle[pos], &p->idle[pos + 1], (size_t)(p->nidle - pos - 1) * sizeof(p->idle[0]));
    p->nidle--;
}

/* ---- waiting on the server, with a deadline ---- */

/* Which deadline ended a wait. */
enum wait_end { END_CALL, END_CHECKOUT, END_STOP };

static const char *const wait_end_names[] = {"statement", "checkout", "stop"};

/*
 * When a wait that may last until call_end (monotonic ns: a statement's or a
 * connect's own deadline) must end: the earliest of that, the checkout's
 * deadline and the pool's stop. *why says which.
 */
static int64_t wait_until(const struct pool_conn *c, int64_t call_end, enum wait_end *why)
{
    int64_t end = call_end;
    *why = END_CALL;
    if (c->deadline_ns > 0 && c->deadline_ns < end) {
        end = c->deadline_ns;
        *why = END_CHECKOUT;
    }
    int64_t stop = atomic_load_explicit(&c->pool->stop_ns, memory_order_relaxed);
    if (stop > 0 && stop < end) {
        end = stop;
        *why = END_STOP;
    }
    return end;
}

/*
 * Waits for events on fd for at most left_ns, in slices of WAIT_SLICE_MS.
 * Returns poll()'s count (0: nothing yet, EINTR included) or -1.
 */
static int wait_socket(int fd, short events, int64_t left_ns)
{
    if (fd < 0)
        return -1;
    int64_t ms = (left_ns + 999999) / 1000000;
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = poll(&pfd, 1, ms < WAIT_SLICE_MS ? (int)ms : WAIT_SLICE_MS);
    return n < 0 && errno == EINTR ? 0 : n;
}

/*
 * Sends what libpq has queued and reads until a result can be taken without
 * blocking. Returns 0, -EIO when the connection failed, or -ETIMEDOUT when
 * a deadline passed first (*why says which).
 */
static int await_result(struct pool_conn *c, int64_t call_end, enum wait_end *why)
{
    PGconn *pg = c->pg;
    for (;;) {
        int queued = PQflush(pg);
        if (queued < 0)
            return -EIO;
        if (queued == 0 && !PQisBusy(pg))
            return 0;
        int64_t left = wait_until(c, call_end, why) - clock_mono_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        int n = wait_socket(PQsocket(pg), (short)(POLLIN | (queued ? POLLOUT : 0)), left);
        if (n < 0 || (n > 0 && !PQconsumeInput(pg)))
            return -EIO;
    }
}

/* Takes the next result within the deadline; 0 and *ret (NULL: no more), or await_result's error.
 */
static int next_result(struct pool_conn *c, int64_t call_end, enum wait_end *why, PGresult **ret)
{
    *ret = NULL;
    int rc = await_result(c, call_end, why);
    if (rc == 0)
        *ret = PQgetResult(c->pg);
    return rc;
}

static void close_idle(struct pool *p, bool all);
static int64_t backoff_ms(int streak);

/*
 * The server did not answer a statement within statement_timeout and the
 * grace period: it is not answering (its own timeout would have ended the
 * statement). The connections idle now were opened to the same server:
 * they go, and connects back off as after a failed one.
 */
static void server_stalled(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->fail_streak++;
    p->down_until_ms = clock_mono_ms() + backoff_ms(p->fail_streak);
    pthread_mutex_unlock(&p->mu);
    close_idle(p, true);
}

/* A call on c got no answer by a deadline (which one: why): counted and logged. */
static void deadline_missed(struct pool_conn *c, const char *what, enum wait_end why,
                            int64_t start_ns)
{
    atomic_fetch_add_explicit(&c->pool->deadlines, 1, memory_order_relaxed);
    LOG(LOG_WARN, "db call got no answer by its deadline: dropping the connection",
        LOG_STR("query", what), LOG_STR("deadline", wait_end_names[why]),
        LOG_INT("waited_ms", (clock_mono_ns() - start_ns) / 1000000));
}

/*
 * A call on c failed (rc from await_result): the connection is dropped at
 * release, and every later call on it fails at once. A deadline logs, and
 * a statement's own deadline marks the server as not answering.
 */
static void call_failed(struct pool_conn *c, const char *what, int rc, enum wait_end why,
                        int64_t start_ns)
{
    c->broken = true;
    if (rc != -ETIMEDOUT)
        return;
    deadline_missed(c, what, why, start_ns);
    if (why == END_CALL)
        server_stalled(c->pool);
}

/*
 * Collects what one sent statement (or simple query) answers, as PQexec
 * would: the last result. NULL when the connection failed or a deadline
 * passed (call_failed).
 */
static PGresult *collect(struct pool_conn *c, const char *what, int64_t start_ns)
{
    int64_t end = start_ns + c->pool->deadline_ms * 1000000;
    PGresult *last = NULL;
    for (;;) {
        enum wait_end why;
        PGresult *r;
        int rc = next_result(c, end, &why, &r);
        if (rc < 0) {
            PQclear(last);
            call_failed(c, what, rc, why, start_ns);
            return NULL;
        }
        if (!r)
            return last;
        PQclear(last);
        last = r;
        ExecStatusType st = PQresultStatus(r);
        /* As PQexec: a COPY is the caller's to finish (release closes it). */
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            return last;
    }
}

/* Runs sql (simple protocol, no parameters) within the statement deadline. */
static PGresult *exec_text(struct pool_conn *c, const char *what, const char *sql)
{
    if (c->broken)
        return NULL;
    int64_t start = clock_mono_ns();
    if (!PQsendQuery(c->pg, sql)) {
        c->broken = true;
        return NULL;
    }
    return collect(c, what, start);
}

/* Sends request i of a pipelined round trip. */
typedef int (*send_fn)(struct pool_conn *c, const void *ud, size_t i);

/*
 * Sends n requests in pipeline mode, one Sync, and collects one result per
 * request into res[0..n-1] (NULL until it arrived), all by end (monotonic
 * ns; the checkout's and the stop's deadlines may come first). Returns 0,
 * -EIO when the connection failed, or -ETIMEDOUT when a deadline passed
 * (*why says which); c is broken then. The caller reports the failure.
 */
static int round_trip(struct pool_conn *c, send_fn send, const void *ud, size_t n, PGresult **res,
                      int64_t end, enum wait_end *why)
{
    PGconn *pg = c->pg;
    *why = END_CALL;
    int rc = -EIO;
    for (size_t i = 0; i < n; i++)
        res[i] = NULL;
    if (c->broken || !PQenterPipelineMode(pg))
        goto broken;
    for (size_t i = 0; i < n; i++)
        if (!send(c, ud, i))
            goto broken;
    if (!PQpipelineSync(pg))
        goto broken;
    for (size_t i = 0; i < n; i++) {
        if ((rc = next_result(c, end, why, &res[i])) < 0)
            goto broken;
        rc = -EIO;
        if (!res[i])
            goto broken;
        /* Each request's results end with a NULL. */
        for (PGresult *extra;;) {
            if ((rc = next_result(c, end, why, &extra)) < 0)
                goto broken;
            if (!extra)
                break;
            PQclear(extra);
        }
    }
    PGresult *sync;
    if ((rc = next_result(c, end, why, &sync)) < 0)
        goto broken;
    bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    rc = -EIO;
    if (!synced || !PQexitPipelineMode(pg))
        goto broken;
    return 0;

broken:
    /* Release closes a connection left in pipeline mode. */
    c->broken = true;
    return rc;
}

/* ---- connections ---- */

static int send_prepare(struct pool_conn *c, const void *ud, size_t i)
{
    const struct pool_stmt *s = &((const struct pool_stmt *)ud)[i];
    return PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL);
}

/*
 * Prepares every registered statement on c's new connection, in one round
 * trip, by end (the connect's deadline). Returns 0, -EIO when it failed,
 * or -ETIMEDOUT when a deadline passed (*why says which). The caller
 * counts a failure against the server, once: a prepare that got no answer
 * does not mark the server as stalled on top.
 */
static int prepare_all(struct pool *p, struct pool_conn *c, int64_t end, enum wait_end *why)
{
    *why = END_CALL;
    if (p->unnamed || p->nstmts == 0)
        return 0;
    PGresult **res = calloc(p->nstmts, sizeof(*res));
    if (!res) {
        LOG(LOG_WARN, "db prepare failed", LOG_STR("error", "out of memory"));
        return -EIO;
    }
    int64_t start = clock_mono_ns();
    int rc = round_trip(c, send_prepare, p->stmts, p->nstmts, res, end, why);
    if (rc == -ETIMEDOUT)
        deadline_missed(c, "prepare", *why, start);
    for (size_t i = 0; i < p->nstmts; i++) {
        if (rc == 0 && PQresultStatus(res[i]) != PGRES_COMMAND_OK) {
            char err[512];
            LOG(LOG_ERROR, "db prepare failed", LOG_STR("stmt", p->stmts[i].name),
                LOG_STR("error", db_errmsg(c->pg, res[i], err, sizeof(err))));
            rc = -EIO;
        }
        PQclear(res[i]);
    }
    free(res);
    return rc;
}

/* What a wait that a checkout's or the stop's deadline cut short returns. */
static int cut_short(enum wait_end why)
{
    return why == END_STOP ? -ESHUTDOWN : -ETIMEDOUT;
}

/*
 * Opens a connection into c (reserved by the caller) within DB_CONNECT_TIMEOUT
 * (and the checkout's and the stop's deadlines), non-blocking, with every
 * statement prepared: start-up and preparing share the one deadline. A
 * password refused while DATABASE_PASSWORD_FILE changed is tried again at
 * once (db_connect_again), within the same deadline. Returns 0;
 * -ECONNREFUSED when it failed (logged); -ETIMEDOUT (the checkout's
 * deadline) or -ESHUTDOWN (the stop's) when one cut it short, which says
 * nothing about the server.
 */
static int conn_open(struct pool *p, struct pool_conn *c)
{
    char err[512];
    int64_t start = clock_mono_ns();
    int64_t end = start + p->connect_ms * 1000000;
    enum wait_end why = END_CALL;
    /* A checkout whose time is up (a check that ran out of it) opens nothing. */
    if (wait_until(c, end, &why) <= start)
        return cut_short(why);
    PGconn *pg = db_connect_start(p->params);
    bool again = true; /* one more connect for a rotated password */
    PostgresPollingStatusType st;
    for (;;) {
        if (!pg) {
            LOG(LOG_WARN, "db connect failed", LOG_STR("error", "out of memory"));
            return -ECONNREFUSED;
        }
        st = PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
        while (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
            int64_t left = wait_until(c, end, &why) - clock_mono_ns();
            if (left <= 0)
                break;
            int n = wait_socket(PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, left);
            if (n < 0)
                st = PGRES_POLLING_FAILED;
            else if (n > 0)
                st = PQconnectPoll(pg);
        }
        if (st != PGRES_POLLING_FAILED || !again || !db_connect_again(p->params, pg))
            break;
        again = false;
        PQfinish(pg);
        pg = db_connect_start(p->params);
    }
    if (st != PGRES_POLLING_OK) {
        bool timed_out = st != PGRES_POLLING_FAILED;
        LOG(LOG_WARN, "db connect failed",
            LOG_STR("error", timed_out ? "no answer by the deadline"
                                       : db_errmsg(pg, NULL, err, sizeof(err))),
            LOG_STR("deadline", !timed_out        ? ""
                                : why == END_CALL ? "connect"
                                                  : wait_end_names[why]),
            LOG_INT("waited_ms", (clock_mono_ns() - start) / 1000000));
        PQfinish(pg);
        return timed_out && why != END_CALL ? cut_short(why) : -ECONNREFUSED;
    }
    c->pg = pg;
    c->broken = false;
    int rc = PQsetnonblocking(pg, 1) == 0 ? prepare_all(p, c, end, &why) : -EIO;
    if (rc < 0) {
        PQfinish(pg);
        c->pg = NULL;
        return rc == -ETIMEDOUT && why != END_CALL ? cut_short(why) : -ECONNREFUSED;
    }
    return 0;
}

static int64_t backoff_ms(int streak)
{
    int64_t ms = BACKOFF_MIN_MS;
    for (int i = 1; i < streak && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static int64_t expiry_locked(struct pool *p, int64_t created)
{
    if (p->recycle_ms <= 0)
        return INT64_MAX;
    /* ±10 % so that connections opened together do not all expire together. */
    double jitter = 0.9 + 0.2 * (double)(xorshift(&p->rng) >> 11) / (double)(1ull << 53);
    return created + (int64_t)((double)p->recycle_ms * jitter);
}

/*
 * Opens a connection into slot c (reserved by the caller: PENDING or BUSY,
 * no connection). On success the slot is BUSY for a caller (for_caller) or
 * published as idle. On failure the slot is emptied and the back-off window
 * starts. After a failure only one connect at a time tries the server (the
 * probe); the others fail fast. Returns 0, -ECONNREFUSED or -ESHUTDOWN; or
 * -ETIMEDOUT when the checkout's deadline cut the connect short (and
 * -ESHUTDOWN the stop's), which neither counts as a failed connect nor
 * starts the back-off nor fails the waiters.
 */
static int connect_slot(struct pool *p, struct pool_conn *c, bool for_caller)
{
    pthread_mutex_lock(&p->mu);
    set_state_locked(p, c, SLOT_PENDING);
    bool probe = p->fail_streak > 0;
    if (p->shutdown || down_locked(p, clock_mono_ms()) || (probe && p->probing)) {
        int rc = p->shutdown ? -ESHUTDOWN : -ECONNREFUSED;
        if (for_caller && rc == -ECONNREFUSED)
            p->unavailable++;
        slot_free_locked(p, c);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    p->probing = probe;
    pthread_mutex_unlock(&p->mu);

    int opened = conn_open(p, c);
    int64_t now = clock_mono_ms();

    pthread_mutex_lock(&p->mu);
    if (probe)
        p->probing = false;
    if (opened < 0) {
        /* Cut short by a checkout's or the stop's deadline: no news of the server. */
        if (opened == -ECONNREFUSED) {
            p->connect_failures++;
            p->fail_streak++;
            p->down_until_ms = now + backoff_ms(p->fail_streak);
            if (for_caller)
                p->unavailable++;
        }
        slot_free_locked(p, c);
        pthread_mutex_unlock(&p->mu);
        return opened;
    }
    p->connects++;
    p->fail_streak = 0;
    p->down_until_ms = 0;
    c->created_ms = now;
    c->expires_ms = expiry_locked(p, now);
    c->last_used_ms = now;
    c->planned_ms = now;
    c->plan_age_ms = PLAN_FIRST_AGE_MS;
    c->broken = false;
    if (for_caller)
        set_state_locked(p, c, SLOT_BUSY);
    else
        conn_put_locked(p, c);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Closes the connection of slot c (held by the caller) and counts why. */
static void conn_close(struct pool *p, struct pool_conn *c, enum close_reason why)
{
    PQfinish(c->pg);
    c->pg = NULL;
    pthread_mutex_lock(&p->mu);
    p->closed[why]++;
    set_state_locked(p, c, SLOT_PENDING);
    pthread_mutex_unlock(&p->mu);
}

static bool socket_readable(PGconn *pg)
{
    struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
    if (pfd.fd < 0)
        return true;
    return poll(&pfd, 1, 0) != 0;
}

/*
 * True when an idle connection may be handed out. Idle connections have
 * nothing to read, so a readable socket means the server has sent something
 * unasked - typically a FATAL before closing (pg_terminate_backend, shutdown):
 * that costs one poll() and catches a dead connection even when it was used
 * less than a second ago, then the empty query decides. Unnamed statements
 * leave no plans to drop.
 */
static bool conn_usable(struct pool *p, struct pool_conn *c, int64_t now)
{
    PGconn *pg = c->pg;
    if (PQstatus(pg) != CONNECTION_OK || PQtransactionStatus(pg) != PQTRANS_IDLE)
        return false;
    bool replan = !p->unnamed && now - c->planned_ms > c->plan_age_ms;
    bool ping = replan || (p->pre_ping && now - c->last_used_ms > PING_IDLE_MS);
    if (!ping && socket_readable(pg))
        ping = true;
    if (!ping)
        return true;
    PGresult *r = exec_text(c, replan ? "discard_plans" : "ping", replan ? "DISCARD PLANS" : "");
    bool ok = PQresultStatus(r) == (replan ? PGRES_COMMAND_OK : PGRES_EMPTY_QUERY);
    PQclear(r);
    if (ok && replan) {
        c->planned_ms = now;
        c->plan_age_ms =
            c->plan_age_ms * 2 < PLAN_MAX_AGE_MS ? c->plan_age_ms * 2 : PLAN_MAX_AGE_MS;
    }
    return ok && PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) == PQTRANS_IDLE;
}

/* ---- acquire / release ---- */

/*
 * Under the lock: takes an idle connection, reserves an empty slot, or waits
 * in the queue for one of the two. Returns 0 with *ret set, or an error.
 */
static bool stopped(struct pool *p, int64_t now_ns)
{
    int64_t stop = atomic_load_explicit(&p->stop_ns, memory_order_relaxed);
    return stop > 0 && now_ns >= stop;
}

static int take_locked(struct pool *p, int64_t timeout_ms, int64_t start_ns, struct pool_conn **ret)
{
    if (p->shutdown || stopped(p, start_ns))
        return -ESHUTDOWN;
    /* Idle connections and queued waiters never coexist: releases hand over. */
    if (p->nidle > 0) {
        struct pool_conn *c = &p->conns[p->idle[--p->nidle]];
        set_state_locked(p, c, SLOT_BUSY);
        *ret = c;
        return 0;
    }
    if (down_locked(p, clock_mono_ms())) {
        p->unavailable++;
        return -ECONNREFUSED;
    }
    if (p->nfree > 0) {
        struct pool_conn *c = &p->conns[p->free_slots[--p->nfree]];
        set_state_locked(p, c, SLOT_PENDING);
        *ret = c;
        return 0;
    }
    if (timeout_ms == 0) {
        p->timeouts++;
        return -ETIMEDOUT;
    }

    struct waiter w = {0};
    pthread_cond_init(&w.cond, &p->condattr);
    waiter_push_locked(p, &w);
    while (!w.done) {
        /* pool_stop_by() wakes every waiter to shorten its wait. */
        int64_t end = start_ns + timeout_ms * 1000000;
        int64_t stop = atomic_load_explicit(&p->stop_ns, memory_order_relaxed);
        bool stopping = stop > 0 && stop < end;
        struct timespec deadline = deadline_at(stopping ? stop : end);
        int e = pthread_cond_timedwait(&w.cond, &p->mu, &deadline);
        if (e == ETIMEDOUT && !w.done) {
            waiter_remove_locked(p, &w);
            if (!stopping)
                p->timeouts++;
            w.done = true;
            w.err = stopping ? -ESHUTDOWN : -ETIMEDOUT;
        }
    }
    pthread_cond_destroy(&w.cond);
    if (w.err == 0)
        *ret = w.conn;
    return w.err;
}

static const char *acquire_error_name(int rc)
{
    switch (rc) {
    case -ETIMEDOUT:
        return "pool exhausted";
    case -ECONNREFUSED:
        return "server unavailable";
    case -ESHUTDOWN:
        return "pool shutting down";
    default:
        return "error";
    }
}

/* bounded: every wait of this checkout ends timeout_ms from now. */
static int acquire(struct pool *p, int64_t timeout_ms, bool bounded, struct pool_conn **ret_conn)
{
    int64_t start = clock_mono_ns();
    if (timeout_ms < 0)
        timeout_ms = p->timeout_ms;

    struct pool_conn *c = NULL;
    pthread_mutex_lock(&p->mu);
    int rc = take_locked(p, timeout_ms, start, &c);
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        LOG(LOG_DEBUG, "db checkout failed", LOG_STR("error", acquire_error_name(rc)),
            LOG_INT("wait_us", (clock_mono_ns() - start) / 1000));
        return rc;
    }
    c->deadline_ns = bounded ? start + timeout_ms * 1000000 : 0;
    c->broken = false;

    /* A connection too old or dead is replaced in place, in the same slot. */
    if (c->pg) {
        int64_t now = clock_mono_ms();
        if (now >= c->expires_ms) {
            conn_close(p, c, CLOSE_LIFETIME);
        } else if (!conn_usable(p, c, now)) {
            LOG(LOG_INFO, "db connection failed its check, replacing it",
                LOG_INT("conn", c->index));
            conn_close(p, c, CLOSE_BROKEN);
        }
    }
    if (!c->pg) {
        rc = connect_slot(p, c, true);
        if (rc < 0) {
            LOG(LOG_DEBUG, "db checkout failed", LOG_STR("error", acquire_error_name(rc)),
                LOG_INT("wait_us", (clock_mono_ns() - start) / 1000));
            return rc;
        }
    }

    c->broken = false;
    int64_t waited = clock_mono_ns() - start;
    atomic_fetch_add_explicit(&p->acquires, 1, memory_order_relaxed);
    hist_observe(&p->acquire_hist, waited);
    LOG(LOG_DEBUG, "db checkout", LOG_INT("conn", c->index), LOG_INT("pid", PQbackendPID(c->pg)),
        LOG_INT("wait_us", waited / 1000));
    c->begin_pending = false;
    *ret_conn = c;
    return 0;
}

int pool_acquire(struct pool *p, int64_t timeout_ms, struct pool_conn **ret_conn)
{
    return acquire(p, timeout_ms, false, ret_conn);
}

int pool_acquire_bounded(struct pool *p, int64_t timeout_ms, struct pool_conn **ret_conn)
{
    return acquire(p, timeout_ms < 0 ? 0 : timeout_ms, true, ret_conn);
}

void pool_stop_by(struct pool *p, int64_t ms)
{
    int64_t at = clock_mono_ns() + (ms > 0 ? ms : 0) * 1000000;
    pthread_mutex_lock(&p->mu);
    int64_t cur = atomic_load_explicit(&p->stop_ns, memory_order_relaxed);
    if (cur == 0 || at < cur)
        atomic_store_explicit(&p->stop_ns, at, memory_order_relaxed);
    for (struct waiter *w = p->wait_head; w; w = w->next)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&p->mu);
}

static void *cancel_main(void *arg)
{
    PGcancel *cancel = arg;
    char err[256];
    if (!PQcancel(cancel, err, sizeof(err)))
        LOG(LOG_DEBUG, "db cancel failed", LOG_STR("error", err));
    PQfreeCancel(cancel);
    return NULL;
}

/*
 * Asks the server to cancel pg's statement, on a thread of its own: libpq's
 * PQcancel opens a connection and waits for the server without a timeout,
 * so against a hung server it would hang, and the caller must not.
 */
static void cancel_query(PGconn *pg)
{
    PGcancel *cancel = PQgetCancel(pg);
    if (!cancel)
        return;
    pthread_attr_t attr;
    pthread_t t;
    bool started = pthread_attr_init(&attr) == 0 &&
                   pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                   pthread_create(&t, &attr, cancel_main, cancel) == 0;
    pthread_attr_destroy(&attr);
    if (!started)
        PQfreeCancel(cancel);
}

/*
 * Reads and discards whatever results the holder left unread, cancelling a
 * statement that is still running. False when the connection cannot be
 * brought back to a known state in time (COPY, a hung server).
 */
static bool conn_drain(struct pool_conn *c)
{
    PGconn *pg = c->pg;
    if (!PQconsumeInput(pg))
        return false;
    if (PQisBusy(pg))
        cancel_query(pg);
    int64_t end = clock_mono_ns() + (int64_t)DRAIN_TIMEOUT_MS * 1000000;
    for (int i = 0; i < DRAIN_MAX_RESULTS; i++) {
        enum wait_end why;
        PGresult *r;
        if (next_result(c, end, &why, &r) < 0)
            return false;
        if (!r)
            return true;
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            return false;
    }
    return false;
}

/*
 * Brings a returned connection back to an idle session (kore's
 * pgsql_conn_release). Returns -1 when it must be closed, with *why set;
 * 1 when something had to be rolled back; 0 when it was clean.
 */
static int conn_clean(struct pool_conn *c, enum close_reason *why)
{
    PGconn *pg = c->pg;
    *why = CLOSE_BROKEN;
    if (PQstatus(pg) != CONNECTION_OK)
        return -1;
    *why = CLOSE_DIRTY;
    if (PQpipelineStatus(pg) != PQ_PIPELINE_OFF)
        return -1;
    if (!PQisnonblocking(pg) && PQsetnonblocking(pg, 1) != 0)
        return -1;

    int cleaned = 0;
    PGTransactionStatusType ts = PQtransactionStatus(pg);
    if (ts == PQTRANS_ACTIVE) {
        if (!conn_drain(c))
            goto fail;
        cleaned = 1;
        ts = PQtransactionStatus(pg);
    }
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        PGresult *r = exec_text(c, "rollback", "ROLLBACK");
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            goto fail;
        cleaned = 1;
        ts = PQtransactionStatus(pg);
    }
    if (PQstatus(pg) != CONNECTION_OK || ts != PQTRANS_IDLE)
        goto fail;
    return cleaned;

fail:
    if (PQstatus(pg) != CONNECTION_OK)
        *why = CLOSE_BROKEN;
    return -1;
}

void pool_release(struct pool *p, struct pool_conn *c)
{
    if (!c)
        return;
    enum close_reason why = CLOSE_BROKEN;
    int cleaned = c->broken ? -1 : conn_clean(c, &why);
    c->deadline_ns = 0;
    int64_t now = clock_mono_ms();
    if (cleaned >= 0 && now >= c->expires_ms) {
        why = CLOSE_LIFETIME;
        cleaned = -1;
    }
    int index = c->index;

    if (cleaned < 0) {
        if (why == CLOSE_DIRTY)
            LOG(LOG_WARN, "db connection returned dirty, closing it", LOG_INT("conn", index));
        PQfinish(c->pg);
        c->pg = NULL;
    }

    pthread_mutex_lock(&p->mu);
    if (cleaned < 0) {
        p->closed[why]++;
        slot_free_locked(p, c);
    } else {
        c->last_used_ms = now;
        conn_put_locked(p, c);
    }
    pthread_mutex_unlock(&p->mu);

    LOG(LOG_DEBUG, "db checkin", LOG_INT("conn", index),
        LOG_STR("outcome", cleaned < 0 ? close_reason_names[why]
                           : cleaned   ? "rolled back"
                                       : "idle"));
}

PGconn *pool_conn_pg(struct pool_conn *c)
{
    return c->pg;
}

bool pool_conn_expired(const struct pool_conn *c)
{
    return clock_mono_ms() >= c->expires_ms;
}

/* ---- statements ---- */

/* FNV-1a of a name, for the name index. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* The entry of name, or NULL. Lock-free: slots are only ever filled. */
static struct qstat *name_find(struct pool *p, const char *name)
{
    uint32_t i = name_hash(name) & (NAME_SLOTS - 1);
    for (size_t k = 0; k < NAME_SLOTS; k++, i = (i + 1) & (NAME_SLOTS - 1)) {
        struct qstat *q = atomic_load_explicit(&p->names[i], memory_order_acquire);
        if (!q)
            return NULL;
        if (q->name == name || strcmp(q->name, name) == 0)
            return q;
    }
    return NULL;
}

/* Adds q under its name (the caller serialises adds; q is published whole). */
static void name_add(struct pool *p, struct qstat *q)
{
    uint32_t i = name_hash(q->name) & (NAME_SLOTS - 1);
    for (size_t k = 0; k < NAME_SLOTS; k++, i = (i + 1) & (NAME_SLOTS - 1)) {
        if (!atomic_load_explicit(&p->names[i], memory_order_relaxed)) {
            atomic_store_explicit(&p->names[i], q, memory_order_release);
            return;
        }
    }
}

static struct qstat *stmt_find(struct pool *p, const char *name)
{
    struct qstat *q = name_find(p, name);
    return q && q->stmt ? q : NULL;
}

/*
 * The timing entry of a pool_exec_sql label, registered on first use. Lookups
 * need no lock.
 */
static struct qstat *label_find(struct pool *p, const char *name)
{
    struct qstat *q = name_find(p, name);
    if (q)
        return q;

    pthread_mutex_lock(&p->label_mu);
    size_t n = atomic_load_explicit(&p->nlabels, memory_order_relaxed);
    q = name_find(p, name);
    if (!q && n < LABELS_MAX && strlen(name) < LABEL_NAME_MAX) {
        q = &p->labels[n];
        snprintf(q->buf, sizeof(q->buf), "%s", name);
        q->name = q->buf;
        atomic_store_explicit(&p->nlabels, n + 1, memory_order_release);
        name_add(p, q);
    }
    pthread_mutex_unlock(&p->label_mu);
    if (q)
        return q;
    if (!atomic_exchange(&p->other_warned, true))
        LOG(LOG_WARN, "db query label table full, timing under \"other\"", LOG_STR("query", name));
    return &p->other;
}

static bool result_ok(ExecStatusType st)
{
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE ||
           st == PGRES_EMPTY_QUERY;
}

static void query_done(struct pool_conn *c, struct qstat *q, const PGresult *r, int64_t start)
{
    struct pool *p = c->pool;
    int64_t ns = clock_mono_ns() - start;
    hist_observe(&q->h, ns);
    if (!r || !result_ok(PQresultStatus(r))) {
        atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
        /* Release must not put a dead connection back. */
        if (PQstatus(c->pg) != CONNECTION_OK)
            c->broken = true;
    }
    if (p->slow_ms > 0 && ns >= p->slow_ms * 1000000)
        LOG(LOG_WARN, "slow query", LOG_STR("query", q->name), LOG_INT("duration_ms", ns / 1000000),
            LOG_INT("threshold_ms", p->slow_ms));
}

void pool_begin(struct pool_conn *c)
{
    c->begin_pending = true;
}

/*
 * One statement after a pending BEGIN, in one round trip: its result, or
 * BEGIN's when BEGIN failed (the statement then did not run).
 */
static PGresult *exec_begun(struct pool_conn *c, const struct pool_step *step)
{
    PGresult *res[1] = {NULL};
    if (pool_exec_steps(c, step, 1, res) < 0) {
        PQclear(res[0]);
        return NULL;
    }
    return res[0];
}

/* Sends registered statement q: by name, or with its text when the pool runs unnamed. */
static int send_stmt(struct pool_conn *c, const struct qstat *q, int nparams,
                     const char *const *values)
{
    if (c->pool->unnamed)
        return PQsendQueryParams(c->pg, q->stmt->sql, nparams, NULL, values, NULL, NULL, 0);
    return PQsendQueryPrepared(c->pg, q->name, nparams, values, NULL, NULL, 0);
}

PGresult *pool_exec(struct pool_conn *c, const char *name, int nparams, const char *const *values)
{
    if (c->begin_pending)
        return exec_begun(c,
                          &(struct pool_step){.name = name, .nparams = nparams, .values = values});
    struct qstat *q = stmt_find(c->pool, name);
    if (!q) {
        LOG(LOG_ERROR, "pool_exec: unknown prepared statement", LOG_STR("query", name));
        return NULL;
    }
    int64_t start = clock_mono_ns();
    PGresult *r = NULL;
    if (!c->broken) {
        if (send_stmt(c, q, nparams, values))
            r = collect(c, q->name, start);
        else
            c->broken = true;
    }
    query_done(c, q, r, start);
    return r;
}

PGresult *pool_exec_sql(struct pool_conn *c, const char *name, const char *sql)
{
    if (c->begin_pending)
        return exec_begun(c, &(struct pool_step){.name = name, .sql = sql});
    struct qstat *q = label_find(c->pool, name);
    int64_t start = clock_mono_ns();
    PGresult *r = exec_text(c, q->name, sql);
    query_done(c, q, r, start);
    return r;
}

int pool_run(struct pool_conn *c, const char *name, int nparams, const char *const *values,
             PGresult **ret, char *sqlstate)
{
    PGresult *r = pool_exec(c, name, nparams, values);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (ret)
            *ret = r;
        else
            PQclear(r);
        return 0;
    }
    if (sqlstate)
        db_sqlstate_copy(r, sqlstate);
    PQclear(r);
    return -EIO;
}

int64_t pool_run_rows(struct pool_conn *c, const char *name, int nparams, const char *const *values,
                      char *sqlstate)
{
    PGresult *r;
    if (pool_run(c, name, nparams, values, &r, sqlstate) < 0)
        return -EIO;
    int64_t rows = 0;
    if (strnum_i64(PQcmdTuples(r), 0, INT64_MAX, &rows) < 0)
        rows = 0;
    PQclear(r);
    return rows;
}

int64_t pool_run_rows_ints(struct pool_conn *c, const char *name, const int64_t *vals, int n,
                           char *sqlstate)
{
    char text[POOL_INTS_MAX][STRNUM_I64_MAX];
    const char *p[POOL_INTS_MAX];
    if (n < 0 || n > POOL_INTS_MAX)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        strnum_fmt_i64(text[i], vals[i]);
        p[i] = text[i];
    }
    return pool_run_rows(c, name, n, p, sqlstate);
}

int pool_exec_counts(struct pool_conn *c, const char *name, const char *sql, size_t n, int64_t *ret)
{
    PGresult *r = pool_exec_sql(c, name, sql);
    int rc =
        r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && (size_t)PQnfields(r) == n
            ? 0
            : -EIO;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (PQgetisnull(r, 0, (int)i) ||
            strnum_i64(PQgetvalue(r, 0, (int)i), 0, INT64_MAX, &ret[i]) < 0)
            rc = -EIO;
    PQclear(r);
    return rc;
}

/* Steps in one round trip; the most one may send. */
#define STEPS_MAX 16

/* What run_steps() sends: the steps and their timing entries. */
struct steps {
    const struct pool_step *steps;
    struct qstat *const *qs;
};

static int send_step(struct pool_conn *c, const void *ud, size_t i)
{
    const struct steps *st = ud;
    const struct pool_step *s = &st->steps[i];
    if (s->sql)
        return PQsendQueryParams(c->pg, s->sql, 0, NULL, NULL, NULL, NULL, 0);
    return send_stmt(c, st->qs[i], s->nparams, s->values);
}

static int run_steps(struct pool_conn *c, const struct pool_step *steps, size_t n,
                     PGresult **ret_res)
{
    struct qstat *qs[STEPS_MAX];
    if (n == 0 || n > sizeof(qs) / sizeof(qs[0]))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        ret_res[i] = NULL;
        qs[i] =
            steps[i].sql ? label_find(c->pool, steps[i].name) : stmt_find(c->pool, steps[i].name);
        if (!qs[i]) {
            LOG(LOG_ERROR, "pool_exec_steps: unknown prepared statement",
                LOG_STR("query", steps[i].name));
            return -EINVAL;
        }
    }
    int64_t start = clock_mono_ns();
    enum wait_end why;
    int rc = round_trip(c, send_step, &(struct steps){.steps = steps, .qs = qs}, n, ret_res,
                        start + c->pool->deadline_ms * 1000000, &why);
    if (rc < 0) {
        call_failed(c, qs[n - 1]->name, rc, why, start);
        return -EIO;
    }
    for (size_t i = 0; i < n; i++)
        query_done(c, qs[i], ret_res[i], start);
    return 0;
}

int pool_exec_steps(struct pool_conn *c, const struct pool_step *steps, size_t n,
                    PGresult **ret_res)
{
    if (!c->begin_pending)
        return run_steps(c, steps, n, ret_res);
    if (n == 0 || n + 1 > STEPS_MAX)
        return -EINVAL;
    c->begin_pending = false;
    struct pool_step all[STEPS_MAX];
    PGresult *res[STEPS_MAX] = {NULL};
    all[0] = (struct pool_step){.name = "begin", .sql = "BEGIN"};
    memcpy(all + 1, steps, n * sizeof(*steps));
    int rc = run_steps(c, all, n + 1, res);
    if (rc == -EINVAL)
        c->begin_pending = true; /* nothing was sent */
    for (size_t i = 0; i < n; i++)
        ret_res[i] = res[i + 1];
    /* A BEGIN that failed stands for the first step, which did not run. */
    if (res[0] && PQresultStatus(res[0]) != PGRES_COMMAND_OK) {
        PQclear(ret_res[0]);
        ret_res[0] = res[0];
    } else {
        PQclear(res[0]);
    }
    return rc;
}

/* ---- statistics ---- */

void pool_stats(struct pool *p, struct pool_stats *ret)
{
    struct pool_stats s = {0};
    pthread_mutex_lock(&p->mu);
    s.max = p->max;
    s.in_use = p->nbusy;
    s.idle = p->nidle;
    s.size = p->nbusy + p->nidle;
    s.waiting = p->nwaiting;
    s.timeouts = p->timeouts;
    s.unavailable = p->unavailable;
    s.connects = p->connects;
    s.connect_failures = p->connect_failures;
    s.recycled_lifetime = p->closed[CLOSE_LIFETIME];
    s.recycled_idle = p->closed[CLOSE_IDLE];
    s.recycled_broken = p->closed[CLOSE_BROKEN];
    s.recycled_dirty = p->closed[CLOSE_DIRTY];
    pthread_mutex_unlock(&p->mu);
    s.acquires = atomic_load_explicit(&p->acquires, memory_order_relaxed);
    s.deadlines = atomic_load_explicit(&p->deadlines, memory_order_relaxed);
    hist_snapshot(&p->acquire_hist, &s.acquire);
    *ret = s;
}

static void report_qstat(struct qstat *q, pool_query_stat_fn fn, void *ud)
{
    struct pool_query_stat s = {.name = q->name};
    hist_snapshot(&q->h, &s.duration);
    s.errors = atomic_load_explicit(&q->errors, memory_order_relaxed);
    fn(&s, ud);
}

void pool_query_stats(struct pool *p, pool_query_stat_fn fn, void *ud)
{
    for (size_t i = 0; i < p->nstmts; i++)
        report_qstat(&p->stmt_stats[i], fn, ud);
    size_t n = atomic_load_explicit(&p->nlabels, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        report_qstat(&p->labels[i], fn, ud);
    if (atomic_load_explicit(&p->other_warned, memory_order_relaxed))
        report_qstat(&p->other, fn, ud);
}

/* ---- maintenance ---- */

/* An idle connection past its lifetime or idle timeout (any, with all), taken off the stack. */
static struct pool_conn *pick_expired_locked(struct pool *p, int64_t now, bool all,
                                             enum close_reason *why)
{
    /* From the bottom: the least recently used first. */
    for (int i = 0; i < p->nidle; i++) {
        struct pool_conn *c = &p->conns[p->idle[i]];
        if (all)
            *why = CLOSE_BROKEN;
        else if (now >= c->expires_ms)
            *why = CLOSE_LIFETIME;
        else if (p->idle_timeout_ms > 0 && now - c->last_used_ms >= p->idle_timeout_ms &&
                 p->nidle + p->nbusy > p->min)
            *why = CLOSE_IDLE;
        else
            continue;
        idle_remove_locked(p, i);
        set_state_locked(p, c, SLOT_PENDING);
        return c;
    }
    return NULL;
}

/* Closes the idle connections past their time, or all of them. */
static void close_idle(struct pool *p, bool all)
{
    for (;;) {
        enum close_reason why = CLOSE_IDLE;
        pthread_mutex_lock(&p->mu);
        struct pool_conn *c =
            p->shutdown ? NULL : pick_expired_locked(p, clock_mono_ms(), all, &why);
        pthread_mutex_unlock(&p->mu);
        if (!c)
            break;
        LOG(LOG_DEBUG, "db connection closed", LOG_INT("conn", c->index),
            LOG_STR("reason", close_reason_names[why]));
        PQfinish(c->pg);
        pthread_mutex_lock(&p->mu);
        p->closed[why]++;
        slot_free_locked(p, c);
        pthread_mutex_unlock(&p->mu);
    }
}

void pool_maintain(struct pool *p)
{
    close_idle(p, false);

    /* Connections being opened (npending) will count once they are up. */
    for (;;) {
        struct pool_conn *c = NULL;
        pthread_mutex_lock(&p->mu);
        if (!p->shutdown && p->nfree > 0 && !down_locked(p, clock_mono_ms()) &&
            p->nidle + p->nbusy + p->npending < p->min) {
            c = &p->conns[p->free_slots[--p->nfree]];
            set_state_locked(p, c, SLOT_PENDING);
            c->deadline_ns = 0;
        }
        pthread_mutex_unlock(&p->mu);
        if (!c || connect_slot(p, c, false) < 0)
            break;
    }
}

static void *maint_main(void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->maint_stop) {
        pthread_mutex_unlock(&p->mu);
        pool_maintain(p);
        pthread_mutex_lock(&p->mu);
        struct timespec deadline =
            deadline_at(clock_mono_ns() + (int64_t)MAINTAIN_INTERVAL_MS * 1000000);
        while (!p->maint_stop &&
               pthread_cond_timedwait(&p->maint_cond, &p->mu, &deadline) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- life cycle ---- */

struct pool *pool_new(const struct pool_options *opt, const struct db_params *params,
                      const struct pool_stmt *stmts, size_t n)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->max = opt->max > 0 ? opt->max : 1;
    p->min = opt->min < 0 ? 0 : opt->min > p->max ? p->max : opt->min;
    p->timeout_ms = opt->timeout_ms;
    p->recycle_ms = opt->recycle_ms;
    p->idle_timeout_ms = opt->idle_timeout_ms;
    p->pre_ping = opt->pre_ping;
    p->slow_ms = opt->slow_query_ms;
    p->deadline_ms = opt->deadline_ms > 0 ? opt->deadline_ms : POOL_DEADLINE_DEFAULT_MS;
    p->connect_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : POOL_CONNECT_DEFAULT_MS;
    p->unnamed = opt->unnamed;
    p->params = params;
    p->stmts = stmts;
    p->nstmts = n;
    p->rng = (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)p;
    p->other.name = "other";

    p->conns = calloc((size_t)p->max, sizeof(*p->conns));
    p->idle = calloc((size_t)p->max, sizeof(*p->idle));
    p->free_slots = calloc((size_t)p->max, sizeof(*p->free_slots));
    p->stmt_stats = calloc(n ? n : 1, sizeof(*p->stmt_stats));
    if (!p->conns || !p->idle || !p->free_slots || !p->stmt_stats)
        goto fail_alloc;
    if (n > NAME_SLOTS / 2)
        goto fail_alloc;
    for (size_t i = 0; i < n; i++) {
        p->stmt_stats[i].name = stmts[i].name;
        p->stmt_stats[i].stmt = &stmts[i];
        name_add(p, &p->stmt_stats[i]);
    }
    /* Pushed in reverse so that slot 0 is used first. */
    for (int i = p->max - 1; i >= 0; i--) {
        p->conns[i].pool = p;
        p->conns[i].index = i;
        p->conns[i].state = SLOT_FREE;
        p->free_slots[p->nfree++] = i;
    }

    if (pthread_condattr_init(&p->condattr) != 0)
        goto fail_alloc;
    if (pthread_condattr_setclock(&p->condattr, CLOCK_MONOTONIC) != 0)
        goto fail_condattr;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto fail_condattr;
    if (pthread_mutex_init(&p->label_mu, NULL) != 0)
        goto fail_mu;
    if (pthread_cond_init(&p->maint_cond, &p->condattr) != 0)
        goto fail_label_mu;
    if (pthread_create(&p->maint, NULL, maint_main, p) != 0)
        goto fail_cond;
    p->maint_started = true;
    return p;

fail_cond:
    pthread_cond_destroy(&p->maint_cond);
fail_label_mu:
    pthread_mutex_destroy(&p->label_mu);
fail_mu:
    pthread_mutex_destroy(&p->mu);
fail_condattr:
    pthread_condattr_destroy(&p->condattr);
fail_alloc:
    free(p->stmt_stats);
    free(p->free_slots);
    free(p->idle);
    free(p->conns);
    free(p);
    return NULL;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    p->maint_stop = true;
    fail_waiters_locked(p, -ESHUTDOWN);
    pthread_cond_signal(&p->maint_cond);
    pthread_mutex_unlock(&p->mu);
    if (p->maint_started)
        pthread_join(p->maint, NULL);

    for (int i = 0; i < p->max; i++) {
        struct pool_conn *c = &p->conns[i];
        /* Its holder may still be using it: leave it alone rather than race. */
        if (c->state == SLOT_BUSY) {
            LOG(LOG_ERROR, "db pool freed with a connection still checked out", LOG_INT("conn", i));
            continue;
        }
        PQfinish(c->pg);
        c->pg = NULL;
    }

    pthread_cond_destroy(&p->maint_cond);
    pthread_mutex_destroy(&p->label_mu);
    pthread_mutex_destroy(&p->mu);
    pthread_condattr_destroy(&p->condattr);
    free(p->stmt_stats);
    free(p->free_slots);
    free(p->idle);
    free(p->conns);
    free(p);
}
