/* A simulated network with NATs, for testing the ICE agent without
 * sockets or clocks. Hosts have one UDP "socket" each (an address); a host
 * may sit behind its own NAT of a given behaviour (RFC 4787 terms):
 *
 *   type              mapping                 filtering
 *   NONE              -                       -
 *   FULL_CONE         endpoint-independent    endpoint-independent
 *   RESTRICTED        endpoint-independent    address-dependent
 *   PORT_RESTRICTED   endpoint-independent    address and port-dependent
 *   SYMMETRIC         address+port-dependent  address and port-dependent
 *   SYMMETRIC_RANDOM  as SYMMETRIC, with a random public port for every
 *                     new mapping (Linux `snat random`): unpredictable
 *
 * A host may also send from other local ports (simnet_send_from): each
 * (local port[, destination]) gets its own mapping, and a host with a
 * port callback learns at which local port a packet arrived.
 *
 * Each NAT has its own private network: a host address behind one NAT is
 * unreachable from anywhere else. Packets take delay_us to arrive; they
 * are delivered in order by simnet_run(). IPv4 only behind NATs; hosts
 * without NAT may use IPv6 too. */
#ifndef P2PCALL_SIMNAT_H
#define P2PCALL_SIMNAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum simnat_type {
	SIMNAT_NONE,
	SIMNAT_FULL_CONE,
	SIMNAT_RESTRICTED,
	SIMNAT_PORT_RESTRICTED,
	SIMNAT_SYMMETRIC,
	SIMNAT_SYMMETRIC_RANDOM,
};

const char *simnat_type_name(enum simnat_type t);

struct simnet;

/* Delivery of a packet to host h (from is as seen by h, after NATs). */
typedef void (*simnet_recv_cb)(void *ctx, uint64_t now, const struct sockaddr *from,
			       const uint8_t *buf, size_t len);
/* As simnet_recv_cb, with the host's local port the packet arrived at. */
typedef void (*simnet_recv_port_cb)(void *ctx, uint64_t now, uint16_t local_port,
				    const struct sockaddr *from, const uint8_t *buf, size_t len);
/* Sees every packet that leaves a host (after its NAT): src, dst. */
typedef void (*simnet_tap_cb)(void *ctx, uint64_t now, int h, const struct sockaddr *src,
			      const struct sockaddr *dst, const uint8_t *buf, size_t len);

int simnet_new(struct simnet **out, uint64_t delay_us);
void simnet_free(struct simnet *n);
void simnet_set_tap(struct simnet *n, simnet_tap_cb cb, void *ctx);

/* Adds a host with address ip:port behind a NAT of the given type with
 * public address public_ip (ignored for SIMNAT_NONE). Returns its id. */
int simnet_add_host(struct simnet *n, const char *ip, uint16_t port, enum simnat_type nat,
		    const char *public_ip, simnet_recv_cb cb, void *ctx);

/* The host's own (private) address. */
void simnet_host_addr(const struct simnet *n, int h, struct sockaddr_storage *out);

/* What a STUN server at `server` would see as the host's address: creates
 * the NAT mapping (and filter entry for the server) as a real query would. */
void simnet_stun_query(struct simnet *n, int h, const struct sockaddr *server,
		       struct sockaddr_storage *out);

/* The source address with which packets from h to dst currently leave the
 * NAT; false if no mapping exists yet. */
bool simnet_mapping(const struct simnet *n, int h, const struct sockaddr *dst,
		    struct sockaddr_storage *out);

/* Sends from host h to dst at now (through h's NAT). */
void simnet_send(struct simnet *n, int h, uint64_t now, const struct sockaddr *dst,
		 const uint8_t *buf, size_t len);

/* As simnet_send, from another local port of host h. */
void simnet_send_from(struct simnet *n, int h, uint16_t local_port, uint64_t now,
		      const struct sockaddr *dst, const uint8_t *buf, size_t len);

/* Delivers h's packets through cb (with the local port) instead. */
void simnet_set_port_cb(struct simnet *n, int h, simnet_recv_port_cb cb);

/* Seeds the SYMMETRIC_RANDOM port choice (reproducible). */
void simnet_set_port_seed(struct simnet *n, uint64_t seed);

/* Puts a packet with any (spoofed) source on the wire outside any NAT. */
void simnet_inject(struct simnet *n, uint64_t now, const struct sockaddr *src,
		   const struct sockaddr *dst, const uint8_t *buf, size_t len);

/* Time of the next delivery, UINT64_MAX if none in flight. */
uint64_t simnet_next(const struct simnet *n);
/* Delivers every packet due at or before now. */
void simnet_run(struct simnet *n, uint64_t now);

/* Forgets all of h's NAT mappings: its next packets get new ports. */
void simnet_rebind(struct simnet *n, int h);
/* Drops everything to and from h while on. */
void simnet_blackhole(struct simnet *n, int h, bool on);

/* Drops packets put on the wire with probability pct/100, from a PRNG
 * with the given seed (reproducible). */
void simnet_set_loss(struct simnet *n, unsigned pct, uint64_t seed);

struct simnet_counters {
	uint64_t sent, delivered, filtered, unroutable, blackholed, lost;
};
const struct simnet_counters *simnet_counters(const struct simnet *n);

#endif
