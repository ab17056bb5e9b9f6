/* SPF evaluation (RFC 7208), asynchronous on the event loop over
 * relay/dns.c. The SMTP server starts one evaluation per identity it
 * checks and gets one callback with the result:
 *
 *   struct spf_request rq = { .ip = client, .helo = helo,
 *                             .sender = mail_from, .receiver = hostname,
 *                             .identity = SPF_ID_MAILFROM };
 *   s->spf = spf_start(dns, base, &rq, on_spf, s);
 *   ... on_spf(s, answer) -- answer valid during the call only;
 *       the evaluation is freed after it returns ...
 *   spf_cancel(&s->spf);  -- when the session ends first: no callback
 *                            (from inside the callback: harmless)
 *
 * The callback always comes from the loop, never from inside
 * spf_start. Limits (core/limits.h): SPF_LOOKUPS_MAX terms with DNS
 * lookups, SPF_VOID_MAX void lookups, SPF_MX_NAMES_MAX / SPF_PTR_NAMES_MAX
 * names per MX / PTR answer, SPF_TIME_MAX_MS for everything. */
#ifndef POSTERN_SPF_H
#define POSTERN_SPF_H
#include <stdbool.h>
#include <sys/socket.h>
#include "spf/record.h"

struct dns;
struct event_base;
struct spf_eval;

enum spf_identity {
	SPF_ID_MAILFROM, /* RFC 7208 2.4: the MAIL FROM domain, or
			    postmaster@HELO when the sender is null */
	SPF_ID_HELO,     /* RFC 7208 2.3: postmaster@HELO */
};

struct spf_request {
	struct sockaddr_storage ip; /* the client; IPv4-mapped IPv6 is IPv4 */
	const char *helo;           /* "" when none was given */
	const char *sender;         /* MAIL FROM address, "" for <> */
	const char *receiver;       /* our name, for %{r}; NULL: "unknown" */
	enum spf_identity identity;
	unsigned time_max_ms;       /* 0: SPF_TIME_MAX_MS */
	bool trace;                 /* record the chain of lookups */
};

struct spf_answer {
	enum spf_result result;
	const char *identity;    /* "mailfrom" or "helo" */
	const char *domain;      /* the domain whose policy was checked */
	const char *sender;      /* the address checked (maybe postmaster@) */
	const char *explanation; /* fail: the exp= text or a default; else
				    why the result is what it is */
	const char *trace;       /* one line per step ("" unless asked) */
	unsigned lookups, void_lookups;
};

typedef void (*spf_done_fn)(void *arg, const struct spf_answer *a);

struct spf_eval *spf_start(struct dns *dns, struct event_base *base,
			   const struct spf_request *rq, spf_done_fn fn,
			   void *arg);
/* Stops an evaluation before its callback (which is then never called)
 * and clears the pointer; NULL is fine. */
void spf_cancel(struct spf_eval **e);

#endif
