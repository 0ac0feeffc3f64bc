/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/cidr.h"

static struct cidr_list list(const char *text)
{
    struct cidr_list l;
    char detail[128] = "";
    assert_int_equal(cidr_list_parse(text, &l, detail, sizeof(detail)), 0);
    return l;
}

static bool in(const struct cidr_list *l, const char *addr)
{
    uint8_t a[16];
    assert_int_equal(cidr_addr_parse(addr, strlen(addr), a), 0);
    return cidr_list_match(l, a);
}

static void test_telegram_ranges(void **state)
{
    struct cidr_list l = list("149.154.160.0/20, 91.108.4.0/22");
    assert_int_equal(l.n, 2);
    assert_true(in(&l, "149.154.160.0"));
    assert_true(in(&l, "149.154.167.99"));
    assert_true(in(&l, "149.154.175.255"));
    assert_false(in(&l, "149.154.176.0"));
    assert_false(in(&l, "149.154.159.255"));
    assert_true(in(&l, "91.108.7.1"));
    assert_false(in(&l, "91.108.8.1"));
    /* A dual-stack listener sees IPv4 peers as mapped IPv6. */
    assert_true(in(&l, "::ffff:149.154.161.1"));
    assert_false(in(&l, "2001:db8::1"));
    cidr_list_free(&l);
}

static void test_ipv6_and_edges(void **state)
{
    struct cidr_list l = list(" 2001:db8::/32 ,127.0.0.1,::1/128 ");
    assert_int_equal(l.n, 3);
    assert_true(in(&l, "2001:db8:ffff::5"));
    assert_false(in(&l, "2001:db9::"));
    assert_true(in(&l, "127.0.0.1"));
    assert_false(in(&l, "127.0.0.2"));
    assert_true(in(&l, "::1"));
    assert_false(in(&l, "::2"));
    cidr_list_free(&l);

    l = list("0.0.0.0/0");
    assert_true(in(&l, "203.0.113.9"));
    assert_false(in(&l, "2001:db8::1")); /* IPv4's /0 is IPv4 only */
    cidr_list_free(&l);
    l = list("::/0");
    assert_true(in(&l, "2001:db8::1"));
    assert_true(in(&l, "203.0.113.9"));
    cidr_list_free(&l);
    l = list("10.1.2.2/31");
    assert_true(in(&l, "10.1.2.3"));
    assert_false(in(&l, "10.1.2.4"));
    cidr_list_free(&l);

    l = list("   ");
    assert_int_equal(l.n, 0);
    assert_false(in(&l, "127.0.0.1"));
    cidr_list_free(&l);
    cidr_list_free(NULL);
}

static void test_bad(void **state)
{
    static const char *const bad[] = {
        "10.0.0.0/33",    "10.0.0.1/24", "10.0.0.0/",     "10.0.0.0/x",  "2001:db8::/129",
        "2001:db8::1/32", "example.org", "10.0.0.0/8,",   ",10.0.0.0/8", "10.0.0.0/8,,::1",
        "10.0.0.0/-1",    "[::1]",       "10.0.0.0/0008", "1.2.3.4.5",   "10.0.0.0/8 /8",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cidr_list l = {(void *)1, 9};
        char detail[128] = "";
        assert_int_equal(cidr_list_parse(bad[i], &l, detail, sizeof(detail)), -EINVAL);
        assert_true(detail[0] != '\0');
        assert_int_equal(l.n, 0);
        assert_null(l.v);
    }
    char many[(CIDR_MAX + 1) * 9 + 1];
    size_t len = 0;
    for (int i = 0; i <= CIDR_MAX; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%s", i ? ",10.0.0.1" : "10.0.0.1");
    struct cidr_list l;
    char detail[128];
    assert_int_equal(cidr_list_parse(many, &l, detail, sizeof(detail)), -E2BIG);
}

static void test_addr_of(void **state)
{
    uint8_t a[16], b[16];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    assert_int_equal(cidr_addr_of((struct sockaddr *)&sin, a), 0);
    assert_int_equal(cidr_addr_parse("::ffff:192.0.2.7", 16, b), 0);
    assert_memory_equal(a, b, 16);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
    assert_int_equal(cidr_addr_of((struct sockaddr *)&sin6, a), 0);
    assert_int_equal(cidr_addr_parse("2001:db8::7", 11, b), 0);
    assert_memory_equal(a, b, 16);
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    assert_int_equal(cidr_addr_of(&unix_sa, a), -EAFNOSUPPORT);
}

/* The client cidr_client() names, as text ("ERR" for -EINVAL). */
static const char *client(const struct cidr_list *proxies, const char *peer, const char *const *xff,
                          size_t n)
{
    static char text[INET6_ADDRSTRLEN];
    uint8_t p[16], out[16];
    assert_int_equal(cidr_addr_parse(peer, strlen(peer), p), 0);
    if (cidr_client(proxies, p, xff, n, out) < 0)
        return "ERR";
    if (memcmp(out, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
        inet_ntop(AF_INET, out + 12, text, sizeof(text));
    else
        inet_ntop(AF_INET6, out, text, sizeof(text));
    return text;
}

static void test_client(void **state)
{
    struct cidr_list proxies = list("10.0.0.0/8, fd00::/8");
    const char *one[] = {"203.0.113.5"};
    const char *chain[] = {"198.51.100.1, 203.0.113.5, 10.0.0.2"};
    const char *forged[] = {"149.154.160.1", "203.0.113.5"}; /* client's line, then the proxy's */
    const char *ported[] = {"203.0.113.5:4711, [fd00::3]:80"};
    const char *v6[] = {"2001:db8::9"};
    const char *garbage[] = {"not-an-address, 203.0.113.5"};
    const char *garbage_right[] = {"203.0.113.5, oops"};
    const char *all_proxies[] = {"10.0.0.9, 10.0.0.8"};
    const char *blank[] = {" , "};

    /* An untrusted peer's header is ignored. */
    assert_string_equal(client(&proxies, "198.51.100.77", one, 1), "198.51.100.77");
    /* A trusted proxy: the right-most entry that is not a proxy. */
    assert_string_equal(client(&proxies, "10.1.1.1", one, 1), "203.0.113.5");
    assert_string_equal(client(&proxies, "10.1.1.1", chain, 1), "203.0.113.5");
    assert_string_equal(client(&proxies, "10.1.1.1", forged, 2), "203.0.113.5");
    assert_string_equal(client(&proxies, "10.1.1.1", ported, 1), "203.0.113.5");
    assert_string_equal(client(&proxies, "fd00::1", v6, 1), "2001:db8::9");
    /* Garbage left of the client does not matter; garbage right of it does. */
    assert_string_equal(client(&proxies, "10.1.1.1", garbage, 1), "203.0.113.5");
    assert_string_equal(client(&proxies, "10.1.1.1", garbage_right, 1), "ERR");
    assert_string_equal(client(&proxies, "10.1.1.1", all_proxies, 1), "10.0.0.9");
    assert_string_equal(client(&proxies, "10.1.1.1", blank, 1), "10.1.1.1");
    assert_string_equal(client(&proxies, "10.1.1.1", NULL, 0), "10.1.1.1");
    cidr_list_free(&proxies);

    struct cidr_list none = list("");
    assert_string_equal(client(&none, "10.1.1.1", one, 1), "10.1.1.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_telegram_ranges),
        cmocka_unit_test(test_ipv6_and_edges),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_addr_of),
        cmocka_unit_test(test_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
