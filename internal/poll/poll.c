#include "poll/poll.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pipeline/pipeline.h"
#include "tg/api.h"
#include "tg/webhook.h"
#include "util/strnum.h"

/* Seconds to wait before fetching again updates the database could not take. */
#define POLL_RETRY_AFTER 5
/* Longest pause after a failed getUpdates. */
#define POLL_BACKOFF_MAX_MS 30000

const struct pool_stmt poll_statements[] = {
    {"poll_offset_get", "SELECT value FROM bot_state WHERE key = 'poll_offset'", 0},
    /* The offset only moves forward. */
    {"poll_offset_set",
     "INSERT INTO bot_state (key, value) VALUES ('poll_offset', $1)"
     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
     " WHERE bot_state.value::bigint < EXCLUDED.value::bigint",
     1},
};
const size_t poll_statements_count = sizeof(poll_statements) / sizeof(poll_statements[0]);

struct pair {
    int64_t id;
    int status;
};

static int cmp_pairs(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int64_t poll_next_offset(int64_t offset, const int64_t *ids, const int *statuses, size_t n)
{
    struct pair p[POLL_LIMIT];
    if (n > POLL_LIMIT)
        n = POLL_LIMIT;
    for (size_t i = 0; i < n; i++)
        p[i] = (struct pair){ids[i], statuses[i]};
    qsort(p, n, sizeof(p[0]), cmp_pairs);
    for (size_t i = 0; i < n; i++) {
        if (p[i].status != 200 && p[i].status != 400)
            break;
        if (p[i].id >= offset)
            offset = p[i].id + 1;
    }
    return offset;
}

/* Sleeps ms, waking early when *stop becomes true. */
static void nap(atomic_bool *stop, int64_t ms)
{
    while (ms > 0 && !atomic_load(stop)) {
        int64_t step = ms < 100 ? ms : 100;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = step * 1000000L}, NULL);
        ms -= step;
    }
}

/* The jobs of one batch and the count of those not yet answered. */
struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    size_t pending;
};

struct poll_job {
    struct job job;
    struct batch *b;
    char *body;
};

/* Runs on a worker thread after the job's commit; touches nothing after the unlock. */
static void on_complete(struct job *job)
{
    struct batch *b = ((struct poll_job *)job->userdata)->b;
    pthread_mutex_lock(&b->mu);
    b->pending--;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

/*
 * Submits the first n updates (n <= POLL_LIMIT) to the pipeline and waits
 * until every one is answered. Fills ids and statuses; *ret_retry_after is
 * the longest Retry-After.
 */
static void run_batch(struct pipeline *pipeline, const json_t *updates, size_t n, int64_t *ids,
                      int *statuses, int *ret_retry_after)
{
    struct poll_job jobs[POLL_LIMIT];
    if (n > POLL_LIMIT)
        n = POLL_LIMIT;
    struct batch b = {.pending = 0};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cond, NULL);
    *ret_retry_after = 0;

    for (size_t i = 0; i < n; i++) {
        const json_t *u = json_array_get(updates, i);
        struct poll_job *pj = &jobs[i];
        memset(pj, 0, sizeof(*pj));
        ids[i] = json_integer_value(json_object_get(u, "update_id"));
        statuses[i] = 503;
        pj->b = &b;
        pj->body = json_dumps(u, JSON_COMPACT);
        if (!pj->body)
            continue;
        pj->job.body = pj->body;
        pj->job.len = strlen(pj->body);
        pj->job.complete = on_complete;
        pj->job.userdata = pj;
        pthread_mutex_lock(&b.mu);
        b.pending++;
        pthread_mutex_unlock(&b.mu);
        int rc;
        /* A full queue empties as the workers go: wait for room. */
        while ((rc = pipeline_submit(pipeline, &pj->job)) == -EAGAIN)
            nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 5000000L}, NULL);
        if (rc < 0) {
            pthread_mutex_lock(&b.mu);
            b.pending--;
            pthread_mutex_unlock(&b.mu);
            free(pj->body);
            pj->body = NULL;
        }
    }

    pthread_mutex_lock(&b.mu);
    while (b.pending > 0)
        pthread_cond_wait(&b.cond, &b.mu);
    pthread_mutex_unlock(&b.mu);

    for (size_t i = 0; i < n; i++) {
        if (!jobs[i].body)
            continue;
        bool final = pipeline_verdict_final(jobs[i].job.verdict);
        statuses[i] = final ? 200 : 503;
        if (!final)
            *ret_retry_after = POLL_RETRY_AFTER;
        free(jobs[i].body);
    }
    pthread_cond_destroy(&b.cond);
    pthread_mutex_destroy(&b.mu);
}

/* Reads the stored offset (0 when none). Returns 0 or -EIO. */
static int load_offset(struct pool *pool, int64_t *ret)
{
    struct pool_conn *c = NULL;
    if (pool_acquire(pool, -1, &c) < 0)
        return -EIO;
    PGresult *res = pool_exec(c, "poll_offset_get", 0, NULL);
    int rc = -EIO;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        *ret = 0;
        rc = PQntuples(res) == 0 || strnum_i64(PQgetvalue(res, 0, 0), 0, INT64_MAX, ret) == 0
                 ? 0
                 : -EIO;
    }
    PQclear(res);
    pool_release(pool, c);
    return rc;
}

