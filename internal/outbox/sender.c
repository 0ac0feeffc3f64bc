#include "sender.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/array.h"
#include "db/conn.h"
#include "db/pool.h"
#include "log.h"
#include "metrics/tgm.h"
#include "outbox/lease.h"
#include "tg/api.h"
#include "util/clock.h"
#include "util/strnum.h"

/*
 * Shards: threads that send, each over its own chats. A shard keeps up to
 * SLOTS calls in flight over libcurl's multi interface: Telegram answers a
 * server far away in tens of milliseconds, so a few hundred messages a second
 * need dozens of calls at once; and under load one wake-up reads several
 * answers (a thread blocked on one call at a time woke once per message, and
 * on two shared cores the context switches cost more than the calls).
 */
#define NSHARDS 2
#define SLOTS   16
/* Messages held in memory at most; beyond, the recovery path has them. */
#define BACKLOG_MAX 100000
/* Rows one recovery query claims. */
#define CLAIM_BATCH 500
/* Sent results are recorded in batches of at most this many ... */
#define SENT_BATCH 256
/* ... or after this many milliseconds. */
#define SENT_FLUSH_MS 50
/* Leases of rows held in memory are renewed this often. */
#define ROW_RENEW_MS 3000
/*
 * Per-chat rate: a bucket of chat_burst() tokens, one more every interval. A
 * private chat may take a short burst; a group takes one message every 3.1 s
 * and no burst, so no 60 s window ever holds more than 20 (Telegram's limit
 * for groups: a burst of 3 then one every 3 s made 22).
 */
#define PRIVATE_BURST       3
#define PRIVATE_INTERVAL_MS 1000
#define GROUP_INTERVAL_MS   3100
/* Staff notifications about one request, merged into one message at most
 * this long (Telegram's limit, in code points as the desk counts them) ... */
#define MERGE_TEXT_MAX 4096
/* ... out of at most this many rows looked at. */
#define MERGE_ROWS 200
/*
 * Messages one chat holds in memory: what its rate lets through in half a
 * lease, plus its burst. A chat that is sent more (one staff chat notified of
 * every user message, at one message a second) does not hold its whole
 * backlog: each further message is deferred - its row left in the database
 * with next_attempt_at set to when the chat can take it - and the recovery
 * pass brings it back when due. Held rows have their leases renewed every few
 * seconds; a backlog of 30,000 held in one chat made that 10,000 row updates
 * a second, and queueing behind it cost a walk of the whole queue.
 */
#define CHAT_HOLD(c) (chat_burst(c) + OUTBOX_LEASE_S * 1000 / 2 / chat_interval_ms(c))

/* A chat whose slot is being taken, renewed or given back is looked at
 * again after this long. */
#define LEASE_POLL_MS 50

/* Idle chats are looked for this often; one is forgotten once its bucket is
 * full again (a new one starts full), not kept for a fixed time: at 7,000
 * new chats a second, a minute of them was 40 MB. */
#define CHAT_GC_MS 1000

struct node {
    struct outbox_msg m;
    struct node *next;
    /* A staff notification picked from the database (pick_notify()): every
     * row this one call delivers, m.id first; NULL otherwise. */
    int64_t *picked;
    size_t npicked;
};

struct chat {
    int64_t chat_id;
    struct node *head, *tail;
    int64_t in_flight_id; /* row being sent, 0 when none */
    int64_t ready_at;     /* not before this (rate limit, back-off) */
    double tokens;
    int64_t tokens_at;
    int64_t deferred_until; /* rows deferred to the database are due until then */
    size_t held;            /* messages queued here, not counting in flight */
    bool queued;            /* in the ready list or the timer heap */
    int64_t interval_ms;    /* its rate: a message every interval_ms (burst chat_burst()) */
    struct chat *next_ready;
    struct chat *next_bucket;
};

/* One call in flight: the row being sent and what came back. */
struct slot {
    struct tg_api *api;
    struct chat *c; /* NULL when the slot is free */
    struct node *n;
    int64_t t0;
    bool done;
    struct tg_api_result r;
    int pre;       /* PRE_*: decided before any call was made */
    int64_t until; /* the chat's slot is ours until then (monotonic ms) */
    /* A call made before the row's own (topic_prepare()); payload NULL: none. */
    struct sender_call first;
};

/* Outbox rows to record in one statement: ids and a value for each. */
struct rows {
    int64_t *ids, *vals;
    size_t n, cap;
    int64_t first_at; /* when the first was added */
};

struct shard {
    struct sender *s;
    pthread_mutex_t lock;
    pthread_t thread;
    struct tg_multi *multi;
    struct slot slots[SLOTS];
    int busy;      /* slots in use */
    bool sleeping; /* in tg_multi_run(): submit() wakes it */
    bool started;
    struct chat **buckets;
    size_t nbuckets;
    size_t nchats;
    struct chat *ready_head, *ready_tail;
    struct chat **heap; /* timers: chats waiting for ready_at */
    size_t nheap, capheap;
    size_t backlog;
    /* sent and deferred, not yet recorded */
    struct rows sent;     /* and Telegram's message_ids */
    struct rows deferred; /* and in how many ms they are due */
    struct rows given;    /* rows of chats another instance holds: due now, for it */
    int64_t last_gc;
    uint64_t rng;
    int want[LEASE_SLOTS]; /* slots to acquire, one pass's worth */
};

struct sender {
    struct sender_options opt;
    struct pool *pool;
    struct leases *leases;
    struct shard shards[NSHARDS];
    pthread_t recovery;
    bool recovery_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    atomic_bool stopping;
    atomic_long deadline; /* ms, monotonic */
    atomic_long backlog;
    /* global rate limit: when the last calls went (monotonic ms), a ring
     * of TELEGRAM_GLOBAL_RPS; sent_head is where the next one goes */
    pthread_mutex_t rate_lock;
    int64_t *sent_at;
    size_t sent_head;
};

#define STR_(x)   #x
#define STR(x)    STR_(x)
#define LEASE_SQL "interval '" STR(OUTBOX_LEASE_S) " seconds'"

