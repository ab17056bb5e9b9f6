/* What several subcommands share: loading the config, leaving root. */
#include "daemon/cli.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
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
