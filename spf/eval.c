/* check_host() of RFC 7208 section 4, as a state machine on the event
 * loop. One DNS query is outstanding at a time (e->waiting); each
 * answer's callback moves the evaluation on and returns to the loop.
 *
 * The records being evaluated form a stack of frames: "include" pushes
 * one (RFC 7208 5.2), "redirect" replaces the top one (RFC 7208 6.1),
 * and a frame's result goes back to the include that pushed it. The
 * stack is at most SPF_LOOKUPS_MAX + 1 deep, since every include counts
 * as a lookup. Errors (temperror, permerror) end everything at once:
 * they are the result of every enclosing check_host() too. */
#include "spf/spf.h"
#include "spf/macro.h"
#include "core/buf.h"
#include "core/limits.h"
#include "core/xmalloc.h"
#include "relay/dns.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SPF_DEPTH_MAX (SPF_LOOKUPS_MAX + 2)
#define SPF_NAME_MAX 256

struct spf_frame {
	char domain[SPF_NAME_MAX];
	char *text; /* the record; rec points into it */
	struct spf_record rec;
	size_t pos;       /* the next term */
	bool included;    /* pushed by include */
	bool redirected;  /* reached through redirect */
	const struct spf_term *cur;
	char target[SPF_NAME_MAX];
};

/* The names of the mx or ptr term being evaluated: only the top frame
 * evaluates a term, so one set is enough. */
struct spf_names {
	char names[SPF_MX_NAMES_MAX > SPF_PTR_NAMES_MAX ? SPF_MX_NAMES_MAX
							: SPF_PTR_NAMES_MAX]
		  [SPF_NAME_MAX];
	size_t n_names, i_name;
	bool ptr_match;
	bool valid[SPF_PTR_NAMES_MAX]; /* %{p}: names that led back */
};

struct spf_eval {
	struct dns *dns;
	struct event_base *base;
	spf_done_fn fn;
	void *arg;
	struct event *timer;
	bool waiting; /* a DNS query (or the first call) is outstanding */
	bool done;    /* answered or cancelled: free once not waiting */
	bool in_callback; /* spf_cancel from the callback frees nothing */
	struct sockaddr_storage ip;
	char sender[512];
	char helo[SPF_NAME_MAX];
	char receiver[SPF_NAME_MAX];
	char top[SPF_NAME_MAX];
	enum spf_identity identity;
	bool trace_on;
	long long now;
	unsigned lookups, voids;
	struct buf trace, expl;
	struct spf_frame *frames; /* SPF_DEPTH_MAX */
	size_t depth;
	struct spf_names nm;
	/* %{p} (RFC 7208 7.3), looked up once, when first needed */
	bool p_done;
	char p_name[SPF_NAME_MAX];
	void (*p_resume)(struct spf_eval *e);
	enum spf_result pend_r; /* exp= waiting for %{p} */
	char pend_why[600];
	struct buf pend_text;
};

static void run_terms(struct spf_eval *e);
static void fetch(struct spf_eval *e);

