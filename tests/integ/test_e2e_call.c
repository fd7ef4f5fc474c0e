/* End-to-end security of real calls: the real binary on loopback, each
 * user with an identity key file of its own.
 *
 * - An honest call: both ends show the same code (SAS), the call is
 *   encrypted, the peers' keys get pinned.
 * - A peer whose key changed is refused (exit 12) until --trust-new-key.
 * - A malicious server (played here by the test: it speaks the protocol to
 *   both clients and runs the key exchange with each of them under its own
 *   key) gets each side to complete a handshake with it, but the codes the
 *   two people see differ; with keys pinned by an earlier honest call, both
 *   clients refuse at once.
 * - Media through the server's relay is encrypted: the relay sees RTP
 *   headers, and payloads whose first bytes look random (plain Opus starts
 *   every packet with the same TOC byte). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "audio_cmp.h"
#include "p2pcall/cli.h"
#include "p2pcall/e2e.h"
#include "p2pcall/sig.h"
#include "proc.h"

#define T 10000 /* ms: bound for one step */

static struct test_server S, STUN;
static char dir[64], line[4096], field[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p2pcall-e2e-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	server_stop(&S);
	server_stop(&STUN);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A client of user WHO (its own identity and known_peers in DIR) at PORT.
 * EXTRA options first; PEER to call, or NULL to wait. */
static void start_client(struct proc *p, const char *who, const char *key_name, int port, const char *peer,
			 const char *const *extra, bool audio)
{
	static char ids[8][160], kps[8][160], idarg[8][128];
	static int slot;
	int k = slot++ % 8;
	snprintf(ids[k], sizeof(ids[k]), "%s/%s.key", dir, key_name);
	snprintf(kps[k], sizeof(kps[k]), "%s/%s.known", dir, who);
	snprintf(idarg[k], sizeof(idarg[k]), "%s@127.0.0.1:%d", who, port);
	const char *argv[24] = { "--json", "--identity", ids[k], "--known-peers", kps[k] };
	int i = 5;
	if (!audio)
		argv[i++] = "--no-audio";
	for (int j = 0; extra && extra[j]; j++)
		argv[i++] = extra[j];
	argv[i++] = idarg[k];
	if (peer)
		argv[i++] = peer;
	argv[i] = NULL;
	ck_assert_int_eq(proc_start(p, argv), 0);
}

/* The same, without audio (most tests need only the call's set-up). */
static void client(struct proc *p, const char *who, const char *key_name, int port, const char *peer,
		   const char *const *extra)
{
	start_client(p, who, key_name, port, peer, extra, false);
}

static void expect_event(struct proc *p, const char *event)
{
	char err[4096];
	if (proc_event(p, event, line, sizeof(line), T) != 0) {
		proc_stderr(p, err, sizeof(err));
		ck_abort_msg("no `%s' event; stderr: %s", event, err);
	}
}

/* An honest call between alice and bob at the server S; returns the codes
 * each saw, and checks they match. */
static void honest_call(const char *bob_key, const char *const *alice_extra, char *key_status)
{
	struct proc alice, bob;
	char sas_a[16], sas_b[16];
	client(&bob, "bob", bob_key, S.port, NULL, (const char *[]){ "--auto-answer", "--once", NULL });
	expect_event(&bob, "registered");
	const char *extra[8] = { "--duration", "0.3" };
	for (int i = 0; alice_extra && alice_extra[i]; i++)
		extra[2 + i] = alice_extra[i];
	client(&alice, "alice", "alice", S.port, "bob", extra);
	expect_event(&alice, "secured");
	json_field(line, "sas", sas_a, sizeof(sas_a));
	if (key_status)
		json_field(line, "key", key_status, 16);
	expect_event(&alice, "connected");
	ck_assert_str_eq(json_field(line, "encrypted", field, sizeof(field)), "true");
	ck_assert_str_eq(json_field(line, "sas", field, sizeof(field)), sas_a);
	expect_event(&bob, "secured");
	json_field(line, "sas", sas_b, sizeof(sas_b));
	ck_assert_msg(strlen(sas_a) == 4, "code `%s'", sas_a);
	ck_assert_str_eq(sas_a, sas_b);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_OK);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_OK);
	proc_stop(&alice);
	proc_stop(&bob);
}

