/*
 * The c-ares adapter (the only file that includes ares.h): one channel per
 * configured resolver, driven by the engine loop, for SRV lookups and address
 * resolution, each bounded by the configured timeout.
 */
#ifndef KMSWATCH_DNS_H
#define KMSWATCH_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kmswatch/config.h"
#include "kmswatch/loop.h"

#define DNS_MAX_SRV_RECORDS 1024 /* per lookup; the rest are dropped and logged */
#define DNS_MAX_ADDRS       8    /* per resolved name */

/* The classification of one lookup, in the order of the metric's state set. */
enum dns_result {
	DNS_OK,
	DNS_NXDOMAIN,
	DNS_NODATA,
	DNS_SERVFAIL,
	DNS_REFUSED,
	DNS_TIMEOUT,
	DNS_ERROR,
	DNS_RESULT_COUNT,
	DNS_CANCELLED = DNS_RESULT_COUNT /* channel destroyed; never exported */
};

struct dns_srv {
	char *target; /* lower case, no trailing dot */
	uint16_t port;
	uint16_t priority;
	uint16_t weight;
};

struct dns_addrs {
	size_t n;
	struct sockaddr_storage addr[DNS_MAX_ADDRS];
	socklen_t len[DNS_MAX_ADDRS];
};

/* The records are owned by the adapter and valid only during the call. */
typedef void (*dns_srv_cb)(void *arg, enum dns_result res, const struct dns_srv *recs, size_t n,
                           uint64_t duration_us);
typedef void (*dns_addr_cb)(void *arg, enum dns_result res, const struct dns_addrs *addrs);

struct dns;

int dns_library_init(void);
void dns_library_cleanup(void);
/* Creates a channel for one resolver; NULL with a message in err on failure. */
struct dns *dns_new(struct loop *l, const struct config_resolver *r, uint64_t timeout_ms, char *err,
                    size_t errlen);
/* Destroys the channel; pending callbacks run with DNS_CANCELLED first. */
void dns_free(struct dns *d);
int dns_query_srv(struct dns *d, const char *name, dns_srv_cb cb, void *arg);
/* Resolves a name or IP literal to addresses (IPv4 and IPv6) with the port
 * set. The callback may run before dns_resolve returns. */
int dns_resolve(struct dns *d, const char *host, uint16_t port, dns_addr_cb cb, void *arg);

const char *dns_result_name(enum dns_result r);
/* Maps a c-ares status and the number of SRV records to a result. */
enum dns_result dns_classify(int ares_status, size_t n_records);

#endif
