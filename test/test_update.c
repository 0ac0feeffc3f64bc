/*
 * test_update.c - unit tests for internal/tg/update.c.
 *
 * The shared fixtures ($TGDESK_FIXTURES/updates and .../bad) are parsed and
 * every value a support desk reads is compared with what the JSON says; hand
 * written bodies cover the edges (id ranges, forged entities, hostile text,
 * media choice). The UTF-8 cleaner cannot be reached through util/jscan,
 * which (as jansson did) never yields invalid UTF-8, so it is tested
 * directly: this file includes update.c to see its static functions (the
 * copy in the internal library is then never linked in). test/fuzz/
 * test_update_diff.c holds every fixture against the jansson-based parser
 * this one replaced.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fixtures.h"
#include "tg/update.c"

static char g_err[256];

/* ---- helpers ------------------------------------------------------------ */

static void parse_fixture(const char *name, struct tg_update *u)
{
    size_t len;
    char *body;
    int r;

    body = fixture_read("updates", name, &len);
    g_err[0] = '\0';
    r = tg_update_parse(body, len, u, g_err, sizeof(g_err));
    free(body);
    if (r != 0)
        fail_msg("%s: %d (%s)", name, r, g_err);
}

/* Parses a NUL-terminated body; returns what tg_update_parse() returned. */
static int parse(const char *json, struct tg_update *u)
{
    g_err[0] = '\0';
    return tg_update_parse(json, strlen(json), u, g_err, sizeof(g_err));
}

/* Asserts json is rejected with -EINVAL, a reason, and *ret untouched. */
static void expect_bad(const char *json, const char *reason)
{
    struct tg_update u, before;

    memset(&u, 0x5A, sizeof(u));
    memcpy(&before, &u, sizeof(u));
    if (parse(json, &u) != -EINVAL)
        fail_msg("accepted: %s", json);
    assert_true(g_err[0] != '\0');
    if (reason)
        assert_string_equal(g_err, reason);
    assert_memory_equal(&u, &before, sizeof(u));
}

static void expect_ok(const char *json, struct tg_update *u)
{
    if (parse(json, u) != 0)
        fail_msg("rejected (%s): %s", g_err, json);
}

/* A message update with the given members after the required ones. */
#define MSG(extra)                                               \
    "{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1," \
    "\"chat\":{\"id\":42,\"type\":\"private\"}" extra "}}"

/* s is a copy in the arena of u (strings end to end, the fixtures are small). */
static void assert_in_arena(const struct tg_update *u, const char *s)
{
    assert_non_null(u->priv_arena);
    assert_non_null(s);
    assert_true(s >= u->priv_arena && s < u->priv_arena + 4096);
}

static void assert_not_command(const struct tg_message *m)
{
    assert_string_equal(m->command, "");
    assert_null(m->command_bot);
    assert_null(m->command_args);
}

/* ---- the shared fixtures ------------------------------------------------ */

static void test_private_text(void **state)
{
    struct tg_update u;

    parse_fixture("private_text.json", &u);
    assert_int_equal(u.update_id, 412345678);
    assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
    assert_string_equal(tg_update_kind_name(u.kind), "message");
    assert_int_equal(u.message.message_id, 41);
    assert_true(u.message.has_from);
    assert_int_equal(u.message.from.id, INT64_C(6123456789));
    assert_false(u.message.from.is_bot);
    assert_string_equal(u.message.from.first_name, "Alice");
    assert_string_equal(u.message.from.last_name, "Novak");
    assert_string_equal(u.message.from.username, "alice_n");
    assert_string_equal(u.message.from.language_code, "en");
    assert_int_equal(u.message.chat.id, INT64_C(6123456789));
    assert_int_equal(u.message.chat.type, TG_CHAT_PRIVATE);
    assert_null(u.message.chat.title);
    assert_string_equal(u.message.chat.username, "alice_n");
    assert_int_equal(u.message.date, 1767225600);
    assert_int_equal(u.message.edit_date, 0);
    assert_string_equal(u.message.text,
                        "Hi, my order A-1042 still hasn't arrived \xF0\x9F\x93\xA6");
    assert_false(u.message.text_is_caption);
    assert_false(u.message.text_was_cleaned);
    assert_not_command(&u.message);
    assert_int_equal(u.message.media, TG_MEDIA_NONE);
    assert_null(tg_media_name(u.message.media));
    assert_null(u.message.file_id);
    assert_null(u.message.media_group_id);
    assert_false(u.message.has_reply_to);
    assert_int_equal(u.message.migrate_to_chat_id, 0);
    /* every string is a copy in the one allocation (the body is freed already) */
    assert_in_arena(&u, u.message.from.first_name);
    assert_in_arena(&u, u.message.from.language_code);
    assert_in_arena(&u, u.message.chat.username);
    assert_in_arena(&u, u.message.text);
    tg_update_free(&u);
    assert_null(u.priv_arena);
}

static void test_edited_message(void **state)
{
    struct tg_update u;

    parse_fixture("edited_message.json", &u);
    assert_int_equal(u.update_id, 412345680);
    assert_int_equal(u.kind, TG_UPDATE_EDITED_MESSAGE);
    assert_string_equal(tg_update_kind_name(u.kind), "edited_message");
    assert_int_equal(u.message.message_id, 41);
    assert_int_equal(u.message.chat.id, INT64_C(6123456789));
    assert_int_equal(u.message.from.id, INT64_C(6123456789));
    assert_int_equal(u.message.date, 1767225600);
    assert_int_equal(u.message.edit_date, 1767225720);
    assert_string_equal(
        u.message.text,
        "Hi, my order A-1042 (placed Dec 20) still hasn't arrived \xF0\x9F\x93\xA6");
    assert_not_command(&u.message);
    tg_update_free(&u);
}

static void test_command_start(void **state)
{
    struct tg_update u;

    parse_fixture("private_command_start.json", &u);
    assert_int_equal(u.update_id, 412345677);
    assert_int_equal(u.message.message_id, 40);
    assert_string_equal(u.message.text, "/start");
    assert_string_equal(u.message.command, "start");
    assert_null(u.message.command_bot);
    assert_string_equal(u.message.command_args, "");
    assert_in_arena(&u, u.message.text);
    assert_ptr_equal(u.message.command_args, u.message.text + 6);
    tg_update_free(&u);
}

static void test_command_take(void **state)
{
    struct tg_update u;

    parse_fixture("admin_command_take.json", &u);
    assert_int_equal(u.update_id, 412345691);
    assert_int_equal(u.message.message_id, 9121);
    assert_int_equal(u.message.from.id, INT64_C(5550000001));
    assert_string_equal(u.message.from.username, "bob_support");
    assert_int_equal(u.message.chat.id, INT64_C(5550000001));
    assert_string_equal(u.message.command, "take");
    assert_null(u.message.command_bot);
    assert_string_equal(u.message.command_args, "1042");
    tg_update_free(&u);
}

static void test_command_with_botname(void **state)
{
    struct tg_update u;

    parse_fixture("group_command_with_botname.json", &u);
    assert_int_equal(u.update_id, 412345679);
    assert_int_equal(u.message.message_id, 7781);
    assert_int_equal(u.message.chat.id, INT64_C(-1001987654321));
    assert_int_equal(u.message.chat.type, TG_CHAT_SUPERGROUP);
    assert_string_equal(u.message.chat.title, "Acme Customers");
    assert_string_equal(u.message.from.language_code, "de");
    assert_string_equal(u.message.text, "/ticket@acme_support_bot refund please");
    assert_string_equal(u.message.command, "ticket");
    assert_string_equal(u.message.command_bot, "acme_support_bot");
    assert_string_equal(u.message.command_args, "refund please");
    /* the bot name follows the strings in the arena; the arguments are in the text */
    assert_in_arena(&u, u.message.command_bot);
    assert_true(u.message.command_bot > u.message.text);
    assert_ptr_equal(u.message.command_args, u.message.text + 25);
    tg_update_free(&u);
}

static void test_reply_to_notification(void **state)
{
    struct tg_update u;

    parse_fixture("admin_chat_reply_to_notification.json", &u);
    assert_int_equal(u.update_id, 412345690);
    assert_int_equal(u.message.message_id, 9120);
    assert_int_equal(u.message.from.id, INT64_C(5550000001));
    assert_int_equal(u.message.chat.id, INT64_C(-1002000000001));
    assert_int_equal(u.message.chat.type, TG_CHAT_SUPERGROUP);
    assert_string_equal(u.message.chat.title, "Acme Support Staff");
    assert_true(u.message.has_reply_to);
    assert_int_equal(u.message.reply_to_message_id, 9101);
    assert_int_equal(u.message.reply_to_from_id, INT64_C(7012345678));
    assert_string_equal(u.message.text,
                        "Sorry about that! It ships tomorrow, tracking number follows.");
    assert_not_command(&u.message);
    tg_update_free(&u);
}

