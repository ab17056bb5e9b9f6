/* libFuzzer target for the SMTP client's input and output parsers.
 * The input, split at LF, is what a server sent: each line goes to the
 * reply parser (restarted after each reply or error); every reply must
 * have a valid code, a well-formed status of the code's class and
 * printable text that fits. The same bytes, as a message, go through
 * the DATA encoder in chunks whose size comes from byte 0: the output
 * may only have CRLF line ends, must end with the one terminator, and
 * must decode (unstuffed, terminator off) to the input with every line
 * end made CRLF. Any disagreement aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "relay/smtpc_body.h"
#include "relay/smtpc_reply.h"

static void check_at(bool ok, int line)
{
	if (!ok) {
		fprintf(stderr, "%s:%d: check failed\n", __FILE__, line);
		abort();
	}
}
#define check(ok) check_at((ok), __LINE__)

static void check_reply(const struct smtpc_reply *r)
{
	check(r->code >= 200 && r->code <= 559);
	size_t tl = strnlen(r->text, sizeof r->text);
	check(tl < sizeof r->text);
	for (size_t i = 0; i < tl; i++)
		check(r->text[i] >= 0x20 && r->text[i] < 0x7f);
	const char *s = r->status;
	check(s[0] == (char)('0' + r->code / 100) || (r->code / 100 == 3 &&
							s[0] == '4'));
	check(s[1] == '.');
	size_t digits = 0, dots = 0;
	for (size_t i = 2; s[i]; i++) {
		if (s[i] == '.') {
			check(digits >= 1 && digits <= 3);
			dots++;
			digits = 0;
		} else {
			check(s[i] >= '0' && s[i] <= '9');
			digits++;
		}
	}
	check(dots == 1 && digits >= 1 && digits <= 3);
}

static void fuzz_replies(const char *p, size_t n)
{
	struct smtpc_reply_parser rp;
	smtpc_reply_init(&rp);
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '\n')
			continue;
		enum smtpc_reply_status st =
			smtpc_reply_feed(&rp, str_make(p + start, i - start));
		if (st == SMTPC_REPLY_DONE)
			check_reply(&rp.reply);
		if (st == SMTPC_REPLY_ERROR)
			check(rp.error != NULL);
		if (st != SMTPC_REPLY_MORE)
			smtpc_reply_init(&rp);
		start = i + 1;
	}
}

static void fuzz_body(const char *p, size_t n, size_t cap)
{
	struct buf out = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	struct smtpc_body b;
	smtpc_body_init(&b, p, n);
	char *chunk = malloc(cap);
	while (!b.finished) {
		size_t k = smtpc_body_encode(&b, chunk, cap);
		check(k <= cap);
		check(k > 0);
		buf_append(&out, chunk, k);
	}
	free(chunk);
	/* The expected message: every CR, LF or CRLF made CRLF, a CRLF
	 * at the end if missing. */
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			buf_append(&want, "\r\n", 2);
			if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
		} else {
			buf_appendc(&want, p[i]);
		}
	}
	if (want.len && (want.len < 2 || want.data[want.len - 1] != '\n'))
		buf_append(&want, "\r\n", 2);
	/* Decode: lines ending CRLF only, a leading dot removed, stop at
	 * the lone dot, which must be the very end. */
	size_t i = 0;
	bool ended = false;
	while (i < out.len) {
		const char *e = memchr(out.data + i, '\n', out.len - i);
		check(e != NULL);
		size_t ll = (size_t)(e - (out.data + i)) + 1;
		check(ll >= 2 && out.data[i + ll - 2] == '\r');
		check(memchr(out.data + i, '\r', ll - 2) == NULL);
		if (ll == 3 && out.data[i] == '.') {
			check(i + ll == out.len);
			ended = true;
			break;
		}
		size_t skip = out.data[i] == '.' ? 1 : 0;
		if (skip)
			check(ll >= 4 && out.data[i + 1] == '.');
		buf_append(&got, out.data + i + skip, ll - skip);
		i += ll;
	}
	check(ended);
	check(got.len == want.len &&
	      (got.len == 0 || memcmp(got.data, want.data, got.len) == 0));
	buf_free(&out);
	buf_free(&want);
	buf_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *p = (const char *)data;
	fuzz_replies(p + 1, size - 1);
	fuzz_body(p + 1, size - 1, SMTPC_BODY_TAIL_MAX + data[0] % 64);
	return 0;
}