const struct pool_stmt sender_statements[] = {
    /* Sent: the row is done and goes; a staff notification first maps
     * (chat, Telegram's message_id) to its request, for replies to it.
     * A delete writes no new row version and no index entry (an update to
     * status 'sent' wrote both, and kept every message ever sent).
     * Rows are found by id alone: with "status = 'pending'" added, the
     * planner may walk the partial outbox_due_at index - every entry, dead
     * ones included - instead of probing the primary key. */
    {"outbox_mark_sent",
     "WITH s AS (DELETE FROM outbox WHERE id = ANY($1::bigint[])"
     " RETURNING id, chat_id, purpose, request_id)"
     " INSERT INTO notifications (chat_id, message_id, request_id)"
     " SELECT s.chat_id, k.mid, s.request_id FROM s"
     " JOIN unnest($1::bigint[], $2::bigint[]) AS k(id, mid) USING (id)"
     " WHERE s.purpose = 'notify' AND s.request_id IS NOT NULL AND k.mid IS NOT NULL"
     " ON CONFLICT DO NOTHING",
     2},
    /* Deferred: due when the chat can take them ("o.id = ANY" keeps the
     * join to an index probe per id, whatever the statistics say). */
    {"outbox_defer",
     "UPDATE outbox o SET next_attempt_at = now() + d.ms * interval '1 millisecond'"
     " FROM unnest($1::bigint[], $2::bigint[]) AS d(id, ms)"
     " WHERE o.id = ANY($1::bigint[]) AND o.id = d.id AND o.status <> 'failed'",
     2},
    /* (status <> 'failed', not status = 'pending': the same reason)
     * $4: 1 for a failed attempt, 0 for a 429 (Telegram said when to come
     * again: that is no attempt, so a busy chat's calls never run out) */
    {"outbox_mark_retry",
     "UPDATE outbox SET attempts = attempts + $4::int, last_error = $2,"
     " next_attempt_at = now() + make_interval(secs => $3::double precision) + " LEASE_SQL
     " WHERE id = $1 AND status <> 'failed'",
     4},
    {"outbox_mark_failed",
     "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2"
     " WHERE id = $1 AND status <> 'failed'",
     2},
    {"outbox_move_chat", "UPDATE outbox SET chat_id = $2, payload = $3::jsonb WHERE id = $1", 3},
    /* Recovery: due rows of any instance, oldest first, leased to us; not
     * rows of chats another instance holds (lease.h). Leases run from
     * clock_timestamp(), the statement's own time, not the transaction's. */
    {"outbox_claim_due",
     "WITH due AS (SELECT id FROM outbox o WHERE status = 'pending'"
     " AND next_attempt_at <= clock_timestamp() AND NOT EXISTS (SELECT 1 FROM chat_leases l"
     " JOIN sender_instances i ON i.instance = l.instance"
     " WHERE l.slot = ((o.chat_id % " STR(LEASE_SLOTS) ") + " STR(LEASE_SLOTS) ") % " STR(
         LEASE_SLOTS) " AND l.instance <> $2 AND i.expires_at > clock_timestamp())"
                      " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
                      " UPDATE outbox o SET next_attempt_at = clock_timestamp() + " LEASE_SQL
                      " FROM due WHERE o.id = due.id"
                      " RETURNING o.id, o.chat_id, o.method, o.payload::text, o.purpose,"
                      " coalesce(o.request_id, 0), o.attempts",
     2},
    {"outbox_renew_leases",
     "UPDATE outbox SET next_attempt_at = greatest(next_attempt_at, clock_timestamp() + " LEASE_SQL
     ")"
     " WHERE id = ANY($1::bigint[]) AND status <> 'failed'",
     1},
    /*
     * The next staff notification a chat is sent, picked here rather than
     * taken in queue order, so that one busy user cannot bury the others:
     * first the oldest notification of a request this chat has not been
     * notified of yet (a new request), then the rest oldest first; with it
     * the further pending notifications about the same request (the caller
     * merges what fits in one message). No lease: the chat's notifications
     * are sent by one thread, one at a time, and what is sent is recorded
     * before the chat's next pick.
     */
    {"outbox_pick_notify",
     "WITH head AS (SELECT o.id, o.request_id FROM outbox o"
     " WHERE o.chat_id = $1 AND o.status = 'pending' AND o.purpose = 'notify'"
     " ORDER BY o.request_id IS NOT NULL AND EXISTS (SELECT 1 FROM notifications n"
     " WHERE n.request_id = o.request_id AND n.chat_id = o.chat_id), o.id LIMIT 1)"
     " SELECT o.id, o.method, o.payload->>'text', o.payload::text,"
     " (o.payload->'reply_markup')::text, o.attempts, coalesce(o.request_id, 0)"
     " FROM outbox o, head WHERE o.chat_id = $1 AND o.status = 'pending'"
     " AND o.purpose = 'notify' AND o.id >= head.id AND (o.id = head.id OR"
     " o.request_id = head.request_id) ORDER BY o.id LIMIT $2",
     2},
    /*
     * With several instances, before a batch is sent: per chat, its pending
     * rows up to the one about to go ($2). The head must still be pending
     * (another instance may have sent it while it waited here), and rows
     * older than it - written by an instance that did not hold the chat -
     * go first.
     */
    {"outbox_check_heads",
     "SELECT h.head, o.id, o.chat_id, o.method, o.payload::text, o.purpose,"
     " coalesce(o.request_id, 0), o.attempts"
     " FROM unnest($1::bigint[], $2::bigint[]) AS h(chat, head) CROSS JOIN LATERAL"
     " (SELECT * FROM outbox o WHERE o.chat_id = h.chat AND o.status = 'pending'"
     " AND o.id <= h.head ORDER BY o.id LIMIT 64) o",
     2},
    /* At stop: what we held goes back to the recovery path at once. */
    {"outbox_release_leases",
     "UPDATE outbox SET next_attempt_at = now() WHERE id = ANY($1::bigint[])"
     " AND status <> 'failed'",
     1},
};
const size_t sender_statements_count = sizeof(sender_statements) / sizeof(sender_statements[0]);

static uint64_t next_rand(uint64_t *state)
{
    /* xorshift64*: jitter only, no need for quality beyond that. */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    outbox_msg_clear(&n->m);
    free(n->picked);
    free(n);
}

/* ---- Database ---------------------------------------------------------- */

/* Runs a sender statement on a pooled connection; false when it failed. */
static bool db_run(struct sender *s, const char *name, int n, const char *const *params,
                   PGresult **ret)
{
    /*
     * Bookkeeping commits without waiting for the WAL to reach the disk
     * (synchronous_commit off for this transaction only). Losing one in a
     * crash loses nothing: the rows stay pending and are sent again, which
     * at-least-once delivery allows anyway. Waiting cost a WAL flush per
     * batch of sent rows - a quarter of all commits - and stalled delivery
     * whenever the disk did.
     */
    const struct pool_step steps[] = {
        {.name = "outbox_tx", .sql = "BEGIN"},
        {.name = "outbox_tx", .sql = "SET LOCAL synchronous_commit = off"},
        {.name = name, .nparams = n, .values = params},
        {.name = "outbox_tx", .sql = "COMMIT"},
    };
    enum { NSTEPS = sizeof(steps) / sizeof(steps[0]), STMT = 2 };
    struct pool_conn *c = NULL;
    if (pool_acquire(s->pool, 2000, &c) < 0)
        return false;
    PGresult *res[NSTEPS] = {NULL};
    bool ok = pool_exec_steps(c, steps, NSTEPS, res) == 0;
    for (size_t i = 0; ok && i < NSTEPS; i++) {
        ExecStatusType st = PQresultStatus(res[i]);
        ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    }
    if (!ok) {
        char err[256];
        PGresult *bad = res[STMT];
        for (size_t i = 0; i < NSTEPS; i++)
            if (res[i] && PQresultStatus(res[i]) == PGRES_FATAL_ERROR)
                bad = res[i];
        LOG(LOG_WARN, "outbox bookkeeping failed", LOG_STR("statement", name),
            LOG_STR("error", db_errmsg(pool_conn_pg(c), bad, err, sizeof(err))));
    }
    if (ok && ret) {
        *ret = res[STMT];
        res[STMT] = NULL;
    }
    for (size_t i = 0; i < NSTEPS; i++)
        PQclear(res[i]);
    pool_release(s->pool, c);
    return ok;
}

/* Array literals of ids: well above the largest batch of rows held in memory. */
#define ID_ARRAY_MAX (64 * 1024 * 1024)

/* Formats ids as a PostgreSQL array literal ({1,2,3}) in b; NULL when out of memory. */
static const char *id_array(struct buf *b, const int64_t *ids, size_t n)
{
    db_array_open(b);
    for (size_t i = 0; i < n; i++)
        db_array_i64(b, ids[i]);
    return db_array_close(b);
}

/* Runs statement (outbox_mark_sent or outbox_defer) for ids with their
 * second array (vals NULL: with ids alone, outbox_release_leases). Called
 * without the shard lock. */
static void flush_ids(struct sender *s, const char *statement, int64_t *ids, int64_t *vals,
                      size_t n)
{
    struct buf a, b;
    buf_init(&a, ID_ARRAY_MAX);
    buf_init(&b, ID_ARRAY_MAX);
    const char *p[2] = {id_array(&a, ids, n), vals ? id_array(&b, vals, n) : ""};
    if (!p[0] || !p[1] || !db_run(s, statement, vals ? 2 : 1, p, NULL))
        LOG(LOG_WARN, "could not record outbox rows; they come back once their lease runs out",
            LOG_STR("statement", statement), LOG_INT("messages", (int64_t)n));
    buf_free(&a);
    buf_free(&b);
}

/*
 * Tells a chats callback what a call taught - chat moved to `to` when
 * migrated, else chat is unreachable for reason - on a pooled connection,
 * outside any transaction. Called without the shard lock.
 */
static void tell_chats(struct sender *s, bool migrated, int64_t chat, int64_t to,
                       const char *reason)
{
    struct pool_conn *c = NULL;
    int rc = pool_acquire(s->pool, 2000, &c);
    if (rc == 0) {
        rc = migrated ? s->opt.chat_migrated(s->opt.chats_ud, c, chat, to)
                      : s->opt.chat_unreachable(s->opt.chats_ud, c, chat, reason);
        pool_release(s->pool, c);
    }
    if (rc < 0)
        LOG(LOG_WARN, "could not record what the Bot API said about a chat",
            LOG_STR("what", migrated ? "chat_migrated" : "chat_unreachable"),
            LOG_INT("chat_id", chat), LOG_STR("error", strerror(-rc)));
}

