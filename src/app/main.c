/* p2pcall: peer-to-peer voice calls from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/cli.h"
#include "p2pcall/client.h"
#include "p2pcall/config.h"
#include "p2pcall/config_file.h"
#include "p2pcall/log.h"
#include "p2pcall/server.h"

static int run(const struct cli *cli);

int main(int argc, char **argv)
{
	struct cli cli;
	struct config *cfg = NULL;
	char err[512], **nargv = NULL;
	int nargc, status = EXIT_USAGE;

	/* The file's settings go before the command line's, which override
	 * them (doc/config.md). */
	if (config_file_load(argc, argv, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "p2pcall: %s\n", err);
		return EXIT_USAGE;
	}
	if (config_argv(cfg, argc, argv, &nargv, &nargc) < 0) {
		fprintf(stderr, "p2pcall: out of memory\n");
		config_free(cfg);
		return EXIT_ERROR;
	}
	if (cli_parse_with_identity(nargc, nargv, config_get(cfg, "identity"), &cli, err, sizeof(err)) < 0)
		fprintf(stderr, "p2pcall: %s\n%s", err, cli_synopsis);
	else
		status = run(&cli);
	/* cli points into nargv and cfg: freed only now. */
	free(nargv);
	config_free(cfg);
	return status;
}

static int run(const struct cli *cli)
{
	if (cli->help) {
		fputs(cli_usage, stdout);
		return EXIT_OK;
	}
	if (cli->version) {
		printf("p2pcall %s\n", P2PCALL_VERSION);
		return EXIT_OK;
	}
	log_set_level(cli->verbosity < 0 ? LOG_ERROR : cli->verbosity > 0 ? LOG_DEBUG : LOG_INFO);
	if (cli->serve) {
		struct server_opts o = {
			.listen = cli->listen,
			.keepalive_s = cli->keepalive_s,
			.ring_timeout_s = cli->ring_timeout_s,
			.register_timeout_s = cli->register_timeout_s,
			.max_clients = cli->max_clients,
			.max_per_ip = cli->max_per_ip,
			.max_line = cli->max_line,
			.line_timeout_s = cli->line_timeout_s,
			.register_rate = cli->register_rate,
			.invite_rate = cli->invite_rate,
			.relay_kbps = cli->relay_kbps,
			.stun_rate = cli->stun_rate,
			.require_keys = cli->require_keys,
			.closed = cli->closed,
			.bindings_path = cli->bindings,
			.stun_alt_port = cli->stun_alt_port,
		};
		return server_run(&o);
	}
	if (cli->verbosity == 0)
		log_set_level(LOG_WARN); /* the client speaks through events */
	return client_run(cli);
}
