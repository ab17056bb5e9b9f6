/* `postern user` (see cmd_user.h). */
#include "daemon/cmd_user.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/users.h"
#include "core/limits.h"
#include "core/xmalloc.h"

static const struct {
	const char *name, *usage, *help;
} user_cmds[] = {
	{ "add", "postern user add NAME [--scheme yescrypt|sha512-crypt|plain] "
		 "[--pop3-dele expunge|hide]",
	  "Adds NAME with the password read from stdin (one line). The default\n"
	  "scheme is yescrypt; plain is needed only for APOP and CRAM-MD5.\n" },
	{ "passwd", "postern user passwd NAME [--scheme yescrypt|sha512-crypt|plain]",
	  "Sets NAME's password from stdin (one line).\n" },
	{ "set", "postern user set NAME --pop3-dele expunge|hide",
	  "Sets what POP3 DELE does for NAME: expunge removes the message,\n"
	  "hide hides it from POP3 only.\n" },
	{ "del", "postern user del NAME", "Removes NAME from the users file. "
					  "Its mail stays on disk.\n" },
	{ "list", "postern user list",
	  "Lists the users, one a line, with pop3_dele when set.\n" },
};
#define NCMDS (sizeof user_cmds / sizeof user_cmds[0])

static void usage_all(FILE *f)
{
	fprintf(f, "usage:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %s\n", user_cmds[i].usage);
}

struct opts {
	const char *name;
	enum passwd_scheme scheme;
	bool has_dele;
	enum pop3_dele_mode dele;
	bool has_scheme;
};

static int parse_opts(int argc, char **argv, size_t cmd, struct opts *o)
{
	const char *verb = user_cmds[cmd].name;
	bool want_name = strcmp(verb, "list") != 0;
	bool allow_scheme = !strcmp(verb, "add") || !strcmp(verb, "passwd");
	bool allow_dele = !strcmp(verb, "add") || !strcmp(verb, "set");
	memset(o, 0, sizeof *o);
	o->scheme = PASSWD_YESCRYPT;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (allow_scheme && !strcmp(a, "--scheme") && i + 1 < argc) {
			if (passwd_scheme_parse(argv[++i], &o->scheme) < 0) {
				fprintf(stderr, "postern user %s: unknown scheme "
						"\"%s\" (yescrypt, sha512-crypt, "
						"plain)\n", verb, argv[i]);
				return EX_USAGE;
			}
			o->has_scheme = true;
		} else if (allow_dele && !strcmp(a, "--pop3-dele") &&
			   i + 1 < argc) {
			const char *v = argv[++i];
			if (!strcmp(v, "expunge")) {
				o->dele = POP3_DELE_EXPUNGE;
			} else if (!strcmp(v, "hide")) {
				o->dele = POP3_DELE_HIDE;
			} else {
				fprintf(stderr, "postern user %s: --pop3-dele "
						"must be expunge or hide\n", verb);
				return EX_USAGE;
			}
			o->has_dele = true;
		} else if (want_name && !o->name && a[0] != '-') {
			o->name = a;
		} else {
			fprintf(stderr, "postern user %s: unexpected argument "
					"\"%s\"\nusage: %s\n", verb, a,
				user_cmds[cmd].usage);
			return EX_USAGE;
		}
	}
	if (want_name && !o->name) {
		fprintf(stderr, "postern user %s: missing NAME\nusage: %s\n",
			verb, user_cmds[cmd].usage);
		return EX_USAGE;
	}
	if (!strcmp(verb, "set") && !o->has_dele) {
		fprintf(stderr, "postern user set: nothing to set\nusage: %s\n",
			user_cmds[cmd].usage);
		return EX_USAGE;
	}
	return 0;
}

/* Reads one line from stdin into pw (NUL-terminated); returns 0 or an
 * exit code after a message. */