static bool file_has(const char *path, const char *text)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

START_TEST(honest_call_codes_match_and_keys_are_pinned)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	char status[16];
	honest_call("bob", NULL, status);
	ck_assert_str_eq(status, "new");
	/* Owner-only key files; each side pinned the other. */
	char path[200];
	struct stat st;
	snprintf(path, sizeof(path), "%s/alice.key", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	char want[128];
	snprintf(want, sizeof(want), "bob@127.0.0.1:%d ", S.port);
	snprintf(path, sizeof(path), "%s/alice.known", dir);
	ck_assert_msg(file_has(path, want), "alice did not pin bob");
	snprintf(want, sizeof(want), "alice@127.0.0.1:%d ", S.port);
	snprintf(path, sizeof(path), "%s/bob.known", dir);
	ck_assert_msg(file_has(path, want), "bob did not pin alice");
	/* Second call: the key is known now. */
	honest_call("bob", NULL, status);
	ck_assert_str_eq(status, "known");
}
END_TEST

START_TEST(changed_key_is_refused_until_trusted)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	int port = S.port;
	honest_call("bob", NULL, NULL);
	/* bob comes back with a new key (a fresh server forgets the name's
	 * binding; on the old one the new key could not even register). */
	server_stop(&S);
	ck_assert_int_eq(server_start_on(&S, port, NULL), 0);
	struct proc alice, bob;
	client(&bob, "bob", "bob-new", port, NULL, (const char *[]){ "--auto-answer", "--once", NULL });
	expect_event(&bob, "registered");
	client(&alice, "alice", "alice", port, "bob", NULL);
	expect_event(&alice, "error");
	ck_assert_msg(strstr(line, "HAS CHANGED"), "%s", line);
	expect_event(&alice, "ended");
	ck_assert_str_eq(json_field(line, "reason", field, sizeof(field)), "security");
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_SECURITY);
	proc_stop(&alice);
	proc_stop(&bob);
	/* Trusted after checking by other means: connects and re-pins. */
	char status[16];
	honest_call("bob-new", (const char *[]){ "--trust-new-key", NULL }, status);
	ck_assert_str_eq(status, "changed");
	honest_call("bob-new", NULL, status);
	ck_assert_str_eq(status, "known");
}
END_TEST

/* --- a malicious server --- */

struct evil {
	int lfd;
	int a, b;             /* alice's and bob's connections */
	struct e2e_identity id;
	char pk[E2E_KEY_B64];
	char alice_key[E2E_KEY_B64], bob_key[E2E_KEY_B64];
};

static int evil_listen(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

static int evil_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin_port);
}

/* Reads lines from FD until one with VERB; parses it into M (LINE keeps
 * the strings). */
static void evil_expect(int fd, const char *verb, char *buf, size_t n, struct sig_msg *m)
{
	for (;;) {
		ck_assert_msg(tcp_line(fd, buf, n, T) == 0, "evil server: no %s", verb);
		if (sig_msg_parse(buf, strlen(buf), m) == 0 && strcmp(m->verb, verb) == 0)
			return;
	}
}

static void evil_send(int fd, struct sig_writer *w)
{
	int n = sig_writer_finish(w);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(send(fd, w->buf, (size_t)n, MSG_NOSIGNAL), n);
}

/* Accepts a client, greets it with a challenge and registers it whatever
 * it proves; keeps its key. */
