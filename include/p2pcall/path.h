/* The media path of one call: drives the ICE agent (core/ice.c) on the
 * call's UDP socket and the event loop, and reports when a direct path is
 * up, when it changed (NAT rebinding), and when it failed or was lost. */
#ifndef P2PCALL_PATH_H
#define P2PCALL_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct path;

enum path_event { PATH_UP, PATH_CHANGED, PATH_FAILED, PATH_LOST };

struct path_cbs {
	/* Optional: sends a check or answer to DEST (default: sendto on the
	 * call's socket). Lets the owner route some peers through TURN. */
	void (*send)(void *ctx, const struct sockaddr *dest, const uint8_t *buf, size_t len);
	/* REMOTE is the peer's address for UP and CHANGED, NULL otherwise;
	 * REASON names the failure for FAILED and LOST. */
	void (*event)(void *ctx, enum path_event ev, const struct sockaddr *remote, const char *reason);
	/* Optional: a datagram from the peer that arrived on one of the
	 * path's own sockets (birthday probing), for the owner to handle
	 * like one on the call's socket (it offers it to path_packet
	 * first). Default: path_packet only. */
	void (*input)(void *ctx, const struct sockaddr *from, uint8_t *buf, size_t len);
};

struct path_config {
	bool controlling;          /* the caller */
	const char *local_ufrag, *local_pwd;
	const char *remote_ufrag, *remote_pwd;
	uint64_t check_timeout_us; /* 0: the agent's default */
};

/* 0, -EINVAL or -ENOMEM. UDP stays the caller's. */
int path_new(struct path **out, struct event_base *base, int udp, const struct path_config *cfg,
	     const struct path_cbs *cbs, void *ctx);
/* NULL is fine; cancels the timer. Safe from inside the event callback
 * (the path is then freed when the agent's call returns). */
void path_free(struct path *p);

/* Sets the peer's credentials if they were not known at path_new. */
int path_set_remote(struct path *p, const char *ufrag, const char *pwd);

/* Candidates in signalling form, TYPE/IP/PORT. 0 or -EINVAL/-ENOSPC. */
int path_add_local(struct path *p, const char *cand);
int path_add_remote(struct path *p, const char *cand);
int path_start(struct path *p);
/* A candidate the peer signalled mid-call (UPDATE): checked at once when
 * the path is up, and followed if it works. */
int path_probe_remote(struct path *p, const char *cand);

/* Offers a datagram received on the socket; true if it was the path's. */
bool path_packet(struct path *p, const struct sockaddr *from, const uint8_t *buf, size_t len);

/* Birthday probing (core/birthday.c) when exactly one side's NAT maps
 * endpoint-dependently ("symmetric"): call after path_start with both
 * sides' mapping behaviour (natdetect.h). The EDM side opens 256 extra
 * sockets and sends a check from each to the peer's public address; the
 * EIM side sends checks to random ports of the peer's public IP. Both
 * start after a 300 ms head start for the normal checks (the
 * environment variable P2PCALL_BIRTHDAY_HEADSTART_MS overrides it, for
 * tests) and give up 4.3 s after the call. The agent does not declare
 * failure meanwhile. When the path opens through an extra socket, all
 * traffic to the peer goes through it (path_send_routed); the other
 * sockets close as soon as a path is chosen or the attempt ends.
 * Returns 1 if an attempt started, 0 if none applies, -ENOMEM. */
int path_birthday(struct path *p, bool local_edm, bool remote_edm);

/* Sends to DEST through the birthday socket the path runs through, if
 * DEST is the peer it was opened to: true then. False: send as usual. */
bool path_send_routed(struct path *p, const struct sockaddr *dest, const uint8_t *buf, size_t len);

/* How the path in use was found: "host", "srflx", "prflx" (the peer's
 * candidate type) or "birthday"; NULL before the path is up. */
const char *path_method(const struct path *p);

/* Where media goes now, or NULL before the path is up. */
const struct sockaddr *path_remote(const struct path *p);

/* Host candidates: every configured interface address of FAMILY, with
 * PORT. Loopback only if INCLUDE_LOOPBACK. Writes up to MAX strings of
 * 64 bytes into OUT; returns how many. */
size_t path_host_candidates(int family, uint16_t port, bool include_loopback, char (*out)[64], size_t max);

/* Fills BUF with N random characters of [A-Za-z0-9] and a NUL. */
void path_random_token(char *buf, size_t n);

#endif
