/* See keytest.h. */
#include "keytest.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void keytest_mkdtemp(char *dir, size_t cap)
{
	ck_assert_int_lt(snprintf(dir, cap, "/tmp/p2pcall-keys-XXXXXX"), (int)cap);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	/* A test may leave a directory without permissions: restore them. */
	if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
		return rmdir(path) < 0 && chmod(path, 0700) == 0 ? rmdir(path) : 0;
	unlink(path);
	return 0;
}

void keytest_rmtree(const char *dir)
{
	chmod(dir, 0700);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void keytest_write(const char *path, const void *text, size_t len, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	ck_assert_msg(fd >= 0, "cannot create %s", path);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

void keytest_write_str(const char *path, const char *text, mode_t mode) { keytest_write(path, text, strlen(text), mode); }

char *keytest_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);
	size_t r;
	while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(b, cap * 2 + 1);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (b) {
		b[n] = '\0';
		if (len)
			*len = n;
	}
	return b;
}

bool keytest_same(const char *path, const void *text, size_t len)
{
	size_t n = 0;
	char *b = keytest_read(path, &n);
	bool same = b && n == len && memcmp(b, text, len) == 0;
	free(b);
	return same;
}

int keytest_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int keytest_mode(const char *path)
{
	struct stat st;
	return lstat(path, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}
