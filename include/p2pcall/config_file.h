/* Finding and reading the configuration file that applies to a command
 * line (doc/config.md): `--serve --config FILE` for the server, the XDG
 * client file otherwise. The parsing itself is config.c's. */
#ifndef P2PCALL_CONFIG_FILE_H
#define P2PCALL_CONFIG_FILE_H

#include <stddef.h>

struct config;

/* Loads the file ARGV asks for, if any, into *OUT (NULL when there is
 * none: a client without a file, a server without --config, or --help /
 * --version). Returns 0, or -errno with a one-line message naming the file
 * in ERR (unreadable, too large, or a bad line). */
int config_file_load(int argc, char **argv, struct config **out, char *err, size_t errlen);

#endif