static int evil_accept(struct evil *e, const char *name, char *key)
{
	struct pollfd pfd = { e->lfd, POLLIN, 0 };
	ck_assert_int_eq(poll(&pfd, 1, T), 1);
	int fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	uint8_t ch[32];
	char chs[E2E_KEY_B64], buf[2048];
	randombytes_buf(ch, sizeof(ch));
	b64url_encode(chs, sizeof(chs), ch, sizeof(ch));
	struct sig_writer w;
	sig_writer_init(&w, "HELLO");
	sig_writer_add(&w, "version", "1");
	sig_writer_add(&w, "keepalive", "30");
	sig_writer_add(&w, "challenge", chs);
	evil_send(fd, &w);
	struct sig_msg m;
	evil_expect(fd, "REGISTER", buf, sizeof(buf), &m);
	ck_assert_str_eq(sig_msg_get(&m, "name"), name);
	ck_assert_ptr_nonnull(sig_msg_get(&m, "key"));
	snprintf(key, E2E_KEY_B64, "%s", sig_msg_get(&m, "key"));
	sig_writer_init(&w, "OK");
	sig_writer_add(&w, "re", "REGISTER");
	sig_writer_add(&w, "name", name);
	sig_writer_add(&w, "seen", "127.0.0.1:9");
	evil_send(fd, &w);
	return fd;
}

/* Reads alice's INVITE into INV (BUF keeps it) and gives it call number 1. */
static void evil_take_invite(struct evil *e, char *buf, size_t n, struct sig_msg *inv)
{
	struct sig_writer w;
	evil_expect(e->a, "INVITE", buf, n, inv);
	sig_writer_init(&w, "OK");
	sig_writer_add(&w, "re", "INVITE");
	sig_writer_add(&w, "call", "1");
	sig_writer_add(&w, "to", "bob");
	evil_send(e->a, &w);
}

/* Copies the media fields of FROM (credentials, candidates) into W. */
static void copy_media_fields(struct sig_writer *w, const struct sig_msg *from)
{
	for (size_t i = 0; i < from->nfields; i++)
		if (!strcmp(from->f[i].key, "ufrag") || !strcmp(from->f[i].key, "pwd") ||
		    !strcmp(from->f[i].key, "cand"))
			sig_writer_add(w, from->f[i].key, from->f[i].val);
}

/* The evil server tells bob that alice calls, under its own key. */
static void evil_incoming(struct evil *e, const char *commit, const struct sig_msg *media)
{
	struct sig_writer w;
	sig_writer_init(&w, "INCOMING");
	sig_writer_add(&w, "call", "1");
	sig_writer_add(&w, "from", "alice");
	sig_writer_add(&w, "seen", "127.0.0.1:9");
	sig_writer_add(&w, "idkey", e->pk);
	sig_writer_add(&w, "commit", commit);
	copy_media_fields(&w, media);
	evil_send(e->b, &w);
}

/* The evil server tells alice that bob answered, under its own key. */
static void evil_accepted(struct evil *e, const char *eph, const char *sig, const struct sig_msg *media)
{
	struct sig_writer w;
	sig_writer_init(&w, "ACCEPTED");
	sig_writer_add(&w, "call", "1");
	sig_writer_add(&w, "seen", "127.0.0.1:9");
	sig_writer_add(&w, "idkey", e->pk);
	sig_writer_add(&w, "eph", eph);
	sig_writer_add(&w, "sig", sig);
	copy_media_fields(&w, media);
	evil_send(e->a, &w);
}

/* The server sits in the middle of alice's call to bob: towards bob it
 * plays the caller, towards alice the callee, each time with its own key
 * (validly signed: it attests identities, so it may claim any key).
 * Returns the codes it shares with each side. */