static int read_password(char *pw, size_t pwsz, size_t *len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) &&
		   tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "Password: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	size_t n = 0;
	bool eol = false, too_long = false;
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (c == '\n') {
			eol = true;
			break;
		}
		if (n + 1 >= pwsz)
			too_long = true;
		else
			pw[n++] = c;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	(void)eol;
	if (n && pw[n - 1] == '\r')
		n--;
	pw[n] = '\0';
	if (too_long) {
		fprintf(stderr, "postern user: password longer than %d bytes\n",
			AUTH_SECRET_MAX);
		return EX_DATAERR;
	}
	if (n == 0) {
		fprintf(stderr, "postern user: empty password refused\n");
		return EX_DATAERR;
	}
	if (memchr(pw, '\0', n)) {
		fprintf(stderr, "postern user: password holds a NUL byte\n");
		return EX_DATAERR;
	}
	*len = n;
	return 0;
}

static int make_password(enum passwd_scheme scheme, char **out)
{
	char pw[AUTH_SECRET_MAX + 1];
	size_t n = 0;
	int rc = read_password(pw, sizeof pw, &n);
	if (rc)
		goto out;
	if (scheme == PASSWD_PLAIN) {
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)pw[i];
			/* ':' ends the field; control bytes break lines. */
			if (c == ':' || c < 0x20 || c == 0x7f) {
				fprintf(stderr, "postern user: a plain password "
						"may not hold ':' or control "
						"characters\n");
				rc = EX_DATAERR;
				goto out;
			}
		}
	}
	*out = passwd_hash(scheme, str_make(pw, n));
	if (!*out) {
		fprintf(stderr, "postern user: cannot hash the password\n");
		rc = EX_SOFTWARE;
	}
out:
	explicit_bzero(pw, sizeof pw);
	return rc;
}

static int edit_status_code(enum users_edit_status st)
{
	switch (st) {
	case USERS_EDIT_OK:
		return EX_OK;
	case USERS_EDIT_EXISTS:
	case USERS_EDIT_BAD_NAME:
	case USERS_EDIT_BAD_FILE:
		return EX_DATAERR;
	case USERS_EDIT_NO_USER:
		return EX_NOUSER;
	case USERS_EDIT_IO:
		return EX_IOERR;
	}
	return EX_SOFTWARE;
}

