/* libFuzzer target for smtp/parse.c: the input is a command line as the
 * session would see it (without CRLF, any bytes). It goes through
 * smtp_parse_cmd, then every argument parser (on the arguments and on
 * the whole input), with every extension and without, with SMTPUTF8 in
 * effect and not. Invariants are checked with abort(): a wrong answer
 * counts as a crash. An accepted path is printed back and re-parsed,
 * and must give the same path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/parse.h"

static void check_at(bool ok, int line)
{
	if (!ok) {
		fprintf(stderr, "%s:%d: check failed\n", __FILE__, line);
		abort();
	}
}
#define check(ok) check_at((ok), __LINE__)

static bool inside(struct str in, struct str part)
{
	return part.len == 0 ||
	       (part.p >= in.p && part.p + part.len <= in.p + in.len);
}

static const unsigned ext_sets[] = {
	0,
	SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME |
		SMTP_EXT_SMTPUTF8 | SMTP_EXT_AUTH | SMTP_EXT_DSN,
	SMTP_EXT_SIZE | SMTP_EXT_8BITMIME,
};

/* Invariants of any accepted path. */
static void check_path(const struct smtp_path *p, bool utf8_ok, bool rcpt)
{
	check(p->local_len <= SMTP_LOCAL_MAX);
	check(p->domain_len <= SMTP_DOMAIN_MAX);
	if (p->flags & SMTP_PATH_NULL) {
		check(!rcpt && p->flags == SMTP_PATH_NULL);
		check(p->local_len == 0 && p->domain_len == 0);
		return;
	}
	if (p->flags & SMTP_PATH_POSTMASTER) {
		check(rcpt && p->domain_len == 0 &&
		      str_eq_nocase(smtp_path_local(p), "postmaster"));
		return;
	}
	check(p->domain_len > 0);
	check(p->local_len > 0 || (p->flags & SMTP_PATH_QUOTED));
	for (size_t i = 0; i < p->domain_len; i++)
		check(!(p->domain[i] >= 'A' && p->domain[i] <= 'Z'));
	bool high = false;
	for (size_t i = 0; i < p->local_len; i++) {
		high |= (unsigned char)p->local[i] >= 0x80;
		check(p->local[i] != '\0');
	}
	for (size_t i = 0; i < p->domain_len; i++)
		high |= (unsigned char)p->domain[i] >= 0x80;
	check(high == ((p->flags & SMTP_PATH_UTF8) != 0));
	check(!high || utf8_ok);
	check(((p->flags & SMTP_PATH_ADDR_LITERAL) != 0) ==
	      (p->domain[0] == '['));
	check(((p->flags & SMTP_PATH_PERCENT) != 0) ==
	      (memchr(p->local, '%', p->local_len) != NULL));
	check(((p->flags & SMTP_PATH_BANG) != 0) ==
	      (memchr(p->local, '!', p->local_len) != NULL));
}

/* Prints p as "<local@domain>" (quoting when it was quoted) and parses
 * it again as RCPT: the same local part, domain and flags come back. */
static void roundtrip(const struct smtp_path *p, bool utf8)
{
	if (p->flags & (SMTP_PATH_NULL | SMTP_PATH_POSTMASTER))
		return;
	char line[8 + 2 * SMTP_LOCAL_MAX + SMTP_DOMAIN_MAX + 8];
	size_t n = 0;
	memcpy(line, "TO:<", 4);
	n = 4;
	bool q = p->flags & SMTP_PATH_QUOTED;
	if (q)
		line[n++] = '"';
	for (size_t i = 0; i < p->local_len; i++) {
		if (q && (p->local[i] == '"' || p->local[i] == '\\'))
			line[n++] = '\\';
		line[n++] = p->local[i];
	}
	if (q)
		line[n++] = '"';
	line[n++] = '@';
	memcpy(line + n, p->domain, p->domain_len);
	n += p->domain_len;
	line[n++] = '>';
	struct smtp_path p2;
	struct smtp_rcpt_params rp2;
	enum smtp_err e = smtp_parse_rcpt(str_make(line, n), 0, utf8, &p2,
					  &rp2);
	/* Re-quoting may lengthen the local part past 64: allowed to fail
	 * as too long, never as anything else. */
	if (e == SMTP_ERR_RCPT_TOO_LONG && q)
		return;
	check(e == SMTP_OK);
	check(p2.flags == (p->flags & ~SMTP_PATH_SOURCE_ROUTE));
	check(p2.local_len == p->local_len &&
	      memcmp(p2.local, p->local, p->local_len) == 0);
	check(p2.domain_len == p->domain_len &&
	      memcmp(p2.domain, p->domain, p->domain_len) == 0);
}