static void evil_call(struct evil *e, char *sas_with_alice, char *sas_with_bob)
{
	char ibuf[2048], abuf[2048], ubuf[2048];
	struct sig_msg inv, acc, upd;
	struct sig_writer w;
	evil_take_invite(e, ibuf, sizeof(ibuf), &inv);
	const char *alice_commit = sig_msg_get(&inv, "commit");
	ck_assert_ptr_nonnull(alice_commit);

	uint8_t seed1[32], seed2[32];
	randombytes_buf(seed1, sizeof(seed1));
	randombytes_buf(seed2, sizeof(seed2));
	struct e2e_call *to_bob, *to_alice;
	ck_assert_int_eq(e2e_call_new(&to_bob, E2E_CALLER, &e->id, "alice", "bob", seed1), 0);
	ck_assert_int_eq(e2e_call_new(&to_alice, E2E_CALLEE, &e->id, "alice", "bob", seed2), 0);
	char commit[E2E_KEY_B64], eph[E2E_KEY_B64], sig[E2E_SIG_B64];
	ck_assert_int_eq(e2e_commit(to_bob, commit), 0);
	evil_incoming(e, commit, &inv);

	evil_expect(e->b, "ACCEPT", abuf, sizeof(abuf), &acc);
	sig_writer_init(&w, "OK");
	sig_writer_add(&w, "re", "ACCEPT");
	sig_writer_add(&w, "call", "1");
	evil_send(e->b, &w);
	ck_assert_int_eq(e2e_confirm(to_bob, e->bob_key, sig_msg_get(&acc, "eph"), sig_msg_get(&acc, "sig"), eph,
				     sig), 0);
	sig_writer_init(&w, "UPDATE");
	sig_writer_add(&w, "call", "1");
	sig_writer_add(&w, "eph", eph);
	sig_writer_add(&w, "sig", sig);
	evil_send(e->b, &w);

	ck_assert_int_eq(e2e_answer(to_alice, e->alice_key, alice_commit, eph, sig), 0);
	evil_accepted(e, eph, sig, &acc);
	evil_expect(e->a, "UPDATE", ubuf, sizeof(ubuf), &upd);
	ck_assert_int_eq(e2e_finish(to_alice, sig_msg_get(&upd, "eph"), sig_msg_get(&upd, "sig")), 0);
	e2e_sas(to_alice, sas_with_alice);
	e2e_sas(to_bob, sas_with_bob);
	e2e_call_free(to_bob);
	e2e_call_free(to_alice);
}

static void evil_start(struct evil *e, int port)
{
	uint8_t seed[32];
	randombytes_buf(seed, sizeof(seed));
	ck_assert_int_eq(e2e_identity_from_seed(&e->id, seed), 0);
	b64url_encode(e->pk, sizeof(e->pk), e->id.pk, sizeof(e->id.pk));
	e->lfd = evil_listen(port);
}

static void evil_stop(struct evil *e)
{
	close(e->a);
	close(e->b);
	close(e->lfd);
}

START_TEST(malicious_server_cannot_make_the_codes_match)
{
	/* STUN from a real server: the evil one answers only TCP. */
	ck_assert_int_eq(server_start(&STUN, NULL), 0);
	char stun[32];
	snprintf(stun, sizeof(stun), "127.0.0.1:%d", STUN.port);
	struct evil e;
	evil_start(&e, 0);
	int port = evil_port(e.lfd);
	struct proc alice, bob;
	client(&bob, "bob", "bob", port, NULL, (const char *[]){ "--auto-answer", "--once", "--stun", stun, NULL });
	e.b = evil_accept(&e, "bob", e.bob_key);
	expect_event(&bob, "registered");
	client(&alice, "alice", "alice", port, "bob", (const char *[]){ "--stun", stun, NULL });
	e.a = evil_accept(&e, "alice", e.alice_key);
	char evil_a[E2E_SAS_LEN], evil_b[E2E_SAS_LEN], sas_a[16], sas_b[16];
	evil_call(&e, evil_a, evil_b);
	expect_event(&alice, "secured");
	json_field(line, "sas", sas_a, sizeof(sas_a));
	ck_assert_str_eq(json_field(line, "peer_key", field, sizeof(field)), e.pk);
	expect_event(&bob, "secured");
	json_field(line, "sas", sas_b, sizeof(sas_b));
	/* Each side really did agree keys with the man in the middle (its
	 * code is the one the evil server computed with that side), and the
	 * two codes the people read to each other differ. The chance that
	 * 20-bit codes match by accident is 1 in 2^20; the commitment stops
	 * the server from searching for a matching pair. */
	ck_assert_str_eq(sas_a, evil_a);
	ck_assert_str_eq(sas_b, evil_b);
	ck_assert_str_ne(sas_a, sas_b);
	proc_stop(&alice);
	proc_stop(&bob);
	evil_stop(&e);
}
END_TEST

