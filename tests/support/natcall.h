/* One call across the NAT lab (tests/lab): a server on the WAN, bob behind
 * NAT B answering, alice behind NAT A calling him for a second. Shared by
 * the NAT matrix test and the NAT benchmark. Needs root (lab_skip()). */
#ifndef P2PCALL_TEST_NATCALL_H
#define P2PCALL_TEST_NATCALL_H

#include <stdbool.h>
#include <stddef.h>

struct natcall_result {
	char path_a[16], path_b[16]; /* "direct", "relay", or "-" if never connected */
	char method_a[16], method_b[16]; /* host, srflx, prflx, birthday, relay, "-" */
	char upgrade_a[16], upgrade_b[16]; /* a later `path' event's method, or "" */
	double setup_ms;             /* at alice: invitation -> path up */
	double path_ms_a, path_ms_b; /* answer -> path up, each side */
	int status_a, status_b;      /* exit statuses (-1: timed out) */
	int fds_a, fds_b;            /* open descriptors once the path is final
				      * (after the upgrade, if any); -1 unknown */
};

/* Builds the lab (TYPE_B may be "same"), with DELAY_MS one-way delay on
 * the WAN if > 0, runs the call, tears the lab down. EXTRA_A: more
 * options for alice (NULL-terminated, may be NULL). 0, or -1 if the lab
 * could not be built. */
int natcall_run(const char *type_a, const char *type_b, int delay_ms, const char *const *extra_a,
		struct natcall_result *r);

/* Reads JSON event lines from FD (a lab_spawn'ed client's stdout) until
 * one has "event":"NAME"; 0, or -1 at EOF or after 15 s. */
int natcall_read_event(int fd, const char *name, char *line, size_t n);

/* Removes a lab left by a natcall_run that was interrupted. */
void natcall_cleanup(void);

/* Symmetric mapping defeats plain punching against endpoint-dependent
 * filters, but birthday probing opens a direct path unless both sides are
 * symmetric: "direct", or "relay" for symmetric/symmetric. */
const char *natcall_expected_path(const char *type_a, const char *type_b);

/* Whether that direct path needs birthday probing (symmetric against a
 * port-restricted cone). */
bool natcall_needs_birthday(const char *type_a, const char *type_b);

/* As natcall_run, with ENV_B ("NAME=VALUE" or NULL) set for both clients
 * and alice's call lasting DURATION seconds (as text). */
int natcall_run_env(const char *type_a, const char *type_b, int delay_ms, const char *const *extra_a,
		    const char *env, const char *duration, struct natcall_result *r);

#endif
