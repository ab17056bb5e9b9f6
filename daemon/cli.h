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
/* Gives the file name (relative to dirfd, or AT_FDCWD) to uid:gid
 * without ever following a symbolic link: it is opened with
 * O_PATH|O_NOFOLLOW and changed through that descriptor, so what is
 * checked is what is changed. A link there is refused, and so is a file
 * of another type than type (S_IFSOCK, S_IFDIR, S_IFREG; 0: any).
 * Links in the directories above name are the caller's to trust.
 * Returns 0, or -1 with *why saying why ("is a symbolic link", "is not
 * a socket", or strerror). */
int cli_chown_nofollow(int dirfd, const char *name, mode_t type, uid_t uid,
		       gid_t gid, const char **why);
/* True when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