/* Invariants of accepted NOTIFY and ORCPT (RFC 3461 4.1, 4.2). */
static void check_rcpt_params(const struct smtp_rcpt_params *rp,
			      struct str args, unsigned ext)
{
	check((rp->notify == 0 && !rp->has_orcpt) || (ext & SMTP_EXT_DSN));
	check(rp->notify <= 15);
	check(!(rp->notify & DSN_NOTIFY_NEVER) ||
	      rp->notify == DSN_NOTIFY_NEVER);
	check(inside(args, rp->orcpt));
	if (!rp->has_orcpt)
		return;
	check(rp->orcpt.len <= SMTP_ORCPT_MAX);
	const char *semi = memchr(rp->orcpt.p, ';', rp->orcpt.len);
	check(semi != NULL && semi != rp->orcpt.p);
	size_t tl = (size_t)(semi - rp->orcpt.p) + 1;
	check(smtp_is_xtext_printable(
		str_make(rp->orcpt.p + tl, rp->orcpt.len - tl)));
}

static void fuzz_args(struct str args)
{
	for (size_t k = 0; k < sizeof ext_sets / sizeof ext_sets[0]; k++) {
		unsigned ext = ext_sets[k];
		struct smtp_path p;
		struct smtp_mail_params mp;
		enum smtp_err e = smtp_parse_mail(args, ext, &p, &mp);
		check(smtp_err_reply(e) != NULL);
		if (e == SMTP_OK) {
			bool u = (ext & SMTP_EXT_SMTPUTF8) && mp.smtputf8;
			check(!mp.smtputf8 || (ext & SMTP_EXT_SMTPUTF8));
			check(!mp.has_size || (ext & SMTP_EXT_SIZE));
			check(!mp.has_auth || (ext & SMTP_EXT_AUTH));
			check(inside(args, mp.auth));
			check(!mp.has_auth || mp.auth_null ||
			      smtp_is_xtext(mp.auth));
			check(mp.ret == DSN_RET_NONE || (ext & SMTP_EXT_DSN));
			check(!mp.has_envid || (ext & SMTP_EXT_DSN));
			check(inside(args, mp.envid));
			check(!mp.has_envid ||
			      (mp.envid.len > 0 &&
			       mp.envid.len <= SMTP_ENVID_MAX &&
			       smtp_is_xtext_printable(mp.envid)));
			check_path(&p, u, false);
			roundtrip(&p, u);
		}
		for (int utf8 = 0; utf8 < 2; utf8++) {
			struct smtp_rcpt_params rp;
			e = smtp_parse_rcpt(args, ext, utf8, &p, &rp);
			check(smtp_err_reply(e) != NULL);
			if (e == SMTP_OK) {
				check_rcpt_params(&rp, args, ext);
				check_path(&p, utf8, true);
				roundtrip(&p, utf8);
			}
		}
	}
	struct str name;
	bool valid;
	enum smtp_err e = smtp_parse_helo(args, &name, &valid);
	check(e == SMTP_OK || e == SMTP_ERR_HELO_MISSING ||
	      e == SMTP_ERR_HELO_SYNTAX);
	if (e == SMTP_OK) {
		check(name.len > 0 && inside(args, name));
		check(!memchr(name.p, ' ', name.len));
		check(!valid || name.len <= SMTP_DOMAIN_MAX);
	}
	uint64_t size;
	bool last;
	e = smtp_parse_bdat(args, 1000000, &size, &last);
	check(e == SMTP_OK || e == SMTP_ERR_BDAT_SYNTAX ||
	      e == SMTP_ERR_BDAT_TOO_BIG);
	if (e == SMTP_OK)
		check(size <= 1000000);
	if (e == SMTP_ERR_BDAT_TOO_BIG)
		check(size > 1000000);
	(void)smtp_is_domain(args, false);
	(void)smtp_is_domain(args, true);
	(void)smtp_is_address_literal(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes so ASan sees any overread. */
	char *buf = malloc(size ? size : 1);
	if (size)
		memcpy(buf, data, size);
	struct str line = str_make(buf, size);
	struct smtp_cmd c;
	enum smtp_err e = smtp_parse_cmd(line, &c);
	check(e == SMTP_OK || e == SMTP_ERR_EMPTY || e == SMTP_ERR_NUL ||
	      e == SMTP_ERR_UNKNOWN_VERB);
	if (e == SMTP_OK || e == SMTP_ERR_UNKNOWN_VERB) {
		check(inside(line, c.verb_str) && inside(line, c.args));
		check(c.verb_str.len + c.has_args + c.args.len == line.len);
		if (e == SMTP_OK)
			check(str_eq_nocase(c.verb_str,
					    smtp_verb_name(c.verb)));
		(void)smtp_check_no_args(&c);
		fuzz_args(c.args);
	}
	fuzz_args(line);
	free(buf);
	return 0;
}