static void test_callback_query(void **state)
{
    struct tg_update u;

    parse_fixture("callback_query.json", &u);
    assert_int_equal(u.update_id, 412345681);
    assert_int_equal(u.kind, TG_UPDATE_CALLBACK_QUERY);
    assert_string_equal(tg_update_kind_name(u.kind), "callback_query");
    assert_string_equal(u.callback.id, "4411327586237849921");
    assert_int_equal(u.callback.from.id, INT64_C(6123456789));
    assert_string_equal(u.callback.from.first_name, "Alice");
    assert_string_equal(u.callback.from.username, "alice_n");
    assert_string_equal(u.callback.data, "close:1042");
    assert_true(u.callback.has_message);
    assert_int_equal(u.callback.message_chat_id, INT64_C(6123456789));
    assert_int_equal(u.callback.message_id, 43);
    tg_update_free(&u);
}

static void test_channel_post(void **state)
{
    struct tg_update u;

    parse_fixture("channel_post_ignored.json", &u);
    assert_int_equal(u.update_id, 412345692);
    assert_int_equal(u.kind, TG_UPDATE_CHANNEL_POST);
    assert_string_equal(tg_update_kind_name(u.kind), "channel_post");
    assert_int_equal(u.message.message_id, 12);
    assert_int_equal(u.message.chat.id, INT64_C(-1003000000001));
    assert_int_equal(u.message.chat.type, TG_CHAT_CHANNEL);
    assert_string_equal(u.message.chat.title, "Acme News");
    assert_false(u.message.has_from);
    assert_int_equal(u.message.from.id, 0);
    assert_string_equal(u.message.text, "Holiday opening hours");
    tg_update_free(&u);
}

static void test_my_chat_member(void **state)
{
    struct tg_update u;

    parse_fixture("my_chat_member_kicked.json", &u);
    assert_int_equal(u.update_id, 412345682);
    assert_int_equal(u.kind, TG_UPDATE_MY_CHAT_MEMBER);
    assert_string_equal(tg_update_kind_name(u.kind), "my_chat_member");
    assert_int_equal(u.member.chat.id, INT64_C(6123456789));
    assert_int_equal(u.member.chat.type, TG_CHAT_PRIVATE);
    assert_int_equal(u.member.from.id, INT64_C(6123456789));
    assert_string_equal(u.member.from.first_name, "Alice");
    assert_string_equal(u.member.old_status, "member");
    assert_string_equal(u.member.new_status, "kicked");
    tg_update_free(&u);
}

static void test_document(void **state)
{
    struct tg_update u;

    parse_fixture("private_document.json", &u);
    assert_int_equal(u.update_id, 412345684);
    assert_int_equal(u.message.message_id, 45);
    assert_int_equal(u.message.media, TG_MEDIA_DOCUMENT);
    assert_string_equal(tg_media_name(u.message.media), "document");
    assert_string_equal(u.message.file_id, "BQACAgIAAxkBAAIBRGXdoc");
    assert_null(u.message.text);
    assert_false(u.message.text_is_caption);
    assert_not_command(&u.message);
    tg_update_free(&u);
}

static void test_photo_caption(void **state)
{
    struct tg_update u;

    parse_fixture("private_photo_caption.json", &u);
    assert_int_equal(u.update_id, 412345683);
    assert_int_equal(u.message.message_id, 44);
    assert_int_equal(u.message.media, TG_MEDIA_PHOTO);
    assert_string_equal(tg_media_name(u.message.media), "photo");
    assert_string_equal(u.message.file_id, "AgACAgIAAxkBAAIBQ2Xlarge");
    assert_string_equal(u.message.media_group_id, "13612345678901234");
    assert_string_equal(u.message.text, "This is the damaged box");
    assert_true(u.message.text_is_caption);
    assert_not_command(&u.message);
    tg_update_free(&u);
}

static void test_sticker(void **state)
{
    struct tg_update u;

    parse_fixture("sticker.json", &u);
    assert_int_equal(u.update_id, 412345693);
    assert_int_equal(u.message.message_id, 46);
    assert_int_equal(u.message.media, TG_MEDIA_STICKER);
    assert_string_equal(tg_media_name(u.message.media), "sticker");
    assert_string_equal(u.message.file_id, "CAACAgIAAxkBAAIBRmXsticker");
    assert_null(u.message.text);
    tg_update_free(&u);
}

static void test_nul_and_rtl(void **state)
{
    static const char want[] = "zerobyte and \xE2\x80\xAERTL override; '); DROP TABLE requests;--";
    struct tg_update u;

    parse_fixture("text_with_nul_and_rtl.json", &u);
    assert_int_equal(u.update_id, 412345694);
    assert_int_equal(u.message.message_id, 47);
    assert_non_null(u.message.text);
    assert_int_equal(strlen(u.message.text), sizeof(want) - 1);
    assert_memory_equal(u.message.text, want, sizeof(want)); /* with the terminator */
    assert_true(u.message.text_was_cleaned);
    assert_string_equal(u.message.from.language_code, "ar");
    /* the cleaned copy is in the arena with the clean ones */
    assert_in_arena(&u, u.message.text);
    assert_in_arena(&u, u.message.from.first_name);
    assert_not_command(&u.message);
    tg_update_free(&u);
}

/* Every fixture parses; every bad body is rejected without quoting it. */
static void good_fixture(const char *name, const char *body, size_t len, void *userdata)
{
    struct tg_update u;
    int r;

    (void)userdata;
    memset(&u, 0x5A, sizeof(u));
    g_err[0] = '\0';
    r = tg_update_parse(body, len, &u, g_err, sizeof(g_err));
    if (r != 0)
        fail_msg("%s: %d (%s)", name, r, g_err);
    assert_true(u.update_id > 0);
    assert_true(u.kind != TG_UPDATE_OTHER);
    tg_update_free(&u);
}

static void bad_fixture(const char *name, const char *body, size_t len, void *userdata)
{
    struct tg_update u, before;
    int r;

    (void)userdata;
    memset(&u, 0x5A, sizeof(u));
    memcpy(&before, &u, sizeof(u));
    g_err[0] = '\0';
    r = tg_update_parse(body, len, &u, g_err, sizeof(g_err));
    if (r != -EINVAL)
        fail_msg("%s: accepted", name);
    assert_true(g_err[0] != '\0');
    assert_memory_equal(&u, &before, sizeof(u));
    /* the reason never quotes the body */
    assert_null(strstr(g_err, "utf8"));
    assert_null(strstr(g_err, "chat id as string"));
    assert_null(strstr(g_err, "no update id"));
    assert_null(strstr(g_err, "abc"));
}

static void test_all_fixtures(void **state)
{
    assert_true(fixtures_each("updates", good_fixture, NULL) >= 13);
    assert_true(fixtures_each("bad", bad_fixture, NULL) >= 10);
}

