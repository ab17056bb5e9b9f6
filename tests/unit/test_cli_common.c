/* daemon/cli_common.c: cli_chown_nofollow never follows a symbolic link
 * (issue 11: "Socket chown/chmod never follow links"). The changes of
 * owner are seen only when the test runs as root (CI does); otherwise
 * the refusals are still checked. */
#include "unit.h"

#include "daemon/cli.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static uid_t to_uid;
static gid_t to_gid;

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/postern-cli-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	/* As root: a real change of owner, to see what it reaches. */
	bool root = geteuid() == 0;
	to_uid = root ? 65534 : geteuid();
	to_gid = root ? 65534 : getegid();
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void make_file(const char *p)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "secret\n", 7) == 7);
	close(fd);
}

static uid_t owner(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0 ? st.st_uid : (uid_t)-2;
}

UNIT_TEST(test_link_to_file_refused_target_untouched)
{
	setup();
	char target[128], link[128];
	path(target, sizeof target, "shadow");
	path(link, sizeof link, "lmtp.sock");
	make_file(target);
	CHECK(symlink(target, link) == 0);
	uid_t before = owner(target), link_before = owner(link);
	const char *why = NULL;
	CHECK_EQ_INT(cli_chown_nofollow(AT_FDCWD, link, 0, to_uid, to_gid, &why), -1);
	CHECK_EQ_STR(why, "is a symbolic link");
	CHECK_EQ_INT(owner(target), before);
	CHECK_EQ_INT(owner(link), link_before);
	/* Expecting a socket changes nothing about that. */
	why = NULL;
	CHECK_EQ_INT(cli_chown_nofollow(AT_FDCWD, link, S_IFSOCK, to_uid, to_gid,
					&why), -1);
	CHECK_EQ_STR(why, "is a symbolic link");
	CHECK_EQ_INT(owner(target), before);
	teardown();
}

UNIT_TEST(test_link_to_dir_refused)
{
	setup();
	char target[128], link[128];
	path(target, sizeof target, "etc");
	path(link, sizeof link, "mail");
	CHECK(mkdir(target, 0755) == 0);
	CHECK(symlink(target, link) == 0);
	uid_t before = owner(target);
	const char *why = NULL;
	CHECK_EQ_INT(cli_chown_nofollow(AT_FDCWD, link, S_IFDIR, to_uid, to_gid,
					&why), -1);
	CHECK_EQ_STR(why, "is a symbolic link");
	CHECK_EQ_INT(owner(target), before);
	/* Relative to a directory descriptor, as `init` uses it. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	CHECK_EQ_INT(cli_chown_nofollow(dfd, "mail", S_IFDIR, to_uid, to_gid,
					&why), -1);
	CHECK_EQ_INT(owner(target), before);
	CHECK_EQ_INT(cli_chown_nofollow(dfd, "etc", S_IFDIR, to_uid, to_gid,
					&why), 0);
	CHECK_EQ_INT(owner(target), to_uid);
	close(dfd);
	teardown();
}

UNIT_TEST(test_dangling_link_creates_nothing)
{
	setup();
	char target[128], link[128];
	path(target, sizeof target, "nothing");
	path(link, sizeof link, "users");
	CHECK(symlink(target, link) == 0);
	const char *why = NULL;
	CHECK_EQ_INT(cli_chown_nofollow(AT_FDCWD, link, S_IFREG, to_uid, to_gid,
					&why), -1);
	CHECK_EQ_STR(why, "is a symbolic link");
	CHECK(access(target, F_OK) != 0);
	teardown();
}

UNIT_TEST(test_socket_expected)
{
	setup();
	char file[128], sock[96];
	path(file, sizeof file, "file");
	path(sock, sizeof sock, "lmtp.sock");
	make_file(file);
	uid_t before = owner(file);
	const char *why = NULL;
	CHECK_EQ_INT(cli_chown_nofollow(AT_FDCWD, file, S_IFSOCK, to_uid, to_gid,
					&why), -1);
	CHECK_EQ_STR(why, "is not a socket");
	CHECK_EQ_INT(owner(file), before);
	/* A real socket: its owner changes (open() of a socket fails, so
	 * this is only possible through O_PATH). */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	CHECK(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
	CHECK_EQ_INT(cli_chown_nofollow(AT_FDCWD, sock, S_IFSOCK, to_uid, to_gid,
					&why), 0);
	CHECK_EQ_INT(owner(sock), to_uid);
	close(fd);
	/* A file that is not there: strerror. */
	char none[128];
	path(none, sizeof none, "none");
	CHECK_EQ_INT(cli_chown_nofollow(AT_FDCWD, none, 0, to_uid, to_gid, &why), -1);
	CHECK_EQ_STR(why, strerror(ENOENT));
	teardown();
}

UNIT_MAIN(test_link_to_file_refused_target_untouched, test_link_to_dir_refused,
	  test_dangling_link_creates_nothing, test_socket_expected)
