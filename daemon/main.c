/* postern: one binary, subcommands. Parses the global options, finds the
 * subcommand in a table and hands over. */
#include "daemon/cli.h"
#include "daemon/cmd_user.h"
#include "core/log.h"

#include <stdio.h>
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
	  "existing instance. As root, the instance is owned by --user (default: the\n"
	  "system user 'postern', created if missing), which the server runs as.\n" },
	{ "serve", 1, "postern -c CONF serve",
	  "Runs the server in the foreground, logging key=value lines to stderr.\n"
	  "SIGTERM stops gracefully (stop accepting, let sessions finish for up to\n"
	  "shutdown_timeout seconds); SIGHUP reloads the config, the certificate and\n"
	  "the users file without dropping sessions. Started as root, it binds its\n"
	  "listeners and then runs as run_user.\n" },
	{ "user", 1, "postern -c CONF user add|passwd|set|del|list ...",
	  "Manages the users file. Passwords are read from stdin, one line.\n"
	  "  user add NAME [--scheme yescrypt|sha512-crypt|plain] [--pop3-dele expunge|hide]\n"
	  "  user passwd NAME [--scheme yescrypt|sha512-crypt|plain]\n"
	  "  user set NAME --pop3-dele expunge|hide\n"
	  "  user del NAME\n"
	  "  user list\n"
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
	fprintf(f, "\n-c CONF defaults to ./postern.conf. `postern COMMAND --help` tells more.\n");
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
	if (!strcmp(name, "check-config"))
		return cmd_check_config(conf);
	if (!strcmp(name, "dkim") && sub_argc > 1 && !strcmp(sub_argv[1], "verify"))
		return cmd_dkim_verify(sub_argc, sub_argv);

	struct config cfg;
	int rc = cli_load_config(conf, &cfg);
	if (rc != 0)
		return rc;
	log_set_level(cfg.log_level);
	if (!strcmp(name, "serve"))
		rc = cmd_serve(conf, &cfg);
	else if (!strcmp(name, "dkim"))
		rc = cmd_dkim(&cfg, sub_argc, sub_argv); /* keys are root's: stays root */
	else if ((rc = cli_drop_privileges(&cfg)) != 0)
		;
	else if (!strcmp(name, "user"))
		rc = cmd_user(&cfg, sub_argc, sub_argv);
	else if (!strcmp(name, "queue"))
		rc = cmd_queue(&cfg, sub_argc, sub_argv);
	else
		rc = cmd_deliver(&cfg, sub_argc, sub_argv);
	config_free(&cfg);
	return rc;
}
