/* The users file: parsing (Dovecot passwd-file lines), lookups, errors
 * with line numbers, and editing that keeps every other byte. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/users.h"
#include "core/limits.h"
#include "tests/unit/unit.h"

static int parse(struct users *u, const char *text, struct buf *err)
{
	return users_parse(u, text, strlen(text), "users", err);
}

static const char dovecot_file[] =
	"# a Dovecot passwd-file\n"
	"\n"
	"alice@example.org:{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/::::::\n"
	"bob:{PLAIN}tanstaaf:1000:1000:Bob:/home/bob:/bin/false:userdb_quota_rule=*:storage=1G pop3_dele=hide\n"
	"carol:$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/\n"
	"   # indented comment\n"
	"dave:{BLF-CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW:::::: pop3_dele=expunge\r\n"
	"erin:{SHA256-CRYPT}$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.\n"
	"frank:{MD5-CRYPT}$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/\n"
	"gina:{CRYPT}$y$j9T$abcdefghijklmnop$7asOTx5b6Exfl3myM6K0pLBn.I2hsEvu7G0F7NMfaO.\n"
	"nopw\n";

UNIT_TEST(test_parse_dovecot)
{
	struct users u;
	struct buf err = BUF_INIT;
	users_init(&u);
	CHECK(parse(&u, dovecot_file, &err) == 0);
	CHECK_EQ_STR(buf_cstr(&err), "");
	CHECK_EQ_INT(u.n, 8);
	const struct user_entry *e = users_lookup(&u, STR_LIT("ALICE@Example.ORG"));
	CHECK(e && strcmp(e->name, "alice@example.org") == 0);
	CHECK(e && e->line == 3 && !e->has_pop3_dele);
	CHECK_EQ_INT(users_pop3_dele(e, POP3_DELE_HIDE), POP3_DELE_HIDE);
	e = users_lookup(&u, STR_LIT("bob"));
	CHECK(e && e->has_pop3_dele && e->pop3_dele == POP3_DELE_HIDE);
	CHECK(e && strcmp(e->password, "{PLAIN}tanstaaf") == 0);
	CHECK_EQ_INT(users_pop3_dele(e, POP3_DELE_EXPUNGE), POP3_DELE_HIDE);
	e = users_lookup(&u, STR_LIT("dave"));
	CHECK(e && e->has_pop3_dele && e->pop3_dele == POP3_DELE_EXPUNGE);
	e = users_lookup(&u, STR_LIT("carol"));
	CHECK(e && strcmp(e->password, "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/") == 0);
	e = users_lookup(&u, STR_LIT("nopw"));
	CHECK(e && e->password[0] == '\0');
	CHECK(users_lookup(&u, STR_LIT("alice")) == NULL);
	CHECK(users_lookup(&u, STR_LIT("")) == NULL);
	CHECK(users_lookup(&u, str_make("bob\0", 4)) == NULL);
	CHECK(users_lookup(&u, STR_LIT("bo")) == NULL);
	users_free(&u);
	buf_free(&err);
}

static void expect_error(const char *text, const char *msg)
{
	struct users u;
	struct buf err = BUF_INIT;
	users_init(&u);
	int r = users_parse(&u, text, strlen(text), "users", &err);
	CHECK(r == -1);
	CHECK(u.n == 0);
	if (!strstr(buf_cstr(&err), msg)) {
		fprintf(stderr, "want \"%s\" in: %s\n", msg, buf_cstr(&err));
		unit_current_failed = 1;
	}
	users_free(&u);
	buf_free(&err);
}

/* A hash we cannot check locks out its own account, not the file. */
UNIT_TEST(test_unusable_hash_loads)
{
	static const char text[] = "a:{SSHA}x\nb:{PLAIN\nc:{CRYPT}\nd:{PLAIN}ok\n";
	struct users u;
	struct buf err = BUF_INIT;
	users_init(&u);
	CHECK(users_parse(&u, text, sizeof text - 1, "users", &err) == 0);
	CHECK_EQ_INT(u.n, 4);
	const char *reason = NULL;
	const struct user_entry *e = users_lookup(&u, STR_LIT("a"));
	CHECK(e && !passwd_verify(e->password, STR_LIT("x"), &reason));
	CHECK(reason && strcmp(reason, "bad_hash") == 0);
	e = users_lookup(&u, STR_LIT("d"));
	CHECK(e && passwd_verify(e->password, STR_LIT("ok"), &reason));
	users_free(&u);
	buf_free(&err);
}