/* ---- Shards: chats, ready list, timers -------------------------------- */

static int64_t chat_interval_ms(const struct chat *c)
{
    return c->interval_ms;
}

/* A chat's interval: groups take TELEGRAM_GROUP_RPM a minute (GROUP_INTERVAL_MS
 * for Telegram's 20, the same margin for any other figure). */
static int64_t interval_of(const struct sender *s, int64_t chat)
{
    if (chat > 0)
        return PRIVATE_INTERVAL_MS;
    if (s->opt.group_rpm <= 0)
        return GROUP_INTERVAL_MS;
    int64_t ms = GROUP_INTERVAL_MS * 20 / s->opt.group_rpm;
    return ms > 0 ? ms : 1;
}

static int chat_burst(const struct chat *c)
{
    return c->chat_id > 0 ? PRIVATE_BURST : 1;
}

/* Bucket of a chat in a shard's table. Not the bits that chose the shard:
 * with those, a shard used only every NSHARDS-th bucket. */
static size_t chat_hash(int64_t id, size_t n)
{
    uint64_t x = (uint64_t)id * UINT64_C(0xC2B2AE3D27D4EB4F);
    return (size_t)(x >> 32) % n;
}

static struct shard *shard_of(struct sender *s, int64_t chat_id)
{
    uint64_t x = (uint64_t)chat_id * UINT64_C(0x9E3779B97F4A7C15);
    return &s->shards[(x >> 32) % NSHARDS];
}

/* Doubles the chat table once it holds two chats a bucket (best effort:
 * without memory it stays as it is, only slower). */
static void chats_grow(struct shard *sh)
{
    size_t n = sh->nbuckets * 2;
    struct chat **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        struct chat *c = sh->buckets[i];
        while (c) {
            struct chat *next = c->next_bucket;
            size_t k = chat_hash(c->chat_id, n);
            c->next_bucket = b[k];
            b[k] = c;
            c = next;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = n;
}

static struct chat *chat_get(struct shard *sh, int64_t id, bool create)
{
    if (create && sh->nchats > 2 * sh->nbuckets)
        chats_grow(sh);
    size_t b = chat_hash(id, sh->nbuckets);
    for (struct chat *c = sh->buckets[b]; c; c = c->next_bucket)
        if (c->chat_id == id)
            return c;
    if (!create)
        return NULL;
    struct chat *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->chat_id = id;
    c->interval_ms = interval_of(sh->s, id);
    c->tokens = chat_burst(c);
    c->tokens_at = clock_mono_ms();
    c->next_bucket = sh->buckets[b];
    sh->buckets[b] = c;
    sh->nchats++;
    return c;
}

static void heap_push(struct shard *sh, struct chat *c)
{
    if (sh->nheap == sh->capheap) {
        size_t cap = sh->capheap ? sh->capheap * 2 : 64;
        struct chat **h = realloc(sh->heap, cap * sizeof(*h));
        if (!h) {
            /* Out of memory: make it ready now rather than lose it. */
            c->ready_at = 0;
            return;
        }
        sh->heap = h;
        sh->capheap = cap;
    }
    size_t i = sh->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (sh->heap[parent]->ready_at <= c->ready_at)
            break;
        sh->heap[i] = sh->heap[parent];
        i = parent;
    }
    sh->heap[i] = c;
}

static struct chat *heap_pop(struct shard *sh)
{
    struct chat *top = sh->heap[0];
    struct chat *last = sh->heap[--sh->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t best = last->ready_at;
        if (l < sh->nheap && sh->heap[l]->ready_at < best) {
            m = l;
            best = sh->heap[l]->ready_at;
        }
        if (r < sh->nheap && sh->heap[r]->ready_at < best)
            m = r;
        if (m == i)
            break;
        sh->heap[i] = sh->heap[m];
        i = m;
    }
    if (sh->nheap > 0)
        sh->heap[i] = last;
    return top;
}

static void ready_push(struct shard *sh, struct chat *c)
{
    c->next_ready = NULL;
    if (sh->ready_tail)
        sh->ready_tail->next_ready = c;
    else
        sh->ready_head = c;
    sh->ready_tail = c;
}

static struct chat *ready_pop(struct shard *sh)
{
    struct chat *c = sh->ready_head;
    if (c) {
        sh->ready_head = c->next_ready;
        if (!sh->ready_head)
            sh->ready_tail = NULL;
    }
    return c;
}

/* Puts a chat with queued messages where the thread will find it. */
static void schedule(struct shard *sh, struct chat *c, int64_t now)
{
    if (c->queued || c->in_flight_id || !c->head)
        return;
    c->queued = true;
    if (c->ready_at <= now) {
        ready_push(sh, c);
    } else {
        heap_push(sh, c);
        if (c->ready_at == 0) /* heap_push gave up */
            ready_push(sh, c);
    }
}

/* Takes a per-chat token, or sets ready_at to when one is there. */
static bool chat_take_token(struct chat *c, int64_t now)
{
    int64_t interval = chat_interval_ms(c);
    c->tokens += (double)(now - c->tokens_at) / (double)interval;
    if (c->tokens > chat_burst(c))
        c->tokens = chat_burst(c);
    c->tokens_at = now;
    if (c->tokens >= 1.0) {
        c->tokens -= 1.0;
        return true;
    }
    c->ready_at = now + (int64_t)((1.0 - c->tokens) * (double)interval) + 1;
    return false;
}

#define GLOBAL_WINDOW_MS LEASE_RATE_WINDOW_MS

/*
 * Global limit. TELEGRAM_GLOBAL_RPS is the cluster's: each of the n live
 * instances may start at most its share - the limit divided by n, the
 * remainder going to the first instances by name - in any window of
 * GLOBAL_WINDOW_MS. The shares add up to the limit, so no second holds
 * more than the limit across the cluster, whatever the instances' phases.
 *
 * global_peek(s, now, k): 0 when k more calls may start now (then checked
 * against the time of the (share-k+1)-th latest start), else milliseconds
 * to wait. global_take() is the same for one call, and records it as
 * started: it is called with the time right before the call starts, so
 * that the window counts starts, not plans.
 */
static int64_t global_wait_locked(struct sender *s, int64_t now, int k)
{
    int64_t w = leases_may_send(s->leases, now);
    if (w > 0)
        return w;
    int rps = s->opt.global_rps, live = leases_live(s->leases);
    int share = rps / live + (leases_rank(s->leases) < rps % live);
    share = share < 1 ? 1 : share > rps ? rps : share;
    if (k > share)
        return GLOBAL_WINDOW_MS / 10; /* not this many at once */
    size_t ring = (size_t)rps;
    w = s->sent_at[(s->sent_head + ring - (size_t)(share - k + 1)) % ring] + GLOBAL_WINDOW_MS - now;
    return w > 0 ? w : 0;
}

static int64_t global_peek(struct sender *s, int64_t now, int k)
{
    pthread_mutex_lock(&s->rate_lock);
    int64_t w = global_wait_locked(s, now, k);
    pthread_mutex_unlock(&s->rate_lock);
    return w;
}

static int64_t global_take(struct sender *s, int64_t now)
{
    pthread_mutex_lock(&s->rate_lock);
    int64_t w = global_wait_locked(s, now, 1);
    if (w == 0) {
        s->sent_at[s->sent_head] = now;
        s->sent_head = (s->sent_head + 1) % (size_t)s->opt.global_rps;
    }
    pthread_mutex_unlock(&s->rate_lock);
    return w;
}

/* Forgets idle chats so the table does not grow without bound. */
static void gc_chats(struct shard *sh, int64_t now)
{
    for (size_t b = 0; b < sh->nbuckets; b++) {
        struct chat **pp = &sh->buckets[b];
        while (*pp) {
            struct chat *c = *pp;
            if (!c->head && !c->in_flight_id && !c->queued && c->deferred_until <= now &&
                now - c->tokens_at >= chat_burst(c) * chat_interval_ms(c) && c->ready_at <= now) {
                *pp = c->next_bucket;
                free(c);
                sh->nchats--;
            } else {
                pp = &c->next_bucket;
            }
        }
    }
}

/* True when the row is already held by this shard (queued or in flight). */
static bool chat_holds(const struct chat *c, int64_t id)
{
    if (c->in_flight_id == id)
        return true;
    for (const struct node *n = c->head; n; n = n->next)
        if (n->m.id == id)
            return true;
    return false;
}