START_TEST(malicious_server_is_refused_by_pinned_keys)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	ck_assert_int_eq(server_start(&STUN, NULL), 0);
	int port = S.port;
	honest_call("bob", NULL, NULL); /* both pin the real keys */
	server_stop(&S);

	char stun[32];
	snprintf(stun, sizeof(stun), "127.0.0.1:%d", STUN.port);
	struct evil e;
	evil_start(&e, port); /* the same address: the same pins apply */
	struct proc alice, bob;
	client(&bob, "bob", "bob", port, NULL, (const char *[]){ "--auto-answer", "--once", "--stun", stun, NULL });
	e.b = evil_accept(&e, "bob", e.bob_key);
	expect_event(&bob, "registered");
	client(&alice, "alice", "alice", port, "bob", (const char *[]){ "--stun", stun, NULL });
	e.a = evil_accept(&e, "alice", e.alice_key);

	/* Towards bob the server claims alice has its key: bob refuses. */
	char ibuf[2048], commit[E2E_KEY_B64];
	struct sig_msg inv;
	evil_take_invite(&e, ibuf, sizeof(ibuf), &inv);
	uint8_t seed[32];
	randombytes_buf(seed, sizeof(seed));
	struct e2e_call *to_bob;
	ck_assert_int_eq(e2e_call_new(&to_bob, E2E_CALLER, &e.id, "alice", "bob", seed), 0);
	ck_assert_int_eq(e2e_commit(to_bob, commit), 0);
	evil_incoming(&e, commit, &inv);
	expect_event(&bob, "error");
	ck_assert_msg(strstr(line, "HAS CHANGED"), "%s", line);
	ck_assert_int_eq(proc_wait(&bob, T), EXIT_SECURITY);
	char rbuf[512];
	struct sig_msg rej;
	evil_expect(e.b, "REJECT", rbuf, sizeof(rbuf), &rej);

	/* Towards alice it claims bob answered with its key: alice refuses. */
	char eph[E2E_KEY_B64], sig[E2E_SIG_B64];
	struct e2e_call *to_alice;
	ck_assert_int_eq(e2e_call_new(&to_alice, E2E_CALLEE, &e.id, "alice", "bob", seed), 0);
	ck_assert_int_eq(e2e_answer(to_alice, e.alice_key, sig_msg_get(&inv, "commit"), eph, sig), 0);
	evil_accepted(&e, eph, sig, &inv);
	expect_event(&alice, "error");
	ck_assert_msg(strstr(line, "HAS CHANGED"), "%s", line);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_SECURITY);
	e2e_call_free(to_bob);
	e2e_call_free(to_alice);
	proc_stop(&alice);
	proc_stop(&bob);
	evil_stop(&e);
}
END_TEST

/* A forged or altered handshake (the server relays a signature that does
 * not match the key it attests) is refused as tampering. */
START_TEST(forged_signature_is_refused)
{
	ck_assert_int_eq(server_start(&STUN, NULL), 0);
	char stun[32];
	snprintf(stun, sizeof(stun), "127.0.0.1:%d", STUN.port);
	struct evil e;
	evil_start(&e, 0);
	int port = evil_port(e.lfd);
	struct proc alice;
	client(&alice, "alice", "alice", port, "bob", (const char *[]){ "--stun", stun, NULL });
	e.a = evil_accept(&e, "alice", e.alice_key);
	e.b = -1;
	char ibuf[2048], eph[E2E_KEY_B64], sig[E2E_SIG_B64];
	struct sig_msg inv;
	evil_take_invite(&e, ibuf, sizeof(ibuf), &inv);
	uint8_t seed[32];
	randombytes_buf(seed, sizeof(seed));
	struct e2e_call *to_alice;
	ck_assert_int_eq(e2e_call_new(&to_alice, E2E_CALLEE, &e.id, "alice", "bob", seed), 0);
	ck_assert_int_eq(e2e_answer(to_alice, e.alice_key, sig_msg_get(&inv, "commit"), eph, sig), 0);
	sig[5] = sig[5] == 'A' ? 'B' : 'A'; /* one character of the signature altered */
	evil_accepted(&e, eph, sig, &inv);
	expect_event(&alice, "error");
	ck_assert_msg(strstr(line, "does not verify"), "%s", line);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_SECURITY);
	char hbuf[512];
	struct sig_msg h;
	evil_expect(e.a, "HANGUP", hbuf, sizeof(hbuf), &h);
	e2e_call_free(to_alice);
	proc_stop(&alice);
	close(e.a);
	close(e.lfd);
}
END_TEST