UNIT_TEST(test_parse_errors)
{
	expect_error("ok:{PLAIN}x\n.bad:{PLAIN}x\n", "users:2: bad user name");
	expect_error("a b:{PLAIN}x\n", "users:1: bad user name");
	expect_error(":{PLAIN}x\n", "users:1: bad user name");
	expect_error("a:{PLAIN}x:::::: pop3_dele=keep\n",
		     "users:1: pop3_dele must be expunge or hide: keep");
	expect_error("a:{PLAIN}x\nA:{PLAIN}y\n", "users:2: duplicate user (line 1): A");
	struct users u;
	struct buf err = BUF_INIT;
	users_init(&u);
	CHECK(users_parse(&u, "a:{PLAIN}x\0y\n", 13, "f", &err) < 0);
	CHECK(strstr(buf_cstr(&err), "f:1: NUL byte") != NULL);
	buf_clear(&err);
	/* Lines over USERS_LINE_MAX. */
	struct buf big = BUF_INIT;
	buf_appends(&big, "ok:{PLAIN}x\nlong:{PLAIN}");
	for (int i = 0; i < USERS_LINE_MAX; i++)
		buf_appendc(&big, 'x');
	buf_appends(&big, "\n");
	CHECK(users_parse(&u, big.data, big.len, "f", &err) < 0);
	CHECK(strstr(buf_cstr(&err), "f:2: line too long") != NULL);
	buf_free(&big);
	buf_clear(&err);
	/* Names: 255 ok, 256 not. */
	char name[300];
	memset(name, 'n', sizeof name);
	CHECK(users_name_valid(str_make(name, AUTH_NAME_MAX)));
	CHECK(!users_name_valid(str_make(name, AUTH_NAME_MAX + 1)));
	CHECK(users_name_valid(STR_LIT("a.b+c_d-e@x.y")));
	CHECK(!users_name_valid(STR_LIT(".a")));
	CHECK(!users_name_valid(STR_LIT("a/b")));
	CHECK(!users_name_valid(STR_LIT("a:b")));
	CHECK(!users_name_valid(STR_LIT("")));
	/* Many errors are capped. */
	struct buf many = BUF_INIT;
	for (int i = 0; i < 50; i++)
		buf_appends(&many, "bad name\n");
	CHECK(users_parse(&u, many.data, many.len, "f", &err) < 0);
	CHECK(strstr(buf_cstr(&err), "f: 30 more errors") != NULL);
	buf_free(&many);
	users_free(&u);
	buf_free(&err);
}

UNIT_TEST(test_empty_and_no_newline)
{
	struct users u;
	struct buf err = BUF_INIT;
	users_init(&u);
	CHECK(users_parse(&u, "", 0, "f", &err) == 0 && u.n == 0);
	CHECK(parse(&u, "x:{PLAIN}y", &err) == 0 && u.n == 1);
	CHECK(parse(&u, "\n\n#\n", &err) == 0 && u.n == 0);
	users_free(&u);
	buf_free(&err);
}

static enum users_edit_status edit(const char *in, struct users_edit e,
				   struct buf *out)
{
	struct buf err = BUF_INIT;
	buf_clear(out);
	enum users_edit_status st =
		users_edit_text(str_from_cstr(in), "f", &e, out, &err);
	buf_free(&err);
	return st;
}

