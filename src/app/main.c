/* p2pcall: peer-to-peer voice calls from the command line. */
#include <stdio.h>
#include <string.h>

#include "p2pcall/cli.h"
#include "p2pcall/client.h"
#include "p2pcall/log.h"
#include "p2pcall/server.h"

int main(int argc, char **argv)
{
	struct cli cli;
	char err[512];
	if (cli_parse(argc, argv, &cli, err, sizeof(err)) < 0) {
		fprintf(stderr, "p2pcall: %s\n%s", err, cli_synopsis);
		return EXIT_USAGE;
	}
	if (cli.help) {
		fputs(cli_usage, stdout);
		return EXIT_OK;
	}
	if (cli.version) {
		printf("p2pcall %s\n", P2PCALL_VERSION);
		return EXIT_OK;
	}
	log_set_level(cli.verbosity < 0 ? LOG_ERROR : cli.verbosity > 0 ? LOG_DEBUG : LOG_INFO);
	if (cli.serve) {
		struct server_opts o = {
			.listen = cli.listen,
			.keepalive_s = cli.keepalive_s,
			.ring_timeout_s = cli.ring_timeout_s,
			.register_timeout_s = cli.register_timeout_s,
		};
		return server_run(&o);
	}
	if (cli.verbosity == 0)
		log_set_level(LOG_WARN); /* the client speaks through events */
	return client_run(&cli);
}
