/* `postern check-config`: everything serve would trip over, found
 * before it starts, each with its file and line where there is one. */
#include "daemon/cli.h"
#include "auth/passwd.h"
#include "auth/users.h"
#include "auth/aliases.h"
#include "auth/resolve.h"
#include "relay/route.h"
#include "core/limits.h"
#include "tls/tls.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

/* serve raises RLIMIT_NOFILE's soft limit to what the connection caps
 * need, up to the hard limit; say where that is too low, since each
 * worker then serves fewer connections. */
static void check_nofile(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_max == RLIM_INFINITY)
		return;
	unsigned long long ceiling = rl.rlim_max;
	unsigned long long per = cfg->worker_max_connections > 0
					 ? (unsigned long long)cfg->worker_max_connections
					 : (unsigned long long)cfg->max_connections;
	unsigned long long need = per * CONN_FDS_PER_CONN + WORKER_FD_START +
				  WORKER_FD_SPARE;
	if (need <= ceiling)
		return;
	unsigned long long fit =
		ceiling > WORKER_FD_START + WORKER_FD_SPARE
			? (ceiling - WORKER_FD_START - WORKER_FD_SPARE) / CONN_FDS_PER_CONN
			: 0;
	printf("%s: warning: %s = %llu needs about %llu descriptors per worker, "
	       "but RLIMIT_NOFILE allows %llu: each worker will serve at most "
	       "about %llu connections\n",
	       cfg->path, cfg->worker_max_connections > 0 ? "worker_max_connections"
							  : "max_connections",
	       per, need, ceiling, fit);
}

int cmd_check_config(const char *conf_path)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	int bad = config_load(conf_path, &cfg, &err) != 0;
	if (!bad) {
		struct ssl_ctx_st *tls = tls_server_ctx_new(cfg.tls_cert, cfg.tls_key, &err);
		/* and a key type the key process can sign with */
		struct ssl_ctx_st *proxy = tls ? tls_server_ctx_new_keyd(cfg.tls_cert, 0, &err)
					       : NULL;
		if (!tls || !proxy) {
			buf_appends(&err, "\n");
			bad = 1;
		}
		tls_ctx_free(&tls);
		tls_ctx_free(&proxy);
		struct users users;
		users_init(&users);
		if (users_load(&users, cfg.users_file, &err) != 0)
			bad = 1;
		for (size_t i = 0; i < users.n; i++) {
			struct buf why = BUF_INIT;
			enum passwd_kind kind;
			struct str data;
			if (!passwd_parse(str_from_cstr(users.v[i].password), &kind,
					  &data, &why))
				printf("%s:%u: warning: user %s cannot log in: %s\n",
				       cfg.users_file, users.v[i].line,
				       users.v[i].name, buf_cstr(&why));
			buf_free(&why);
		}
		struct aliases aliases;
		aliases_init(&aliases);
		if (aliases_load(cfg.aliases_file, &aliases, &err) != 0) {
			bad = 1;
		} else {
			struct resolver *r = resolver_new(&cfg, &users, &aliases);
			if (resolver_check_aliases(r, cfg.aliases_file, &err) > 0)
				bad = 1;
			/* RFC 5321 section 4.5.1: mail to postmaster must
			 * be accepted; SMTP will refuse it otherwise. */
			if (!resolver_has_postmaster(r))
				printf("%s: warning: \"postmaster\" is neither a user nor an alias; "
				       "add \"postmaster: NAME\" to %s\n",
				       cfg.path, cfg.aliases_file);
			resolver_free(&r);
		}
		aliases_free(&aliases);
		users_free(&users);
		struct buf rerr = BUF_INIT;
		struct route_table *routes = route_table_new(&cfg, &rerr);
		if (!routes) {
			/* one "key: problem" line each: give them the file */
			struct str rest = buf_str(&rerr);
			while (rest.len > 0) {
				const char *nl = memchr(rest.p, '\n', rest.len);
				size_t l = nl ? (size_t)(nl - rest.p) : rest.len;
				buf_printf(&err, "%s: %.*s\n", cfg.path, (int)l, rest.p);
				rest = str_make(rest.p + l + (nl ? 1 : 0),
						rest.len - l - (nl ? 1 : 0));
			}
			bad = 1;
		}
		route_table_free(&routes);
		buf_free(&rerr);
		/* relay/smtpc.c never sends the password over TLS whose
		 * certificate it did not check for the smarthost's name */
		if (cfg.smarthost[0] && cfg.smarthost_user[0] &&
		    strcmp(cfg.smarthost_tls, "verify") != 0 &&
		    strcmp(cfg.smarthost_tls, "smtps") != 0)
			printf("%s: warning: smarthost_user is set but smarthost_tls "
			       "= %s does not verify the smarthost's certificate: "
			       "AUTH will not be sent and mail will wait; use "
			       "verify or smtps\n", cfg.path, cfg.smarthost_tls);
		check_nofile(&cfg);
		struct stat st;
		if (stat(cfg.mail_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			buf_printf(&err, "%s: mail_dir %s is not a directory\n",
				   cfg.path, cfg.mail_dir);
			bad = 1;
		}
		if (geteuid() == 0 && cfg.run_user[0] && !getpwnam(cfg.run_user)) {
			buf_printf(&err, "%s: run_user %s does not exist\n",
				   cfg.path, cfg.run_user);
			bad = 1;
		}
		if (geteuid() == 0 && !cfg.run_user[0]) {
			buf_printf(&err, "%s: run_user must be set to start as root\n",
				   cfg.path);
			bad = 1;
		}
		/* what serve would refuse: run_user cannot use a path */
		if (cli_check_layout(&cfg, &err) > 0)
			bad = 1;
	}
	if (bad)
		fprintf(stderr, "%s", buf_cstr(&err));
	else
		printf("%s: OK\n", cfg.path);
	buf_free(&err);
	config_free(&cfg);
	return bad ? EX_CONFIG : EX_OK;
}
