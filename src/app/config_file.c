/* The configuration file that applies to a command line; see config_file.h. */
#include "p2pcall/config_file.h"
#include "p2pcall/config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (64 * 1024)

/* A light scan of the words, before the real parse: which mode, which
 * file. Words after "--" are arguments, not options. */
static void scan(int argc, char **argv, bool *serve, bool *info, const char **file)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--serve") == 0)
			*serve = true;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "-V") || !strcmp(a, "--version"))
			*info = true;
		else if (strcmp(a, "--config") == 0 && i + 1 < argc)
			*file = argv[++i];
		else if (strncmp(a, "--config=", 9) == 0)
			*file = a + 9;
	}
}

static int read_file(const char *path, bool missing_ok, char **buf, size_t *len, const char *shown, char *err,
		     size_t n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		if (e == ENOENT && missing_ok)
			return 1;
		snprintf(err, n, "cannot read the configuration file `%s': %s", shown, strerror(e));
		return -e;
	}
	*buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!*buf) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*buf, 1, CONFIG_MAX_BYTES + 1, f);
	int e = ferror(f) ? EIO : 0;
	fclose(f);
	if (e || *len > CONFIG_MAX_BYTES) {
		snprintf(err, n, "cannot read the configuration file `%s': %s", shown,
			 e ? strerror(e) : "larger than 64 KiB");
		free(*buf);
		*buf = NULL;
		return e ? -e : -EFBIG;
	}
	return 0;
}

int config_file_load(int argc, char **argv, struct config **out, char *err, size_t n)
{
	bool serve = false, info = false;
	const char *file = NULL;
	*out = NULL;
	scan(argc, argv, &serve, &info, &file);
	if (info || (serve && !file))
		return 0;

	char path[PATH_MAX], shown[PATH_MAX];
	const struct config_schema *schema = serve ? &config_server_schema : &config_client_schema;
	const char *home = getenv("HOME");
	if (serve) {
		snprintf(path, sizeof(path), "%s", file);
	} else if (config_client_path(getenv("XDG_CONFIG_HOME"), home, path, sizeof(path)) < 0) {
		return 0; /* no HOME and no XDG_CONFIG_HOME: no client file */
	}
	if (serve)
		snprintf(shown, sizeof(shown), "%s", path);
	else
		config_display_path(path, home, shown, sizeof(shown));

	char *buf = NULL;
	size_t len = 0;
	int rc = read_file(path, !serve, &buf, &len, shown, err, n);
	if (rc != 0)
		return rc > 0 ? 0 : rc;
	rc = config_parse(schema, shown, buf, len, out, err, n);
	free(buf);
	return rc;
}