/* Adds a row to a batch (best effort: a row left out keeps its lease, stays
 * pending and comes back through recovery, at least once). */
static void rows_add(struct rows *r, int64_t id, int64_t val, int64_t now)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        int64_t *a = realloc(r->ids, cap * sizeof(*a));
        if (a)
            r->ids = a;
        int64_t *b = a ? realloc(r->vals, cap * sizeof(*b)) : NULL;
        if (b)
            r->vals = b;
        if (!a || !b)
            return;
        r->cap = cap;
    }
    if (r->n == 0)
        r->first_at = now;
    r->ids[r->n] = id;
    r->vals[r->n] = val;
    r->n++;
}

/* Puts n at the end of its chat's queue. */
static void chat_append(struct chat *c, struct node *n)
{
    n->next = NULL;
    if (c->tail)
        c->tail->next = n;
    else
        c->head = n;
    c->tail = n;
    c->held++;
}

/* Puts n in its chat's queue in id order (the order rows were written):
 * a row adopted from another instance or recovered goes before newer ones. */
static void chat_insert(struct chat *c, struct node *n)
{
    if (!c->tail || c->tail->m.id < n->m.id) {
        chat_append(c, n);
        return;
    }
    struct node **pp = &c->head;
    while (*pp && (*pp)->m.id < n->m.id)
        pp = &(*pp)->next;
    n->next = *pp;
    *pp = n;
    c->held++;
}

/*
 * Another instance holds the chat's slot: its messages are left to it -
 * dropped from memory, their rows due now so that its recovery pass takes
 * them (whatever their writer's lease said). Shard lock held.
 */
static void give_away(struct shard *sh, struct chat *c, int64_t now)
{
    while (c->head) {
        struct node *n = c->head;
        c->head = n->next;
        rows_add(&sh->given, n->m.id, 0, now);
        node_free(n);
        sh->backlog--;
        atomic_fetch_sub(&sh->s->backlog, 1);
    }
    c->tail = NULL;
    c->held = 0;
}

/* Queues one message (takes it). Called with the shard lock held. */
static void enqueue(struct shard *sh, struct outbox_msg *m, int64_t now, bool recovered)
{
    struct sender *s = sh->s;
    struct chat *c = chat_get(sh, m->chat_id, true);
    if (!c || chat_holds(c, m->id) || atomic_load(&s->backlog) >= BACKLOG_MAX) {
        /* Left leased in the database: recovered once the lease runs out. */
        outbox_msg_clear(m);
        return;
    }
    /* Behind rows already deferred, or beyond what the chat holds: due one
     * interval after the last one the chat will have sent. A recovered row
     * is held whatever the count: it is a deferred one come due (deferring
     * it again would put it behind rows newer than it), or an older one. */
    if (!recovered && (c->deferred_until > now || c->held >= (size_t)CHAT_HOLD(c))) {
        int64_t interval = chat_interval_ms(c);
        int64_t after = now + (int64_t)(c->held + 1) * interval;
        c->deferred_until = (c->deferred_until > after ? c->deferred_until : after) + interval;
        rows_add(&sh->deferred, m->id, c->deferred_until - now, now);
        outbox_msg_clear(m);
        return;
    }
    struct node *n = calloc(1, sizeof(*n));
    if (!n) {
        outbox_msg_clear(m);
        return;
    }
    n->m = *m;
    memset(m, 0, sizeof(*m));
    chat_insert(c, n);
    sh->backlog++;
    atomic_fetch_add(&s->backlog, 1);
    schedule(sh, c, now);
}

/* ---- Delivery ---------------------------------------------------------- */