/* A peer that offers media but no encryption is refused unless --insecure. */
START_TEST(unencrypted_peer_needs_insecure)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	int bob = tcp_register(S.port, "bob");
	ck_assert_int_ge(bob, 0);
	char l[2048];
	for (int insecure = 0; insecure <= 1; insecure++) {
		struct proc alice;
		client(&alice, "alice", "alice", S.port, "bob",
		       insecure ? (const char *[]){ "--insecure", "--duration", "0.2", NULL } : NULL);
		ck_assert_int_eq(tcp_expect(bob, "INCOMING", l, sizeof(l), T), 0);
		char accept[128];
		snprintf(accept, sizeof(accept), "ACCEPT call=%d ufrag=abcd pwd=0123456789abcdef0123456789\n",
			 insecure + 1);
		tcp_send(bob, accept);
		if (!insecure) {
			expect_event(&alice, "error");
			ck_assert_msg(strstr(line, "no end-to-end encryption"), "%s", line);
			ck_assert_int_eq(proc_wait(&alice, T), EXIT_SECURITY);
			ck_assert_int_eq(tcp_expect(bob, "ENDED call=1 reason=hangup", l, sizeof(l), T), 0);
		} else {
			/* Accepted with a warning, not refused (nothing answers
			 * its checks, so it would go on trying to connect). */
			usleep(1500000);
			char err[4096];
			proc_stderr(&alice, err, sizeof(err));
			ck_assert_msg(strstr(err, "NOT encrypted"), "no warning: %s", err);
			ck_assert_msg(proc_wait(&alice, 10) < 0 || alice.status != EXIT_SECURITY, "refused");
		}
		proc_stop(&alice);
	}
	close(bob);
}
END_TEST

/* Reads a whole small file into BUF; its length. */
static size_t slurp(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t len = fread(buf, 1, n - 1, f);
	fclose(f);
	buf[len] = '\0';
	return len;
}

/* Bad key files stop the client with a clear error naming the file, before
 * it registers, and are left exactly as they were. */
START_TEST(bad_key_files_are_refused_untouched)
{
	ck_assert_int_eq(server_start(&S, NULL), 0);
	honest_call("bob", NULL, NULL); /* makes alice.key and alice.known */
	char key[200], known[200], before[8192], after[8192], err[4096];
	snprintf(key, sizeof(key), "%s/alice.key", dir);
	snprintf(known, sizeof(known), "%s/alice.known", dir);
	struct proc alice;

	/* An identity key others can read. */
	ck_assert_int_eq(chmod(key, 0644), 0);
	size_t n = slurp(key, before, sizeof(before));
	client(&alice, "alice", "alice", S.port, "bob", NULL);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_SECURITY);
	proc_stderr(&alice, err, sizeof(err));
	ck_assert_msg(strstr(err, key) && strstr(err, "chmod 600"), "%s", err);
	ck_assert_uint_eq(slurp(key, after, sizeof(after)), n);
	ck_assert_str_eq(after, before);
	proc_stop(&alice);
	ck_assert_int_eq(chmod(key, 0600), 0);

	/* A corrupt identity key (one character of the secret changed). */
	char *sec = strstr(before, "secret ");
	ck_assert_ptr_nonnull(sec);
	sec[10] = sec[10] == 'A' ? 'B' : 'A';
	FILE *f = fopen(key, "w");
	fputs(before, f);
	fclose(f);
	client(&alice, "alice", "alice", S.port, "bob", NULL);
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_SECURITY);
	proc_stderr(&alice, err, sizeof(err));
	ck_assert_msg(strstr(err, key), "%s", err);
	slurp(key, after, sizeof(after));
	ck_assert_str_eq(after, before);
	proc_stop(&alice);

	/* A tampered known_peers line. */
	snprintf(key, sizeof(key), "%s/alice2.key", dir);
	f = fopen(known, "a");
	fputs("bob@127.0.0.1:1 not-a-key\n", f);
	fclose(f);
	n = slurp(known, before, sizeof(before));
	client(&alice, "alice2", "alice2", S.port, "bob", (const char *[]){ "--known-peers", known, NULL });
	ck_assert_int_eq(proc_wait(&alice, T), EXIT_SECURITY);
	proc_stderr(&alice, err, sizeof(err));
	ck_assert_msg(strstr(err, known), "%s", err);
	ck_assert_uint_eq(slurp(known, after, sizeof(after)), n);
	ck_assert_str_eq(after, before);
	proc_stop(&alice);
}
END_TEST