static void test_bad_fixture_reasons(void **state)
{
    static const struct {
        const char *name, *reason;
    } cases[] = {
        {"chat_id_string.json", "message.chat.id: not an integer"},
        {"missing_update_id.json", "update_id: missing"},
        {"update_id_float.json", "update_id: not an integer"},
        {"update_id_string.json", "update_id: not an integer"},
        {"array_body.json", "not a JSON object"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_update u;
        size_t len;
        char *body;

        body = fixture_read("bad", cases[i].name, &len);
        assert_int_equal(tg_update_parse(body, len, &u, g_err, sizeof(g_err)), -EINVAL);
        free(body);
        assert_string_equal(g_err, cases[i].reason);
    }
}

/* ---- update_id and the body as a whole ---------------------------------- */

static void test_update_id_range(void **state)
{
    struct tg_update u;

    expect_ok("{\"update_id\":0}", &u);
    assert_int_equal(u.update_id, 0);
    assert_int_equal(u.kind, TG_UPDATE_OTHER);
    tg_update_free(&u);
    expect_ok("{\"update_id\":9007199254740992}", &u);
    assert_int_equal(u.update_id, INT64_C(9007199254740992));
    tg_update_free(&u);
    expect_ok("{\"update_id\":-0}", &u);
    assert_int_equal(u.update_id, 0);
    tg_update_free(&u);

    expect_bad("{\"update_id\":9007199254740993}", "update_id: out of range");
    expect_bad("{\"update_id\":9223372036854775807}", "update_id: out of range");
    expect_bad("{\"update_id\":-1}", "update_id: out of range");
    expect_bad("{\"update_id\":-9223372036854775808}", "update_id: out of range");
    expect_bad("{\"update_id\":99999999999999999999999}", NULL);
    expect_bad("{\"update_id\":-99999999999999999999999}", NULL);
    expect_bad("{\"update_id\":1.0}", "update_id: not an integer");
    expect_bad("{\"update_id\":1e3}", "update_id: not an integer");
    expect_bad("{\"update_id\":1E3}", "update_id: not an integer");
    expect_bad("{\"update_id\":\"1\"}", "update_id: not an integer");
    expect_bad("{\"update_id\":true}", "update_id: not an integer");
    expect_bad("{\"update_id\":null}", "update_id: not an integer");
    expect_bad("{\"update_id\":[1]}", "update_id: not an integer");
    expect_bad("{\"update_ID\":1}", "update_id: missing");
}

static void test_body_framing(void **state)
{
    static const char prefix[] = "{\"update_id\":12}GARBAGE";
    struct tg_update u;

    expect_bad("", NULL);
    expect_bad("   \n", NULL);
    expect_bad("null", NULL);
    expect_bad("42", NULL);
    expect_bad("\"update_id\"", NULL);
    expect_bad("{\"update_id\":1} x", NULL);
    expect_bad("{\"update_id\":1}{\"update_id\":2}", NULL);
    expect_bad("{\"update_id\":1,}", NULL);
    expect_bad("{\"update_id\":1", NULL);
    expect_bad("{\"update_id\":1,\"update_id\":2}", NULL); /* duplicate key */
    expect_bad("{\"update_id\":1,\"a\\u0000b\":2}", NULL); /* NUL in a key */
    expect_bad(MSG(",\"text\":\"\\ud800 lone surrogate\""), NULL);
    expect_bad(MSG(",\"text\":\"\xC3\x28\""), "invalid UTF-8 (byte 92)");

    /* trailing whitespace is fine; the body need not be NUL-terminated */
    expect_ok("{\"update_id\":1}\r\n", &u);
    tg_update_free(&u);
    assert_int_equal(tg_update_parse(prefix, 16, &u, g_err, sizeof(g_err)), 0);
    assert_int_equal(u.update_id, 12);
    tg_update_free(&u);

    /* no body at all, no room for a reason */
    assert_int_equal(tg_update_parse(NULL, 0, &u, NULL, 0), -EINVAL);
    assert_int_equal(tg_update_parse(NULL, 5, &u, g_err, sizeof(g_err)), -EINVAL);
    assert_int_equal(tg_update_parse("[]", 2, &u, NULL, 0), -EINVAL);
    /* a tiny buffer gets a truncated, terminated reason */
    {
        char small[8];
        memset(small, 'x', sizeof(small));
        assert_int_equal(tg_update_parse("[]", 2, &u, small, sizeof(small)), -EINVAL);
        assert_string_equal(small, "not a J");
    }
}

static void test_deep_nesting(void **state)
{
    size_t depth = 5000, i, n = 0;
    char *body = malloc(2 * depth + 64);
    struct tg_update u;

    assert_non_null(body);
    n += (size_t)snprintf(body, 64, "{\"update_id\":3,\"x\":");
    for (i = 0; i < depth; i++)
        body[n++] = '[';
    for (i = 0; i < depth; i++)
        body[n++] = ']';
    body[n++] = '}';
    assert_int_equal(tg_update_parse(body, n, &u, g_err, sizeof(g_err)), -EINVAL);
    assert_non_null(strstr(g_err, "nested too deeply"));
    free(body);

    /* moderate nesting in an unknown field is fine */
    expect_ok("{\"update_id\":3,\"x\":[[[[[[[[[[{\"y\":[[[]]]}]]]]]]]]]]}", &u);
    assert_int_equal(u.kind, TG_UPDATE_OTHER);
    tg_update_free(&u);
}

/* ---- kinds and fields ---------------------------------------------------- */

static void test_unknown_kinds_and_fields(void **state)
{
    struct tg_update u;

    expect_ok("{\"update_id\":5,\"poll\":{\"id\":\"1\",\"question\":\"q?\",\"options\":[]}}", &u);
    assert_int_equal(u.update_id, 5);
    assert_int_equal(u.kind, TG_UPDATE_OTHER);
    assert_string_equal(tg_update_kind_name(u.kind), "other");
    tg_update_free(&u);

    expect_ok("{\"update_id\":6,\"chat_member\":{\"weird\":true},\"message\":null}", &u);
    assert_int_equal(u.kind, TG_UPDATE_OTHER);
    tg_update_free(&u);

    expect_ok("{\"update_id\":7,\"edited_channel_post\":{\"message_id\":3,\"date\":1,"
              "\"chat\":{\"id\":-1003000000001,\"type\":\"channel\"},\"text\":\"x\"}}",
              &u);
    assert_int_equal(u.kind, TG_UPDATE_EDITED_CHANNEL_POST);
    assert_string_equal(tg_update_kind_name(u.kind), "edited_channel_post");
    tg_update_free(&u);

    /* unknown fields anywhere are ignored, also with strange types */
    expect_ok("{\"update_id\":8,\"future\":[1,{\"a\":null}],\"message\":{\"message_id\":9,"
              "\"date\":2,\"chat\":{\"id\":-5,\"type\":\"group\",\"is_forum\":\"?\"},"
              "\"via_bot\":7,\"from\":{\"id\":3,\"is_premium\":\"yes\"},\"text\":\"hi\","
              "\"link_preview_options\":{\"is_disabled\":1}}}",
              &u);
    assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
    assert_int_equal(u.message.chat.type, TG_CHAT_GROUP);
    assert_int_equal(u.message.chat.id, -5);
    assert_int_equal(u.message.from.id, 3);
    assert_null(u.message.from.first_name);
    assert_string_equal(u.message.text, "hi");
    tg_update_free(&u);

    /* an unknown chat type is kept as unknown */
    expect_ok("{\"update_id\":9,\"message\":{\"message_id\":1,\"date\":1,"
              "\"chat\":{\"id\":1,\"type\":\"hyperchat\"}}}",
              &u);
    assert_int_equal(u.message.chat.type, TG_CHAT_UNKNOWN);
    assert_null(u.message.text);
    assert_false(u.message.has_from);
    tg_update_free(&u);

    /* the first kind present wins */
    expect_ok("{\"update_id\":10,\"callback_query\":{\"id\":\"q\",\"from\":{\"id\":1}},"
              "\"edited_message\":{\"message_id\":2,\"date\":1,"
              "\"chat\":{\"id\":1,\"type\":\"private\"}}}",
              &u);
    assert_int_equal(u.kind, TG_UPDATE_EDITED_MESSAGE);
    tg_update_free(&u);
}

static void test_wrong_types(void **state)
{
    expect_bad("{\"update_id\":1,\"message\":\"hello\"}", "message: not an object");
    expect_bad("{\"update_id\":1,\"message\":{}}", "message.message_id: missing");
    expect_bad("{\"update_id\":1,\"message\":{\"message_id\":\"7\",\"date\":1,"
               "\"chat\":{\"id\":42,\"type\":\"private\"}}}",
               "message.message_id: not an integer");
    expect_bad("{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1.5,"
               "\"chat\":{\"id\":42,\"type\":\"private\"}}}",
               "message.date: not an integer");
    expect_bad("{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1}}",
               "message.chat: missing");
    expect_bad("{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1,\"chat\":[]}}",
               "message.chat: not an object");
    expect_bad("{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1,"
               "\"chat\":{\"id\":6123456789.0,\"type\":\"private\"}}}",
               "message.chat.id: not an integer");
    expect_bad("{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1,"
               "\"chat\":{\"id\":1,\"type\":3}}}",
               "message.chat.type: not a string");
    expect_bad("{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1,"
               "\"chat\":{\"id\":1}}}",
               "message.chat.type: missing");
    expect_bad(MSG(",\"from\":{\"id\":\"6123\"}"), "message.from.id: not an integer");
    expect_bad(MSG(",\"from\":{\"first_name\":\"X\"}"), "message.from.id: missing");
    expect_bad(MSG(",\"from\":{\"id\":1,\"is_bot\":\"no\"}"), "message.from.is_bot: not a boolean");
    expect_bad(MSG(",\"from\":{\"id\":1,\"username\":7}"), "message.from.username: not a string");
    expect_bad(MSG(",\"from\":\"me\""), "message.from: not an object");
    expect_bad(MSG(",\"text\":42"), "message.text: not a string");
    expect_bad(MSG(",\"caption\":[]"), "message.caption: not a string");
    expect_bad(MSG(",\"edit_date\":\"1\""), "message.edit_date: not an integer");
    expect_bad(MSG(",\"photo\":{}"), "message.photo: not an array");
    expect_bad(MSG(",\"photo\":[1]"), "message.photo[]: not an object");
    expect_bad(MSG(",\"photo\":[{\"width\":1}]"), "message.photo[].file_id: missing");
    expect_bad(MSG(",\"photo\":[{\"file_id\":\"a\",\"width\":\"1\"}]"),
               "message.photo[].width: not an integer");
    expect_bad(MSG(",\"document\":{\"file_id\":5}"), "message.document.file_id: not a string");
    expect_bad(MSG(",\"voice\":\"x\""), "message.voice: not an object");
    expect_bad(MSG(",\"media_group_id\":5"), "message.media_group_id: not a string");
    expect_bad(MSG(",\"reply_to_message\":{}"), "message.reply_to_message.message_id: missing");
    expect_bad(MSG(",\"reply_to_message\":{\"message_id\":3,\"from\":{\"id\":\"x\"}}"),
               "message.reply_to_message.from.id: not an integer");
    expect_bad(MSG(",\"reply_to_message\":{\"message_id\":3,\"from\":5}"),
               "message.reply_to_message.from: not an object");
    expect_bad(MSG(",\"migrate_to_chat_id\":\"-100\""),
               "message.migrate_to_chat_id: not an integer");
    expect_bad("{\"update_id\":1,\"edited_message\":{\"message_id\":1}}",
               "edited_message.date: missing");
    expect_bad("{\"update_id\":1,\"channel_post\":[]}", "channel_post: not an object");

    expect_bad("{\"update_id\":1,\"callback_query\":{\"from\":{\"id\":1}}}",
               "callback_query.id: missing");
    expect_bad("{\"update_id\":1,\"callback_query\":{\"id\":4,\"from\":{\"id\":1}}}",
               "callback_query.id: not a string");
    expect_bad("{\"update_id\":1,\"callback_query\":{\"id\":\"q\"}}",
               "callback_query.from: missing");
    expect_bad("{\"update_id\":1,\"callback_query\":{\"id\":\"q\",\"from\":{\"id\":1},"
               "\"data\":{}}}",
               "callback_query.data: not a string");
    expect_bad("{\"update_id\":1,\"callback_query\":{\"id\":\"q\",\"from\":{\"id\":1},"
               "\"message\":{\"message_id\":3}}}",
               "callback_query.message.chat: missing");
    expect_bad("{\"update_id\":1,\"callback_query\":{\"id\":\"q\",\"from\":{\"id\":1},"
               "\"message\":{\"message_id\":3,\"chat\":{\"id\":\"1\"}}}}",
               "callback_query.message.chat.id: not an integer");

    expect_bad("{\"update_id\":1,\"my_chat_member\":{\"chat\":{\"id\":1,\"type\":\"private\"},"
               "\"from\":{\"id\":1}}}",
               "my_chat_member.new_chat_member: missing");
    expect_bad("{\"update_id\":1,\"my_chat_member\":{\"chat\":{\"id\":1,\"type\":\"private\"},"
               "\"from\":{\"id\":1},\"new_chat_member\":{\"status\":1}}}",
               "my_chat_member.new_chat_member.status: not a string");
    expect_bad("{\"update_id\":1,\"my_chat_member\":{\"chat\":{\"id\":1,\"type\":\"private\"},"
               "\"new_chat_member\":{\"status\":\"kicked\"}}}",
               "my_chat_member.from: missing");
    expect_bad("{\"update_id\":1,\"my_chat_member\":{\"from\":{\"id\":1},"
               "\"new_chat_member\":{\"status\":\"kicked\"}}}",
               "my_chat_member.chat: missing");
}

static void test_ids_64bit(void **state)
{
    struct tg_update u;

    expect_ok("{\"update_id\":1,\"message\":{\"message_id\":2147483648,\"date\":1,"
              "\"chat\":{\"id\":-1009223372036,\"type\":\"supergroup\"},"
              "\"from\":{\"id\":1099511627776},\"migrate_to_chat_id\":-1001234567890,"
              "\"reply_to_message\":{\"message_id\":2147483649}}}",
              &u);
    assert_int_equal(u.message.message_id, INT64_C(2147483648));
    assert_int_equal(u.message.chat.id, INT64_C(-1009223372036));
    assert_int_equal(u.message.from.id, INT64_C(1099511627776));
    assert_int_equal(u.message.migrate_to_chat_id, INT64_C(-1001234567890));
    assert_true(u.message.has_reply_to);
    assert_int_equal(u.message.reply_to_message_id, INT64_C(2147483649));
    assert_int_equal(u.message.reply_to_from_id, 0);
    tg_update_free(&u);
}

static void test_callback_and_member_optional(void **state)
{
    struct tg_update u;

    expect_ok("{\"update_id\":1,\"callback_query\":{\"id\":\"q1\",\"from\":{\"id\":9},"
              "\"inline_message_id\":\"abc\",\"game_short_name\":\"g\"}}",
              &u);
    assert_string_equal(u.callback.id, "q1");
    assert_int_equal(u.callback.from.id, 9);
    assert_null(u.callback.data);
    assert_false(u.callback.has_message);
    tg_update_free(&u);

    /* an inaccessible message (date 0) still names its chat and id */
    expect_ok("{\"update_id\":1,\"callback_query\":{\"id\":\"q2\",\"from\":{\"id\":9},"
              "\"data\":\"take:7\",\"message\":{\"message_id\":77,\"date\":0,"
              "\"chat\":{\"id\":-1002000000001,\"type\":\"supergroup\"}}}}",
              &u);
    assert_string_equal(u.callback.data, "take:7");
    assert_true(u.callback.has_message);
    assert_int_equal(u.callback.message_id, 77);
    assert_int_equal(u.callback.message_chat_id, INT64_C(-1002000000001));
    tg_update_free(&u);

    expect_ok("{\"update_id\":1,\"my_chat_member\":{\"chat\":{\"id\":-5,\"type\":\"group\","
              "\"title\":\"G\"},\"from\":{\"id\":9},\"new_chat_member\":{\"status\":\"member\"}}}",
              &u);
    assert_int_equal(u.member.chat.id, -5);
    assert_string_equal(u.member.chat.title, "G");
    assert_null(u.member.old_status);
    assert_string_equal(u.member.new_status, "member");
    tg_update_free(&u);
}

/* ---- commands ------------------------------------------------------------ */

static void expect_command(const char *json, const char *cmd, const char *bot, const char *args)
{
    struct tg_update u;

    expect_ok(json, &u);
    if (!cmd) {
        assert_not_command(&u.message);
    } else {
        assert_string_equal(u.message.command, cmd);
        if (bot)
            assert_string_equal(u.message.command_bot, bot);
        else
            assert_null(u.message.command_bot);
        assert_string_equal(u.message.command_args, args);
    }
    tg_update_free(&u);
}

static void test_commands_without_entities(void **state)
{
    expect_command(MSG(",\"text\":\"/list\""), "list", NULL, "");
    expect_command(MSG(",\"text\":\"/START\""), "start", NULL, "");
    expect_command(MSG(",\"text\":\"/Take@Desk_Bot   12 x\""), "take", "Desk_Bot", "12 x");
    expect_command(MSG(",\"text\":\"/reply 12\\nline two\""), "reply", NULL, "12\nline two");
    expect_command(MSG(",\"text\":\"/reply\\n12 hi\""), "reply", NULL, "12 hi");
    expect_command(MSG(",\"text\":\"/solve_2 ok \""), "solve_2", NULL, "ok ");
    expect_command(MSG(",\"text\":\"/take@ 12\""), "take", NULL, "@ 12");
    expect_command(MSG(",\"text\":\"/a23456789012345678901234567890bc x\""),
                   "a23456789012345678901234567890bc", NULL, "x");
    expect_command(MSG(",\"text\":\"/start \xF0\x9F\x93\xA6\""), "start", NULL, "\xF0\x9F\x93\xA6");
    /* not commands */
    expect_command(MSG(",\"text\":\"/a23456789012345678901234567890bcd x\""), NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"/take@a23456789012345678901234567890bcd\""), NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"/\""), NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"/ take\""), NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\" /take\""), NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"hello /take 1\""), NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"\""), NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"/\xC3\xA9t\xC3\xA9\""), NULL, NULL, NULL);
}