/* Rewrites the chat_id of a payload; returns a new string or NULL. */
static char *payload_with_chat(const char *payload, int64_t chat)
{
    json_error_t jerr;
    json_t *root = json_loads(payload, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    json_object_set_new(root, "chat_id", json_integer((json_int_t)chat));
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

/* V_RECORDED: sent, and the rows are already recorded; V_GONE: nothing
 * was left to send (delivered with another message, or dropped by a ban);
 * V_DROPPED: nothing to send, the row is done (topic_prepare()). */
enum verdict { V_SENT, V_RETRY, V_FAILED, V_RESEND, V_RECORDED, V_GONE, V_DROPPED };

/* What was decided instead of a call: nothing (send), or nothing left to
 * send, or later, or again at once (older rows were adopted: they go first),
 * or the row is done without a call (topic_prepare()). */
enum { PRE_SEND, PRE_GONE, PRE_LATER, PRE_AGAIN, PRE_DROP };
/* ... how long PRE_LATER waits (the database did not answer). */
#define PICK_RETRY_MS 1000

static bool is_notify(const struct outbox_msg *m)
{
    return strcmp(m->purpose, "notify") == 0;
}

static bool is_topic(const struct sender *s, const struct outbox_msg *m)
{
    return s->opt.topic_prepare && strcmp(m->purpose, SENDER_PURPOSE_TOPIC) == 0;
}

/*
 * topic_prepare() of the row of slot sl, on a pooled connection: PRE_SEND
 * (sl->first set when another call goes first: its answer's result is
 * wanted), PRE_DROP or PRE_LATER. Called without the shard lock.
 */
static int prepare_topic(struct sender *s, struct slot *sl)
{
    struct pool_conn *c = NULL;
    if (pool_acquire(s->pool, 2000, &c) < 0)
        return PRE_LATER;
    int step = s->opt.topic_prepare(s->opt.topic_ud, c, &sl->n->m, &sl->first);
    pool_release(s->pool, c);
    if (step != SENDER_TOPIC_FIRST && sl->first.payload) {
        free(sl->first.payload);
        sl->first.payload = NULL;
    }
    switch (step) {
    case SENDER_TOPIC_SEND:
        return PRE_SEND;
    case SENDER_TOPIC_FIRST:
        if (!sl->first.payload)
            return PRE_LATER;
        tg_api_want_result(sl->api, true);
        return PRE_SEND;
    case SENDER_TOPIC_DROP:
        return PRE_DROP;
    default:
        return PRE_LATER;
    }
}

/* topic_result() of what came back for slot sl; SENDER_TOPIC_AS_USUAL when
 * no connection could be had. Called without the shard lock. */
static int topic_said(struct sender *s, const struct slot *sl)
{
    struct pool_conn *c = NULL;
    if (pool_acquire(s->pool, 2000, &c) < 0)
        return SENDER_TOPIC_AS_USUAL;
    int v = s->opt.topic_result(s->opt.topic_ud, c, &sl->n->m,
                                sl->first.payload ? &sl->first : NULL, &sl->r);
    pool_release(s->pool, c);
    return v;
}

/* Code points of a UTF-8 text (how the desk measures its messages). */
static size_t codepoints(const char *t)
{
    size_t n = 0;
    for (; *t; t++)
        n += ((unsigned char)*t & 0xC0) != 0x80;
    return n;
}

/* The payload of the first row with text and markup (JSON text, or NULL)
 * put in its place; a new string or NULL. */
static char *payload_merged(const char *payload, const char *text, const char *markup)
{
    json_t *root = json_loads(payload, 0, NULL);
    json_t *mk = markup ? json_loads(markup, 0, NULL) : NULL;
    char *out = NULL;
    if (root && json_is_object(root) && json_object_set_new(root, "text", json_string(text)) == 0 &&
        (!mk || json_object_set(root, "reply_markup", mk) == 0))
        out = json_dumps(root, JSON_COMPACT);
    json_decref(mk);
    json_decref(root);
    return out;
}

/*
 * Whether row i of a pick can be merged: the notification of a user's
 * message (a text with the request's buttons). Answers to staff commands
 * and notices (no buttons) and copies of media go alone.
 */
static bool merges(const PGresult *res, int i, int method, int text, int markup)
{
    return strcmp(PQgetvalue(res, i, method), "sendMessage") == 0 && !PQgetisnull(res, i, text) &&
           !PQgetisnull(res, i, markup);
}

/*
 * The staff notification node n of its chat goes as: the chat's next
 * notification in the database (outbox_pick_notify: a new request first),
 * merged with the following pending ones about the same request, oldest
 * first, while they are notifications of user messages (merges()) and the
 * whole fits in MERGE_TEXT_MAX code points (one blank line between them,
 * the last one's buttons kept). n takes the
 * first row's id and the merged payload, and n->picked every row it
 * delivers. Returns PRE_SEND, PRE_GONE (no notification pending: merged
 * into an earlier message, or dropped by a ban), or PRE_LATER (no answer
 * from the database). Called without the shard lock.
 */
static int pick_notify(struct sender *s, struct node *n)
{
    char chat[24], limit[16];
    snprintf(chat, sizeof(chat), "%" PRId64, n->m.chat_id);
    snprintf(limit, sizeof(limit), "%d", MERGE_ROWS);
    const char *p[2] = {chat, limit};
    PGresult *res = NULL;
    if (!db_run(s, "outbox_pick_notify", 2, p, &res))
        return PRE_LATER;
    enum { C_ID, C_METHOD, C_TEXT, C_PAYLOAD, C_MARKUP, C_ATTEMPTS, C_REQUEST };
    int rows = PQntuples(res), k = 0, rc = PRE_GONE;
    int64_t *ids = calloc(rows ? (size_t)rows : 1, sizeof(*ids));
    struct buf text;
    buf_init(&text, 64 * 1024);
    const char *markup = NULL; /* the last merged row's buttons */
    bool mergeable = rows > 0 && merges(res, 0, C_METHOD, C_TEXT, C_MARKUP);
    size_t cp = 0;
    for (int i = 0; ids && i < rows; i++) {
        if (strnum_i64(PQgetvalue(res, i, C_ID), 1, INT64_MAX, &ids[k]) < 0)
            break;
        if (i > 0) {
            /* The next one only when it is a text that still fits. */
            if (!mergeable || !merges(res, i, C_METHOD, C_TEXT, C_MARKUP))
                break;
            size_t more = codepoints(PQgetvalue(res, i, C_TEXT));
            if (cp + 2 + more > MERGE_TEXT_MAX)
                break;
            buf_add(&text, "\n\n");
            cp += 2 + more;
        } else {
            cp = codepoints(PQgetvalue(res, i, C_TEXT));
        }
        buf_add(&text, PQgetvalue(res, i, C_TEXT));
        markup = PQgetvalue(res, i, C_MARKUP);
        k++;
    }
    if (k > 0) {
        int64_t attempts = 0, request = 0;
        strnum_i64(PQgetvalue(res, 0, C_ATTEMPTS), 0, INT32_MAX, &attempts);
        strnum_i64(PQgetvalue(res, 0, C_REQUEST), 0, INT64_MAX, &request);
        char *payload = k > 1 && !buf_error(&text)
                            ? payload_merged(PQgetvalue(res, 0, C_PAYLOAD), buf_str(&text), markup)
                            : strdup(PQgetvalue(res, 0, C_PAYLOAD));
        if (!payload && k > 1) { /* out of memory: the first one alone */
            k = 1;
            payload = strdup(PQgetvalue(res, 0, C_PAYLOAD));
        }
        rc = PRE_LATER;
        if (payload) {
            free(n->m.payload);
            free(n->picked);
            n->m.payload = payload;
            n->m.id = ids[0];
            n->m.attempts = (int)attempts;
            n->m.request_id = request;
            outbox_copy_name(n->m.method, sizeof(n->m.method), PQgetvalue(res, 0, C_METHOD));
            n->picked = ids;
            n->npicked = (size_t)k;
            ids = NULL;
            rc = PRE_SEND;
        }
    } else if (rows > 0) {
        rc = PRE_LATER; /* out of memory, or an id that does not parse */
    }
    buf_free(&text);
    free(ids);
    PQclear(res);
    return rc;
}

/* The result of a call that could not even be started (tg_multi_start() said rc). */
static void call_not_started(struct tg_api_result *r, int rc)
{
    memset(r, 0, sizeof(*r));
    /* Out of memory is worth a retry; a bad method or body is not. */
    r->outcome = rc == -ENOMEM ? TG_RETRY : TG_PERMANENT;
    snprintf(r->description, sizeof(r->description), "%s",
             rc == -ENOMEM ? "out of memory" : "invalid method or body");
}

/* Reads row i of a result whose columns from off on are id, chat_id,
 * method, payload, purpose, request_id (0: none), attempts into m (payload
 * allocated). Returns 0, or -1 (nothing allocated). */
static int parse_row(const PGresult *res, int i, int off, struct outbox_msg *m)
{
    int64_t attempts = 0;
    memset(m, 0, sizeof(*m));
    if (strnum_i64(PQgetvalue(res, i, off), 1, INT64_MAX, &m->id) < 0 ||
        strnum_i64(PQgetvalue(res, i, off + 1), INT64_MIN, INT64_MAX, &m->chat_id) < 0 ||
        strnum_i64(PQgetvalue(res, i, off + 5), 0, INT64_MAX, &m->request_id) < 0 ||
        strnum_i64(PQgetvalue(res, i, off + 6), 0, INT32_MAX, &attempts) < 0)
        return -1;
    m->attempts = (int)attempts;
    outbox_copy_name(m->method, sizeof(m->method), PQgetvalue(res, i, off + 2));
    outbox_copy_name(m->purpose, sizeof(m->purpose), PQgetvalue(res, i, off + 4));
    m->payload = strdup(PQgetvalue(res, i, off + 3));
    return m->payload ? 0 : -1;
}

/*
 * With several instances live, the fencing check of a batch in the
 * database (outbox_check_heads): each message about to go (not the staff
 * notifications: pick_notify() reads them from there anyway) must still be
 * pending - else PRE_GONE: another instance sent it while it waited here -
 * and rows of its chat older than it are adopted into *adopt and go first
 * (PRE_AGAIN). Without an answer the batch waits (PRE_LATER). Called
 * without the shard lock.
 */
static void check_heads(struct sender *s, struct slot **start, int n, struct outbox_batch *adopt)
{
    int64_t chats[SLOTS], heads[SLOTS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (start[i]->pre == PRE_SEND && !is_notify(&start[i]->n->m)) {
            chats[k] = start[i]->n->m.chat_id;
            heads[k++] = start[i]->n->m.id;
        }
    if (k == 0)
        return;
    struct buf a, b;
    buf_init(&a, 64 * 1024);
    buf_init(&b, 64 * 1024);
    const char *p[2] = {id_array(&a, chats, (size_t)k), id_array(&b, heads, (size_t)k)};
    PGresult *res = NULL;
    bool ok = p[0] && p[1] && db_run(s, "outbox_check_heads", 2, p, &res);
    buf_free(&a);
    buf_free(&b);
    int rows = ok ? PQntuples(res) : 0;
    if (ok && rows > 0 && !(adopt->msgs = calloc((size_t)rows, sizeof(*adopt->msgs))))
        ok = false;
    adopt->cap = (size_t)rows;
    for (int i = 0; i < n; i++) {
        struct slot *sl = start[i];
        if (sl->pre != PRE_SEND || is_notify(&sl->n->m))
            continue;
        if (!ok) {
            sl->pre = PRE_LATER;
            continue;
        }
        bool found = false, older = false;
        for (int r = 0; r < rows; r++) {
            int64_t head = 0, id = 0;
            if (strnum_i64(PQgetvalue(res, r, 0), 1, INT64_MAX, &head) < 0 || head != sl->n->m.id ||
                strnum_i64(PQgetvalue(res, r, 1), 1, INT64_MAX, &id) < 0)
                continue;
            if (id == head) {
                found = true;
            } else {
                older = true;
                adopt->n += parse_row(res, r, 1, &adopt->msgs[adopt->n]) == 0;
            }
        }
        sl->pre = !found ? PRE_GONE : older ? PRE_AGAIN : PRE_SEND;
    }
    PQclear(res);
}

/*
 * Settles a finished call (started at t0) of one message: everything but the
 * sent bookkeeping. Returns the verdict; *ret_delay_ms is the pause before
 * the next try. Called without the shard lock.
 */
static enum verdict settle(struct shard *sh, struct slot *sl, int64_t *ret_mid,
                           int64_t *ret_delay_ms)
{
    struct sender *s = sh->s;
    struct node *n = sl->n;
    struct outbox_msg *m = &n->m;
    const struct tg_api_result r = sl->r;
    tgm_api_call(sl->first.payload ? sl->first.method : m->method, tg_outcome_name(r.outcome),
                 (double)(clock_mono_ms() - sl->t0) / 1000.0);
    int topic = is_topic(s, m) && s->opt.topic_result ? topic_said(s, sl) : SENDER_TOPIC_AS_USUAL;
    if (sl->first.payload && r.outcome == TG_SENT) {
        *ret_delay_ms = 0; /* the call that had to come first did: now the row */
        return V_RETRY;
    }
    if (topic == SENDER_TOPIC_DONE)
        return V_SENT;
    if (r.outcome == TG_SENT) {
        *ret_mid = r.message_id;
        if (!n->picked)
            return V_SENT;
        /* Recorded now, not with the next batch: the chat's next pick must
         * not find these rows pending. (A failure leaves them pending, to
         * be sent again: at least once.) */
        int64_t *mids = malloc(n->npicked * sizeof(*mids));
        for (size_t i = 0; mids && i < n->npicked; i++)
            mids[i] = r.message_id;
        if (mids)
            flush_ids(s, "outbox_mark_sent", n->picked, mids, n->npicked);
        free(mids);
        if (n->npicked > 1)
            tgm_outbox_merged((int64_t)n->npicked - 1);
        return V_RECORDED;
    }
    int attempt = m->attempts + 1;
    char id[24], err[320];
    snprintf(id, sizeof(id), "%" PRId64, m->id);
    /* A transport failure has no Telegram description, but an error text. */
    const char *why = r.description[0] ? r.description : r.error;
    snprintf(err, sizeof(err), "%d %s", r.http_status, why);

    /* A row the desk wants again at once (e.g. its forum topic was found
     * deleted: made again first) is retried like a failure worth a retry. */
    bool at_once = topic == SENDER_TOPIC_AGAIN;
    switch (at_once ? TG_RETRY : r.outcome) {
    case TG_SENT: /* returned above, without formatting the texts a failure needs */
        return V_RECORDED;
    case TG_MIGRATE: {
        char *moved = payload_with_chat(m->payload, r.migrate_to_chat_id);
        if (!moved)
            break;
        char neu[24];
        snprintf(neu, sizeof(neu), "%" PRId64, r.migrate_to_chat_id);
        const char *p[3] = {id, neu, moved};
        db_run(s, "outbox_move_chat", 3, p, NULL);
        if (s->opt.chat_migrated)
            tell_chats(s, true, m->chat_id, r.migrate_to_chat_id, NULL);
        LOG(LOG_INFO, "chat became a supergroup: resending there", LOG_INT("chat_id", m->chat_id),
            LOG_INT("new_chat_id", r.migrate_to_chat_id));
        free(m->payload);
        m->payload = moved;
        m->chat_id = r.migrate_to_chat_id;
        return V_RESEND;
    }
    case TG_RETRY_AFTER:
    case TG_RETRY: {
        /* A 429 is Telegram pacing us, not a failure: it waits retry_after
         * and does not count against OUTBOX_MAX_ATTEMPTS. */
        bool counted = r.outcome != TG_RETRY_AFTER;
        if (!counted || attempt < s->opt.max_attempts) {
            int64_t delay = at_once   ? 0
                            : counted ? tg_backoff_ms(attempt, next_rand(&sh->rng))
                                      : (int64_t)(r.retry_after > 0 ? r.retry_after : 1) * 1000;
            char secs[320];
            snprintf(secs, sizeof(secs), "%.3f", (double)delay / 1000.0);
            const char *p[4] = {id, err, secs, counted ? "1" : "0"};
            db_run(s, "outbox_mark_retry", 4, p, NULL);
            LOG(LOG_WARN, "Bot API call failed, will retry", LOG_STR("method", m->method),
                LOG_INT("outbox_id", m->id), LOG_INT("attempt", counted ? attempt : m->attempts),
                LOG_INT("http_status", r.http_status), LOG_STR("error", why),
                LOG_INT("delay_ms", delay));
            if (counted)
                m->attempts = attempt;
            *ret_delay_ms = delay;
            return V_RETRY;
        }
        break;
    }
    case TG_FORBIDDEN:
        if (m->chat_id > 0 && s->opt.chat_unreachable)
            tell_chats(s, false, m->chat_id, 0, r.description);
        break;
    case TG_PERMANENT:
        break;
    }

    const char *p[2] = {id, err};
    db_run(s, "outbox_mark_failed", 2, p, NULL);
    LOG(LOG_ERROR, "Bot API call failed for good", LOG_STR("method", m->method),
        LOG_INT("outbox_id", m->id), LOG_INT("chat_id", m->chat_id), LOG_INT("attempts", attempt),
        LOG_INT("http_status", r.http_status), LOG_STR("error", why));
    return V_FAILED;
}

/* Writes a batch with statement when it is full or old enough (or force).
 * Shard lock held on entry and exit, released while writing. */
static void rows_flush(struct shard *sh, struct rows *r, const char *statement, int64_t now,
                       bool force)
{
    if (r->n == 0 || (!force && r->n < SENT_BATCH && now - r->first_at < SENT_FLUSH_MS))
        return;
    struct rows taken = *r;
    *r = (struct rows){0};
    pthread_mutex_unlock(&sh->lock);
    flush_ids(sh->s, statement, taken.ids, r == &sh->given ? NULL : taken.vals, taken.n);
    free(taken.ids);
    free(taken.vals);
    pthread_mutex_lock(&sh->lock);
}

/* Records deferred and sent rows when their batch is due. */
static void maybe_flush(struct shard *sh, int64_t now, bool force)
{
    rows_flush(sh, &sh->deferred, "outbox_defer", now, force);
    rows_flush(sh, &sh->given, "outbox_release_leases", now, force);
    rows_flush(sh, &sh->sent, "outbox_mark_sent", now, force);
}

/* Milliseconds until a batch is due, at most cap. */
static int64_t rows_wait(const struct rows *r, int64_t now, int64_t cap)
{
    return r->n > 0 && r->first_at + SENT_FLUSH_MS - now < cap ? r->first_at + SENT_FLUSH_MS - now
                                                               : cap;
}

/* Puts a settled message back at the head of its chat, or lets it go.
 * Shard lock held. */
static void settled(struct shard *sh, struct slot *sl, enum verdict v, int64_t mid, int64_t delay,
                    int64_t now)
{
    struct chat *c = sl->c;
    struct node *n = sl->n;
    c->in_flight_id = 0;
    if ((v == V_GONE || v == V_DROPPED) && c->tokens + 1.0 <= chat_burst(c))
        c->tokens += 1.0; /* nothing was sent: the chat's token goes back */
    if (sl->first.payload) {
        free(sl->first.payload);
        sl->first.payload = NULL;
        tg_api_want_result(sl->api, false);
    }
    if (v == V_RECORDED && n->picked) {
        /* A picked notification was sent: the node goes to the end of its
         * chat again, as the ticket for the chat's next notification (the
         * database has those; a pick that finds none drops it). Without it
         * a chat with notifications deferred to the database would send
         * them only as their tickets came back from there. */
        free(n->picked);
        n->picked = NULL;
        n->npicked = 0;
        chat_append(c, n);
    } else if (v == V_RETRY || v == V_RESEND) {
        /* Back at the head of its chat: order is kept. */
        n->next = c->head;
        c->head = n;
        if (!c->tail)
            c->tail = n;
        c->held++;
        c->ready_at = now + delay;
    } else {
        if (v == V_SENT || v == V_DROPPED)
            rows_add(&sh->sent, n->m.id, mid, now);
        node_free(n);
        sh->backlog--;
        atomic_fetch_sub(&sh->s->backlog, 1);
    }
    schedule(sh, c, now);
    sl->c = NULL;
    sl->n = NULL;
    sl->done = false;
    sl->pre = PRE_SEND;
    sh->busy--;
}

/* Milliseconds the shard may wait for answers before it has work again. */
static int64_t shard_wait(struct shard *sh, int64_t now, int64_t global_wait)
{
    struct sender *s = sh->s;
    int64_t wait = 1000;
    if (global_wait > 0 && global_wait < wait)
        wait = global_wait;
    if (sh->nheap > 0 && sh->heap[0]->ready_at - now < wait)
        wait = sh->heap[0]->ready_at - now;
    wait =
        rows_wait(&sh->sent, now, rows_wait(&sh->deferred, now, rows_wait(&sh->given, now, wait)));
    if (atomic_load(&s->stopping) && atomic_load(&s->deadline) - now < wait)
        wait = atomic_load(&s->deadline) - now;
    return wait < 1 ? 1 : wait;
}

static void *shard_main(void *arg)
{
    struct shard *sh = arg;
    struct sender *s = sh->s;

    pthread_mutex_lock(&sh->lock);
    for (;;) {
        int64_t now = clock_mono_ms();
        while (sh->nheap > 0 && sh->heap[0]->ready_at <= now)
            ready_push(sh, heap_pop(sh));
        if (now - sh->last_gc > CHAT_GC_MS) {
            gc_chats(sh, now);
            sh->last_gc = now;
        }
        if (atomic_load(&s->stopping) &&
            (now >= atomic_load(&s->deadline) || (!sh->ready_head && sh->backlog == 0)))
            break;

        /* Start what the chats' and the global rates let through. */
        struct slot *start[SLOTS];
        struct chat *parked = NULL; /* waiting for the slots in want */
        int nstart = 0, nwant = 0;
        int64_t global_wait = 0, until = 0;
        while (sh->busy < SLOTS && sh->ready_head) {
            /* Only the instance holding the chat's slot sends to it. */
            enum lease_state ls =
                leases_check(s->leases, lease_slot(sh->ready_head->chat_id), now, &until);
            if (ls != LEASE_HELD) {
                struct chat *c = ready_pop(sh);
                c->queued = false;
                if (ls == LEASE_WANT) {
                    sh->want[nwant++] = lease_slot(c->chat_id);
                    c->queued = true; /* parked: ready again once the slot is taken */
                    c->next_ready = parked;
                    parked = c;
                    continue;
                }
                if (ls == LEASE_OTHER) {
                    give_away(sh, c, now);
                    continue;
                }
                c->ready_at = now + LEASE_POLL_MS;
                schedule(sh, c, now);
                continue;
            }
            global_wait = global_peek(s, now, nstart + 1);
            if (global_wait > 0)
                break;
            struct chat *c = ready_pop(sh);
            c->queued = false;
            if (!chat_take_token(c, now)) {
                schedule(sh, c, now); /* rate-limited chat */
                continue;
            }
            struct node *n = c->head;
            c->head = n->next;
            if (!c->head)
                c->tail = NULL;
            c->held--;
            c->in_flight_id = n->m.id;
            struct slot *sl = sh->slots;
            while (sl->c)
                sl++;
            *sl = (struct slot){.api = sl->api, .c = c, .n = n, .t0 = now, .until = until};
            sh->busy++;
            start[nstart++] = sl;
        }
        /* Record what was sent once the batch is full or old enough. */
        maybe_flush(sh, now, false);
        int64_t wait = shard_wait(sh, clock_mono_ms(), global_wait);
        sh->sleeping = true;
        pthread_mutex_unlock(&sh->lock);

        if (nwant > 0)
            leases_acquire(s->leases, sh->want, (size_t)nwant);
        struct outbox_batch adopt = {0};
        if (nstart > 0 && leases_live(s->leases) > 1)
            check_heads(s, start, nstart, &adopt);
        bool any_done = false;
        for (int i = 0; i < nstart; i++) {
            struct outbox_msg *m = &start[i]->n->m;
            if (clock_mono_ms() < start[i]->until && is_notify(m))
                start[i]->pre = pick_notify(s, start[i]->n);
            else if (clock_mono_ms() < start[i]->until && is_topic(s, m))
                start[i]->pre = prepare_topic(s, start[i]);
        }
        /* From here to tg_multi_run() nothing waits: the calls go on the
         * wire when the global limit counts them started. */
        for (int i = 0; i < nstart; i++) {
            struct outbox_msg *m = &start[i]->n->m;
            int64_t t = clock_mono_ms();
            /* The fencing check, right before the call: nothing goes out
             * under a lease that ran out locally (this thread may have been
             * paused since the chat was taken, or the pick was slow). */
            if (start[i]->pre == PRE_SEND && t >= start[i]->until)
                start[i]->pre = PRE_LATER;
            /* Another delivery thread may have started calls since these
             * were planned: what the limit no longer lets through waits. */
            if (start[i]->pre == PRE_SEND && global_take(s, t) > 0)
                start[i]->pre = PRE_AGAIN;
            if (start[i]->pre != PRE_SEND) {
                start[i]->done = any_done = true;
                continue;
            }
            const struct sender_call *first = &start[i]->first;
            const char *method = first->payload ? first->method : m->method;
            const char *body = first->payload ? first->payload : m->payload;
            int rc = tg_multi_start(sh->multi, start[i]->api, method, body, strlen(body));
            if (rc < 0) {
                call_not_started(&start[i]->r, rc);
                start[i]->done = any_done = true;
            }
        }
        if (tg_multi_run(sh->multi, any_done || parked ? 0 : (int)wait) < 0) {
            LOG(LOG_ERROR, "libcurl failed to run Bot API calls", LOG_INT("shard", sh - s->shards));
            nanosleep(&(struct timespec){.tv_nsec = 10000000L}, NULL);
        }
        struct tg_api *api;
        struct tg_api_result r;
        while ((api = tg_multi_done(sh->multi, &r))) {
            for (struct slot *sl = sh->slots; sl < sh->slots + SLOTS; sl++)
                if (sl->api == api && sl->c) {
                    sl->r = r;
                    sl->done = true;
                }
        }
        /* Settle the answers (retries and failures are written here,
         * without the lock), then put the chats back in one go. */
        enum verdict v[SLOTS];
        int64_t mid[SLOTS], delay[SLOTS];
        for (int i = 0; i < SLOTS; i++) {
            struct slot *sl = &sh->slots[i];
            mid[i] = delay[i] = 0;
            if (sl->done && sl->pre != PRE_SEND) {
                v[i] = sl->pre == PRE_GONE ? V_GONE : sl->pre == PRE_DROP ? V_DROPPED : V_RETRY;
                delay[i] = sl->pre == PRE_AGAIN ? 0 : PICK_RETRY_MS;
            } else if (sl->done && clock_mono_ms() >= sl->until) {
                /* The call was on the wire when the chat's lease ran out (a
                 * freeze): the next holder may send the row again, whatever
                 * came back here - a timeout may hide a delivery. Counted;
                 * only a delivery is recorded (the row goes), nothing else
                 * is written to a row this instance may no longer hold. */
                tgm_outbox_sends_after_freeze(1);
                v[i] = sl->r.outcome == TG_SENT ? settle(sh, sl, &mid[i], &delay[i]) : V_GONE;
            } else if (sl->done) {
                v[i] = settle(sh, sl, &mid[i], &delay[i]);
            }
        }
        pthread_mutex_lock(&sh->lock);
        sh->sleeping = false;
        now = clock_mono_ms();
        while (parked) {
            struct chat *c = parked;
            parked = c->next_ready;
            ready_push(sh, c);
        }
        for (int i = 0; i < SLOTS; i++)
            if (sh->slots[i].done)
                settled(sh, &sh->slots[i], v[i], mid[i], delay[i], now);
        for (size_t i = 0; i < adopt.n; i++)
            enqueue(sh, &adopt.msgs[i], now, true);
        outbox_batch_clear(&adopt);
    }
    /* Past the deadline: calls still in flight are abandoned, their rows
     * put back, so sender_stop() releases their leases with the rest. */
    for (struct slot *sl = sh->slots; sl < sh->slots + SLOTS; sl++)
        if (sl->c) {
            tg_multi_cancel(sh->multi, sl->api);
            settled(sh, sl, V_RETRY, 0, 0, clock_mono_ms());
        }
    maybe_flush(sh, clock_mono_ms(), true);
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

/* ---- Recovery and leases ---------------------------------------------- */

static void submit(struct sender *s, struct outbox_batch *b, bool recovered);

/* Ids of every row held in memory (queued or in flight). Caller frees. */
static int64_t *held_ids(struct sender *s, size_t *ret_n)
{
    size_t cap = (size_t)atomic_load(&s->backlog) + NSHARDS + 16, n = 0;
    int64_t *ids = malloc(cap * sizeof(*ids));
    if (!ids)
        return NULL;
    for (int i = 0; i < NSHARDS; i++) {
        struct shard *sh = &s->shards[i];
        pthread_mutex_lock(&sh->lock);
        for (size_t b = 0; b < sh->nbuckets; b++)
            for (struct chat *c = sh->buckets[b]; c; c = c->next_bucket) {
                if (c->in_flight_id && n < cap)
                    ids[n++] = c->in_flight_id;
                for (struct node *x = c->head; x && n < cap; x = x->next)
                    ids[n++] = x->m.id;
            }
        pthread_mutex_unlock(&sh->lock);
    }
    *ret_n = n;
    return ids;
}

static void leases(struct sender *s, const char *statement)
{
    size_t n = 0;
    int64_t *ids = held_ids(s, &n);
    struct buf b;
    buf_init(&b, ID_ARRAY_MAX);
    for (size_t off = 0; ids && off < n; off += 5000) {
        size_t k = n - off < 5000 ? n - off : 5000;
        const char *p[1] = {id_array(&b, ids + off, k)};
        if (p[0])
            db_run(s, statement, 1, p, NULL);
    }
    buf_free(&b);
    free(ids);
}

/* Claims due rows; returns how many were claimed, or -1 on failure. */
static int claim_due(struct sender *s)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", CLAIM_BATCH);
    const char *p[2] = {limit, leases_instance(s->leases)};
    PGresult *res = NULL;
    if (!db_run(s, "outbox_claim_due", 2, p, &res))
        return -1;
    int rows = PQntuples(res);
    struct outbox_batch b = {0};
    b.msgs = calloc(rows ? (size_t)rows : 1, sizeof(*b.msgs));
    for (int i = 0; b.msgs && i < rows; i++)
        b.n += parse_row(res, i, 0, &b.msgs[b.n]) == 0;
    PQclear(res);
    b.cap = (size_t)rows;
    if (b.n > 0)
        LOG(LOG_INFO, "outbox recovery picked up due messages", LOG_INT("messages", (int64_t)b.n));
    submit(s, &b, true);
    outbox_batch_clear(&b);
    return rows;
}

static void *recovery_main(void *arg)
{
    struct sender *s = arg;
    int64_t last_renew = clock_mono_ms();
    pthread_mutex_lock(&s->stop_lock);
    while (!atomic_load(&s->stopping)) {
        pthread_mutex_unlock(&s->stop_lock);
        int claimed;
        do {
            claimed = claim_due(s);
        } while (claimed == CLAIM_BATCH && !atomic_load(&s->stopping) &&
                 atomic_load(&s->backlog) < BACKLOG_MAX / 2);
        if (clock_mono_ms() - last_renew >= ROW_RENEW_MS) {
            leases(s, "outbox_renew_leases");
            last_renew = clock_mono_ms();
        }
        pthread_mutex_lock(&s->stop_lock);
        if (atomic_load(&s->stopping))
            break;
        struct timespec ts = clock_deadline(CLOCK_MONOTONIC, 1000);
        pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &ts);
    }
    pthread_mutex_unlock(&s->stop_lock);
    return NULL;
}

/* ---- Life cycle -------------------------------------------------------- */

static void submit(struct sender *s, struct outbox_batch *b, bool recovered)
{
    /* One lock and one wake-up per shard and batch, not per message: on two
     * cores the context switches cost more than the work. Order within a
     * chat is kept because a chat always maps to the same shard. */
    int64_t now = clock_mono_ms();
    for (int k = 0; k < NSHARDS; k++) {
        struct shard *sh = &s->shards[k];
        bool any = false;
        for (size_t i = 0; i < b->n; i++) {
            struct outbox_msg *m = &b->msgs[i];
            if (!m->payload || shard_of(s, m->chat_id) != sh)
                continue;
            if (!any) {
                pthread_mutex_lock(&sh->lock);
                any = true;
            }
            enqueue(sh, m, now, recovered);
        }
        if (any) {
            if (sh->sleeping)
                tg_multi_wakeup(sh->multi);
            pthread_mutex_unlock(&sh->lock);
        }
    }
    for (size_t i = 0; i < b->n; i++)
        outbox_msg_clear(&b->msgs[i]);
    b->n = 0;
}

void sender_submit(struct sender *s, struct outbox_batch *b)
{
    submit(s, b, false);
}

size_t sender_backlog(struct sender *s)
{
    return (size_t)atomic_load(&s->backlog);
}

static void shard_free(struct shard *sh)
{
    for (size_t b = 0; sh->buckets && b < sh->nbuckets; b++) {
        struct chat *c = sh->buckets[b];
        while (c) {
            struct chat *next = c->next_bucket;
            struct node *n = c->head;
            while (n) {
                struct node *nn = n->next;
                node_free(n);
                n = nn;
            }
            free(c);
            c = next;
        }
    }
    free(sh->buckets);
    free(sh->heap);
    free(sh->sent.ids);
    free(sh->sent.vals);
    free(sh->deferred.ids);
    free(sh->deferred.vals);
    free(sh->given.ids);
    free(sh->given.vals);
    for (int i = 0; i < SLOTS; i++)
        tg_api_free(sh->slots[i].api);
    tg_multi_free(sh->multi);
    pthread_mutex_destroy(&sh->lock);
}

struct sender *sender_start(const struct sender_options *opt, struct pool *pool)
{
    struct sender *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->opt = *opt;
    s->opt.api_url = NULL; /* read here only */
    s->opt.bot_token = NULL;
    s->pool = pool;
    if (s->opt.global_rps < 1)
        s->opt.global_rps = 1;
    if (!(s->sent_at = malloc((size_t)s->opt.global_rps * sizeof(*s->sent_at)))) {
        free(s);
        return NULL;
    }
    for (int i = 0; i < s->opt.global_rps; i++)
        s->sent_at[i] = INT64_MIN / 2; /* long ago */
    pthread_mutex_init(&s->rate_lock, NULL);
    pthread_mutex_init(&s->stop_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->stop_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (!(s->leases = leases_start(pool)))
        goto fail;
    for (int i = 0; i < NSHARDS; i++) {
        struct shard *sh = &s->shards[i];
        sh->s = s;
        sh->rng = (uint64_t)clock_mono_ms() * 2654435761u + (uint64_t)i + 1;
        pthread_mutex_init(&sh->lock, NULL);
        sh->nbuckets = 4096;
        sh->buckets = calloc(sh->nbuckets, sizeof(*sh->buckets));
        sh->multi = tg_multi_new(SLOTS);
        if (!sh->buckets || !sh->multi)
            goto fail;
        for (int k = 0; k < SLOTS; k++) {
            sh->slots[k].api = tg_api_new(opt->api_url, opt->bot_token ? opt->bot_token : "",
                                          (long)opt->api_timeout_ms);
            if (!sh->slots[k].api) {
                LOG(LOG_ERROR, "cannot create a Bot API client", LOG_STR("api", opt->api_url));
                goto fail;
            }
        }
    }
    for (int i = 0; i < NSHARDS; i++) {
        if (pthread_create(&s->shards[i].thread, NULL, shard_main, &s->shards[i]) != 0)
            goto fail;
        s->shards[i].started = true;
    }
    if (pthread_create(&s->recovery, NULL, recovery_main, s) != 0)
        goto fail;
    s->recovery_started = true;
    return s;

fail:
    LOG(LOG_ERROR, "cannot start the outbox sender", LOG_STR("error", strerror(errno)));
    sender_stop(s, 0);
    return NULL;
}

void sender_stop(struct sender *s, int64_t deadline_ms)
{
    if (!s)
        return;
    atomic_store(&s->deadline, clock_mono_ms() + deadline_ms);
    pthread_mutex_lock(&s->stop_lock);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->stop_cond);
    pthread_mutex_unlock(&s->stop_lock);
    if (s->recovery_started)
        pthread_join(s->recovery, NULL);
    for (int i = 0; i < NSHARDS; i++) {
        struct shard *sh = &s->shards[i];
        if (!sh->started)
            continue;
        pthread_mutex_lock(&sh->lock);
        tg_multi_wakeup(sh->multi);
        pthread_mutex_unlock(&sh->lock);
        pthread_join(sh->thread, NULL);
    }
    /* What we still hold is due at once for whoever starts next. */
    if (atomic_load(&s->backlog) > 0)
        leases(s, "outbox_release_leases");
    leases_stop(s->leases); /* the chats' slots go back */
    for (int i = 0; i < NSHARDS; i++)
        shard_free(&s->shards[i]);
    pthread_cond_destroy(&s->stop_cond);
    pthread_mutex_destroy(&s->stop_lock);
    pthread_mutex_destroy(&s->rate_lock);
    free(s->sent_at);
    free(s);
}
