/* postern: one binary, subcommands. Parses the global options, finds the
 * subcommand in a table and hands over. */
#include "daemon/cli.h"
#include "daemon/cmd_user.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

struct subcommand {
	const char *name;
	int needs_config;
	const char *usage;
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "init", 0, "postern init DIR [--port-base N] [--hostname NAME] [--user USER]",
	  "Creates a self-contained instance in DIR: postern.conf, a self-signed\n"
	  "certificate and key (tls/), an empty users file and the mail directory.\n"
	  "Listeners bind 127.0.0.1 at N plus each standard port (default N=2000):\n"
	  "POP3 N+110, POP3S N+995, IMAP N+143, IMAPS N+993, SMTP N+25,\n"
	  "submission N+587, submissions N+465, LMTP N+24. Refuses to overwrite an\n"
	  "existing instance. As root, the server runs as --user (default: the system\n"
	  "user 'postern', created if missing), which owns mail/ and queue/ only;\n"
	  "root owns the rest (users and aliases: 0640, readable by that user's\n"
	  "group). An existing DIR that user cannot enter is refused.\n" },
	{ "serve", 1, "postern -c CONF serve",
	  "Runs the server in the foreground, logging key=value lines to stderr.\n"
	  "SIGTERM stops gracefully (stop accepting, let sessions finish for up to\n"
	  "shutdown_timeout seconds); SIGHUP reloads the config, the certificate and\n"
	  "the users file without dropping sessions. Started as root, it binds its\n"
	  "listeners and then runs as run_user from the config's directory; it\n"
	  "refuses at once a path run_user cannot reach.\n" },
	{ "user", 1, "postern -c CONF user add|passwd|set|del|list ...",
	  "Manages the users file. Passwords are read from stdin, one line.\n"
	  "  user add NAME [--scheme yescrypt|sha512-crypt|plain] [--pop3-dele expunge|hide]\n"
	  "  user passwd NAME [--scheme yescrypt|sha512-crypt|plain]\n"
	  "  user set NAME --pop3-dele expunge|hide\n"
	  "  user del NAME\n"
	  "  user list\n"
	  "As root, the file is edited as root and keeps its owner and mode.\n"
	  "NAME is a login (alice) or an address (alice@example.org). The plain\n"
	  "scheme is needed only for APOP and CRAM-MD5.\n" },
	{ "deliver", 1, "postern -c CONF deliver [-f SENDER] NAME",
	  "Reads one RFC 5322 message on stdin and stores it in the INBOX of each\n"
	  "user NAME stands for; exits 0 only once it is on disk (fsync). NAME is a\n"
	  "user, an address at a local domain (alice+tag@example.org delivers to\n"
	  "alice), or an alias from aliases_file. -f SENDER adds Return-Path.\n"
	  "Exit codes (sysexits.h): 67 unknown user or not a local domain, 65\n"
	  "unusable input (empty, NUL bytes, no header, too big), 75 temporary\n"
	  "failure (disk full, I/O error, alias error): the sender should retry.\n" },
	{ "queue", 1, "postern -c CONF queue list|show|retry|delete|hold|release ...",
	  "Looks at and changes the outbound queue (queue_dir): mail for other\n"
	  "domains waiting for delivery.\n"
	  "  queue list         one line per message: id, age, delivery attempts,\n"
	  "                     held or not, sender, the recipients still open\n"
	  "                     with their state, and the last error\n"
	  "  queue show ID      the whole envelope and the message's header\n"
	  "  queue retry [ID]   try ID (or every message) again now\n"
	  "  queue delete ID    remove ID without telling anyone\n"
	  "  queue hold ID      keep ID in the queue, untried, until released\n"
	  "  queue release ID   undo hold; the message is tried at once\n"
	  "Exit codes (sysexits.h): 0 done, 64 usage, 65 no such message (or a\n"
	  "damaged envelope), 73 the queue directory cannot be made, 74 I/O error.\n" },
	{ "spf", 1, "postern -c CONF spf IP SENDER [--helo NAME] [--identity mailfrom|helo]",
	  "Evaluates SPF (RFC 7208) for a client at IP sending as SENDER, with the\n"
	  "resolver of dns_resolver, and prints the result (none, neutral, pass,\n"
	  "fail, softfail, temperror, permerror), the explanation, the number of\n"
	  "DNS lookups, and the chain of records and lookups that led there.\n"
	  "SENDER \"\" or \"<>\" is the null sender: postmaster@NAME is checked.\n"
	  "--identity helo checks the HELO name instead (RFC 7208 2.3).\n"
	  "Limits: 10 DNS-querying terms, 2 void lookups, 10 MX or PTR names,\n"
	  "20 seconds in all. Exit codes: 0 evaluated (whatever the result),\n"
	  "64 usage, 78 the resolver cannot be set up.\n" },
	{ "dkim", 1, "postern -c CONF dkim keygen|list|sign|verify ...",
	  "DKIM keys (RFC 6376; Ed25519 per RFC 8463) and a test bench for them.\n"
	  "  dkim keygen DOMAIN [--selector S] [--type rsa|ed25519|both]\n"
	  "        makes the keys (default both: RSA-2048 and Ed25519) under\n"
	  "        dkim_key_dir/DOMAIN/SELECTOR.key (0600; directories 0700; as\n"
	  "        root, owned by root) and prints the TXT records to publish, in\n"
	  "        zone-file syntax. Selectors default to YYYYMM plus r (RSA) or\n"
	  "        e (Ed25519), e.g. 202612r; with --type both, S gets r and e too.\n"
	  "        An existing key is never overwritten.\n"
	  "  dkim list [--dns]\n"
	  "        one line per key: domain, selector, algorithm, bits, date;\n"
	  "        --dns prints every key's TXT record instead\n"
	  "  dkim sign --domain D --selector S [--selector S2] [--expire SECS]\n"
	  "        reads a message on stdin and prints it with one DKIM-Signature\n"
	  "        per selector (relaxed/relaxed, From/To/Subject/Date oversigned)\n"
	  "  dkim verify --key-records FILE [--now UNIXTIME]\n"
	  "        checks every DKIM-Signature of the message on stdin against\n"
	  "        the records in FILE (lines \"NAME TEXT\", e.g.\n"
	  "        \"202612e._domainkey.example.org v=DKIM1; k=ed25519; p=...\";\n"
	  "        no DNS is asked) and prints one RFC 8601 result per signature,\n"
	  "        e.g. \"dkim=fail (body hash mismatch) header.d=...\". Needs no -c.\n"
	  "Exit codes: 0 done (verify: every signature passed), 1 verify: a\n"
	  "signature did not pass or there is none, 64 usage, 65 unusable\n"
	  "message, 66 no such key, 73 the key directory cannot be made.\n" },
	{ "check-config", 1, "postern -c CONF check-config",
	  "Validates the config (unknown keys, bad values, with line numbers), the\n"
	  "certificate and key, the users file and the mail directory. Exit 0 if\n"
	  "all is well.\n" },
};
#define NSUB (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *f)
{
	fprintf(f, "postern -- a POP3/IMAP/SMTP mail server\n\n"
		   "usage: postern [-c CONF] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < NSUB; i++)
		fprintf(f, "  %s\n", subcommands[i].usage);
	fprintf(f, "\n-c CONF defaults to ./postern.conf. Every command but init works from\n"
		   "CONF's directory. `postern COMMAND --help` tells more.\n");
}

static int help_for(const struct subcommand *s)
{
	printf("usage: %s\n\n%s", s->usage, s->help);
	return EX_OK;
}

int main(int argc, char **argv)
{
	const char *conf = "postern.conf";
	int i = 1;
	log_init("cli");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EX_OK;
		}
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
		    i + 1 < argc) {
			conf = argv[++i];
			continue;
		}
		fprintf(stderr, "postern: unknown option %s\n", argv[i]);
		usage(stderr);
		return EX_USAGE;
	}
	if (i >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *name = argv[i];
	int sub_argc = argc - i;
	char **sub_argv = argv + i;
	if (!strcmp(name, "help")) {
		for (size_t k = 0; sub_argc > 1 && k < NSUB; k++)
			if (!strcmp(sub_argv[1], subcommands[k].name))
				return help_for(&subcommands[k]);
		usage(stdout);
		return EX_OK;
	}
	const struct subcommand *s = NULL;
	for (size_t k = 0; k < NSUB; k++)
		if (!strcmp(name, subcommands[k].name))
			s = &subcommands[k];
	if (!s) {
		fprintf(stderr, "postern: unknown command \"%s\"\n", name);
		usage(stderr);
		return EX_USAGE;
	}
	if (cli_wants_help(sub_argc, sub_argv) && strcmp(name, "user") != 0)
		return help_for(s);
	if (cli_wants_help(sub_argc, sub_argv) && sub_argc == 2)
		return help_for(s);
	if (!strcmp(name, "init"))
		return cmd_init(sub_argc, sub_argv);
	if (!strcmp(name, "dkim") && sub_argc > 1 && !strcmp(sub_argv[1], "verify"))
		return cmd_dkim_verify(sub_argc, sub_argv);
	char *conf_name = NULL;
	int rc = cli_enter_instance(conf, &conf_name);
	if (rc != 0)
		return rc;
	if (!strcmp(name, "check-config")) {
		rc = cmd_check_config(conf_name);
		free(conf_name);
		return rc;
	}

	struct config cfg;
	rc = cli_load_config(conf_name, &cfg);
	if (rc != 0) {
		free(conf_name);
		return rc;
	}
	log_set_level(cfg.log_level);
	if (!strcmp(name, "serve")) {
		/* A layout run_user cannot use is refused now, not found
		 * by a child's EACCES later. */
		struct buf why = BUF_INIT;
		if (cli_check_layout(&cfg, &why) > 0) {
			fprintf(stderr, "%spostern: not starting\n",
				buf_cstr(&why));
			rc = EX_CONFIG;
		} else {
			rc = cmd_serve(conf_name, &cfg);
		}
		buf_free(&why);
	} else if (!strcmp(name, "dkim")) {
		/* The keys are root's (the key process reads them as root):
		 * stays root. */
		rc = cmd_dkim(&cfg, sub_argc, sub_argv);
	} else if (!strcmp(name, "user")) {
		/* As root, the users file is edited as root, keeping its
		 * owner and mode (auth/users_edit.c): root owns it. */
		rc = cmd_user(&cfg, sub_argc, sub_argv);
	} else if ((rc = cli_drop_privileges(&cfg)) != 0) {
		;
	} else if (!strcmp(name, "queue")) {
		/* The queue is run_user's: its files are changed and made
		 * as run_user, never by root in a directory run_user
		 * writes (no symlink run_user planted is followed). */
		rc = cmd_queue(&cfg, sub_argc, sub_argv);
	} else if (!strcmp(name, "spf")) {
		/* DNS only: nothing is written. */
		rc = cmd_spf(&cfg, sub_argc, sub_argv);
	} else {
		/* Mail is stored as run_user, so it owns every file. */
		rc = cmd_deliver(&cfg, sub_argc, sub_argv);
	}
	config_free(&cfg);
	free(conf_name);
	return rc;
}
