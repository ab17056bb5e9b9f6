/* core/config.c: where relative paths resolve. Named with a directory,
 * the config's relative paths become absolute under its directory; named
 * without one (the CLI enters the instance directory first, daemon/cli.h)
 * they stay relative, so a process that cannot traverse the directories
 * above the instance still finds them from its working directory. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/postern-config-XXXXXX";

static void write_conf(const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/postern.conf", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static const char conf_text[] =
	"mail_dir = mail\n"
	"users_file = /etc/postern-users\n"
	"queue_dir = spool/queue\n"
	"lmtp_socket = lmtp.sock\n";

UNIT_TEST(test_named_with_dir_is_absolute)
{
	write_conf(conf_text);
	char path[PATH_MAX], want[PATH_MAX + 16], real[PATH_MAX];
	snprintf(path, sizeof path, "%s/postern.conf", dir);
	CHECK(realpath(dir, real) != NULL);
	struct config cfg;
	struct buf err = BUF_INIT;
	CHECK(config_load(path, &cfg, &err) == 0);
	snprintf(want, sizeof want, "%s/mail", real);
	CHECK_EQ_STR(cfg.mail_dir, want);
	snprintf(want, sizeof want, "%s/tls/key.pem", real);
	CHECK_EQ_STR(cfg.tls_key, want);
	CHECK_EQ_STR(cfg.users_file, "/etc/postern-users");
	config_free(&cfg);
	buf_free(&err);
}

UNIT_TEST(test_bare_name_stays_relative)
{
	write_conf(conf_text);
	int here = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(here >= 0 && chdir(dir) == 0);
	struct config cfg;
	struct buf err = BUF_INIT;
	CHECK(config_load("postern.conf", &cfg, &err) == 0);
	CHECK_EQ_STR(buf_cstr(&err), "");
	CHECK_EQ_STR(cfg.mail_dir, "mail");
	CHECK_EQ_STR(cfg.queue_dir, "spool/queue");
	CHECK_EQ_STR(cfg.lmtp_socket, "lmtp.sock");
	CHECK_EQ_STR(cfg.tls_cert, "tls/cert.pem"); /* a default */
	CHECK_EQ_STR(cfg.aliases_file, "aliases");
	CHECK_EQ_STR(cfg.users_file, "/etc/postern-users"); /* absolute stays */
	/* the file's own name is absolute, for messages */
	char real[PATH_MAX], want[PATH_MAX + 16];
	CHECK(getcwd(real, sizeof real) != NULL);
	snprintf(want, sizeof want, "%s/postern.conf", real);
	CHECK_EQ_STR(cfg.path, want);
	config_free(&cfg);
	/* a missing file is an error naming it */
	buf_clear(&err);
	CHECK(config_load("nosuch.conf", &cfg, &err) < 0);
	CHECK(strstr(buf_cstr(&err), "nosuch.conf") != NULL);
	config_free(&cfg);
	buf_free(&err);
	CHECK(fchdir(here) == 0);
	close(here);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	void (*tests[])(void) = { test_named_with_dir_is_absolute,
				  test_bare_name_stays_relative };
	int fail = 0;
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		unit_current_failed = 0;
		tests[i]();
		fail += unit_current_failed != 0;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/postern.conf", dir);
	unlink(path);
	rmdir(dir);
	(void)unit_failed_checks;
	printf("%d passed, %d failed\n",
	       (int)(sizeof tests / sizeof tests[0]) - fail, fail);
	return fail ? 1 : 0;
}
