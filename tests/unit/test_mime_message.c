/* mime/message.c: offsets, line counts, parameters (RFC 2231), part
 * numbering (RFC 9051 6.4.5), limits and the odd shapes. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mime/message.h"
#include "tests/unit/unit.h"

static const char nested[] =
	"Content-Type: multipart/mixed; boundary=o\r\n"
	"\r\n"
	"preamble\r\n"
	"--o\r\n"
	"\r\n"
	"one\r\n"
	"--o\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/alternative; boundary=i\r\n"
	"\r\n"
	"--i\r\n"
	"\r\n"
	"A\r\n"
	"--i\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<b>B</b>\r\n"
	"--i--\r\n"
	"--o\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: leaf\r\n"
	"\r\n"
	"leaf body\r\n"
	"--o--\r\n"
	"epilogue\r\n";

static struct str body_of(const struct mime_message *m, const uint32_t *path,
			  size_t n)
{
	uint32_t i = mime_part_find(m, path, n);
	if (i == MIME_NONE)
		return str_make("NONE", 4);
	return mime_part_body(m, &m->parts[i]);
}

#define BODY_IS(m, want, ...)                                                \
	do {                                                                 \
		const uint32_t p_[] = { __VA_ARGS__ };                       \
		struct str b_ = body_of(m, p_, sizeof p_ / sizeof p_[0]);    \
		CHECK_EQ_MEM(b_.p, b_.len, want, strlen(want));              \
	} while (0)

UNIT_TEST(test_numbering)
{
	struct mime_message m;
	mime_message_parse(&m, nested, strlen(nested));
	CHECK_EQ_INT(m.parts[0].nchildren, 3);
	BODY_IS(&m, "one", 1);
	BODY_IS(&m, "one", 1, 1); /* Dovecot: x.1 of a leaf is itself */
	BODY_IS(&m, "NONE", 1, 1, 1);
	BODY_IS(&m, "NONE", 1, 2);
	BODY_IS(&m, "A", 2, 1);
	BODY_IS(&m, "<b>B</b>", 2, 2);
	BODY_IS(&m, "NONE", 2, 3);
	BODY_IS(&m, "leaf body", 3, 1);
	BODY_IS(&m, "NONE", 3, 2);
	BODY_IS(&m, "NONE", 4);
	BODY_IS(&m, "NONE", 0);
	uint32_t two = mime_part_find(&m, (const uint32_t[]){ 2 }, 1);
	CHECK(two != MIME_NONE && (m.parts[two].flags & MIME_PART_MESSAGE));
	CHECK_EQ_INT(m.parts[two].body_lines, 10);
	mime_message_free(&m);

	const char *plain = "Subject: x\r\n\r\nbody";
	mime_message_parse(&m, plain, strlen(plain));
	BODY_IS(&m, "body", 1);
	BODY_IS(&m, "NONE", 1, 1);
	BODY_IS(&m, "NONE", 2);
	CHECK_EQ_INT(m.parts[0].body_lines, 0);
	mime_message_free(&m);
}

UNIT_TEST(test_params)
{
	const char *msg =
		"Content-Type: Application/X-Thing; A=1; b=\"two words\";\r\n"
		" long*0=\"abc\"; long*1=def; ext*=utf-8''%E2%82%AC;\r\n"
		" mix*0*=iso-8859-1''%E9; mix*1=t (comment) ; junk\r\n"
		"Content-Disposition: attachment; filename*1=\"b\"; filename*0=a\r\n"
		"Content-Transfer-Encoding: BASE64 (why)\r\n"
		"Content-ID: <id@x>\r\n"
		"Content-Language: en,\r\n fr\r\n"
		"\r\n";
	struct mime_message m;
	mime_message_parse(&m, msg, strlen(msg));
	const struct mime_part *p = &m.parts[0];
	CHECK_EQ_MEM(p->type.p, p->type.len, "Application", 11);
	CHECK_EQ_MEM(p->subtype.p, p->subtype.len, "X-Thing", 7);
	CHECK_EQ_MEM(p->cte.p, p->cte.len, "BASE64", 6);
	CHECK_EQ_MEM(p->id.p, p->id.len, "<id@x>", 6);
	CHECK_EQ_MEM(p->language.p, p->language.len, "en, fr", 6);
	CHECK_EQ_INT(p->param_count, 5);
	const struct mime_param *a = mime_part_param(&m, p, "a");
	CHECK(a && a->value.len == 1 && a->value.p[0] == '1');
	const struct mime_param *b = mime_part_param(&m, p, "B");
	CHECK(b && b->value.len == 9);
	const struct mime_param *l = mime_part_param(&m, p, "long");
	CHECK(l && l->value.len == 6 && memcmp(l->value.p, "abcdef", 6) == 0);
	const struct mime_param *e = mime_part_param(&m, p, "ext*");
	CHECK(e != NULL);
	struct buf o = BUF_INIT;
	CHECK(mime_param_decode(&m, p, false, "ext", &o));
	CHECK_EQ_STR(buf_cstr(&o), "\xe2\x82\xac");
	buf_clear(&o);
	CHECK(mime_param_decode(&m, p, false, "mix", &o));
	CHECK_EQ_STR(buf_cstr(&o), "\xc3\xa9t");
	buf_clear(&o);
	CHECK(mime_param_decode(&m, p, true, "filename", &o));
	CHECK_EQ_STR(buf_cstr(&o), "ab");
	buf_clear(&o);
	CHECK(!mime_param_decode(&m, p, false, "nothing", &o));
	buf_free(&o);
	mime_message_free(&m);
}

