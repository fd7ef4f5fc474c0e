/* lab.h — drive the NAT lab (tests/lab/natlab.sh) from Check tests.
 *
 * A lab is five network namespaces named PREFIX-{a,nata,wan,natb,b}: host A
 * behind NAT A, host B behind NAT B, and the WAN router where the server
 * lives (203.0.113.1). Hosts are named "a", "b", "server", "nata", "natb".
 * NAT types: "none", "full", "restricted", "port", "symmetric"; type_b
 * "same" puts host B on NAT A's LAN. See tests/lab/README.md.
 *
 * Typical use in a test:
 *
 *	if (lab_skip())
 *		return;           // prints "SKIP lab: ..." once, test passes
 *	char p[64];
 *	lab_prefix(p, sizeof(p), "call");
 *	ck_assert_int_eq(lab_up(p, "port", "symmetric"), 0);
 *	int out;
 *	pid_t srv = lab_spawn(p, "server", (char *const[]){bin, "--serve", NULL}, &out);
 *	...
 *	lab_kill(srv);
 *	lab_down(p);
 *
 * Call lab_down() from an unchecked fixture teardown too: a failed
 * assertion ends the forked test before its own cleanup runs.
 */
#ifndef P2PCALL_LAB_H
#define P2PCALL_LAB_H

#include <stddef.h>
#include <sys/types.h>

/* 1 if labs can run here (root; ip, nft, conntrack in PATH; natlab.sh
 * found), else 0 with the reason written to why (may be NULL). */
int lab_available(char *why, size_t why_len);

/* 1 if labs cannot run: then prints "SKIP lab: <reason>" to stderr so the
 * skip is visible, and the caller returns (the test passes). 0 otherwise. */
int lab_skip(void);

/* Path of natlab.sh: $P2PCALL_SRCDIR/tests/lab/natlab.sh, with "." when
 * the variable is unset. Static storage; do not free. */
const char *lab_script(void);

/* Writes a prefix unique to this test process tree and tag into buf:
 * "p2pc-<pid>-<tag>". The pid is the calling process's, so call it in an
 * unchecked fixture (runner process) to share one prefix with teardown. */
void lab_prefix(char *buf, size_t len, const char *tag);

/* Removes labs named "p2pc-PID-..." whose PID no longer exists (left by
 * a runner that was killed). 0 or -1. */
int lab_gc(void);

/* Builds a lab (see natlab.sh up). 0, or -1 with the script's error on
 * stderr; a failed lab_up leaves no namespace behind. */
int lab_up(const char *prefix, const char *type_a, const char *type_b);

/* Removes every namespace of the lab and kills the processes inside it.
 * Idempotent; 0, or -1 if something was left. */
int lab_down(const char *prefix);

/* Re-types NAT "nata" or "natb" and flushes its conntrack table. 0 or -1. */
int lab_set_nat(const char *prefix, const char *nat, const char *type);

/* Forgets every mapping of NAT "nata" or "natb" (conntrack -F), as a NAT
 * rebinding would. 0 or -1. */
int lab_flush(const char *prefix, const char *nat);

/* A NAT rebinding as peers see it: NAT "nata" or "natb" forgets its
 * mappings and moves to its other public address (203.0.113.11 <-> .21,
 * .12 <-> .22), keeping its type. Writes the new address into buf if not
 * NULL. 0, or -1 (also for a NAT of type none). */
int lab_rebind(const char *prefix, const char *nat, char *buf, size_t len);

/* Holds every IPv4 packet crossing the WAN router for delay ± jitter ms
 * (uniform) and drops loss_pct % of them, until lab_impair_off(). A new
 * call replaces the old setting. 0 or -1. */
int lab_impair(const char *prefix, int delay_ms, int jitter_ms, double loss_pct);
int lab_impair_off(const char *prefix);

/* Writes the IPv4 address of host into buf ("a", "b": LAN address;
 * "nata", "natb": public address; "server"). 0, or -1 if the lab or host
 * does not exist or buf is too small. */
int lab_addr(const char *prefix, const char *host, char *buf, size_t len);

/* Builds (if needed) the lab tool "punch" or "impair" and writes its path
 * into buf. 0 or -1. */
int lab_tool(const char *name, char *buf, size_t len);

/* Starts argv (argv[0] a path or a name in PATH, NULL-terminated) inside
 * host's namespace. stdin is /dev/null, stderr is inherited; if out_fd is
 * not NULL, stdout is a pipe whose read end is stored there (the caller
 * closes it), else stdout is inherited. Returns the command's pid (the
 * same process, so it can be signalled) or -1. */
pid_t lab_spawn(const char *prefix, const char *host, char *const argv[], int *out_fd);

/* Waits for pid up to timeout_ms (< 0: forever). Returns its exit status
 * (128 + signal if killed), or -1 on timeout, after which it is killed and
 * reaped. */
int lab_wait(pid_t pid, int timeout_ms);

/* SIGTERM, then SIGKILL if still alive after 1 s; reaps. Accepts pid <= 0. */
void lab_kill(pid_t pid);

/* Reads one non-empty line (without its '\n', truncated to len - 1) from
 * fd into buf, waiting up to timeout_ms in total. Returns its length, 0 at
 * EOF, -1 on timeout or error. Reads a byte at a time so nothing beyond the
 * line is consumed: mixing calls with other reads of fd is safe. */
ssize_t lab_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* Runs argv in host's namespace to completion (at most timeout_ms),
 * collecting stdout into out (NUL-terminated, truncated to len - 1).
 * Returns the exit status, or -1 on timeout or spawn failure. */
int lab_run(const char *prefix, const char *host, char *const argv[], char *out, size_t len,
	    int timeout_ms);

#endif
