#include "net/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Longest address literal accepted (an IPv6 with an embedded IPv4 is 45). */
#define ADDR_TEXT_MAX 64

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An entry as shown in an error message: long ones are cut. */
struct shown {
    char s[ADDR_TEXT_MAX + 1];
};

static struct shown shown(const char *s, size_t len)
{
    struct shown r;
    len = len > ADDR_TEXT_MAX ? ADDR_TEXT_MAX : len;
    memcpy(r.s, s, len);
    r.s[len] = '\0';
    return r;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int cidr_addr_parse(const char *s, size_t len, uint8_t out[16])
{
    char text[ADDR_TEXT_MAX];
    if (len == 0 || len >= sizeof(text))
        return -EINVAL;
    memcpy(text, s, len);
    text[len] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memcpy(out, v4_mapped_prefix, 12);
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, text, out) == 1 ? 0 : -EINVAL;
}

int cidr_addr_of(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, v4_mapped_prefix, 12);
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* True when the first prefix bits of a and b agree. */
static bool prefix_equal(const uint8_t a[16], const uint8_t b[16], unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return ((a[whole] ^ b[whole]) & mask) == 0;
}

static bool host_bits_zero(const uint8_t a[16], unsigned prefix)
{
    for (unsigned bit = prefix; bit < 128; bit++)
        if (a[bit / 8] & (0x80 >> (bit % 8)))
            return false;
    return true;
}

/* Parses one "ADDR[/PREFIX]" entry of length len. */
static int parse_entry(const char *s, size_t len, struct cidr *ret, char *detail, size_t cap)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (cidr_addr_parse(s, alen, ret->addr) < 0) {
        snprintf(detail, cap, "'%s' is not an IPv4 or IPv6 address", shown(s, alen).s);
        return -EINVAL;
    }
    bool v4 = memchr(s, '.', alen) && !memchr(s, ':', alen);
    unsigned max = v4 ? 32 : 128, prefix = max;
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        prefix = 0;
        if (p == end || end - p > 3)
            prefix = 999;
        for (; p < end && prefix <= max; p++)
            prefix = *p >= '0' && *p <= '9' ? prefix * 10 + (unsigned)(*p - '0') : 999;
        if (prefix > max) {
            snprintf(detail, cap, "'%s': the prefix length must be 0..%u", shown(s, len).s, max);
            return -EINVAL;
        }
    }
    if (v4)
        prefix += 96;
    ret->prefix = (uint8_t)prefix;
    if (!host_bits_zero(ret->addr, prefix)) {
        snprintf(detail, cap, "'%s' has bits set past its prefix length", shown(s, len).s);
        return -EINVAL;
    }
    return 0;
}

int cidr_list_parse(const char *text, struct cidr_list *ret, char *detail, size_t cap)
{
    *ret = (struct cidr_list){0};
    const char *p = text;
    while (is_blank(*p))
        p++;
    if (*p == '\0')
        return 0;
    size_t n = 1;
    for (const char *q = p; *q; q++)
        n += *q == ',';
    if (n > CIDR_MAX) {
        snprintf(detail, cap, "more than %d networks", CIDR_MAX);
        return -E2BIG;
    }
    struct cidr *v = calloc(n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        int rc = a == b ? -EINVAL : parse_entry(a, (size_t)(b - a), &v[i], detail, cap);
        if (a == b)
            snprintf(detail, cap, "an empty entry");
        if (rc < 0) {
            free(v);
            return rc;
        }
        p = *end ? end + 1 : end;
    }
    ret->v = v;
    ret->n = n;
    return 0;
}

void cidr_list_free(struct cidr_list *l)
{
    if (!l)
        return;
    free(l->v);
    *l = (struct cidr_list){0};
}

bool cidr_list_match(const struct cidr_list *l, const uint8_t addr[16])
{
    for (size_t i = 0; i < l->n; i++)
        if (prefix_equal(l->v[i].addr, addr, l->v[i].prefix))
            return true;
    return false;
}

/* Parses one X-Forwarded-For entry [a, b): an address, maybe bracketed, maybe with a port. */
static int parse_forwarded(const char *a, const char *b, uint8_t out[16])
{
    while (a < b && is_blank(*a))
        a++;
    while (b > a && is_blank(b[-1]))
        b--;
    if (a < b && *a == '[') {
        const char *close = memchr(a, ']', (size_t)(b - a));
        if (!close)
            return -EINVAL;
        return cidr_addr_parse(a + 1, (size_t)(close - a - 1), out);
    }
    const char *colon = memchr(a, ':', (size_t)(b - a));
    if (colon && memchr(a, '.', (size_t)(b - a)) &&
        !memchr(colon + 1, ':', (size_t)(b - colon - 1)))
        b = colon; /* IPv4:port */
    return cidr_addr_parse(a, (size_t)(b - a), out);
}

int cidr_client(const struct cidr_list *proxies, const uint8_t peer[16], const char *const *xff,
                size_t nxff, uint8_t out[16])
{
    memcpy(out, peer, 16);
    if (!cidr_list_match(proxies, peer))
        return 0;
    for (size_t h = nxff; h-- > 0;) {
        const char *start = xff[h], *end = start + strlen(start);
        while (end > start) {
            const char *comma = end;
            while (comma > start && comma[-1] != ',')
                comma--;
            /* [comma, end) is one entry, read right to left. */
            bool blank = true;
            for (const char *q = comma; q < end; q++)
                blank = blank && is_blank(*q);
            if (!blank) {
                if (parse_forwarded(comma, end, out) < 0)
                    return -EINVAL;
                if (!cidr_list_match(proxies, out))
                    return 0;
            }
            end = comma > start ? comma - 1 : start;
        }
    }
    return 0; /* all proxies: the left-most one, or peer without entries */
}