/* A message whose text (JSON-escaped) carries one entity. */
static void expect_entity_command(const char *text, const char *type, long long offset,
                                  long long length, const char *cmd, const char *bot,
                                  const char *args)
{
    char body[512];
    int n = snprintf(body, sizeof(body),
                     MSG(",\"text\":\"%s\",\"entities\":[{\"offset\":%lld,\"length\":%lld,"
                         "\"type\":\"%s\"}]"),
                     text, offset, length, type);

    assert_true(n > 0 && (size_t)n < sizeof(body));
    expect_command(body, cmd, bot, args);
}

static void test_commands_with_entities(void **state)
{
    expect_entity_command("/take@desk_bot 12", "bot_command", 0, 14, "take", "desk_bot", "12");
    expect_entity_command("/take 12", "bot_command", 0, 5, "take", NULL, "12");
    /* Telegram cuts the entity at a non-word character */
    expect_entity_command("/start.", "bot_command", 0, 6, "start", NULL, ".");
    /* entities without a command at offset 0: not a command */
    expect_entity_command("/take 12", "bold", 0, 5, NULL, NULL, NULL);
    expect_entity_command("hi /take", "bot_command", 3, 5, NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"/take 12\",\"entities\":[]"), NULL, NULL, NULL);
    /* forged lengths: past the end, too short, cutting a word, negative, huge */
    expect_entity_command("/start", "bot_command", 0, 100, NULL, NULL, NULL);
    expect_entity_command("/start", "bot_command", 0, 7, NULL, NULL, NULL);
    expect_entity_command("/start", "bot_command", 0, 1, NULL, NULL, NULL);
    expect_entity_command("/start", "bot_command", 0, 0, NULL, NULL, NULL);
    expect_entity_command("/start", "bot_command", 0, 3, NULL, NULL, NULL);
    expect_entity_command("/start@bot", "bot_command", 0, 6, NULL, NULL, NULL);
    expect_entity_command("/start", "bot_command", 0, -6, NULL, NULL, NULL);
    expect_entity_command("/start", "bot_command", 0, INT64_MAX, NULL, NULL, NULL);
    expect_entity_command("/start", "bot_command", 0, INT64_MIN, NULL, NULL, NULL);
    expect_entity_command("/st x", "bot_command", 0, 5, NULL, NULL, NULL);
    /* one UTF-16 unit of an emoji is 4 bytes of UTF-8: never trusted as bytes */
    expect_entity_command("/\xF0\x9F\x93\xA6 x", "bot_command", 0, 3, NULL, NULL, NULL);
    expect_entity_command("/\xF0\x9F\x93\xA6 x", "bot_command", 0, 5, NULL, NULL, NULL);

    /* the bot_command entity need not be the first one */
    expect_command(MSG(",\"text\":\"/take 12\",\"entities\":["
                       "{\"offset\":6,\"length\":2,\"type\":\"bold\"},"
                       "{\"offset\":0,\"length\":5,\"type\":\"bot_command\"}]"),
                   "take", NULL, "12");
    /* malformed entities are hints, never fatal */
    expect_command(MSG(",\"text\":\"/take 1\",\"entities\":[7,"
                       "{\"offset\":\"0\",\"length\":5,\"type\":\"bot_command\"},"
                       "{\"offset\":0.0,\"length\":5,\"type\":\"bot_command\"},"
                       "{\"offset\":0,\"length\":5.0,\"type\":\"bot_command\"},"
                       "{\"offset\":0,\"length\":5,\"type\":[]}]"),
                   NULL, NULL, NULL);
    expect_command(MSG(",\"text\":\"/take 1\",\"entities\":{\"x\":1}"), "take", NULL, "1");
    /* a caption uses caption_entities, not entities */
    expect_command(
        MSG(",\"photo\":[{\"file_id\":\"p\"}],\"caption\":\"/reply 12 see pic\","
            "\"caption_entities\":[{\"offset\":0,\"length\":6,\"type\":\"bot_command\"}],"
            "\"entities\":[{\"offset\":0,\"length\":3,\"type\":\"bot_command\"}]"),
        "reply", NULL, "12 see pic");
    /* a text uses entities, not caption_entities */
    expect_command(
        MSG(",\"text\":\"/take 1\","
            "\"caption_entities\":[{\"offset\":0,\"length\":5,\"type\":\"bot_command\"}],"
            "\"entities\":[]"),
        NULL, NULL, NULL);
}

