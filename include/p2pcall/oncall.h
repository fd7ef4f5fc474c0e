/* --on-call CMD: a command run for each incoming call, whose exit status
 * decides it (0 answer, 1 reject, anything else: let it ring). */
#ifndef P2PCALL_ONCALL_H
#define P2PCALL_ONCALL_H

struct event_base;
struct oncall;

/* STATUS is the command's exit status (128 + N if killed by signal N). */
typedef void (*oncall_done_cb)(void *ctx, unsigned long long call, int status);

/* 0 or -errno. CMD is borrowed. */
int oncall_new(struct oncall **out, struct event_base *base, const char *cmd, oncall_done_cb cb, void *ctx);
/* Kills a command still running (SIGTERM) and reaps it. NULL is fine. */
void oncall_free(struct oncall *oc);

/* Runs `sh -c CMD` with P2PCALL_PEER, P2PCALL_CALL and P2PCALL_NAME in its
 * environment, stdin from /dev/null and stdout onto our stderr (stdout
 * carries --json events). A command still running for an earlier call is
 * killed first. 0 or -errno. */
int oncall_start(struct oncall *oc, const char *peer, unsigned long long call, const char *name);

#endif
