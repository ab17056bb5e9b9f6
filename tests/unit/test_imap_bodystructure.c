/* imap/bodystructure.c over tests/mime-corpus: every NAME.eml has its
 * expected BODYSTRUCTURE in NAME.bodystructure and BODY in NAME.body
 * (checked against Dovecot; see tests/mime-corpus/README.md). With
 * POSTERN_CORPUS_WRITE=1 in the environment the files are (re)written
 * instead, to review with git diff. Plus table cases for odd shapes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/bodystructure.h"
#include "tests/unit/unit.h"

#define CORPUS "tests/mime-corpus"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	buf_cstr(&b);
	*len = b.len;
	return b.data;
}

static void check_file(const char *name, const char *ext, struct buf *got)
{
	char path[512];
	snprintf(path, sizeof path, CORPUS "/%s.%s", name, ext);
	buf_appendc(got, '\n');
	if (getenv("POSTERN_CORPUS_WRITE")) {
		FILE *f = fopen(path, "wb");
		CHECK(f != NULL);
		if (f) {
			fwrite(got->data, 1, got->len, f);
			fclose(f);
		}
		return;
	}
	size_t len = 0;
	char *want = slurp(path, &len);
	CHECK(want != NULL);
	if (!want)
		return;
	if (len != got->len || memcmp(want, got->data, len) != 0) {
		fprintf(stderr, "%s:\n got: %.*s want: %.*s", path,
			(int)got->len, got->data, (int)len, want);
		CHECK(0);
	}
	free(want);
}

UNIT_TEST(test_corpus)
{
	DIR *d = opendir(CORPUS);
	CHECK(d != NULL);
	if (!d)
		return;
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		char path[512], name[256];
		snprintf(path, sizeof path, CORPUS "/%s", e->d_name);
		snprintf(name, sizeof name, "%.*s", (int)(l - 4), e->d_name);
		size_t len;
		char *data = slurp(path, &len);
		CHECK(data != NULL);
		if (!data)
			continue;
		struct mime_message m;
		mime_message_parse(&m, data, len);
		struct buf out = BUF_INIT;
		imap_bodystructure_write(&out, &m, 0, true, false);
		check_file(name, "bodystructure", &out);
		buf_clear(&out);
		imap_bodystructure_write(&out, &m, 0, false, false);
		check_file(name, "body", &out);
		buf_free(&out);
		mime_message_free(&m);
		free(data);
		n++;
	}
	closedir(d);
	CHECK(n >= 25);
}

struct shape_case {
	const char *msg;
	const char *body; /* expected BODY */
};

static const struct shape_case shapes[] = {
	{ "", "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
	{ "\r\n", "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
	{ "\r\n\r\n", "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 1)" },
	{ "Subject: x", "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
	{ "a\nb", "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
	{ "Content-Type: image/gif\r\n\r\nGIF", "(\"image\" \"gif\" NIL NIL NIL \"7bit\" 3)" },
	{ "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nA\r\n--x--",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) \"mixed\")" },
	{ "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")" },
	{ "Content-Type: text/plain; a=\"q\\\"x\"\r\n\r\n",
	  "(\"text\" \"plain\" (\"a\" \"q\\\"x\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
};

UNIT_TEST(test_shapes)
{
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		struct mime_message m;
		mime_message_parse(&m, shapes[i].msg, strlen(shapes[i].msg));
		struct buf out = BUF_INIT;
		imap_bodystructure_write(&out, &m, 0, false, false);
		CHECK_EQ_STR(buf_cstr(&out), shapes[i].body);
		buf_free(&out);
		mime_message_free(&m);
	}
}

/* 1000-deep nesting and 20 000 parts stay bounded. */
UNIT_TEST(test_limits)
{
	struct buf msg = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_printf(&msg, "Content-Type: multipart/mixed; boundary=\"=_%d_=\"\r\n\r\n--=_%d_=\r\n", i, i);
	struct mime_message m;
	mime_message_parse(&m, msg.data, msg.len);
	CHECK(m.nparts <= MIME_DEPTH_MAX + 2);
	struct buf out = BUF_INIT;
	imap_bodystructure_write(&out, &m, 0, true, false);
	CHECK(out.len > 0);
	mime_message_free(&m);
	buf_clear(&msg);
	buf_clear(&out);
	buf_appends(&msg, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int i = 0; i < 20000; i++)
		buf_appends(&msg, "--p\r\n\r\nx\r\n");
	mime_message_parse(&m, msg.data, msg.len);
	CHECK_EQ_INT(m.nparts, MIME_PARTS_MAX);
	imap_bodystructure_write(&out, &m, 0, true, false);
	CHECK(out.len > 0);
	mime_message_free(&m);
	buf_free(&out);
	buf_free(&msg);
}

UNIT_MAIN(test_corpus, test_shapes, test_limits)