/* ---- media ---------------------------------------------------------------- */

static void expect_media(const char *json, enum tg_media media, const char *file_id)
{
    struct tg_update u;

    expect_ok(json, &u);
    assert_int_equal(u.message.media, media);
    if (file_id)
        assert_string_equal(u.message.file_id, file_id);
    else
        assert_null(u.message.file_id);
    tg_update_free(&u);
}

static void test_media(void **state)
{
    /* the largest photo by area, wherever it is in the list */
    expect_media(MSG(",\"photo\":[{\"file_id\":\"mid\",\"width\":320,\"height\":320},"
                     "{\"file_id\":\"big\",\"width\":1280,\"height\":960},"
                     "{\"file_id\":\"small\",\"width\":90,\"height\":90}]"),
                 TG_MEDIA_PHOTO, "big");
    /* no sizes given, or equal ones: the last */
    expect_media(MSG(",\"photo\":[{\"file_id\":\"a\"},{\"file_id\":\"b\"}]"), TG_MEDIA_PHOTO, "b");
    expect_media(MSG(",\"photo\":[{\"file_id\":\"a\",\"width\":9,\"height\":9},"
                     "{\"file_id\":\"b\",\"width\":9,\"height\":9}]"),
                 TG_MEDIA_PHOTO, "b");
    /* absurd sizes do not overflow */
    expect_media(MSG(",\"photo\":[{\"file_id\":\"huge\",\"width\":9223372036854775807,"
                     "\"height\":9223372036854775807},{\"file_id\":\"neg\",\"width\":-5,"
                     "\"height\":-9223372036854775808}]"),
                 TG_MEDIA_PHOTO, "huge");
    /* no sizes: no photo, and nothing else either - a kind unknown here */
    expect_media(MSG(",\"photo\":[]"), TG_MEDIA_OTHER, NULL);
    /* an animation message also carries a document: the animation wins */
    expect_media(MSG(",\"document\":{\"file_id\":\"doc\"},\"animation\":{\"file_id\":\"gif\"}"),
                 TG_MEDIA_ANIMATION, "gif");
    expect_media(MSG(",\"voice\":{\"file_id\":\"v\",\"duration\":3}"), TG_MEDIA_VOICE, "v");
    expect_media(MSG(",\"video\":{\"file_id\":\"vd\"}"), TG_MEDIA_VIDEO, "vd");
    expect_media(MSG(",\"audio\":{\"file_id\":\"au\"}"), TG_MEDIA_AUDIO, "au");
    expect_media(MSG(",\"video_note\":{\"file_id\":\"vn\"}"), TG_MEDIA_VIDEO_NOTE, "vn");
    expect_media(MSG(",\"sticker\":{\"file_id\":\"st\"},\"text\":\"x\""), TG_MEDIA_STICKER, "st");
    expect_media(MSG(",\"contact\":{\"phone_number\":\"1\"}"), TG_MEDIA_CONTACT, NULL);
    /* a text is a text, whatever else is there */
    expect_media(MSG(",\"text\":\"x\",\"contact\":{\"phone_number\":\"1\"}"), TG_MEDIA_NONE, NULL);
}

/* ---- content without a file, service messages ----------------------------- */

/* json parses as a message of kind media whose content is exactly content. */
static void expect_content(const char *json, enum tg_media media, const char *content)
{
    struct tg_update u;

    expect_ok(json, &u);
    assert_int_equal(u.message.media, media);
    assert_null(u.message.file_id);
    assert_false(u.message.is_service);
    if (content) {
        assert_non_null(u.message.content);
        assert_string_equal(u.message.content, content);
        assert_in_arena(&u, u.message.content);
    } else {
        assert_null(u.message.content);
    }
    tg_update_free(&u);
}

