/* Subcommands of the postern binary. Each returns a sysexits.h code. */
#ifndef POSTERN_CLI_H
#define POSTERN_CLI_H
#include "core/config.h"

#include <sys/types.h>

int cmd_init(int argc, char **argv);
int cmd_serve(const char *conf_path, struct config *cfg);
int cmd_deliver(const struct config *cfg, int argc, char **argv);
int cmd_check_config(const char *conf_path);
int cmd_queue(const struct config *cfg, int argc, char **argv);

/* Loads conf_path or prints its errors; returns 0 or EX_CONFIG. */
int cli_load_config(const char *conf_path, struct config *cfg);
/* When running as root, switches to cfg->run_user (refusing to go on as
 * root if it is unset). Returns 0, or an exit code after a message. */
int cli_drop_privileges(const struct config *cfg);
/* cfg->run_user's uid and gid (refusing an unset run_user or root, as
 * above). 0, or an exit code after a message. */
int cli_run_user_ids(const struct config *cfg, uid_t *uid, gid_t *gid);
/* Leaves root for uid/gid for good (supplementary groups dropped, and
 * checked that root cannot be regained). 0, or an exit code after a
 * message. */
int cli_become(uid_t uid, gid_t gid);
/* As root: chroot into an empty directory that can never gain an entry
 * (a fresh one in /tmp, removed before we enter it, so nothing is left
 * behind either). 0, or -1 with errno. */
int cli_chroot_empty(void);
/* True when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
