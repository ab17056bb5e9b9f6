/* Subcommands of the postern binary. Each returns a sysexits.h code. */
#ifndef POSTERN_CLI_H
#define POSTERN_CLI_H
#include "core/config.h"

int cmd_init(int argc, char **argv);
int cmd_serve(const char *conf_path, struct config *cfg);
int cmd_deliver(const struct config *cfg, int argc, char **argv);
int cmd_check_config(const char *conf_path);
int cmd_queue(const struct config *cfg, int argc, char **argv);
int cmd_dkim(const struct config *cfg, int argc, char **argv);
/* `postern dkim verify`: needs no config. */
int cmd_dkim_verify(int argc, char **argv);

/* Loads conf_path or prints its errors; returns 0 or EX_CONFIG. */
int cli_load_config(const char *conf_path, struct config *cfg);
/* When running as root, switches to cfg->run_user (refusing to go on as
 * root if it is unset). Returns 0, or an exit code after a message. */
int cli_drop_privileges(const struct config *cfg);
/* True when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