static void test_content_kinds(void **state)
{
    static const struct {
        const char *key;
        enum tg_media media;
    } kinds[] = {
        {"location", TG_MEDIA_LOCATION}, {"venue", TG_MEDIA_VENUE},
        {"contact", TG_MEDIA_CONTACT},   {"poll", TG_MEDIA_POLL},
        {"dice", TG_MEDIA_DICE},         {"story", TG_MEDIA_STORY},
        {"game", TG_MEDIA_GAME},         {"checklist", TG_MEDIA_CHECKLIST},
        {"invoice", TG_MEDIA_INVOICE},   {"paid_media", TG_MEDIA_PAID_MEDIA},
        {"giveaway", TG_MEDIA_GIVEAWAY}, {"giveaway_winners", TG_MEDIA_GIVEAWAY_WINNERS},
    };
    char body[512];
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        snprintf(body, sizeof(body), MSG(",\"%s\": {\"a\" : [1, \"\\u00e9\"]}"), kinds[i].key);
        /* the object's text as sent: spaces and escapes kept */
        expect_content(body, kinds[i].media, "{\"a\" : [1, \"\\u00e9\"]}");
        assert_string_equal(tg_media_name(kinds[i].media), kinds[i].key);
    }
    /* a venue carries a location too: it is a venue */
    expect_content(MSG(",\"location\":{\"latitude\":1},\"venue\":{\"title\":\"T\"}"),
                   TG_MEDIA_VENUE, "{\"title\":\"T\"}");
    /* paid media may have a caption */
    {
        struct tg_update u;
        expect_ok(MSG(",\"caption\":\"look\",\"paid_media\":{\"star_count\":5}"), &u);
        assert_int_equal(u.message.media, TG_MEDIA_PAID_MEDIA);
        assert_string_equal(u.message.text, "look");
        assert_true(u.message.text_is_caption);
        assert_string_equal(u.message.content, "{\"star_count\":5}");
        tg_update_free(&u);
    }
    /* JSON null is no content; nothing known at all: OTHER */
    expect_content(MSG(",\"location\":null"), TG_MEDIA_OTHER, NULL);
    expect_content(MSG(",\"hologram\":{\"x\":1}"), TG_MEDIA_OTHER, NULL);
    assert_string_equal(tg_media_name(TG_MEDIA_OTHER), "message");
    /* a content field of the wrong type makes the update malformed */
    expect_bad(MSG(",\"location\":[52.5,13.4]"), "message.location: not an object");
    expect_bad(MSG(",\"dice\":\"6\""), "message.dice: not an object");
    /* jansson lets a NUL byte follow a number; the copy leaves it out */
    {
        static const char nul[] = MSG(",\"location\":{\"latitude\":1\0,\"longitude\":2}");
        struct tg_update u;
        assert_int_equal(tg_update_parse(nul, sizeof(nul) - 1, &u, g_err, sizeof(g_err)), 0);
        assert_string_equal(u.message.content, "{\"latitude\":1,\"longitude\":2}");
        tg_update_free(&u);
    }
    /* the fixtures */
    {
        struct tg_update u;
        parse_fixture("private_location.json", &u);
        assert_int_equal(u.message.media, TG_MEDIA_LOCATION);
        assert_non_null(strstr(u.message.content, "\"latitude\":52.520008"));
        tg_update_free(&u);
        parse_fixture("private_venue.json", &u);
        assert_int_equal(u.message.media, TG_MEDIA_VENUE);
        assert_non_null(strstr(u.message.content, "\"title\":\"Tour Eiffel\""));
        tg_update_free(&u);
        parse_fixture("private_contact.json", &u);
        assert_int_equal(u.message.media, TG_MEDIA_CONTACT);
        tg_update_free(&u);
        parse_fixture("private_poll.json", &u);
        assert_int_equal(u.message.media, TG_MEDIA_POLL);
        tg_update_free(&u);
        parse_fixture("private_dice.json", &u);
        assert_int_equal(u.message.media, TG_MEDIA_DICE);
        assert_string_equal(u.message.content, "{\"emoji\":\"🎲\",\"value\":4}");
        tg_update_free(&u);
    }
}

static void expect_service(const char *json)
{
    struct tg_update u;

    expect_ok(json, &u);
    assert_true(u.message.is_service);
    assert_int_equal(u.message.media, TG_MEDIA_NONE);
    assert_null(u.message.content);
    assert_null(u.message.text);
    tg_update_free(&u);
}

static void test_service_messages(void **state)
{
    struct tg_update u;

    expect_service(MSG(",\"new_chat_members\":[{\"id\":5,\"is_bot\":false,\"first_name\":\"N\"}]"));
    expect_service(MSG(",\"left_chat_member\":{\"id\":5,\"is_bot\":false,\"first_name\":\"N\"}"));
    expect_service(MSG(",\"pinned_message\":{\"message_id\":3,\"date\":1,\"chat\":{\"id\":42,"
                       "\"type\":\"private\"},\"text\":\"pin\"}"));
    expect_service(MSG(",\"forum_topic_created\":{\"name\":\"#1\",\"icon_color\":7322096}"));
    expect_service(MSG(",\"forum_topic_closed\":{}"));
    expect_service(
        MSG(",\"message_auto_delete_timer_changed\":{\"message_auto_delete_time\":86400}"));
    expect_service(MSG(",\"write_access_allowed\":{}"));
    expect_service(MSG(",\"chat_background_set\":{\"type\":{}}"));
    expect_service(MSG(",\"successful_payment\":{\"currency\":\"XTR\"}"));
    expect_service(MSG(",\"video_chat_started\":{}"));
    /* the group became a supergroup: a service message whose new id is read */
    expect_ok(MSG(",\"migrate_to_chat_id\":-1001234567890"), &u);
    assert_true(u.message.is_service);
    assert_int_equal(u.message.migrate_to_chat_id, INT64_C(-1001234567890));
    tg_update_free(&u);
    /* not service: anything with text, a file or content */
    expect_ok(MSG(",\"text\":\"hi\",\"pinned_message\":{}"), &u);
    assert_false(u.message.is_service);
    tg_update_free(&u);
    parse_fixture("private_pinned_service.json", &u);
    assert_true(u.message.is_service);
    tg_update_free(&u);
    parse_fixture("group_new_members_service.json", &u);
    assert_true(u.message.is_service);
    tg_update_free(&u);
    parse_fixture("private_text.json", &u);
    assert_false(u.message.is_service);
    assert_null(u.message.content);
    assert_null(u.message.business_connection_id);
    tg_update_free(&u);
}

/* ---- Telegram Business ------------------------------------------------------ */

#define BIZ(extra)                                                                         \
    "{\"update_id\":2,\"business_connection\":{\"id\":\"c1\",\"user\":{\"id\":7012345678," \
    "\"is_bot\":false,\"first_name\":\"Marta\"},\"user_chat_id\":7012345678,\"date\":5" extra "}}"

static void test_business_connection(void **state)
{
    struct tg_update u;

    parse_fixture("business_connection.json", &u);
    assert_int_equal(u.kind, TG_UPDATE_BUSINESS_CONNECTION);
    assert_string_equal(tg_update_kind_name(u.kind), "business_connection");
    assert_string_equal(u.business.id, "AQADBusinessConn1");
    assert_int_equal(u.business.user.id, INT64_C(7012345678));
    assert_string_equal(u.business.user.first_name, "Marta");
    assert_string_equal(u.business.user.username, "marta_flowers");
    assert_int_equal(u.business.user_chat_id, INT64_C(7012345678));
    assert_int_equal(u.business.date, 1767226000);
    assert_true(u.business.is_enabled);
    assert_true(u.business.can_reply);
    assert_string_equal(u.business.rights, "{\"can_reply\":true,\"can_read_messages\":true,"
                                           "\"can_delete_sent_messages\":true}");
    tg_update_free(&u);

    /* before Bot API 9.0: can_reply on the connection */
    parse_fixture("business_connection_disabled.json", &u);
    assert_false(u.business.is_enabled);
    assert_true(u.business.can_reply);
    assert_null(u.business.rights);
    tg_update_free(&u);

    /* rights decide when they are there; a right not given is not granted */
    expect_ok(BIZ(",\"is_enabled\":true,\"can_reply\":true,\"rights\":{\"can_reply\":false}"), &u);
    assert_false(u.business.can_reply);
    tg_update_free(&u);
    expect_ok(BIZ(",\"is_enabled\":true,\"rights\":{\"can_read_messages\":true}"), &u);
    assert_false(u.business.can_reply);
    assert_string_equal(u.business.rights, "{\"can_read_messages\":true}");
    tg_update_free(&u);
    expect_ok(BIZ(",\"is_enabled\":true"), &u);
    assert_false(u.business.can_reply);
    tg_update_free(&u);

    expect_bad(BIZ(""), "business_connection.is_enabled: missing");
    expect_bad(BIZ(",\"is_enabled\":1"), "business_connection.is_enabled: not a boolean");
    expect_bad(BIZ(",\"is_enabled\":true,\"rights\":[]"),
               "business_connection.rights: not an object");
    expect_bad(BIZ(",\"is_enabled\":true,\"rights\":{\"can_reply\":\"yes\"}"),
               "business_connection.rights.can_reply: not a boolean");
    expect_bad("{\"update_id\":2,\"business_connection\":{\"user\":{\"id\":1},\"user_chat_id\":1,"
               "\"date\":1,\"is_enabled\":true}}",
               "business_connection.id: missing");
    expect_bad("{\"update_id\":2,\"business_connection\":{\"id\":\"c\",\"user_chat_id\":1,"
               "\"date\":1,\"is_enabled\":true}}",
               "business_connection.user: missing");
    expect_bad("{\"update_id\":2,\"business_connection\":{\"id\":\"c\",\"user\":{\"id\":1},"
               "\"user_chat_id\":\"1\",\"date\":1,\"is_enabled\":true}}",
               "business_connection.user_chat_id: not an integer");
    expect_bad("{\"update_id\":2,\"business_connection\":[]}",
               "business_connection: not an object");
}

