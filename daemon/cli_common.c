/* What several subcommands share: entering the instance directory,
 * loading the config, checking what run_user can reach, leaving root. */
#include "daemon/cli.h"
#include "core/xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

int cli_enter_instance(const char *conf_path, char **name)
{
	char abs[PATH_MAX];
	if (!realpath(conf_path, abs)) {
		/* config_load says why, naming the file as it was given */
		*name = xstrdup(conf_path);
		return 0;
	}
	char *slash = strrchr(abs, '/');
	*name = xstrdup(slash + 1);
	if (slash == abs)
		slash++; /* the config is in / */
	*slash = '\0';
	if (chdir(abs) != 0) {
		fprintf(stderr, "postern: cannot enter %s: %s\n", abs,
			strerror(errno));
		free(*name);
		*name = NULL;
		return EX_OSERR;
	}
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

/* As run_user (in the child of cli_check_reach): the directory on path
 * that it cannot enter, or path itself when it lacks what is needed.
 * Returns what it could not do ("enter", "read", "write in") or NULL. */
static const char *reach_blocker(const char *path, enum cli_need need,
				 char *blocker, size_t bsz)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
		return NULL;
	/* the directory a missing path would be created in */
	char parent[PATH_MAX] = ".";
	if (p[0] == '/')
		snprintf(parent, sizeof parent, "/");
	else if (access(".", X_OK) != 0 && errno == EACCES) {
		snprintf(blocker, bsz, ".");
		return "enter";
	}
	bool missing = false;
	for (char *s = p + 1; *s && !missing; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (access(p, X_OK) == 0)
			snprintf(parent, sizeof parent, "%s", p);
		else if (errno == EACCES) {
			snprintf(blocker, bsz, "%s", p);
			return "enter";
		} else if (errno == ENOENT)
			missing = true;
		else
			return NULL; /* not a directory: check-config says so */
		*s = '/';
	}
	struct stat st;
	if (!missing && stat(p, &st) == 0) {
		int mode = need == CLI_NEED_ENTER ? X_OK :
			   need == CLI_NEED_READ  ? R_OK :
			   S_ISDIR(st.st_mode)    ? R_OK | W_OK | X_OK : F_OK;
		if (access(p, mode) == 0 || errno != EACCES)
			return NULL;
		snprintf(blocker, bsz, "%s", p);
		return need == CLI_NEED_ENTER ? "enter" :
		       need == CLI_NEED_READ  ? "read" : "write in";
	}
	if ((missing || errno == ENOENT) && need == CLI_NEED_WRITE_DIR &&
	    access(parent, W_OK | X_OK) != 0 && errno == EACCES) {
		/* the server makes the directory: it must write its parent */
		snprintf(blocker, bsz, "%s", parent);
		return "write in";
	}
	return NULL;
}

static void describe(struct buf *out, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return;
	struct passwd *pw = getpwuid(st.st_uid);
	char owner[64];
	snprintf(owner, sizeof owner, "%s", pw ? pw->pw_name : "?");
	struct group *gr = getgrgid(st.st_gid);
	buf_printf(out, " (mode %04o, owner %s:%s)",
		   (unsigned)(st.st_mode & 07777), owner, gr ? gr->gr_name : "?");
}

int cli_check_reach(const char *run_user, const struct cli_reach *items,
		    size_t n, const char *prefix, struct buf *out)
{
	char ru[256];
	if (geteuid() != 0 || !run_user || !run_user[0] ||
	    snprintf(ru, sizeof ru, "%s", run_user) >= (int)sizeof ru ||
	    !getpwnam(ru))
		return 0;
	run_user = ru; /* it may have pointed into getpwnam's buffer */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		struct config c = { .run_user = (char *)run_user,
				    .path = (char *)prefix };
		if (cli_drop_privileges(&c) != 0)
			_exit(EX_OSERR);
		struct buf msg = BUF_INIT;
		for (size_t i = 0; i < n; i++) {
			char blocker[PATH_MAX];
			const char *what = reach_blocker(items[i].path,
							 items[i].need, blocker,
							 sizeof blocker);
			if (what)
				buf_printf(&msg, "%zu\t%s\t%s\n", i, what, blocker);
		}
		ssize_t w = write(pfd[1], msg.data ? msg.data : "", msg.len);
		_exit(w == (ssize_t)msg.len ? 0 : EX_IOERR);
	}
	close(pfd[1]);
	struct buf got = BUF_INIT;
	char chunk[1024];
	ssize_t r;
	while ((r = read(pfd[0], chunk, sizeof chunk)) > 0 ||
	       (r < 0 && errno == EINTR))
		if (r > 0 && got.len < 65536)
			buf_append(&got, chunk, (size_t)r);
	close(pfd[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		buf_free(&got);
		return -1;
	}
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, ".");
	int problems = 0;
	char *line = (char *)buf_cstr(&got), *save = NULL;
	for (char *l = strtok_r(line, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *what = strchr(l, '\t'), *blocker;
		if (!what || !(blocker = strchr(what + 1, '\t')))
			continue;
		*what++ = '\0';
		*blocker++ = '\0';
		size_t i = strtoul(l, NULL, 10);
		if (i >= n)
			continue;
		const struct cli_reach *it = &items[i];
		char shown[PATH_MAX + 8];
		if (!strcmp(blocker, "."))
			snprintf(shown, sizeof shown, "%s", cwd);
		else if (blocker[0] != '/')
			snprintf(shown, sizeof shown, "%s/%s", cwd, blocker);
		else
			snprintf(shown, sizeof shown, "%s", blocker);
		buf_printf(out, "%s: %s %s: run_user %s cannot %s %s", prefix,
			   it->key, !strcmp(it->path, ".") ? cwd : it->path,
			   run_user, what, shown);
		describe(out, blocker);
		buf_appends(out, "\n");
		problems++;
	}
	buf_free(&got);
	return problems;
}

int cli_check_layout(const struct config *cfg, struct buf *out)
{
	const struct cli_reach items[] = {
		{ "instance directory", ".", CLI_NEED_ENTER },
		{ "mail_dir", cfg->mail_dir, CLI_NEED_WRITE_DIR },
		{ "queue_dir", cfg->queue_dir, CLI_NEED_WRITE_DIR },
		{ "state_dir", cfg->state_dir, CLI_NEED_WRITE_DIR },
		{ "users_file", cfg->users_file, CLI_NEED_READ },
		{ "aliases_file", cfg->aliases_file, CLI_NEED_READ },
	};
	int problems = cli_check_reach(cfg->run_user, items,
				       sizeof items / sizeof items[0],
				       cfg->path, out);
	if (problems > 0)
		buf_printf(out, "%s: the server runs as %s and works from the "
			   "instance directory: a path outside it needs every "
			   "directory above it open to %s (or keep the path "
			   "relative to the config)\n",
			   cfg->path, cfg->run_user, cfg->run_user);
	return problems;
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
