/* The server's binding store at scale: how long bindings_open takes to
 * load (and check) 100,000 names, and what one acknowledged bindings_add
 * costs (an append and an fdatasync, on the file system under /tmp).
 * The tests check the behaviour; this prints the time it takes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p2pcall/bindings.h"
#include "p2pcall/keyfile.h"

#define N 100000
#define ADDS 200

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void)
{
	char dir[] = "/tmp/p2pcall-bench-bindings-XXXXXX", path[128], err[512];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/bindings", dir);

	size_t cap = (size_t)N * 64, n = 0;
	char *text = malloc(cap);
	uint8_t k[32] = { 0 };
	char ks[KEYFILE_KEY_CHARS + 1];
	for (int i = 0; i < N; i++) {
		memcpy(k, &i, sizeof(i));
		keyfile_key_encode(k, ks);
		n += (size_t)snprintf(text + n, cap - n, "user%d %s\n", i, ks);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
		perror(path);
		return 1;
	}
	close(fd);
	free(text);

	int rc = 0;
	struct bindings *b;
	double best = 1e9;
	for (int round = 0; round < 5; round++) {
		double t0 = now_ms();
		if (bindings_open(&b, path, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
			goto out;
		}
		double dt = now_ms() - t0;
		if (dt < best)
			best = dt;
		if (round < 4)
			bindings_free(b);
	}
	printf("open %d names (%zu bytes): %.1f ms (best of 5)\n", N, n, best);

	double t0 = now_ms();
	for (int i = 0; i < ADDS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "new%d", i);
		if (bindings_add(b, name, k, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
			break;
		}
	}
	double per = (now_ms() - t0) / ADDS;
	printf("add (append + fdatasync) to %zu names: %.3f ms each (mean of %d)\n", bindings_count(b), per, ADDS);
	bindings_free(b);
out:
	unlink(path);
	rmdir(dir);
	return rc;
}