/* The server remembers which key a name belongs to across a restart
 * (--bindings): another key cannot take the name then. A corrupt store
 * stops the server, and is left as it was. */
START_TEST(name_bindings_survive_a_restart)
{
	char store[200], arg[220];
	snprintf(store, sizeof(store), "%s/bindings", dir);
	snprintf(arg, sizeof(arg), "%s", store);
	const char *opts[] = { "--bindings", arg, NULL };
	ck_assert_int_eq(server_start(&S, opts), 0);
	int port = S.port;
	struct proc p;
	client(&p, "alice", "alice", port, NULL, NULL);
	expect_event(&p, "registered");
	proc_stop(&p);
	server_stop(&S);
	ck_assert_msg(file_has(store, "alice "), "alice's binding is not in the store");

	ck_assert_int_eq(server_start_on(&S, port, opts), 0);
	client(&p, "alice", "mallory", port, NULL, NULL); /* the name, another key */
	ck_assert_int_eq(proc_wait(&p, T), EXIT_REGISTER);
	char err[4096];
	proc_stderr(&p, err, sizeof(err));
	ck_assert_msg(strstr(err, "belongs to another key"), "%s", err);
	proc_stop(&p);
	client(&p, "alice", "alice", port, NULL, NULL); /* the rightful key */
	expect_event(&p, "registered");
	proc_stop(&p);
	server_stop(&S);

	/* A line that is not a binding: refused with its line number. */
	FILE *f = fopen(store, "a");
	fputs("bob not-a-key\n", f);
	fclose(f);
	char before[8192], after[8192];
	size_t n = slurp(store, before, sizeof(before));
	struct test_server bad;
	ck_assert_int_ne(server_start_on(&bad, port, opts), 0);
	ck_assert_msg(strstr(bad.log, store) && strstr(bad.log, ":2"), "%s", bad.log);
	server_stop(&bad);
	ck_assert_uint_eq(slurp(store, after, sizeof(after)), n);
	ck_assert_str_eq(after, before);
}
END_TEST

/* What the server's relay carries, captured on the wire (tshark on lo):
 * RTP whose headers it can read, and payloads it cannot. A plain Opus
 * stream starts every packet with the same TOC byte (one configuration
 * for the whole call); ciphertext starts with a random one. */
