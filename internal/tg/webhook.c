#include "webhook.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tg/api.h"

const char *const tg_allowed_updates[] = {
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    /* Telegram Business: connections and the messages of connected accounts */
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
};
const size_t tg_allowed_updates_count = sizeof(tg_allowed_updates) / sizeof(tg_allowed_updates[0]);

json_t *tg_allowed_updates_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < tg_allowed_updates_count; i++)
        if (json_array_append_new(a, json_string(tg_allowed_updates[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *tg_webhook_set_body(const char *url, const char *secret, int max_connections)
{
    json_t *body = json_pack("{ss so si}", "url", url, "allowed_updates", tg_allowed_updates_json(),
                             "max_connections", max_connections);
    if (body && secret && json_object_set_new(body, "secret_token", json_string(secret)) < 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* True when the array holds exactly the kinds tgdesk handles, in any order. */
static bool same_kinds(const json_t *a)
{
    if (json_array_size(a) != tg_allowed_updates_count)
        return false;
    for (size_t i = 0; i < tg_allowed_updates_count; i++) {
        bool found = false;
        for (size_t j = 0; j < json_array_size(a) && !found; j++) {
            const char *s = json_string_value(json_array_get(a, j));
            found = s && strcmp(s, tg_allowed_updates[i]) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

static void print_time(FILE *out, json_int_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    if (gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
        fprintf(out, "%s", buf);
    else
        fprintf(out, "%" JSON_INTEGER_FORMAT, t);
}

void tg_webhook_print_info(FILE *out, const json_t *info)
{
    const char *url = json_string_value(json_object_get(info, "url"));
    fprintf(out, "url:                 %s\n",
            url && *url ? url : "(none: no webhook is set; `tgdesk poll` can fetch updates)");
    fprintf(out, "pending updates:     %" JSON_INTEGER_FORMAT "\n",
            json_integer_value(json_object_get(info, "pending_update_count")));

    json_t *date = json_object_get(info, "last_error_date");
    const char *msg = json_string_value(json_object_get(info, "last_error_message"));
    fprintf(out, "last error:          ");
    if (json_integer_value(date) > 0) {
        print_time(out, json_integer_value(date));
        fprintf(out, "  %s\n", msg ? msg : "(no message)");
    } else {
        fprintf(out, "none\n");
    }
    json_t *sync = json_object_get(info, "last_synchronization_error_date");
    if (json_integer_value(sync) > 0) {
        fprintf(out, "last sync error:     ");
        print_time(out, json_integer_value(sync));
        fprintf(out, "\n");
    }

    json_t *maxc = json_object_get(info, "max_connections");
    if (json_is_integer(maxc))
        fprintf(out, "max connections:     %" JSON_INTEGER_FORMAT "\n", json_integer_value(maxc));
    else
        fprintf(out, "max connections:     (not set)\n");

    const json_t *au = json_object_get(info, "allowed_updates");
    fprintf(out, "allowed updates:     ");
    if (json_array_size(au) == 0) {
        fprintf(out, "(Telegram's default: every kind but chat_member and reactions)\n");
    } else {
        for (size_t i = 0; i < json_array_size(au); i++) {
            const char *s = json_string_value(json_array_get(au, i));
            fprintf(out, "%s%s", i ? ", " : "", s ? s : "?");
        }
        fprintf(out, "\n");
    }
    if (url && *url && !same_kinds(au))
        fprintf(out, "note:                tgdesk handles exactly message, edited_message, "
                     "callback_query, my_chat_member; `tgdesk webhook set URL` sets them\n");

    const char *ip = json_string_value(json_object_get(info, "ip_address"));
    if (ip)
        fprintf(out, "ip address:          %s\n", ip);
    if (json_is_true(json_object_get(info, "has_custom_certificate")))
        fprintf(out, "custom certificate:  yes\n");
}

/* Calls method with body (may be NULL: {}). Returns 0 when Telegram said ok, else -EIO (printed).
 */
static int call(struct tg_api *api, const char *method, json_t *body, struct tg_api_result *ret,
                FILE *err)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
    if (!text) {
        fprintf(err, "tgdesk: %s: out of memory\n", method);
        return -EIO;
    }
    int rc = tg_api_call(api, method, text, strlen(text), ret);
    free(text);
    if (rc < 0) {
        fprintf(err, "tgdesk: %s: could not build the request\n", method);
        return -EIO;
    }
    if (ret->outcome == TG_SENT)
        return 0;
    if (ret->http_status)
        fprintf(err, "tgdesk: %s failed: HTTP %d %s\n", method, ret->http_status,
                ret->description[0] ? ret->description : ret->error);
    else
        fprintf(err, "tgdesk: %s failed: %s\n", method, ret->error);
    return -EIO;
}

int tg_webhook_set(struct tg_api *api, const char *url, const char *secret, int max_connections,
                   FILE *out, FILE *err)
{
    json_t *body = tg_webhook_set_body(url, secret, max_connections);
    if (!body) {
        fprintf(err, "tgdesk: setWebhook: out of memory\n");
        return -EIO;
    }
    struct tg_api_result r;
    int rc = call(api, "setWebhook", body, &r, err);
    json_decref(body);
    if (rc < 0)
        return rc;
    fprintf(out, "webhook set: %s\n", url);
    fprintf(out, "  secret token:     %s\n",
            secret ? "set (WEBHOOK_SECRET)"
                   : "NOT set - anyone who finds the URL can post updates; set WEBHOOK_SECRET");
    fprintf(out, "  max connections:  %d\n", max_connections);
    fprintf(out, "  allowed updates:  ");
    for (size_t i = 0; i < tg_allowed_updates_count; i++)
        fprintf(out, "%s%s", i ? ", " : "", tg_allowed_updates[i]);
    fprintf(out, "\n");
    if (r.description[0])
        fprintf(out, "Telegram: %s\n", r.description);
    return 0;
}

int tg_webhook_info(struct tg_api *api, FILE *out, FILE *err)
{
    struct tg_api_result r;
    int rc = call(api, "getWebhookInfo", NULL, &r, err);
    if (rc < 0)
        return rc;
    if (!json_is_object(r.result)) {
        fprintf(err, "tgdesk: getWebhookInfo: the answer has no result object\n");
        return -EIO;
    }
    tg_webhook_print_info(out, r.result);
    return 0;
}

int tg_webhook_delete(struct tg_api *api, FILE *out, FILE *err)
{
    struct tg_api_result r;
    int rc = call(api, "deleteWebhook", NULL, &r, err);
    if (rc < 0)
        return rc;
    fprintf(out, "webhook deleted%s%s\n", r.description[0] ? " - Telegram: " : "", r.description);
    return 0;
}
