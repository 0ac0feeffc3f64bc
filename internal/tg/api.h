/*
 * api.h - the Telegram Bot API client the sender (and `webhook`, `poll`) use.
 *
 * A call is POST {base}/bot{token}/{method} with a JSON body. One
 * struct tg_api per thread: it owns a libcurl easy handle that is reused, so
 * the connection to the Bot API is kept alive between calls. Every call has a
 * total and a connect timeout, installs no signal handlers and caps the answer
 * it reads (TG_API_MAX_RESPONSE).
 *
 * The answer is reduced to what the sender decides on (struct tg_api_result)
 * and to one outcome from a pure classifier; the backoff between retries is a
 * pure function too, so both are unit-tested without a socket.
 *
 * The bot token is part of the request URL only: it never appears in an error
 * text this module builds (libcurl's texts are scrubbed of it as well) nor in a
 * log line it writes.
 */
#ifndef TGDESK_TG_API_H
#define TGDESK_TG_API_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest answer body read; a longer one fails the call as TG_RETRY. */
#define TG_API_MAX_RESPONSE (4 * 1024 * 1024)

/* Ceiling of tg_backoff_ms(): 5 minutes. */
#define TG_BACKOFF_MAX_MS INT64_C(300000)

/* What the sender does with a call, decided by tg_api_classify(). */
enum tg_outcome {
    TG_SENT = 0,    /* 2xx and "ok":true: done */
    TG_RETRY_AFTER, /* 429: send the same call again after retry_after seconds */
    TG_RETRY,       /* 5xx, timeout, network failure, unusable answer: back off and retry */
    TG_MIGRATE,     /* 400 with migrate_to_chat_id: resend to the new chat id */
    TG_FORBIDDEN,   /* 403: the chat is unreachable (bot blocked, kicked, user deactivated) */
    TG_PERMANENT,   /* any other 4xx (400, 401, 404, 409, ...): fail, keep description */
};

/* Everything one call learnt. Filled by tg_api_call(). */
struct tg_api_result {
    enum tg_outcome outcome;
    int http_status;            /* 0 when no HTTP answer arrived (see curl_code) */
    bool ok;                    /* the answer was JSON with "ok":true */
    int error_code;             /* "error_code" of a failure answer, else 0 */
    char description[256];      /* "description", truncated at a UTF-8 boundary; "" if none */
    int64_t retry_after;        /* seconds, from parameters.retry_after or Retry-After; else 0 */
    int64_t migrate_to_chat_id; /* parameters.migrate_to_chat_id, else 0 */
    int64_t message_id;         /* result.message_id when result is an object with one, else 0 */
    bool result_true;           /* result is exactly true (answerCallbackQuery, setWebhook...) */
    int curl_code;              /* CURLcode of a transport failure, else 0 (CURLE_OK) */
    char error[256];            /* transport failure or unusable answer, without URL or token */
    /*
     * The parsed "result" value after tg_api_want_result(a, true), else (or
     * when absent) NULL. Borrowed: owned by the struct tg_api and valid until
     * its next tg_api_call() or tg_api_free(); take a json_incref() to keep
     * it longer.
     */
    json_t *result;
};

/*
 * Initialises libcurl (curl_global_init(CURL_GLOBAL_DEFAULT)). Call once at
 * program start, before any other thread exists and before tg_api_new().
 * Returns 0 or -EIO. Not thread-safe.
 */
int tg_api_global_init(void);

/* Releases libcurl's global state; call once at exit after every tg_api_free(). Not thread-safe. */
void tg_api_global_cleanup(void);

/*
 * Creates a client for base_url (e.g. "https://api.telegram.org", a trailing
 * '/' is ignored; http:// or https:// only) and the bot token (letters,
 * digits, ':', '_' and '-' only). Both strings are copied. timeout_ms (> 0)
 * bounds every call from start to end; the connect phase is bounded by the
 * smaller of it and 10 s. A getUpdates long poll needs a timeout longer than
 * its own "timeout" parameter.
 *
 * Returns the client (caller frees with tg_api_free()) or NULL with errno set
 * to EINVAL (bad argument) or ENOMEM. The client may be used by one thread at
 * a time; different clients may be used concurrently.
 */
struct tg_api *tg_api_new(const char *base_url, const char *token, long timeout_ms);

/*
 * Makes every later call of this client give up within about a second once
 * *flag becomes true (another thread sets it, e.g. on SIGTERM during a
 * getUpdates long poll): the call then returns with outcome TG_RETRY and
 * curl_code CURLE_ABORTED_BY_CALLBACK. flag (borrowed; NULL: no
 * cancellation) must outlive the client. Returns 0 or -EINVAL.
 */
int tg_api_set_cancel(struct tg_api *a, atomic_bool *flag);

/* Frees the client and closes its connections. Accepts NULL. */
void tg_api_free(struct tg_api *a);

/*
 * Whether tg_api_call() builds result as a jansson tree (getUpdates,
 * getWebhookInfo...). Off by default: the other fields of struct tg_api_result need none.
 */
void tg_api_want_result(struct tg_api *a, bool want);