static void test_business_message(void **state)
{
    struct tg_update u;

    parse_fixture("business_message.json", &u);
    assert_int_equal(u.kind, TG_UPDATE_BUSINESS_MESSAGE);
    assert_string_equal(tg_update_kind_name(u.kind), "business_message");
    assert_string_equal(u.message.business_connection_id, "AQADBusinessConn1");
    assert_int_equal(u.message.sender_business_bot_id, 0);
    assert_int_equal(u.message.from.id, INT64_C(6234567890));
    assert_int_equal(u.message.chat.id, INT64_C(6234567890));
    assert_int_equal(u.message.chat.type, TG_CHAT_PRIVATE);
    assert_string_equal(u.message.text, "Hi, do you deliver on Sundays?");
    tg_update_free(&u);

    parse_fixture("business_message_from_owner.json", &u);
    assert_int_equal(u.message.from.id, INT64_C(7012345678));
    assert_int_equal(u.message.chat.id, INT64_C(6234567890));
    tg_update_free(&u);

    parse_fixture("business_message_sent_by_bot.json", &u);
    assert_int_equal(u.message.sender_business_bot_id, 123456789);
    tg_update_free(&u);

    parse_fixture("edited_business_message.json", &u);
    assert_int_equal(u.kind, TG_UPDATE_EDITED_BUSINESS_MESSAGE);
    assert_int_equal(u.message.edit_date, 1767226200);
    assert_string_equal(u.message.business_connection_id, "AQADBusinessConn1");
    tg_update_free(&u);

    /* a business message carries its media and content like any other */
    expect_ok(
        "{\"update_id\":3,\"business_message\":{\"message_id\":1,\"date\":1,\"chat\":{\"id\":5,"
        "\"type\":\"private\"},\"business_connection_id\":\"c\",\"location\":{\"latitude\":1}}}",
        &u);
    assert_int_equal(u.message.media, TG_MEDIA_LOCATION);
    tg_update_free(&u);

    expect_bad(
        "{\"update_id\":3,\"business_message\":{\"message_id\":1,\"date\":1,\"chat\":{\"id\":5,"
        "\"type\":\"private\"},\"text\":\"x\"}}",
        "business_message.business_connection_id: missing");
    expect_bad(
        "{\"update_id\":3,\"edited_business_message\":{\"message_id\":1,\"date\":1,\"chat\":{"
        "\"id\":5,\"type\":\"private\"},\"business_connection_id\":7}}",
        "edited_business_message.business_connection_id: not a string");
    expect_bad(
        "{\"update_id\":3,\"business_message\":{\"message_id\":1,\"date\":1,\"chat\":{\"id\":5,"
        "\"type\":\"private\"},\"business_connection_id\":\"c\",\"sender_business_bot\":{}}}",
        "business_message.sender_business_bot.id: missing");
    expect_bad("{\"update_id\":3,\"business_message\":{\"message_id\":1,\"date\":1,"
               "\"business_connection_id\":\"c\"}}",
               "business_message.chat: missing");
}

static void test_business_deleted(void **state)
{
    struct tg_update u;

    parse_fixture("deleted_business_messages.json", &u);
    assert_int_equal(u.kind, TG_UPDATE_DELETED_BUSINESS_MESSAGES);
    assert_string_equal(tg_update_kind_name(u.kind), "deleted_business_messages");
    assert_string_equal(u.deleted.connection_id, "AQADBusinessConn1");
    assert_int_equal(u.deleted.chat.id, INT64_C(6234567890));
    assert_int_equal(u.deleted.n_message_ids, 2);
    assert_int_equal(u.deleted.message_ids[0], 310);
    assert_int_equal(u.deleted.message_ids[1], 311);
    tg_update_free(&u);

    /* many ids, big ones; none at all */
    expect_ok(
        "{\"update_id\":4,\"deleted_business_messages\":{\"business_connection_id\":\"c\","
        "\"chat\":{\"id\":5,\"type\":\"private\"},\"message_ids\":[1,9007199254740993,3,4,5,6,"
        "7,8,9,10,11,12,13,14,15,16,17,18]}}",
        &u);
    assert_int_equal(u.deleted.n_message_ids, 18);
    assert_int_equal(u.deleted.message_ids[1], INT64_C(9007199254740993));
    assert_int_equal(u.deleted.message_ids[17], 18);
    assert_true((uintptr_t)u.deleted.message_ids % sizeof(int64_t) == 0);
    tg_update_free(&u);
    expect_ok("{\"update_id\":4,\"deleted_business_messages\":{\"business_connection_id\":\"c\","
              "\"chat\":{\"id\":5,\"type\":\"private\"},\"message_ids\":[]}}",
              &u);
    assert_int_equal(u.deleted.n_message_ids, 0);
    tg_update_free(&u);

    expect_bad("{\"update_id\":4,\"deleted_business_messages\":{\"business_connection_id\":\"c\","
               "\"chat\":{\"id\":5,\"type\":\"private\"}}}",
               "deleted_business_messages.message_ids: missing");
    expect_bad("{\"update_id\":4,\"deleted_business_messages\":{\"business_connection_id\":\"c\","
               "\"chat\":{\"id\":5,\"type\":\"private\"},\"message_ids\":{}}}",
               "deleted_business_messages.message_ids: not an array");
    expect_bad("{\"update_id\":4,\"deleted_business_messages\":{\"business_connection_id\":\"c\","
               "\"chat\":{\"id\":5,\"type\":\"private\"},\"message_ids\":[1,\"2\"]}}",
               "deleted_business_messages.message_ids[]: not an integer");
    expect_bad("{\"update_id\":4,\"deleted_business_messages\":{\"chat\":{\"id\":5,"
               "\"type\":\"private\"},\"message_ids\":[1]}}",
               "deleted_business_messages.business_connection_id: missing");
}

static void test_forum_topics(void **state)
{
    struct tg_update u;

    /* a message in a topic names it */
    expect_ok(MSG(",\"text\":\"hi\",\"message_thread_id\":1042,\"is_topic_message\":true"), &u);
    assert_int_equal(u.message.message_thread_id, 1042);
    assert_true(u.message.is_topic_message);
    assert_false(u.message.forum_service);
    tg_update_free(&u);

    /* a reply thread of a supergroup without topics is no topic */
    expect_ok(MSG(",\"text\":\"hi\",\"message_thread_id\":1042"), &u);
    assert_int_equal(u.message.message_thread_id, 0);
    assert_false(u.message.is_topic_message);
    tg_update_free(&u);

    /* the service messages about topics */
    static const char *const events[] = {"forum_topic_created", "forum_topic_edited",
                                         "forum_topic_closed", "forum_topic_reopened"};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 MSG(",\"%s\":{},\"message_thread_id\":5,\"is_topic_message\":true"), events[i]);
        expect_ok(body, &u);
        assert_true(u.message.forum_service);
        assert_int_equal(u.message.message_thread_id, 5);
        tg_update_free(&u);
    }
    expect_bad(MSG(",\"message_thread_id\":\"5\",\"is_topic_message\":true"),
               "message.message_thread_id: not an integer");
    expect_bad(MSG(",\"is_topic_message\":1"), "message.is_topic_message: not a boolean");

    /* a button under a message in a topic */
    expect_ok("{\"update_id\":1,\"callback_query\":{\"id\":\"q\",\"from\":{\"id\":9},"
              "\"data\":\"take:7\",\"message\":{\"message_id\":77,\"date\":1,"
              "\"chat\":{\"id\":-1002000000001,\"type\":\"supergroup\"},"
              "\"message_thread_id\":1042,\"is_topic_message\":true}}}",
              &u);
    assert_int_equal(u.callback.message_thread_id, 1042);
    tg_update_free(&u);
}

static void test_names(void **state)
{
    static const struct {
        enum tg_media media;
        const char *name;
    } media[] = {
        {TG_MEDIA_NONE, NULL},
        {TG_MEDIA_PHOTO, "photo"},
        {TG_MEDIA_DOCUMENT, "document"},
        {TG_MEDIA_VOICE, "voice"},
        {TG_MEDIA_VIDEO, "video"},
        {TG_MEDIA_STICKER, "sticker"},
        {TG_MEDIA_AUDIO, "audio"},
        {TG_MEDIA_ANIMATION, "animation"},
        {TG_MEDIA_VIDEO_NOTE, "video_note"},
        {TG_MEDIA_LOCATION, "location"},
        {TG_MEDIA_VENUE, "venue"},
        {TG_MEDIA_CONTACT, "contact"},
        {TG_MEDIA_POLL, "poll"},
        {TG_MEDIA_DICE, "dice"},
        {TG_MEDIA_STORY, "story"},
        {TG_MEDIA_GAME, "game"},
        {TG_MEDIA_CHECKLIST, "checklist"},
        {TG_MEDIA_INVOICE, "invoice"},
        {TG_MEDIA_PAID_MEDIA, "paid_media"},
        {TG_MEDIA_GIVEAWAY, "giveaway"},
        {TG_MEDIA_GIVEAWAY_WINNERS, "giveaway_winners"},
        {TG_MEDIA_OTHER, "message"},
    };
    size_t i;

    for (i = 0; i < sizeof(media) / sizeof(media[0]); i++) {
        if (media[i].name)
            assert_string_equal(tg_media_name(media[i].media), media[i].name);
        else
            assert_null(tg_media_name(media[i].media));
    }
    assert_null(tg_media_name((enum tg_media)99));
    assert_string_equal(tg_update_kind_name(TG_UPDATE_MESSAGE), "message");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_EDITED_MESSAGE), "edited_message");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_CALLBACK_QUERY), "callback_query");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_MY_CHAT_MEMBER), "my_chat_member");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_CHANNEL_POST), "channel_post");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_EDITED_CHANNEL_POST), "edited_channel_post");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_OTHER), "other");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_BUSINESS_CONNECTION), "business_connection");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_BUSINESS_MESSAGE), "business_message");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_EDITED_BUSINESS_MESSAGE),
                        "edited_business_message");
    assert_string_equal(tg_update_kind_name(TG_UPDATE_DELETED_BUSINESS_MESSAGES),
                        "deleted_business_messages");
    assert_string_equal(tg_update_kind_name((enum tg_update_kind)99), "other");
}

