/*
 * webhook.h - `tgdesk webhook set URL | info | delete`: the
 * setWebhook, getWebhookInfo and deleteWebhook calls an operator makes once
 * per deployment, printed for people.
 *
 * The bodies and the printing are pure (unit-tested); the commands call the
 * Bot API through a struct tg_api the caller owns.
 */
#ifndef TGDESK_TG_WEBHOOK_H
#define TGDESK_TG_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct tg_api;

/* Most parallel connections Telegram opens to a webhook (setWebhook's maximum). */
#define TG_WEBHOOK_MAX_CONNECTIONS 100

/*
 * The update kinds tgdesk handles, exactly: allowed_updates of setWebhook
 * and getUpdates, so Telegram does not send what would only be ignored.
 */
extern const char *const tg_allowed_updates[];
extern const size_t tg_allowed_updates_count;

/* tg_allowed_updates as a JSON array. New reference, or NULL when out of memory. */
json_t *tg_allowed_updates_json(void);

/*
 * The setWebhook body: url, allowed_updates, max_connections and, when
 * secret is not NULL, secret_token. New reference, or NULL when out of
 * memory. Pure.
 */
json_t *tg_webhook_set_body(const char *url, const char *secret, int max_connections);

/*
 * Prints getWebhookInfo's result (borrowed) for people: url, pending update
 * count, last error with its time in ISO 8601 UTC, max connections, allowed
 * updates (with a note when they differ from what tgdesk handles).
 */
void tg_webhook_print_info(FILE *out, const json_t *info);

/*
 * The three commands. Each prints what happened to out, or why it failed to
 * err (Telegram's description, never the token), and returns 0 or -EIO
 * (Telegram refused, or could not be reached).
 */
int tg_webhook_set(struct tg_api *api, const char *url, const char *secret, int max_connections,
                   FILE *out, FILE *err);
int tg_webhook_info(struct tg_api *api, FILE *out, FILE *err);
int tg_webhook_delete(struct tg_api *api, FILE *out, FILE *err);

#endif