START_TEST(relayed_audio_is_unreadable_to_the_server)
{
	if (geteuid() != 0) {
		fprintf(stderr, "e2e_call: SKIP relayed_audio_is_unreadable_to_the_server: capturing on lo "
				"needs root (CI runs it as root)\n");
		return;
	}
	char wav[200], out_a[200], out_b[200], pcap[200], txt[200];
	snprintf(wav, sizeof(wav), "%s/tone.wav", dir);
	snprintf(out_a, sizeof(out_a), "%s/a.wav", dir);
	snprintf(out_b, sizeof(out_b), "%s/b.wav", dir);
	snprintf(pcap, sizeof(pcap), "%s/relay.pcap", dir);
	snprintf(txt, sizeof(txt), "%s/relay.txt", dir);
	ck_assert_int_eq(audio_sh("sox -n -r 48000 -c 1 -b 16 '%s' synth 2 sine 440 2>/dev/null", wav), 0);
	ck_assert_int_eq(server_start(&S, NULL), 0);
	pid_t ts = fork();
	if (ts == 0) {
		char filter[64];
		snprintf(filter, sizeof(filter), "udp dst port %d", S.port);
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("tshark", "tshark", "-q", "-i", "lo", "-f", filter, "-w", pcap, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 50; i++) {
		struct stat st;
		if (stat(pcap, &st) == 0 && st.st_size > 0)
			break;
		usleep(100000);
	}
	usleep(500000);
	struct proc alice, bob;
	const char *bob_opts[] = { "--auto-answer", "--once", "--relay", "always", "--input", wav, "--output",
				   out_b, NULL };
	const char *alice_opts[] = { "--relay", "always", "--input", wav, "--output", out_a, NULL };
	start_client(&bob, "bob", "bob", S.port, NULL, bob_opts, true);
	expect_event(&bob, "registered");
	start_client(&alice, "alice", "alice", S.port, "bob", alice_opts, true);
	expect_event(&alice, "connected");
	ck_assert_str_eq(json_field(line, "path", field, sizeof(field)), "relay");
	ck_assert_str_eq(json_field(line, "encrypted", field, sizeof(field)), "true");
	expect_event(&alice, "ended");
	proc_wait(&alice, T);
	proc_wait(&bob, T);
	usleep(300000);
	kill(ts, SIGINT);
	waitpid(ts, NULL, 0);
	proc_stop(&alice);
	proc_stop(&bob);
	ck_assert_int_eq(audio_sh("tshark -r '%s' -T fields -e udp.payload > '%s' 2>/dev/null", pcap, txt), 0);

	/* Client -> relay frames: 40 00 00 00, 8-byte token, then the packet. */
	FILE *f = fopen(txt, "r");
	ck_assert_ptr_nonnull(f);
	char l[8192];
	unsigned rtp = 0, distinct = 0;
	bool seen[256] = { false };
	while (fgets(l, sizeof(l), f)) {
		/* hex, maybe with ':' separators */
		uint8_t b[2048];
		size_t n = 0;
		for (const char *p = l; p[0] && p[1] && n < sizeof(b);) {
			if (*p == ':' || *p == '\n') {
				p++;
				continue;
			}
			unsigned v;
			if (sscanf(p, "%2x", &v) != 1)
				break;
			b[n++] = (uint8_t)v;
			p += 2;
		}
		if (n < 12 + 12 + 1 || b[0] != 0x40)
			continue;
		const uint8_t *r = b + 12;
		if ((r[0] & 0xc0) != 0x80 || (r[1] & 0x7f) != 111 || (r[0] & 0x3f) != 0)
			continue; /* not RTP with PT 111, no CSRC/extension */
		rtp++;
		if (!seen[r[12]]) {
			seen[r[12]] = true;
			distinct++;
		}
	}
	fclose(f);
	fprintf(stderr, "e2e_call: %u relayed RTP packets, %u distinct first payload bytes\n", rtp, distinct);
	/* 2 s of 20 ms frames each way: ~200 packets. Random first bytes take
	 * ~140 distinct values among 200 (256 possible); plain Opus 1. */
	ck_assert_msg(rtp >= 100, "only %u RTP packets went through the relay", rtp);
	ck_assert_msg(distinct >= rtp / 3, "%u distinct first bytes in %u packets: not encrypted?", distinct, rtp);
}
END_TEST

Suite *e2e_call_suite(void)
{
	Suite *s = suite_create("e2e_call");
	TCase *tc = tcase_create("security");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, honest_call_codes_match_and_keys_are_pinned);
	tcase_add_test(tc, changed_key_is_refused_until_trusted);
	tcase_add_test(tc, malicious_server_cannot_make_the_codes_match);
	tcase_add_test(tc, malicious_server_is_refused_by_pinned_keys);
	tcase_add_test(tc, forged_signature_is_refused);
	tcase_add_test(tc, unencrypted_peer_needs_insecure);
	tcase_add_test(tc, bad_key_files_are_refused_untouched);
	tcase_add_test(tc, name_bindings_survive_a_restart);
	tcase_add_test(tc, relayed_audio_is_unreadable_to_the_server);
	suite_add_tcase(s, tc);
	return s;
}
