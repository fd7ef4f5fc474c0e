/* `p2pcall --serve`: signalling on TCP and STUN on UDP, same port. */
#ifndef P2PCALL_SERVER_H
#define P2PCALL_SERVER_H

#include <stdint.h>

#define SERVER_DEFAULT_PORT 7878

struct server_opts {
	const char *listen;        /* HOST[:PORT]; NULL: all addresses */
	unsigned keepalive_s;      /* 0: 30 */
	unsigned ring_timeout_s;   /* 0: 30 */
	unsigned register_timeout_s; /* 0: 10 */
	unsigned max_clients;      /* connections at once; 0: 100000 */
	unsigned max_per_ip;       /* connections from one address; 0: 256 */
	int stun_alt_port;         /* second STUN port; 0: PORT+1, < 0: none */
};

/* Runs until SIGINT or SIGTERM. Returns a process exit status. */
int server_run(const struct server_opts *opts);

#endif