/* ---- hostile text --------------------------------------------------------- */

static void test_cleaning_every_string(void **state)
{
    struct tg_update u;
    const char *arena;

    expect_ok("{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1,"
              "\"chat\":{\"id\":-5,\"type\":\"group\",\"title\":\"T\\u0000itle\"},"
              "\"from\":{\"id\":3,\"first_name\":\"A\\u0000B\",\"username\":\"\\u0000\","
              "\"language_code\":\"en\"},"
              "\"text\":\"\\u0000/Start@Bot\\u0000 a\\u0000rgs \\u202e\\ud83d\\udce6\","
              "\"document\":{\"file_id\":\"f\\u0000id\"},\"media_group_id\":\"g\\u0000\"}}",
              &u);
    arena = u.priv_arena;
    assert_non_null(arena);
    assert_string_equal(u.message.chat.title, "Title");
    assert_string_equal(u.message.from.first_name, "AB");
    assert_string_equal(u.message.from.username, "");
    assert_string_equal(u.message.from.language_code, "en");
    assert_string_equal(u.message.text, "/Start@Bot args \xE2\x80\xAE\xF0\x9F\x93\xA6");
    assert_true(u.message.text_was_cleaned);
    assert_string_equal(u.message.command, "start");
    assert_string_equal(u.message.command_bot, "Bot");
    assert_string_equal(u.message.command_args, "args \xE2\x80\xAE\xF0\x9F\x93\xA6");
    assert_string_equal(u.message.file_id, "fid");
    assert_string_equal(u.message.media_group_id, "g");
    /* every cleaned copy shares the one arena */
    assert_true(u.message.chat.title >= arena && u.message.text > arena &&
                u.message.command_bot > arena && u.message.file_id > arena);
    tg_update_free(&u);

    expect_ok("{\"update_id\":2,\"callback_query\":{\"id\":\"i\\u0000d\",\"from\":{\"id\":1,"
              "\"last_name\":\"\\u0000L\"},\"data\":\"take:\\u00001\"}}",
              &u);
    assert_string_equal(u.callback.id, "id");
    assert_string_equal(u.callback.from.last_name, "L");
    assert_string_equal(u.callback.data, "take:1");
    tg_update_free(&u);

    expect_ok("{\"update_id\":3,\"my_chat_member\":{\"chat\":{\"id\":1,\"type\":\"private\","
              "\"username\":\"u\\u0000\"},\"from\":{\"id\":1},"
              "\"old_chat_member\":{\"status\":\"mem\\u0000ber\"},"
              "\"new_chat_member\":{\"status\":\"\\u0000kicked\"}}}",
              &u);
    assert_string_equal(u.member.chat.username, "u");
    assert_string_equal(u.member.old_status, "member");
    assert_string_equal(u.member.new_status, "kicked");
    tg_update_free(&u);

    /* a caption is cleaned the same way; a NUL-only text becomes "" */
    expect_ok(MSG(",\"caption\":\"\\u0000\\u0000\",\"photo\":[{\"file_id\":\"p\"}]"), &u);
    assert_string_equal(u.message.text, "");
    assert_true(u.message.text_is_caption);
    assert_true(u.message.text_was_cleaned);
    assert_not_command(&u.message);
    tg_update_free(&u);
}

static void test_long_text(void **state)
{
    size_t n = 4096 * 4, i, len;
    char *body = malloc(n + 256);
    struct tg_update u;

    assert_non_null(body);
    len = (size_t)snprintf(body, 256,
                           "{\"update_id\":1,\"message\":{\"message_id\":7,\"date\":1,"
                           "\"chat\":{\"id\":42,\"type\":\"private\"},\"text\":\"");
    for (i = 0; i < 4096; i++) {
        memcpy(body + len, "\xF0\x9F\x93\xA6", 4);
        len += 4;
    }
    memcpy(body + len, "\"}}", 3);
    len += 3;
    assert_int_equal(tg_update_parse(body, len, &u, g_err, sizeof(g_err)), 0);
    assert_int_equal(strlen(u.message.text), 4096 * 4);
    assert_false(u.message.text_was_cleaned);
    tg_update_free(&u);
    free(body);
}

/* The cleaner itself, with input jscan would never produce. */
static void expect_clean(const char *in, size_t len, const char *want, bool want_dirty)
{
    char out[64];
    bool dirty = !want_dirty;
    size_t n = clean_utf8(in, len, NULL, &dirty);

    assert_true(n < sizeof(out));
    assert_int_equal(dirty, want_dirty);
    assert_int_equal(n, strlen(want));
    assert_int_equal(clean_utf8(in, len, out, &dirty), n);
    out[n] = '\0';
    assert_string_equal(out, want);
}

static void test_clean_utf8(void **state)
{
#define FFFD "\xEF\xBF\xBD"
    expect_clean("", 0, "", false);
    expect_clean("plain", 5, "plain", false);
    expect_clean("a\0b\0", 4, "ab", true);
    expect_clean("\xC3\xA9\xE2\x80\xAE\xF0\x9F\x93\xA6\xF4\x8F\xBF\xBF", 13,
                 "\xC3\xA9\xE2\x80\xAE\xF0\x9F\x93\xA6\xF4\x8F\xBF\xBF", false);
    expect_clean("\xFF", 1, FFFD, true);
    expect_clean("a\x80"
                 "b",
                 3, "a" FFFD "b", true);
    expect_clean("\xC0\xAF", 2, FFFD FFFD, true);                   /* overlong '/' */
    expect_clean("\xE0\x80\xAF", 3, FFFD FFFD FFFD, true);          /* overlong */
    expect_clean("\xED\xA0\x80", 3, FFFD FFFD FFFD, true);          /* surrogate */
    expect_clean("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD, true); /* > U+10FFFF */
    expect_clean("\xF5\x80", 2, FFFD FFFD, true);
    /* a truncated sequence is one replacement (maximal subpart) */
    expect_clean("\xF0\x9F\x93", 3, FFFD, true);
    expect_clean("\xF0\x9F\x93x", 4, FFFD "x", true);
    expect_clean("\xE2\x80", 2, FFFD, true);
    expect_clean("\xC3", 1, FFFD, true);
    /* U+FFFD itself is valid and kept */
    expect_clean(FFFD, 3, FFFD, false);
    /* NUL and invalid bytes together may keep the length: still dirty */
    expect_clean("\0\0\xFF", 3, FFFD, true);
#undef FFFD
}

/* ---- ownership -------------------------------------------------------------- */

static void test_free_update(void **state)
{
    struct tg_update u;

    tg_update_free(NULL);
    memset(&u, 0, sizeof(u));
    tg_update_free(&u);
    parse_fixture("text_with_nul_and_rtl.json", &u);
    tg_update_free(&u);
    assert_null(u.priv_arena);
    tg_update_free(&u); /* the struct is zeroed: a second free is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_text),
        cmocka_unit_test(test_edited_message),
        cmocka_unit_test(test_command_start),
        cmocka_unit_test(test_command_take),
        cmocka_unit_test(test_command_with_botname),
        cmocka_unit_test(test_reply_to_notification),
        cmocka_unit_test(test_callback_query),
        cmocka_unit_test(test_channel_post),
        cmocka_unit_test(test_my_chat_member),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_photo_caption),
        cmocka_unit_test(test_sticker),
        cmocka_unit_test(test_nul_and_rtl),
        cmocka_unit_test(test_all_fixtures),
        cmocka_unit_test(test_bad_fixture_reasons),
        cmocka_unit_test(test_update_id_range),
        cmocka_unit_test(test_body_framing),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_unknown_kinds_and_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_ids_64bit),
        cmocka_unit_test(test_callback_and_member_optional),
        cmocka_unit_test(test_commands_without_entities),
        cmocka_unit_test(test_commands_with_entities),
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_forum_topics),
        cmocka_unit_test(test_content_kinds),
        cmocka_unit_test(test_service_messages),
        cmocka_unit_test(test_business_connection),
        cmocka_unit_test(test_business_message),
        cmocka_unit_test(test_business_deleted),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_cleaning_every_string),
        cmocka_unit_test(test_long_text),
        cmocka_unit_test(test_clean_utf8),
        cmocka_unit_test(test_free_update),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
