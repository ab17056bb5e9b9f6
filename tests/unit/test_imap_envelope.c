/* imap/envelope.c over tests/mime-corpus (NAME.envelope, see
 * test_imap_bodystructure.c for POSTERN_CORPUS_WRITE) plus address
 * shapes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/envelope.h"
#include "mime/header.h"
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
		char path[512];
		snprintf(path, sizeof path, CORPUS "/%s", e->d_name);
		size_t len;
		char *data = slurp(path, &len);
		CHECK(data != NULL);
		if (!data)
			continue;
		size_t hl;
		mime_header_split(data, len, &hl);
		struct buf got = BUF_INIT;
		imap_envelope_write(&got, str_make(data, hl), false);
		buf_appendc(&got, '\n');
		snprintf(path, sizeof path, CORPUS "/%.*s.envelope",
			 (int)(l - 4), e->d_name);
		if (getenv("POSTERN_CORPUS_WRITE")) {
			FILE *f = fopen(path, "wb");
			CHECK(f != NULL);
			if (f) {
				fwrite(got.data, 1, got.len, f);
				fclose(f);
			}
		} else {
			size_t wl = 0;
			char *want = slurp(path, &wl);
			CHECK(want != NULL);
			if (want && (wl != got.len ||
				     memcmp(want, got.data, wl) != 0)) {
				fprintf(stderr, "%s:\n got: %s want: %s", path,
					buf_cstr(&got), want);
				CHECK(0);
			}
			free(want);
		}
		buf_free(&got);
		free(data);
		n++;
	}
	closedir(d);
	CHECK(n >= 25);
}

struct addr_case {
	const char *value;
	const char *want;
};

static const struct addr_case addrs[] = {
	{ "", "NIL" },
	{ "   ", "NIL" },
	{ "a@b", "((NIL NIL \"a\" \"b\"))" },
	{ "A B <a@b>", "((\"A B\" NIL \"a\" \"b\"))" },
	{ "\"A, B\" <a@b>, c@d", "((\"A, B\" NIL \"a\" \"b\")(NIL NIL \"c\" \"d\"))" },
	{ "a@b (Comment)", "((\"Comment\" NIL \"a\" \"b\"))" },
	{ "<@x,@y:a@b>", "((NIL \"@x,@y\" \"a\" \"b\"))" },
	{ "g: a@b, c@d;", "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")(NIL NIL NIL NIL))" },
	{ "g:;", "((NIL NIL \"g\" NIL)(NIL NIL NIL NIL))" },
	{ "g: a@b", "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL))" },
	{ "user", "((NIL NIL \"user\" \"MISSING_DOMAIN\"))" },
	{ "Name <>", "((\"Name\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))" },
	{ "\"q\\\"x\" <a@b>", "((\"q\\\"x\" NIL \"a\" \"b\"))" },
	{ "<a@[1.2.3.4]>", "((NIL NIL \"a\" \"[1.2.3.4]\"))" },
	{ "a@b,,c@d", "((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\"))" },
	{ "John Q. Public <jqp@x>", "((\"John Q. Public\" NIL \"jqp\" \"x\"))" },
	{ "\"a b\"@c", "((NIL NIL \"\\\"a b\\\"\" \"c\"))" },
	{ "<<<>>>,;;::", NULL }, /* only: must not crash */
};

UNIT_TEST(test_addresses)
{
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		struct buf out = BUF_INIT;
		imap_envelope_addresses(&out, str_from_cstr(addrs[i].value),
					false);
		if (addrs[i].want)
			CHECK_EQ_STR(buf_cstr(&out), addrs[i].want);
		buf_free(&out);
	}
}

UNIT_TEST(test_defaults)
{
	const char *h = "From: a@b\r\nSender: \r\n\r\n";
	struct buf out = BUF_INIT;
	imap_envelope_write(&out, str_from_cstr(h), false);
	CHECK_EQ_STR(buf_cstr(&out),
		     "(NIL NIL ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) "
		     "((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)");
	buf_free(&out);
}

UNIT_MAIN(test_corpus, test_addresses, test_defaults)