UNIT_TEST(test_shapes)
{
	struct mime_message m;
	/* No close delimiter, no header/body separator in a part, an
	 * encoded message/rfc822 stays opaque, bare LF everywhere. */
	const char *msg = "Content-Type: multipart/mixed; boundary=\"b b\"\n\n"
			  "--b b\nContent-Type: message/rfc822\n"
			  "Content-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n"
			  "--b b \nX-Only: header\n"
			  "--b b\n\nlast";
	mime_message_parse(&m, msg, strlen(msg));
	CHECK_EQ_INT(m.parts[0].nchildren, 3);
	uint32_t c1 = mime_part_child(&m, 0, 1), c2 = mime_part_child(&m, 0, 2),
		 c3 = mime_part_child(&m, 0, 3);
	CHECK(!(m.parts[c1].flags & MIME_PART_MESSAGE));
	CHECK_EQ_INT(m.parts[c2].body_len, 0);
	CHECK_EQ_INT(m.parts[c2].hdr_len, 14);
	CHECK_EQ_INT(m.parts[c3].body_len, 4);
	CHECK_EQ_INT(mime_part_child(&m, 0, 4), MIME_NONE);
	mime_message_free(&m);

	mime_message_parse(&m, NULL, 0);
	CHECK_EQ_INT(m.nparts, 1);
	CHECK_EQ_INT(m.parts[0].body_len, 0);
	mime_message_free(&m);

	const char *nul = "Content-Type: text/plain\0; charset=x\r\n\r\n\0\0";
	mime_message_parse(&m, nul, 42);
	CHECK_EQ_INT(m.parts[0].body_len, 2);
	mime_message_free(&m);
}

/* Adversarial sizes: a 1 MB line, many parameters; must be quick. */
UNIT_TEST(test_big)
{
	struct buf msg = BUF_INIT;
	buf_appends(&msg, "Content-Type: text/plain");
	for (int i = 0; i < 50000; i++)
		buf_printf(&msg, "; p*%d=x", i % 3);
	buf_appends(&msg, "\r\nSubject: ");
	for (int i = 0; i < 1000000; i++)
		buf_appendc(&msg, 'a');
	buf_appends(&msg, "\r\n\r\n");
	struct mime_message m;
	mime_message_parse(&m, msg.data, msg.len);
	CHECK(m.parts[0].param_count <= 256);
	mime_message_free(&m);
	buf_free(&msg);
}

/* Merged parameters keep the order of their first piece. */
UNIT_TEST(test_param_order)
{
	const char *msg = "Content-Type: text/plain; x*1=2; y=1; x*0=1;"
			  " Z*0*=us-ascii''a; x*2=3; z*1=b; y*0=c\r\n\r\n";
	struct mime_message m;
	mime_message_parse(&m, msg, strlen(msg));
	const struct mime_part *p = &m.parts[0];
	static const char *const want[][2] = {
		{ "x", "123" }, { "y", "1" }, { "Z*", "us-ascii''ab" },
		{ "y", "c" },
	};
	CHECK_EQ_INT(p->param_count, 4);
	for (uint32_t i = 0; i < p->param_count && i < 4; i++) {
		const struct mime_param *q = &m.params[p->param_first + i];
		CHECK_EQ_MEM(q->name.p, q->name.len, want[i][0],
			     strlen(want[i][0]));
		CHECK_EQ_MEM(q->value.p, q->value.len, want[i][1],
			     strlen(want[i][1]));
	}
	mime_message_free(&m);
}

#ifdef SAN_BUILD
#define PARSE_LIMIT 1.0
#else
#define PARSE_LIMIT 0.2
#endif

/* Issue 10: merging RFC 2231 continuations compared every parameter
 * with every other (256 per field: 65 000 comparisons, for each
 * Content-Type and Content-Disposition of each part). 1 MB of parts
 * with 256 parameters each now parses in linear-logarithmic time (2 MB:
 * 0.35 s before, 0.06 s after, at -O2). */
UNIT_TEST(test_params_many_parts)
{
	struct buf msg = BUF_INIT;
	buf_appends(&msg, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	int parts = 0;
	while (msg.len < 2 * 1024 * 1024) {
		buf_appends(&msg, "--b\r\nContent-Type: text/plain");
		for (int i = 0; i < 256; i++)
			buf_printf(&msg, ";p%d*0=x", i);
		buf_appends(&msg, "\r\nContent-Disposition: inline");
		for (int i = 0; i < 256; i++)
			buf_printf(&msg, ";p%d*1=x", i);
		buf_appends(&msg, "\r\n\r\nbody\r\n");
		parts++;
	}
	buf_appends(&msg, "--b--\r\n");
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	struct mime_message m;
	mime_message_parse(&m, msg.data, msg.len);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	double t = (double)(t1.tv_sec - t0.tv_sec) +
		   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK_EQ_INT(m.nparts, (uint32_t)parts + 1);
	CHECK_EQ_INT(m.parts[1].param_count, 256);
	if (t >= PARSE_LIMIT || getenv("UNIT_VERBOSE"))
		fprintf(stderr, "parse took %.3f s\n", t);
	CHECK(t < PARSE_LIMIT);
	mime_message_free(&m);
	buf_free(&msg);
}

UNIT_MAIN(test_numbering, test_params, test_shapes, test_big, test_param_order,
	  test_params_many_parts)
