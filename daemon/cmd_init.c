/* `postern init DIR`: a complete, self-contained instance in one step. */
#include "daemon/cli.h"
#include "core/buf.h"
#include "core/xmalloc.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#define DEFAULT_RUN_USER "postern"

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int write_file(const char *path, const char *data, size_t len,
		      mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, data, len);
	int rc = (w == (ssize_t)len && fsync(fd) == 0) ? 0 : -1;
	close(fd);
	return rc;
}

/* As root: the dedicated system user that will own the mail. Made the
 * way a Debian package's postinst would make it. */
static int ensure_run_user(const char *name, struct passwd *out)
{
	struct passwd *pw = getpwnam(name);
	if (!pw && !strcmp(name, DEFAULT_RUN_USER)) {
		pid_t pid = fork();
		if (pid == 0) {
			execlp("useradd", "useradd", "--system", "--no-create-home",
			       "--home-dir", "/nonexistent", "--shell",
			       "/usr/sbin/nologin", "--user-group", name,
			       (char *)NULL);
			_exit(127);
		}
		int st = 0;
		if (pid > 0)
			waitpid(pid, &st, 0);
		pw = getpwnam(name);
		if (pw)
			printf("postern: created system user %s\n", name);
	}
	if (!pw) {
		fprintf(stderr, "postern: user \"%s\" does not exist and could not be created\n",
			name);
		return -1;
	}
	*out = *pw;
	return 0;
}

/* chown and chmod without following a link: the instance directory may
 * have existed before, writable by someone else. */
static int set_owner(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	int rc = fchown(fd, uid, gid) == 0 && fchmod(fd, mode) == 0 ? 0 : -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* An existing DIR that run_user cannot enter would leave every child
 * with EACCES (they find the instance from their working directory,
 * daemon/cli.h): refuse before creating anything. */
static int refuse_unreachable(const char *dir, const char *run_user)
{
	int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (here < 0 || chdir(dir) != 0) {
		fprintf(stderr, "postern init: cannot enter %s: %s\n", dir,
			strerror(errno));
		if (here >= 0)
			close(here);
		return -1;
	}
	const struct cli_reach it = { "instance directory", ".",
				      CLI_NEED_ENTER };
	struct buf why = BUF_INIT;
	int bad = cli_check_reach(run_user, &it, 1, "postern init", &why);
	int back = fchdir(here);
	close(here);
	if (bad > 0)
		fprintf(stderr, "%spostern init: the server runs as %s and works "
			"from %s; make it enterable (chmod 755 %s) or choose a "
			"new directory\n", buf_cstr(&why), run_user, dir, dir);
	buf_free(&why);
	if (back != 0) {
		fprintf(stderr, "postern init: cannot return to the working "
			"directory: %s\n", strerror(errno));
		return -1;
	}
	return bad > 0 ? -1 : 0;
}

static int parse_args(int argc, char **argv, const char **dir, int *base,
		      const char **host, const char **user)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 < argc && !strcmp(a, "--port-base")) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 0 || n > 65535 - 995) {
				fprintf(stderr, "postern init: --port-base must be 0..%d\n",
					65535 - 995);
				return -1;
			}
			*base = (int)n;
		} else if (i + 1 < argc && !strcmp(a, "--hostname")) {
			*host = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--user")) {
			*user = argv[++i];
		} else if (a[0] != '-' && !*dir) {
			*dir = a;
		} else {
			fprintf(stderr, "postern init: unexpected argument \"%s\"\n", a);
			return -1;
		}
	}
	if (!*dir) {
		fprintf(stderr, "usage: postern init DIR [--port-base N] [--hostname NAME] [--user USER]\n");
		return -1;
	}
	return 0;
}

static int path_join(char out[PATH_MAX], const char *a, const char *b)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
	return (n < 0 || n >= PATH_MAX) ? -1 : 0;
}

