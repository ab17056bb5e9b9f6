/* What several subcommands share: loading the config, leaving root. */
#include "daemon/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

int cli_drop_privileges(const struct config *cfg)
{
	if (geteuid() != 0)
		return 0;
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
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "postern: cannot switch to user %s: %s\n",
			cfg->run_user, strerror(errno));
		return EX_OSERR;
	}
	/* Paranoia: make sure root can't be regained. */
	if (setuid(0) == 0) {
		fprintf(stderr, "postern: could regain root after dropping it\n");
		return EX_OSERR;
	}
	return 0;
}

static const char *type_name(mode_t type)
{
	switch (type) {
	case S_IFSOCK: return "is not a socket";
	case S_IFDIR: return "is not a directory";
	case S_IFREG: return "is not a regular file";
	default: return "is not of the expected type";
	}
}

int cli_chown_nofollow(int dirfd, const char *name, mode_t type, uid_t uid,
		       gid_t gid, const char **why)
{
	/* O_PATH opens a socket too, and with O_NOFOLLOW a link itself. */
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) != 0)
		*why = strerror(errno);
	else if (S_ISLNK(st.st_mode))
		*why = "is a symbolic link";
	else if (type && (st.st_mode & S_IFMT) != type)
		*why = type_name(type);
	else if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0)
		*why = strerror(errno);
	else
		rc = 0;
	close(fd);
	return rc;
}