static int do_list(const struct config *cfg)
{
	struct users u;
	struct buf err = BUF_INIT;
	users_init(&u);
	if (users_load(&u, cfg->users_file, &err) < 0) {
		if (errno == ENOENT && access(cfg->users_file, F_OK) != 0) {
			buf_free(&err);
			return EX_OK; /* no file: no users */
		}
		fprintf(stderr, "%s", buf_cstr(&err));
		buf_free(&err);
		return EX_DATAERR;
	}
	for (size_t i = 0; i < u.n; i++) {
		if (u.v[i].has_pop3_dele)
			printf("%s pop3_dele=%s\n", u.v[i].name,
			       u.v[i].pop3_dele == POP3_DELE_HIDE ? "hide" :
								    "expunge");
		else
			printf("%s\n", u.v[i].name);
	}
	users_free(&u);
	buf_free(&err);
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

/* Root adding the first user to a missing users file makes it the way
 * `postern init` does: root:run_user's group, 0640, so that the auth
 * process (run_user) can read it. The edit then keeps that. */
static int create_users_file(const struct config *cfg)
{
	if (geteuid() != 0 || !cfg->run_user[0])
		return 0;
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw)
		return 0;
	int fd = open(cfg->users_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0 || fchown(fd, 0, pw->pw_gid) != 0 || fchmod(fd, 0640) != 0) {
		fprintf(stderr, "postern user: %s: %s\n", cfg->users_file,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return EX_CANTCREAT;
	}
	close(fd);
	return 0;
}

/* Root edits the users file as root: in a directory another user can
 * write (an instance made by an older init belongs to run_user), that
 * user could put a link where the file is. Say so; init's layout has
 * root own the directory. */
static void warn_foreign_dir(const struct config *cfg)
{
	if (geteuid() != 0)
		return;
	char *copy = xstrdup(cfg->users_file);
	const char *dir = dirname(copy);
	struct stat st;
	if (stat(dir, &st) == 0 &&
	    (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))
		fprintf(stderr, "postern user: warning: %s can be changed by "
				"uid %ld or others, who could swap the users "
				"file root edits; make it root's (chown root, "
				"chmod go-w)\n",
			dir, (long)st.st_uid);
	free(copy);
}

int cmd_user(const struct config *cfg, int argc, char **argv)
{
	if (argc < 2) {
		usage_all(stderr);
		return EX_USAGE;
	}
	size_t cmd = NCMDS;
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(argv[1], user_cmds[i].name))
			cmd = i;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage_all(stdout);
		return EX_OK;
	}
	if (cmd == NCMDS) {
		fprintf(stderr, "postern user: unknown subcommand \"%s\"\n",
			argv[1]);
		usage_all(stderr);
		return EX_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: %s\n%s", user_cmds[cmd].usage,
			       user_cmds[cmd].help);
			return EX_OK;
		}
	}
	struct opts o;
	int rc = parse_opts(argc, argv, cmd, &o);
	if (rc)
		return rc;
	const char *verb = user_cmds[cmd].name;
	if (!strcmp(verb, "list"))
		return do_list(cfg);
	warn_foreign_dir(cfg);

	struct users_edit e = { .name = str_from_cstr(o.name),
				.set_pop3_dele = o.has_dele,
				.pop3_dele = o.dele };
	if (!strcmp(verb, "add") && !users_name_valid(e.name)) {
		fprintf(stderr, "postern user add: invalid name \"%s\": use "
				"letters, digits and . _ + - @, not starting "
				"with '.', at most %d bytes\n",
			o.name, AUTH_NAME_MAX);
		return EX_DATAERR;
	}
	/* Say "exists" / "no such user" before asking for a password (the
	 * edit checks again under the lock). */
	if (!strcmp(verb, "add") || !strcmp(verb, "passwd")) {
		struct users u;
		struct buf lerr = BUF_INIT;
		users_init(&u);
		bool loaded = users_load(&u, cfg->users_file, &lerr) == 0;
		bool known = loaded && users_lookup(&u, e.name) != NULL;
		bool missing = !loaded && access(cfg->users_file, F_OK) != 0;
		users_free(&u);
		buf_free(&lerr);
		if (known && !strcmp(verb, "add")) {
			fprintf(stderr, "postern user add: user \"%s\" already "
					"exists\n", o.name);
			return EX_DATAERR;
		}
		if (((loaded && !known) || missing) &&
		    !strcmp(verb, "passwd")) {
			fprintf(stderr, "postern user passwd: no user \"%s\" "
					"in %s\n", o.name, cfg->users_file);
			return EX_NOUSER;
		}
	}
	char *hash = NULL;
	if (!strcmp(verb, "add") || !strcmp(verb, "passwd")) {
		e.op = !strcmp(verb, "add") ? USERS_EDIT_ADD :
					      USERS_EDIT_SET_PASSWORD;
		rc = make_password(o.scheme, &hash);
		if (rc)
			return rc;
		e.password = hash;
	} else if (!strcmp(verb, "set")) {
		e.op = USERS_EDIT_SET_DELE;
	} else {
		e.op = USERS_EDIT_DELETE;
	}
	if (e.op == USERS_EDIT_ADD && (rc = create_users_file(cfg)) != 0) {
		if (hash) {
			explicit_bzero(hash, strlen(hash));
			free(hash);
		}
		return rc;
	}
	struct buf err = BUF_INIT;
	enum users_edit_status st = users_edit(cfg->users_file, &e, &err);
	if (hash) {
		explicit_bzero(hash, strlen(hash));
		free(hash);
	}
	rc = edit_status_code(st);
	if (st == USERS_EDIT_EXISTS)
		fprintf(stderr, "postern user %s: user \"%s\" already exists\n",
			verb, o.name);
	else if (st == USERS_EDIT_NO_USER)
		fprintf(stderr, "postern user %s: no user \"%s\" in %s\n", verb,
			o.name, cfg->users_file);
	else if (st != USERS_EDIT_OK)
		fprintf(stderr, "%spostern user %s: %s not changed\n",
			buf_cstr(&err), verb, cfg->users_file);
	buf_free(&err);
	return rc;
}
