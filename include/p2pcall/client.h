/* `p2pcall NAME@HOST[:PORT] [PEER]`: register, then call or wait. */
#ifndef P2PCALL_CLIENT_H
#define P2PCALL_CLIENT_H

#include "p2pcall/cli.h"

/* Runs until the call (or, waiting, the session) ends. Returns an
 * enum exit_status. */
int client_run(const struct cli *cli);

#endif