int cmd_init(int argc, char **argv)
{
	const char *dir = NULL, *host = "localhost", *user = NULL;
	int base = 2000;
	if (parse_args(argc, argv, &dir, &base, &host, &user) < 0)
		return EX_USAGE;
	char conf[PATH_MAX];
	if (path_join(conf, dir, "postern.conf") < 0) {
		fprintf(stderr, "postern init: %s: path too long\n", dir);
		return EX_USAGE;
	}
	if (access(conf, F_OK) == 0) {
		fprintf(stderr, "postern init: %s already exists; refusing to overwrite an instance\n",
			conf);
		return EX_CANTCREAT;
	}
	struct passwd pw = { 0 };
	bool root = geteuid() == 0;
	if (root && ensure_run_user(user ? user : DEFAULT_RUN_USER, &pw) < 0)
		return EX_NOUSER;
	/* pw's strings live in getpwnam's buffer, which the next lookup
	 * (the reach check's) overwrites */
	char run_user[256] = "";
	if (root)
		snprintf(run_user, sizeof run_user, "%s", pw.pw_name);
	if (!root && user)
		fprintf(stderr, "postern init: --user is only used when run as root; ignoring it\n");

	char tlsdir[PATH_MAX], mail[PATH_MAX], users[PATH_MAX], cert[PATH_MAX],
		key[PATH_MAX], aliases[PATH_MAX], queue[PATH_MAX],
		state[PATH_MAX];
	if (path_join(tlsdir, dir, "tls") < 0 || path_join(mail, dir, "mail") < 0 ||
	    path_join(users, dir, "users") < 0 ||
	    path_join(aliases, dir, "aliases") < 0 ||
	    path_join(queue, dir, "queue") < 0 ||
	    path_join(state, dir, "state") < 0 ||
	    path_join(cert, tlsdir, "cert.pem") < 0 ||
	    path_join(key, tlsdir, "key.pem") < 0) {
		fprintf(stderr, "postern init: %s: path too long\n", dir);
		return EX_USAGE;
	}
	struct stat st;
	bool existed = stat(dir, &st) == 0;
	if (root && existed && refuse_unreachable(dir, run_user) != 0)
		return EX_CANTCREAT;
	if (mkdir_p(dir, 0755) < 0 || (!existed && chmod(dir, 0755) < 0) ||
	    mkdir(tlsdir, 0755) < 0 || mkdir(mail, 0700) < 0 ||
	    mkdir(queue, 0700) < 0 || mkdir(state, 0700) < 0) {
		fprintf(stderr, "postern init: cannot create directories in %s: %s\n",
			dir, strerror(errno));
		return EX_CANTCREAT;
	}
	struct buf err = BUF_INIT;
	if (tls_make_self_signed(cert, key, host, &err) < 0) {
		fprintf(stderr, "postern init: %s\n", buf_cstr(&err));
		buf_free(&err);
		return EX_CANTCREAT;
	}
	buf_free(&err);
	static const char users_head[] =
		"# postern users: Dovecot passwd-file format, name:{SCHEME}hash[:...]\n"
		"# Edit with `postern user add|passwd|del|list`.\n";
	static const char aliases_head[] =
		"# postern aliases: \"source: target[, target...]\", one per line.\n"
		"# A bare source (info) works at every local domain; targets are users\n"
		"# or other aliases. RFC 5321 wants a postmaster, for example:\n"
		"# postmaster: alice\n";
	struct buf text = BUF_INIT;
	config_write_default(&text, dir, base, run_user);
	if (write_file(users, users_head, sizeof users_head - 1, 0600) < 0 ||
	    write_file(aliases, aliases_head, sizeof aliases_head - 1, 0644) < 0 ||
	    write_file(conf, text.data, text.len, 0644) < 0) {
		fprintf(stderr, "postern init: cannot write in %s: %s\n", dir,
			strerror(errno));
		buf_free(&text);
		return EX_CANTCREAT;
	}
	buf_free(&text);
	if (root) {
		/* Root owns the config, the key and the instance directory
		 * (so run_user cannot swap what root reads at the next
		 * start). The auth process and `deliver`, as run_user, read
		 * the users and aliases files through run_user's group; the
		 * unprivileged login processes cannot. run_user owns only
		 * what the server writes: the mail, the queue and its state
		 * (state_dir: the auth process's known networks). */
		const struct {
			const char *path;
			uid_t uid;
			gid_t gid;
			mode_t mode;
		} own[] = {
			{ users, 0, pw.pw_gid, 0640 },
			{ aliases, 0, pw.pw_gid, 0640 },
			{ mail, pw.pw_uid, pw.pw_gid, 0700 },
			{ queue, pw.pw_uid, pw.pw_gid, 0700 },
			{ state, pw.pw_uid, pw.pw_gid, 0700 },
		};
		for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
			if (set_owner(own[i].path, own[i].uid, own[i].gid,
				      own[i].mode) < 0) {
				fprintf(stderr, "postern init: chown %s: %s\n",
					own[i].path, strerror(errno));
				return EX_CANTCREAT;
			}
	}
	printf("postern: instance created in %s\n"
	       "  config:  %s\n"
	       "  IMAP:    127.0.0.1:%d (STARTTLS), IMAPS 127.0.0.1:%d;\n"
	       "  POP3:    127.0.0.1:%d (STLS), POP3S 127.0.0.1:%d; SMTP 127.0.0.1:%d,\n"
	       "  submission 127.0.0.1:%d (STARTTLS) and %d (TLS), LMTP 127.0.0.1:%d\n"
	       "next: postern -c %s user add NAME; postern -c %s serve\n",
	       dir, conf, base + 143, base + 993, base + 110, base + 995,
	       base + 25, base + 587, base + 465, base + 24, conf, conf);
	return EX_OK;
}
