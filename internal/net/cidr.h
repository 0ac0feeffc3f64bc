/*
 * cidr.h - lists of IPv4 and IPv6 networks (CIDRs) and the test whether an
 * address is in one of them: WEBHOOK_ALLOWED_CIDRS and TRUSTED_PROXIES.
 *
 * IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n), so that one
 * comparison serves both families and a dual-stack listener's mapped peers
 * match IPv4 networks. A bare address is a network of one (/32 or /128).
 */
#ifndef TGDESK_NET_CIDR_H
#define TGDESK_NET_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* At most this many networks in one list. */
#define CIDR_MAX 256

struct cidr {
    uint8_t addr[16]; /* bits past the prefix are zero */
    uint8_t prefix;   /* 0..128 */
};

struct cidr_list {
    struct cidr *v;
    size_t n; /* 0: the list is empty */
};

/*
 * Parses a comma-separated list ("149.154.160.0/20, 2001:db8::/32, 10.0.0.1";
 * spaces around entries allowed, empty entries are not). Host bits set below
 * the prefix are an error (a typo more often than not). On success returns 0
 * and *ret owns its array (cidr_list_free()); on error -EINVAL (the offending
 * entry and why written to detail, capacity cap), -E2BIG (more than CIDR_MAX)
 * or -ENOMEM, and *ret is empty. An empty or all-blank text gives an empty
 * list.
 */
int cidr_list_parse(const char *text, struct cidr_list *ret, char *detail, size_t cap);

/* Frees the array and empties the list. Accepts NULL. */
void cidr_list_free(struct cidr_list *l);

/*
 * Parses one address literal (IPv4 or IPv6, no prefix, no brackets) of
 * length len into 16 bytes, IPv4 mapped. Returns 0 or -EINVAL.
 */
int cidr_addr_parse(const char *s, size_t len, uint8_t out[16]);

/* The address of an AF_INET or AF_INET6 socket address, IPv4 mapped; -EAFNOSUPPORT for others. */
int cidr_addr_of(const struct sockaddr *sa, uint8_t out[16]);

/* True when addr (16 bytes, IPv4 mapped) is in one of l's networks. */
bool cidr_list_match(const struct cidr_list *l, const uint8_t addr[16]);

/*
 * Who sent a request that arrived from peer (16 bytes) with the
 * X-Forwarded-For header lines xff[0..nxff) in the order received (a proxy
 * may append to the last line or add a line of its own). When peer is not in
 * proxies, or proxies is empty, the client is peer and the header is not
 * looked at (anyone can write it). Otherwise the entries are read from the
 * right: the first one that is not itself in proxies is the client; when all
 * are proxies, the left-most; with no entries, peer. An entry may carry a
 * port ("192.0.2.1:443", "[2001:db8::1]:443"). Returns 0 with the client in
 * out, or -EINVAL when an entry read before the client was found is not an
 * address.
 */
int cidr_client(const struct cidr_list *proxies, const uint8_t peer[16], const char *const *xff,
                size_t nxff, uint8_t out[16]);

#endif