/*
 * Calls method (letters and digits only, e.g. "sendMessage") with json_body
 * (len bytes of JSON, sent verbatim with Content-Type application/json; NULL
 * or len 0 sends an empty body) and fills *ret. One exception, a file
 * upload: a sendDocument whose "document" is an object {"filename",
 * "content", "content_type"} is sent as multipart/form-data (libcurl's MIME
 * API), the document as a file part of that name, type and content, every
 * other field as a form field (strings as they are, others as JSON). The call blocks the calling
 * thread for at most the client's timeout.
 *
 * Returns 0 whenever an outcome was decided - a Telegram error, a timeout or a
 * refused connection included: ret->outcome says what to do. Returns -EINVAL
 * for a bad argument or a client with a tg_multi call under way, or -ENOMEM
 * when the request could not be built; *ret is
 * then untouched. Not thread-safe for one client (see tg_api_new()).
 */
int tg_api_call(struct tg_api *a, const char *method, const char *json_body, size_t len,
                struct tg_api_result *ret);

/*
 * Calls getUpdates: waits up to timeout_s seconds (a long poll: the client's
 * timeout must be longer) for at most limit updates from offset on (0: from
 * the oldest one not yet confirmed), of the kinds in allowed_updates (a JSON
 * array, borrowed; NULL: Telegram's default). The updates are ret->result
 * when the client wants results (tg_api_want_result()). Returns as
 * tg_api_call().
 */
int tg_api_get_updates(struct tg_api *a, int64_t offset, int limit, int timeout_s,
                       json_t *allowed_updates, struct tg_api_result *ret);

/*
 * Several calls at once, from one thread: a struct tg_multi drives the calls
 * of several clients (one call per client at a time) over libcurl's multi
 * interface, so one thread keeps many calls in flight, and one wake-up reads
 * every answer that has arrived.
 *
 * tg_multi_new() keeps up to max_calls connections alive (one per call in
 * flight: no connection is opened twice); it returns NULL (errno ENOMEM)
 * when it cannot be made;
 * tg_multi_free() accepts NULL and expects no call under way (cancel them
 * first). Only tg_multi_wakeup() may be called from another thread.
 */
struct tg_multi;
struct tg_multi *tg_multi_new(int max_calls);
void tg_multi_free(struct tg_multi *t);
/*
 * Starts a call of client a, as tg_api_call() would make it; the answer comes
 * from tg_multi_done(). Returns 0, -EINVAL (bad argument, a already busy) or
 * -ENOMEM. The body is borrowed until the call is done or cancelled.
 */
int tg_multi_start(struct tg_multi *t, struct tg_api *a, const char *method, const char *json_body,
                   size_t len);
/* Abandons the call of client a (at stop); its answer, if any, is ignored. */
void tg_multi_cancel(struct tg_multi *t, struct tg_api *a);
/*
 * Moves every call on, then - unless one has just finished - waits up to
 * timeout_ms (0: not at all) for an answer, a call's own timeout or
 * tg_multi_wakeup(), and moves them on again. Returns 0 or -EIO.
 */
int tg_multi_run(struct tg_multi *t, int timeout_ms);
/* The client of a finished call, its result in *ret (as tg_api_call() fills it); NULL when none. */
struct tg_api *tg_multi_done(struct tg_multi *t, struct tg_api_result *ret);
/* Ends a tg_multi_run() wait early. Thread-safe. Returns 0 or -EIO. */
int tg_multi_wakeup(struct tg_multi *t);
/*
 * Classifies an answer; pure and thread-safe. curl_code is the CURLcode of a
 * transport failure or 0. In order: any transport failure -> TG_RETRY (the
 * call is kept and retried, so a DNS, TLS or network fix takes effect without
 * losing anything); 2xx with ok -> TG_SENT; 2xx without ok (an answer that is
 * not Telegram's) -> TG_RETRY; 429 -> TG_RETRY_AFTER; 400 with a non-zero
 * migrate_to_chat_id -> TG_MIGRATE; 403 -> TG_FORBIDDEN; other 4xx ->
 * TG_PERMANENT; 5xx and anything else (1xx, 3xx, which are never followed) ->
 * TG_RETRY.
 */
enum tg_outcome tg_api_classify(int http_status, bool ok, int curl_code,
                                int64_t migrate_to_chat_id);

/* Returns "sent", "retry_after", "retry", "migrate", "forbidden" or "permanent". */
const char *tg_outcome_name(enum tg_outcome outcome);

/*
 * The backoff ceiling before retry number `attempt` (1-based; values below 1
 * count as 1): 1 s, 2 s, 4 s ... doubling, capped at TG_BACKOFF_MAX_MS.
 * Pure and thread-safe.
 */
int64_t tg_backoff_ceiling_ms(int attempt);

/*
 * The delay before retry number `attempt` with "full jitter" (AWS
 * architecture blog, "Exponential Backoff And Jitter"): uniform in
 * [0, tg_backoff_ceiling_ms(attempt)], picked by `random` (any 64-bit random
 * value the caller draws). Full jitter spreads the retries of many messages
 * that failed together, e.g. during a Telegram outage. Pure and thread-safe.
 */
int64_t tg_backoff_ms(int attempt, uint64_t random);

#endif