UNIT_TEST(test_edit_text)
{
	struct buf out = BUF_INIT;
	const char *in = "# keep me\r\nbob:{PLAIN}a:1:2::/h::x=y pop3_dele=hide\n"
			 "\nal:{PLAIN}b\ncy:{PLAIN}c::::::a=b";
	/* add */
	struct users_edit e = { .op = USERS_EDIT_ADD, .name = STR_LIT("new"),
				.password = "{PLAIN}n" };
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK(strlen(out.data) == strlen(in) + 1 + 13);
	CHECK(strncmp(out.data, in, strlen(in)) == 0);
	CHECK_EQ_STR(out.data + strlen(in), "\nnew:{PLAIN}n\n");
	e.set_pop3_dele = true;
	e.pop3_dele = POP3_DELE_HIDE;
	CHECK(edit("", e, &out) == USERS_EDIT_OK);
	CHECK_EQ_STR(out.data, "new:{PLAIN}n::::::pop3_dele=hide\n");
	e.name = STR_LIT("BOB");
	CHECK(edit(in, e, &out) == USERS_EDIT_EXISTS);
	e.name = STR_LIT("b/b");
	CHECK(edit(in, e, &out) == USERS_EDIT_BAD_NAME);
	CHECK(edit("x y\n", e, &out) == USERS_EDIT_BAD_FILE);
	/* set password keeps the other fields */
	e = (struct users_edit){ .op = USERS_EDIT_SET_PASSWORD,
				 .name = STR_LIT("Bob"), .password = "{PLAIN}z" };
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK_EQ_STR(out.data, "# keep me\r\nbob:{PLAIN}z:1:2::/h::x=y pop3_dele=hide\n"
			       "\nal:{PLAIN}b\ncy:{PLAIN}c::::::a=b");
	e.name = STR_LIT("al");
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK(strstr(out.data, "\nal:{PLAIN}z\ncy:") != NULL);
	e.name = STR_LIT("zz");
	CHECK(edit(in, e, &out) == USERS_EDIT_NO_USER);
	/* set pop3_dele: replace, pad, append */
	e = (struct users_edit){ .op = USERS_EDIT_SET_DELE, .name = STR_LIT("bob"),
				 .set_pop3_dele = true, .pop3_dele = POP3_DELE_EXPUNGE };
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK(strstr(out.data, "bob:{PLAIN}a:1:2::/h::x=y pop3_dele=expunge\n") != NULL);
	e.name = STR_LIT("al");
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK(strstr(out.data, "\nal:{PLAIN}b::::::pop3_dele=expunge\n") != NULL);
	e.name = STR_LIT("cy");
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK(strstr(out.data, "\ncy:{PLAIN}c::::::a=b pop3_dele=expunge") != NULL);
	/* The result parses and says what we set. */
	struct users u;
	struct buf err = BUF_INIT;
	users_init(&u);
	CHECK(users_parse(&u, out.data, out.len, "f", &err) == 0);
	const struct user_entry *ent = users_lookup(&u, STR_LIT("cy"));
	CHECK(ent && ent->has_pop3_dele && ent->pop3_dele == POP3_DELE_EXPUNGE);
	users_free(&u);
	buf_free(&err);
	/* delete */
	e = (struct users_edit){ .op = USERS_EDIT_DELETE, .name = STR_LIT("bob") };
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK_EQ_STR(out.data, "# keep me\r\n\nal:{PLAIN}b\ncy:{PLAIN}c::::::a=b");
	e.name = STR_LIT("cy");
	CHECK(edit(in, e, &out) == USERS_EDIT_OK);
	CHECK_EQ_STR(out.data, "# keep me\r\nbob:{PLAIN}a:1:2::/h::x=y pop3_dele=hide\n\nal:{PLAIN}b\n");
	buf_free(&out);
}

UNIT_TEST(test_edit_file)
{
	char dir[] = "/tmp/postern-users-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof path, "%s/users", dir);
	struct buf err = BUF_INIT;
	struct users_edit e = { .op = USERS_EDIT_SET_PASSWORD,
				.name = STR_LIT("a"), .password = "{PLAIN}x" };
	CHECK(users_edit(path, &e, &err) == USERS_EDIT_NO_USER);
	CHECK(access(path, F_OK) != 0); /* not created */
	e.op = USERS_EDIT_ADD;
	CHECK(users_edit(path, &e, &err) == USERS_EDIT_OK);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	e.name = STR_LIT("b");
	CHECK(users_edit(path, &e, &err) == USERS_EDIT_OK);
	/* the mode is kept (root:run_user 0640 stays readable by the auth
	 * process), except access for others: the file holds hashes */
	chmod(path, 0640);
	CHECK(users_edit(path, &(struct users_edit){ .op = USERS_EDIT_SET_PASSWORD,
			 .name = STR_LIT("b"), .password = "{PLAIN}x" }, &err) ==
	      USERS_EDIT_OK);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	chmod(path, 0644);
	e.op = USERS_EDIT_DELETE;
	e.name = STR_LIT("a");
	CHECK(users_edit(path, &e, &err) == USERS_EDIT_OK);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	struct buf text = BUF_INIT;
	CHECK(users_read_file(path, USERS_FILE_MAX, &text) == 0);
	CHECK_EQ_STR(buf_cstr(&text), "b:{PLAIN}x\n");
	struct users u;
	users_init(&u);
	CHECK(users_load(&u, path, &err) == 0 && u.n == 1);
	users_free(&u);
	unlink(path);
	CHECK(users_load(&u, path, &err) < 0);
	CHECK(strstr(buf_cstr(&err), "No such file") != NULL);
	rmdir(dir);
	buf_free(&text);
	buf_free(&err);
}

UNIT_MAIN(test_unusable_hash_loads, test_parse_dovecot, test_parse_errors, test_empty_and_no_newline,
	  test_edit_text, test_edit_file)
