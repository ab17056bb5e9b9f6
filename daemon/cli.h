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
int cmd_spf(const struct config *cfg, int argc, char **argv);
int cmd_dkim(const struct config *cfg, int argc, char **argv);
/* `postern dkim verify`: needs no config. */
int cmd_dkim_verify(int argc, char **argv);

/* Every subcommand but init works from the instance directory: this
 * chdir()s to the directory holding conf_path (symlinks resolved) and
 * sets *name (malloc'd) to the file's name there, which config_load
 * then reads keeping relative paths relative (core/config.h). Started
 * as root, every process keeps that working directory, so run_user
 * reaches the instance even when a directory above it is private
 * (a checkout in /root, mode 0700). Returns 0 or an exit code. */
int cli_enter_instance(const char *conf_path, char **name);
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
/* What run_user must be able to do with a path. */
enum cli_need {
	CLI_NEED_ENTER,     /* a directory it works in */
	CLI_NEED_READ,      /* a file it reads (missing is fine) */
	CLI_NEED_WRITE_DIR, /* a directory it writes, or makes if missing */
};
struct cli_reach {
	const char *key;  /* for the message: "mail_dir" */
	const char *path; /* relative ones: from the working directory */
	enum cli_need need;
};
/* Run as root: checks, in a child that has become run_user, that each
 * path is usable by it, and appends one line per problem to out
 * ("PREFIX: KEY PATH: run_user U cannot enter DIR (mode, owner)").
 * Returns the number of problems, 0 when not root
 * or run_user is unset or unknown, -1 if the check could not run. */
int cli_check_reach(const char *run_user, const struct cli_reach *items,
		    size_t n, const char *prefix, struct buf *out);
/* cli_check_reach for what the server uses: the instance directory,
 * mail_dir, queue_dir, users_file, aliases_file; adds a line of advice
 * when there is a problem. */
int cli_check_layout(const struct config *cfg, struct buf *out);
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
