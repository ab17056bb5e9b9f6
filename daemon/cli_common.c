/* What several subcommands share: loading the config, leaving root. */
#include "daemon/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

int cli_load_config(const char *conf_path, struct config *cfg)
{
	struct buf err = BUF_INIT;
	if (config_load(conf_path, cfg, &err) != 0) {
		fprintf(stderr, "%s", buf_cstr(&err));
		fprintf(stderr, "postern: the config has errors; see above\n");
		buf_free(&err);
		config_free(cfg);
		return EX_CONFIG;
	}
	buf_free(&err);
	return 0;
}

int cli_run_user_ids(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	if (!cfg->run_user[0]) {
		fprintf(stderr, "postern: refusing to run as root: set run_user in %s\n",
			cfg->path);
		return EX_CONFIG;
	}
	errno = 0;
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw) {
		fprintf(stderr, "postern: run_user \"%s\" does not exist (%s: %s)\n",
			cfg->run_user, cfg->path,
			errno ? strerror(errno) : "no such user");
		return EX_NOUSER;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "postern: run_user must not be root\n");
		return EX_CONFIG;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int cli_become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		fprintf(stderr, "postern: cannot switch to uid %ld: %s\n",
			(long)uid, strerror(errno));
		return EX_OSERR;
	}
	/* Paranoia: make sure root can't be regained. */
	if (setuid(0) == 0) {
		fprintf(stderr, "postern: could regain root after dropping it\n");
		return EX_OSERR;
	}
	return 0;
}

int cli_chroot_empty(void)
{
	char dir[] = "/tmp/postern-empty-XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ok = fd >= 0 && fchdir(fd) == 0;
	/* Gone before we enter it: nothing can ever be created in it. */
	if (rmdir(dir) != 0)
		ok = 0;
	ok = ok && chroot(".") == 0 && chdir("/") == 0;
	int e = errno;
	if (fd >= 0)
		close(fd);
	errno = e;
	return ok ? 0 : -1;
}

int cli_drop_privileges(const struct config *cfg)
{
	if (geteuid() != 0)
		return 0;
	uid_t uid;
	gid_t gid;
	int rc = cli_run_user_ids(cfg, &uid, &gid);
	return rc ? rc : cli_become(uid, gid);
}