static int save_offset(struct pool *pool, int64_t offset)
{
    struct pool_conn *c = NULL;
    if (pool_acquire(pool, -1, &c) < 0)
        return -EIO;
    char v[24];
    snprintf(v, sizeof(v), "%" PRId64, offset);
    const char *p[1] = {v};
    PGresult *res = pool_exec(c, "poll_offset_set", 1, p);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
    PQclear(res);
    pool_release(pool, c);
    return rc;
}

int poll_run(const struct poll_options *opt, struct pool *pool, struct pipeline *pipeline,
             atomic_bool *stop)
{
    struct tg_api *api = tg_api_new(opt->api_url, opt->bot_token,
                                    (long)(POLL_TIMEOUT_S * 1000 + opt->api_timeout_ms));
    if (!api || tg_api_set_cancel(api, stop) < 0) {
        LOG(LOG_ERROR, "cannot create a Bot API client", LOG_STR("api", opt->api_url));
        tg_api_free(api);
        return -ENOMEM;
    }
    tg_api_want_result(api, true); /* the updates */
    json_t *allowed = tg_allowed_updates_json();
    if (!allowed) {
        tg_api_free(api);
        return -ENOMEM;
    }

    int64_t offset = 0;
    while (!atomic_load(stop) && load_offset(pool, &offset) < 0) {
        LOG(LOG_WARN, "cannot read the stored getUpdates offset; retrying",
            LOG_STR("key", "poll_offset"));
        nap(stop, 2000);
    }
    LOG(LOG_INFO, "polling Telegram for updates", LOG_INT("offset", offset),
        LOG_INT("timeout_s", POLL_TIMEOUT_S));

    uint64_t rng = (uint64_t)time(NULL) * 2654435761u + 1;
    int rc = 0, failures = 0;
    while (!atomic_load(stop)) {
        struct tg_api_result r;
        int crc = tg_api_get_updates(api, offset, POLL_LIMIT, POLL_TIMEOUT_S, allowed, &r);
        if (atomic_load(stop))
            break;
        if (crc < 0) {
            rc = crc;
            break;
        }
        if (r.outcome != TG_SENT || !json_is_array(r.result)) {
            if (r.http_status == 409 && strstr(r.description, "webhook")) {
                LOG(LOG_ERROR,
                    "a webhook is set, so Telegram refuses getUpdates: run `tgdesk webhook "
                    "delete` first (or keep serving the webhook instead of polling)",
                    LOG_STR("error", r.description));
                rc = -EEXIST;
                break;
            }
            if (r.http_status == 401 || r.http_status == 404) {
                LOG(LOG_ERROR, "the Bot API refused the bot token (TELEGRAM_BOT_TOKEN)",
                    LOG_INT("http_status", r.http_status), LOG_STR("error", r.description));
                rc = -EACCES;
                break;
            }
            int64_t delay;
            if (r.outcome == TG_RETRY_AFTER) {
                delay = (r.retry_after > 0 ? r.retry_after : 1) * 1000;
            } else {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                delay = tg_backoff_ms(++failures, rng);
                if (delay < 500)
                    delay = 500;
                if (delay > POLL_BACKOFF_MAX_MS)
                    delay = POLL_BACKOFF_MAX_MS;
            }
            LOG(LOG_WARN,
                r.http_status == 409 ? "another getUpdates is running for this bot; retrying"
                                     : "getUpdates failed; retrying",
                LOG_INT("http_status", r.http_status),
                LOG_STR("error", r.description[0] ? r.description : r.error),
                LOG_INT("delay_ms", delay));
            nap(stop, delay);
            continue;
        }
        failures = 0;
        size_t n = json_array_size(r.result);
        if (n == 0)
            continue;
        if (n > POLL_LIMIT)
            n = POLL_LIMIT;

        json_t *updates = json_incref(r.result);
        int64_t ids[POLL_LIMIT];
        int statuses[POLL_LIMIT], retry_after = 0;
        run_batch(pipeline, updates, n, ids, statuses, &retry_after);
        json_decref(updates);

        int64_t next = poll_next_offset(offset, ids, statuses, n);
        LOG(LOG_DEBUG, "updates processed", LOG_INT("updates", (int64_t)n),
            LOG_INT("offset", next));
        if (next > offset) {
            if (save_offset(pool, next) == 0) {
                offset = next;
            } else {
                LOG(LOG_WARN, "cannot store the getUpdates offset; the batch comes again",
                    LOG_INT("offset", next));
                nap(stop, 1000);
                continue;
            }
        }
        /* Some update must come again: give the database a moment. */
        bool all = true;
        for (size_t i = 0; i < n; i++)
            all = all && ids[i] < offset;
        if (!all)
            nap(stop, (retry_after > 0 ? retry_after : 1) * 1000);
    }
    json_decref(allowed);
    tg_api_free(api);
    return rc;
}
