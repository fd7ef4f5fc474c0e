/* `p2pcall --serve`: signalling on TCP and STUN on UDP, same port. */
#ifndef P2PCALL_SERVER_H
#define P2PCALL_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#define SERVER_DEFAULT_PORT 7878

struct server_opts {
	const char *listen;        /* HOST[:PORT]; NULL: all addresses */
	unsigned keepalive_s;      /* 0: 30 */
	unsigned ring_timeout_s;   /* 0: 30 */
	unsigned register_timeout_s; /* 0: 10 */
	unsigned max_clients;      /* connections at once; 0: 100000 */
	unsigned max_per_ip;       /* connections from one address; 0: 256 */
	unsigned max_line;         /* bytes per signalling line, LF included; 0: 1024 */
	unsigned line_timeout_s;   /* a line begun must end within; 0: 10 */
	unsigned register_rate;    /* REGISTERs/s per connection (burst max(5, 2N)); 0: 2 */
	unsigned invite_rate;      /* INVITEs/s per connection (burst max(10, 2N)); 0: 5 */
	unsigned relay_kbps;       /* relayed kbit/s per party; 0: 256 */
	unsigned stun_rate;        /* STUN answers/s per source IP (burst 2N); 0: 100 */
	bool require_keys;         /* every REGISTER must prove a key */
	bool closed;               /* only names already bound may register */
	const char *bindings_path; /* --bindings FILE: the name -> key store; NULL: none */
	int stun_alt_port;         /* second STUN port; 0: PORT+1, < 0: none */
};

/* Runs until SIGINT or SIGTERM. Returns a process exit status. */
int server_run(const struct server_opts *opts);

#endif