static void tracef(struct spf_eval *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void tracef(struct spf_eval *e, const char *fmt, ...)
{
	if (!e->trace_on)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* names and records come from DNS: no control bytes out */
	for (size_t d = 1; d < e->depth; d++)
		buf_appends(&e->trace, "  ");
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	buf_appends(&e->trace, line);
	buf_appendc(&e->trace, '\n');
}

static struct spf_frame *top(struct spf_eval *e)
{
	return &e->frames[e->depth - 1];
}

static void frame_clear(struct spf_frame *f)
{
	spf_record_free(&f->rec);
	free(f->text);
	f->text = NULL;
	f->pos = 0;
	f->cur = NULL;
}

static void eval_free(struct spf_eval *e)
{
	while (e->depth)
		frame_clear(&e->frames[--e->depth]);
	free(e->frames);
	if (e->timer)
		event_free(e->timer);
	buf_free(&e->trace);
	buf_free(&e->expl);
	buf_free(&e->pend_text);
	free(e);
}

/* The answer; the caller's callback; the end (or, with a query still
 * out, the end when it comes back). */
static void finish(struct spf_eval *e, enum spf_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void finish(struct spf_eval *e, enum spf_result r, const char *fmt, ...)
{
	if (e->done)
		return;
	e->done = true;
	if (e->timer)
		evtimer_del(e->timer);
	if (fmt && !(r == SPF_FAIL && e->expl.len)) {
		char why[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof why, fmt, ap);
		va_end(ap);
		buf_clear(&e->expl);
		for (char *p = why; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
				*p = '?';
		buf_appends(&e->expl, why);
	}
	e->depth = e->depth ? e->depth : 1;
	tracef(e, "result: %s", spf_result_name(r));
	struct spf_answer a = {
		.result = r,
		.identity = e->identity == SPF_ID_HELO ? "helo" : "mailfrom",
		.domain = e->top,
		.sender = e->sender,
		.explanation = buf_cstr(&e->expl),
		.trace = buf_cstr(&e->trace),
		.lookups = e->lookups,
		.void_lookups = e->voids,
	};
	if (e->fn) {
		e->in_callback = true;
		e->fn(e->arg, &a);
		e->in_callback = false;
	}
	e->fn = NULL;
	if (!e->waiting)
		eval_free(e);
}

/* Called first in each DNS callback: false when the evaluation is over
 * (and now freed). */
static bool answer_back(struct spf_eval *e)
{
	e->waiting = false;
	if (e->done) {
		eval_free(e);
		return false;
	}
	return true;
}

/* RFC 7208 4.6.4: true when the evaluation ended (too many). */
static bool count_void(struct spf_eval *e)
{
	if (++e->voids > SPF_VOID_MAX) {
		finish(e, SPF_PERMERROR, "more than %d void DNS lookups",
		       SPF_VOID_MAX);
		return true;
	}
	return false;
}

static int family_of(const struct spf_eval *e)
{
	return e->ip.ss_family == AF_INET6 ? AF_INET6 : AF_INET;
}

static const unsigned char *ip_bytes(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
	return (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b,
			 int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Is the client within addr/cidr (addr of the client's family)? */
static bool addr_match(const struct spf_eval *e,
		       const struct sockaddr_storage *addr, int cidr4, int cidr6)
{
	if (addr->ss_family != e->ip.ss_family)
		return false;
	return prefix_match(ip_bytes(&e->ip), ip_bytes(addr),
			    e->ip.ss_family == AF_INET6 ? cidr6 : cidr4);
}

static void macro_ctx(struct spf_eval *e, const char *domain,
		      struct spf_macro_ctx *c)
{
	memset(c, 0, sizeof *c);
	c->sender = e->sender;
	c->domain = domain;
	c->helo = e->helo;
	c->ip = &e->ip;
	c->validated = e->p_done ? e->p_name : NULL;
	c->receiver = e->receiver[0] ? e->receiver : NULL;
	c->now = e->now;
}

/* Expands a domain-spec of the top frame into out; false after a
 * permerror. */
static bool expand_domain(struct spf_eval *e, const char *spec, size_t len,
			  char *out, size_t n)
{
	struct spf_macro_ctx c;
	macro_ctx(e, top(e)->domain, &c);
	struct buf b = BUF_INIT;
	char err[128];
	bool ok = spf_macro_expand(spec, len, &c, false, true, &b, err,
				   sizeof err);
	if (ok && (b.len == 0 || b.len >= n)) {
		ok = false;
		snprintf(err, sizeof err, "empty domain");
	}
	if (ok)
		memcpy(out, b.data, b.len + 1);
	buf_free(&b);
	if (!ok)
		finish(e, SPF_PERMERROR, "macro in %.*s: %s", (int)len, spec,
		       err);
	return ok;
}

static void frame_result(struct spf_eval *e, enum spf_result r,
			 const char *why);
static void exp_resume(struct spf_eval *e);

/* %{p}: the PTR names of the client that lead back to it (RFC 7208
 * 5.5), at most SPF_PTR_NAMES_MAX; of those, the current domain, else
 * one of its subdomains, else the first; else "unknown" (7.3). DNS
 * errors leave a name out; lookups that find nothing count as void,
 * as everywhere. Looked up once, before the first string that uses
 * it is expanded; then p_resume goes on from where it was. */
static void p_done(struct spf_eval *e)
{
	const char *d = top(e)->domain;
	size_t dl = strlen(d);
	const char *pick = NULL;
	for (size_t i = 0; i < e->nm.n_names && !pick; i++)
		if (e->nm.valid[i] && !strcasecmp(e->nm.names[i], d))
			pick = e->nm.names[i];
	for (size_t i = 0; i < e->nm.n_names && !pick; i++) {
		const char *n = e->nm.names[i];
		size_t nl = strlen(n);
		if (e->nm.valid[i] && nl > dl && n[nl - dl - 1] == '.' &&
		    !strcasecmp(n + nl - dl, d))
			pick = n;
	}
	for (size_t i = 0; i < e->nm.n_names && !pick; i++)
		if (e->nm.valid[i])
			pick = e->nm.names[i];
	snprintf(e->p_name, sizeof e->p_name, "%s", pick ? pick : "unknown");
	e->p_done = true;
	e->nm.n_names = e->nm.i_name = 0;
	tracef(e, "%%{p} is %s", e->p_name);
	e->p_resume(e);
}

static void on_p_addr(void *arg, enum dns_status st,
		      const struct sockaddr_storage *addrs,
		      const socklen_t *lens, size_t n, const char *why);

static void p_next(struct spf_eval *e)
{
	if (e->nm.i_name == e->nm.n_names) {
		p_done(e);
		return;
	}
	e->waiting = true;
	dns_query_addr_family(e->dns, e->nm.names[e->nm.i_name++],
			      family_of(e), on_p_addr, e);
}

static void on_p_addr(void *arg, enum dns_status st,
		      const struct sockaddr_storage *addrs,
		      const socklen_t *lens, size_t n, const char *why)
{
	(void)lens;
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	tracef(e, "%%{p}: %s", why);
	if ((st == DNS_NXDOMAIN || st == DNS_NODATA) && count_void(e))
		return;
	bool match = false;
	for (size_t i = 0; st == DNS_OK && i < n && !match; i++)
		match = addr_match(e, &addrs[i], 32, 128);
	e->nm.valid[e->nm.i_name - 1] = match;
	p_next(e);
}

static void on_p_ptr(void *arg, enum dns_status st, const char *const *names,
		     size_t n, const char *why)
{
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	tracef(e, "%%{p}: %s", why);
	if ((st == DNS_NXDOMAIN || st == DNS_NODATA) && count_void(e))
		return;
	e->nm.n_names = e->nm.i_name = 0;
	for (size_t i = 0;
	     st == DNS_OK && i < n && e->nm.n_names < SPF_PTR_NAMES_MAX; i++)
		if (strlen(names[i]) < SPF_NAME_MAX) {
			e->nm.valid[e->nm.n_names] = false;
			snprintf(e->nm.names[e->nm.n_names++], SPF_NAME_MAX,
				 "%s", names[i]);
		}
	p_next(e);
}

/* True when s needs %{p} first: the lookup is started and resume is
 * called when it is known. */
static bool need_p(struct spf_eval *e, const char *s, size_t len,
		   void (*resume)(struct spf_eval *e))
{
	if (e->p_done || !spf_macro_uses_p(s, len))
		return false;
	e->p_resume = resume;
	e->nm.n_names = e->nm.i_name = 0;
	e->waiting = true;
	dns_query_ptr(e->dns, (const struct sockaddr *)&e->ip, on_p_ptr, e);
	return true;
}

static void term_matched(struct spf_eval *e)
{
	struct spf_frame *f = top(e);
	const struct spf_term *t = f->cur;
	char why[600];
	snprintf(why, sizeof why, "%s matched %s%s%s in the policy of %s",
		 e->identity == SPF_ID_HELO ? "helo" : "mailfrom",
		 spf_mech_name(t->mech), f->target[0] ? ":" : "", f->target,
		 f->domain);
	tracef(e, "%s%s%s matches: %s", spf_mech_name(t->mech),
	       f->target[0] ? ":" : "", f->target, spf_result_name(t->qual));
	frame_result(e, t->qual, why);
}

/* Explanation: the TXT record at the exp= domain, expanded. Any trouble
 * leaves the default (RFC 7208 6.2). */
static void exp_text(struct spf_eval *e)
{
	struct spf_macro_ctx c;
	macro_ctx(e, top(e)->domain, &c);
	struct buf b = BUF_INIT;
	char err[128];
	if (spf_macro_expand(e->pend_text.data, e->pend_text.len, &c, true,
			     false, &b, err, sizeof err)) {
		buf_clear(&e->expl);
		for (size_t i = 0; i < b.len; i++)
			buf_appendc(&e->expl, (unsigned char)b.data[i] < 0x20
						      ? '?'
						      : b.data[i]);
	}
	buf_free(&b);
	finish(e, SPF_FAIL, "not authorized by the policy of %s",
	       top(e)->domain);
}

/* Explanation: the TXT record at the exp= domain, expanded. Any trouble
 * leaves the default (RFC 7208 6.2). */
static void on_exp(void *arg, enum dns_status st, const char *const *txt,
		   const size_t *lens, size_t n, const char *why)
{
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	tracef(e, "exp: %s", why);
	if (st != DNS_OK || n != 1 || strlen(txt[0]) != lens[0]) {
		finish(e, SPF_FAIL, "not authorized by the policy of %s",
		       top(e)->domain);
		return;
	}
	buf_clear(&e->pend_text);
	buf_append(&e->pend_text, txt[0], lens[0]);
	if (!need_p(e, txt[0], lens[0], exp_text))
		exp_text(e);
}

static void exp_resume(struct spf_eval *e)
{
	frame_result(e, e->pend_r, e->pend_why);
}

/* A frame has its result (RFC 7208 4.7 or a match); hand it to the
 * include that asked, or end. */
static void frame_result(struct spf_eval *e, enum spf_result r,
			 const char *why)
{
	struct spf_frame *f = top(e);
	if (r == SPF_FAIL && e->depth == 1 && f->rec.exp) {
		if (need_p(e, f->rec.exp, f->rec.exp_len, exp_resume)) {
			e->pend_r = r;
			snprintf(e->pend_why, sizeof e->pend_why, "%s", why);
			return;
		}
		char dom[SPF_NAME_MAX];
		struct spf_macro_ctx c;
		macro_ctx(e, f->domain, &c);
		struct buf b = BUF_INIT;
		char err[128];
		bool ok = spf_macro_expand(f->rec.exp, f->rec.exp_len, &c, false,
					   true, &b, err, sizeof err) &&
			  b.len > 0 && b.len < sizeof dom;
		if (ok)
			memcpy(dom, b.data, b.len + 1);
		buf_free(&b);
		if (ok) {
			buf_clear(&e->expl);
			buf_appends(&e->expl, why);
			e->waiting = true;
			dns_query_txt(e->dns, dom, on_exp, e);
			return;
		}
	}
	if (e->depth == 1) {
		if (f->redirected && r == SPF_NONE) {
			finish(e, SPF_PERMERROR,
			       "redirect to %s, which has no SPF record",
			       f->domain);
			return;
		}
		finish(e, r, "%s", why);
		return;
	}
	bool redirected = f->redirected;
	char dom[SPF_NAME_MAX];
	snprintf(dom, sizeof dom, "%s", f->domain);
	frame_clear(f);
	e->depth--;
	switch (r) {
	case SPF_PASS:
		term_matched(e);
		return;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		run_terms(e);
		return;
	case SPF_NONE:
		finish(e, SPF_PERMERROR, "%s %s has no SPF record",
		       redirected ? "redirect to" : "include of", dom);
		return;
	default:
		finish(e, r, "%s", why);
		return;
	}
}

static void on_txt(void *arg, enum dns_status st, const char *const *txt,
		   const size_t *lens, size_t n, const char *why)
{
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	struct spf_frame *f = top(e);
	if (st == DNS_TEMPFAIL) {
		tracef(e, "%s", why);
		finish(e, SPF_TEMPERROR, "%s", why);
		return;
	}
	size_t found = 0, which = 0;
	for (size_t i = 0; i < n; i++)
		if (spf_record_is_spf(txt[i], lens[i])) {
			found++;
			which = i;
		}
	if (st != DNS_OK || found == 0) {
		tracef(e, "%s: no SPF record (%s)", f->domain, why);
		if (st != DNS_OK && count_void(e))
			return;
		frame_result(e, SPF_NONE, "no SPF record");
		return;
	}
	if (found > 1) {
		tracef(e, "%s: %zu SPF records", f->domain, found);
		finish(e, SPF_PERMERROR, "%s has %zu SPF records", f->domain,
		       found);
		return;
	}
	tracef(e, "%s: \"%.*s\"", f->domain,
	       (int)(lens[which] > 900 ? 900 : lens[which]), txt[which]);
	char err[300];
	/* rec points into the text: keep a copy of the answer's */
	f->text = xmalloc(lens[which] + 1);
	memcpy(f->text, txt[which], lens[which] + 1);
	bool ok = strlen(f->text) == lens[which];
	if (!ok)
		snprintf(err, sizeof err, "NUL in the record");
	else
		ok = spf_record_parse(f->text, lens[which], &f->rec, err,
				      sizeof err);
	if (!ok) {
		tracef(e, "syntax error: %s", err);
		finish(e, SPF_PERMERROR, "the SPF record of %s: %s", f->domain,
		       err);
		return;
	}
	run_terms(e);
}

static void fetch(struct spf_eval *e)
{
	e->waiting = true;
	dns_query_txt(e->dns, top(e)->domain, on_txt, e);
}

static void next_name(struct spf_eval *e);

static void on_addr(void *arg, enum dns_status st,
		    const struct sockaddr_storage *addrs, const socklen_t *lens,
		    size_t n, const char *why)
{
	(void)lens;
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	struct spf_frame *f = top(e);
	const struct spf_term *t = f->cur;
	tracef(e, "%s: %s", spf_mech_name(t->mech), why);
	if (st == DNS_TEMPFAIL) {
		finish(e, SPF_TEMPERROR, "%s", why);
		return;
	}
	if (st != DNS_OK) {
		if (count_void(e))
			return;
	} else if (t->mech == SPF_M_EXISTS) {
		term_matched(e);
		return;
	}
	bool match = false;
	for (size_t i = 0; i < n && !match; i++)
		match = addr_match(e, &addrs[i], t->cidr4, t->cidr6);
	if (t->mech == SPF_M_PTR) {
		/* validating e->nm.names[e->nm.i_name - 1] */
		const char *name = e->nm.names[e->nm.i_name - 1];
		size_t nl = strlen(name), tl = strlen(f->target);
		bool sub = nl == tl ? !strcasecmp(name, f->target)
				    : nl > tl && name[nl - tl - 1] == '.' &&
					      !strcasecmp(name + nl - tl,
							  f->target);
		if (match && sub)
			e->nm.ptr_match = true;
		match = false;
	}
	if (match) {
		term_matched(e);
		return;
	}
	if (t->mech == SPF_M_MX || t->mech == SPF_M_PTR) {
		if (e->nm.i_name < e->nm.n_names) {
			next_name(e);
			return;
		}
		if (t->mech == SPF_M_PTR && e->nm.ptr_match) {
			term_matched(e);
			return;
		}
	}
	run_terms(e);
}

/* DNS errors in a/mx lookups end in temperror (RFC 7208 4.4); in ptr
 * lookups the name is skipped (RFC 7208 5.5). */
static void on_ptr_addr(void *arg, enum dns_status st,
			const struct sockaddr_storage *addrs,
			const socklen_t *lens, size_t n, const char *why)
{
	if (st == DNS_TEMPFAIL) {
		struct spf_eval *e = arg;
		if (!e->done)
			tracef(e, "ptr: %s (name skipped)", why);
		st = DNS_NXDOMAIN;
		n = 0;
	}
	on_addr(arg, st, addrs, lens, n, why);
}

static void next_name(struct spf_eval *e)
{
	struct spf_frame *f = top(e);
	e->waiting = true;
	dns_query_addr_family(e->dns, e->nm.names[e->nm.i_name++],
			      family_of(e), f->cur->mech == SPF_M_PTR ? on_ptr_addr : on_addr,
			      e);
}

static void on_mx(void *arg, enum dns_status st, const struct dns_mx *mx,
		  size_t n, const char *why)
{
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	struct spf_frame *f = top(e);
	tracef(e, "mx: %s", why);
	if (st == DNS_TEMPFAIL) {
		finish(e, SPF_TEMPERROR, "%s", why);
		return;
	}
	if (st != DNS_OK) {
		if (!count_void(e))
			run_terms(e);
		return;
	}
	if (n > SPF_MX_NAMES_MAX) {
		finish(e, SPF_PERMERROR, "%s has %zu MX records (at most %d)",
		       f->target, n, SPF_MX_NAMES_MAX);
		return;
	}
	e->nm.n_names = e->nm.i_name = 0;
	for (size_t i = 0; i < n; i++)
		if (mx[i].host[0]) /* not a null MX */
			snprintf(e->nm.names[e->nm.n_names++], SPF_NAME_MAX, "%s",
				 mx[i].host);
	if (e->nm.n_names == 0) {
		run_terms(e);
		return;
	}
	next_name(e);
}

static void on_ptr(void *arg, enum dns_status st, const char *const *names,
		   size_t n, const char *why)
{
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	tracef(e, "ptr: %s", why);
	if (st == DNS_NXDOMAIN || st == DNS_NODATA) {
		if (!count_void(e))
			run_terms(e);
		return;
	}
	e->nm.n_names = e->nm.i_name = 0;
	e->nm.ptr_match = false;
	for (size_t i = 0;
	     st == DNS_OK && i < n && e->nm.n_names < SPF_PTR_NAMES_MAX; i++)
		if (strlen(names[i]) < SPF_NAME_MAX)
			snprintf(e->nm.names[e->nm.n_names++], SPF_NAME_MAX, "%s",
				 names[i]);
	if (e->nm.n_names == 0) {
		run_terms(e); /* RFC 7208 5.5: an error is no match */
		return;
	}
	next_name(e);
}

/* Runs the top frame's terms from f->pos until one needs DNS, matches,
 * or they are all done (then redirect, or neutral: RFC 7208 4.7). */
static void run_terms(struct spf_eval *e)
{
	struct spf_frame *f = top(e);
	while (f->pos < f->rec.n_terms) {
		const struct spf_term *t = &f->rec.terms[f->pos++];
		f->cur = t;
		f->target[0] = '\0';
		switch (t->mech) {
		case SPF_M_ALL:
			term_matched(e);
			return;
		case SPF_M_IP4:
		case SPF_M_IP6: {
			struct sockaddr_storage a;
			memset(&a, 0, sizeof a);
			a.ss_family = t->mech == SPF_M_IP4 ? AF_INET : AF_INET6;
			memcpy((void *)ip_bytes(&a), t->addr,
			       t->mech == SPF_M_IP4 ? 4 : 16);
			if (addr_match(e, &a, t->cidr4, t->cidr6)) {
				char txt[64];
				inet_ntop(a.ss_family, t->addr, txt, sizeof txt);
				snprintf(f->target, sizeof f->target, "%s/%d", txt,
					 t->mech == SPF_M_IP4 ? t->cidr4 : t->cidr6);
				term_matched(e);
				return;
			}
			continue;
		}
		default:
			break;
		}
		if (t->spec_len && need_p(e, t->spec, t->spec_len, run_terms)) {
			f->pos--; /* this term again, once %{p} is known */
			return;
		}
		/* the terms that cost a lookup (RFC 7208 4.6.4) */
		if (++e->lookups > SPF_LOOKUPS_MAX) {
			tracef(e, "%s: over the limit of %d DNS lookups",
			       spf_mech_name(t->mech), SPF_LOOKUPS_MAX);
			finish(e, SPF_PERMERROR, "more than %d DNS lookups",
			       SPF_LOOKUPS_MAX);
			return;
		}
		if (t->spec_len) {
			if (!expand_domain(e, t->spec, t->spec_len, f->target,
					   sizeof f->target))
				return;
		} else {
			snprintf(f->target, sizeof f->target, "%s", f->domain);
		}
		e->waiting = true;
		switch (t->mech) {
		case SPF_M_INCLUDE: {
			tracef(e, "include:%s", f->target);
			if (e->depth == SPF_DEPTH_MAX) { /* cannot happen */
				e->waiting = false;
				finish(e, SPF_PERMERROR, "includes too deep");
				return;
			}
			struct spf_frame *c = &e->frames[e->depth++];
			memset(c, 0, sizeof *c);
			snprintf(c->domain, sizeof c->domain, "%s", f->target);
			c->included = true;
			e->waiting = false;
			fetch(e);
			return;
		}
		case SPF_M_A:
			dns_query_addr_family(e->dns, f->target, family_of(e),
					      on_addr, e);
			return;
		case SPF_M_EXISTS:
			/* always A, whatever the client (RFC 7208 5.7) */
			dns_query_addr_family(e->dns, f->target, AF_INET,
					      on_addr, e);
			return;
		case SPF_M_MX:
			dns_query_mx(e->dns, f->target, on_mx, e);
			return;
		case SPF_M_PTR:
			dns_query_ptr(e->dns, (const struct sockaddr *)&e->ip,
				      on_ptr, e);
			return;
		default:
			e->waiting = false;
			return;
		}
	}
	if (f->rec.redirect) {
		if (need_p(e, f->rec.redirect, f->rec.redirect_len, run_terms))
			return;
		if (++e->lookups > SPF_LOOKUPS_MAX) {
			finish(e, SPF_PERMERROR, "more than %d DNS lookups",
			       SPF_LOOKUPS_MAX);
			return;
		}
		char target[SPF_NAME_MAX];
		if (!expand_domain(e, f->rec.redirect, f->rec.redirect_len,
				   target, sizeof target))
			return;
		tracef(e, "redirect=%s", target);
		frame_clear(f);
		snprintf(f->domain, sizeof f->domain, "%s", target);
		f->redirected = true;
		fetch(e);
		return;
	}
	char why[400];
	snprintf(why, sizeof why, "nothing matched in the policy of %s",
		 f->domain);
	tracef(e, "no match: neutral");
	frame_result(e, SPF_NEUTRAL, why);
}

/* RFC 7208 4.3: a malformed domain gives "none" without a lookup. */
static bool domain_ok(const char *d)
{
	size_t len = strlen(d);
	if (len == 0 || len > 253)
		return false;
	size_t label = 0, labels = 1;
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '.') {
			if (label == 0 && i + 1 != len)
				return false;
			if (i + 1 != len)
				labels++;
			label = 0;
		} else if (++label > 63) {
			return false;
		}
	}
	return labels >= 2;
}

static void begin(void *arg)
{
	struct spf_eval *e = arg;
	if (!answer_back(e))
		return;
	if (!domain_ok(e->top)) {
		e->depth = 1;
		tracef(e, "\"%s\" is no domain name that can have a policy",
		       e->top);
		finish(e, SPF_NONE, "no valid domain in the %s identity",
		       e->identity == SPF_ID_HELO ? "HELO" : "MAIL FROM");
		return;
	}
	struct spf_frame *f = &e->frames[e->depth++];
	memset(f, 0, sizeof *f);
	snprintf(f->domain, sizeof f->domain, "%s", e->top);
	size_t dl = strlen(f->domain);
	if (dl && f->domain[dl - 1] == '.')
		f->domain[dl - 1] = '\0';
	fetch(e);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct spf_eval *e = arg;
	if (!e->depth)
		e->depth = 1;
	finish(e, SPF_TEMPERROR, "SPF evaluation took too long");
}

struct spf_eval *spf_start(struct dns *dns, struct event_base *base,
			   const struct spf_request *rq, spf_done_fn fn,
			   void *arg)
{
	struct spf_eval *e = xcalloc(1, sizeof *e);
	e->frames = xcalloc(SPF_DEPTH_MAX, sizeof *e->frames);
	e->dns = dns;
	e->base = base;
	e->fn = fn;
	e->arg = arg;
	e->identity = rq->identity;
	e->trace_on = rq->trace;
	e->now = (long long)time(NULL);
	buf_init(&e->trace);
	buf_init(&e->expl);
	buf_init(&e->pend_text);
	e->ip = rq->ip;
	if (e->ip.ss_family == AF_INET6) {
		/* IPv4-mapped IPv6 is the IPv4 client it stands for */
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *)&rq->ip)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			struct sockaddr_in s4;
			memset(&s4, 0, sizeof s4);
			s4.sin_family = AF_INET;
			memcpy(&s4.sin_addr, a6->s6_addr + 12, 4);
			memset(&e->ip, 0, sizeof e->ip);
			memcpy(&e->ip, &s4, sizeof s4);
		}
	}
	snprintf(e->helo, sizeof e->helo, "%s", rq->helo ? rq->helo : "");
	snprintf(e->receiver, sizeof e->receiver, "%s",
		 rq->receiver ? rq->receiver : "");
	const char *s = rq->sender ? rq->sender : "";
	if (rq->identity == SPF_ID_HELO || !s[0]) {
		snprintf(e->sender, sizeof e->sender, "postmaster@%s", e->helo);
		snprintf(e->top, sizeof e->top, "%s", e->helo);
	} else {
		const char *at = strrchr(s, '@');
		if (!at)
			snprintf(e->sender, sizeof e->sender, "postmaster@%s", s);
		else if (at == s)
			snprintf(e->sender, sizeof e->sender, "postmaster%s", s);
		else
			snprintf(e->sender, sizeof e->sender, "%s", s);
		snprintf(e->top, sizeof e->top, "%s", at ? at + 1 : s);
	}
	unsigned ms = rq->time_max_ms ? rq->time_max_ms : SPF_TIME_MAX_MS;
	e->timer = evtimer_new(base, on_timeout, e);
	if (!e->timer)
		abort();
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	evtimer_add(e->timer, &tv);
	e->waiting = true;
	dns_call_soon(dns, begin, e);
	return e;
}

void spf_cancel(struct spf_eval **ep)
{
	struct spf_eval *e = *ep;
	if (!e)
		return;
	*ep = NULL;
	e->fn = NULL;
	if (!e->done) {
		e->done = true;
		if (e->timer)
			evtimer_del(e->timer);
	}
	if (!e->waiting && !e->in_callback)
		eval_free(e);
}
