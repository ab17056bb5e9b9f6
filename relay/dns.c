/* relay/dns.h on c-ares, driven by libevent: c-ares tells us which
 * sockets it wants watched (ARES_OPT_SOCK_STATE_CB) and when its next
 * timeout is (ares_timeout); we never call a blocking resolver.
 *
 * Every request is a struct dns_query on d->queries. c-ares' callbacks
 * (which may run inside ares_query itself, or inside ares_destroy) only
 * record the answer and make the query's event active; the caller's
 * callback runs from that event, so it is always called from the loop,
 * exactly once, and a query can be cancelled by freeing its event. */
#include "relay/dns.h"
#include "core/log.h"
#include "core/xmalloc.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Short and bounded: c-ares doubles the per-try timeout each round, so
 * one server costs at most 2 s + 4 s before DNS_TEMPFAIL. The queue
 * retries later anyway; a stuck lookup must not hold a delivery slot. */
#define DNS_TIMEOUT_MS 2000
#define DNS_TRIES 2
/* Records taken from one answer. A hostile zone can publish thousands
 * of MX records over TCP; route.c uses only the best ROUTE_MX_MAX, and
 * this bound keeps the copy small. */
#define DNS_MX_MAX 128
/* Addresses per family for one host name (route.c bounds the total). */
#define DNS_ADDR_FAMILY_MAX 16
/* TXT records kept from one answer: a name with SPF has one or two;
 * the rest is there for other protocols (verification tokens...). */
#define DNS_TXT_MAX 64
/* PTR names kept from one answer (SPF looks at 10, RFC 7208 4.6.4). */
#define DNS_PTR_MAX 32

enum dns_kind { DNS_Q_MX, DNS_Q_ADDR, DNS_Q_CALL, DNS_Q_TXT, DNS_Q_PTR };

struct dns_sock {
	struct dns_sock *next;
	ares_socket_t fd;
	struct event *ev;
	short what;
};

/* One family's half of an address query. */
struct dns_addr_half {
	enum dns_status st;
	size_t n;
	struct sockaddr_storage addrs[DNS_ADDR_FAMILY_MAX];
	socklen_t lens[DNS_ADDR_FAMILY_MAX];
	char why[320];
};

struct dns_query {
	struct dns_query *prev, *next;
	struct dns *d;
	struct event *ev; /* delivers the answer; NULL while cancelling */
	enum dns_kind kind;
	void *arg;
	dns_mx_fn mx_fn;
	dns_addr_fn addr_fn;
	dns_txt_fn txt_fn;
	dns_ptr_fn ptr_fn;
	int family; /* DNS_Q_ADDR: AF_UNSPEC (both), AF_INET or AF_INET6 */
	void (*call_fn)(void *arg);
	int outstanding; /* c-ares requests not yet answered */
	char name[256];
	/* the answer */
	enum dns_status st;
	char why[320];
	struct dns_mx *mx;
	size_t n_mx;
	struct dns_addr_half v6, v4;
	/* DNS_Q_TXT and DNS_Q_PTR: n_str strings, each NUL-terminated */
	char **str;
	size_t *str_len;
	size_t n_str;
};

struct dns {
	struct event_base *base;
	ares_channel ch;
	bool have_ch;
	bool freeing;
	struct event *timer;
	struct dns_sock *socks;
	struct dns_query *queries;
};

static void dns_timer_update(struct dns *d)
{
	if (!d->have_ch || d->freeing)
		return;
	struct timeval tv;
	if (ares_timeout(d->ch, NULL, &tv))
		evtimer_add(d->timer, &tv);
	else
		evtimer_del(d->timer);
}

static void dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dns *d = arg;
	/* Processes expired queries (retries, then ARES_ETIMEOUT). */
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;
	ares_process_fd(d->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_timer_update(d);
}

/* c-ares: watch fd for reading/writing, or (0, 0) stop watching it. */
static void dns_sock_state(void *data, ares_socket_t fd, int readable,
			   int writable)
{
	struct dns *d = data;
	struct dns_sock **pp = &d->socks;
	while (*pp && (*pp)->fd != fd)
		pp = &(*pp)->next;
	struct dns_sock *s = *pp;
	short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	if (!what) {
		if (s) {
			*pp = s->next;
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (d->freeing)
		return;
	if (s && s->what == what)
		return;
	if (!s) {
		s = xcalloc(1, sizeof *s);
		s->fd = fd;
		s->next = d->socks;
		d->socks = s;
	} else {
		event_free(s->ev);
	}
	s->what = what;
	s->ev = event_new(d->base, fd, what | EV_PERSIST, dns_sock_cb, d);
	if (!s->ev || event_add(s->ev, NULL) != 0)
		log_fatal("dns: out of memory for an event");
}

static void dns_query_unlink(struct dns_query *q)
{
	struct dns *d = q->d;
	if (q->prev)
		q->prev->next = q->next;
	else
		d->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

static void dns_query_free(struct dns_query *q)
{
	if (q->ev)
		event_free(q->ev);
	free(q->mx);
	for (size_t i = 0; i < q->n_str; i++)
		free(q->str[i]);
	free(q->str);
	free(q->str_len);
	free(q);
}

static void dns_addr_merge(struct dns_query *q);

/* Calls the caller's function with the recorded answer (or with
 * DNS_TEMPFAIL when cancelled), then forgets the query. */
static void dns_query_finish(struct dns_query *q, bool cancelled)
{
	dns_query_unlink(q);
	if (cancelled && q->kind != DNS_Q_CALL) {
		q->st = DNS_TEMPFAIL;
		snprintf(q->why, sizeof q->why, "DNS lookup cancelled");
		q->n_mx = 0;
		q->v6.n = q->v4.n = 0;
		q->family = AF_UNSPEC;
	}
	switch (q->kind) {
	case DNS_Q_MX:
		q->mx_fn(q->arg, q->st, q->n_mx ? q->mx : NULL, q->n_mx, q->why);
		break;
	case DNS_Q_ADDR: {
		if (!cancelled)
			dns_addr_merge(q);
		struct sockaddr_storage addrs[2 * DNS_ADDR_FAMILY_MAX];
		socklen_t lens[2 * DNS_ADDR_FAMILY_MAX];
		size_t n = 0;
		if (q->st == DNS_OK) {
			/* IPv6 first (header contract). */
			for (size_t i = 0; i < q->v6.n; i++, n++) {
				addrs[n] = q->v6.addrs[i];
				lens[n] = q->v6.lens[i];
			}
			for (size_t i = 0; i < q->v4.n; i++, n++) {
				addrs[n] = q->v4.addrs[i];
				lens[n] = q->v4.lens[i];
			}
		}
		q->addr_fn(q->arg, q->st, n ? addrs : NULL, n ? lens : NULL, n,
			   q->why);
		break;
	}
	case DNS_Q_CALL:
		q->call_fn(q->arg);
		break;
	case DNS_Q_TXT:
		q->txt_fn(q->arg, q->st,
			  q->st == DNS_OK ? (const char *const *)q->str : NULL,
			  q->st == DNS_OK ? q->str_len : NULL,
			  q->st == DNS_OK ? q->n_str : 0, q->why);
		break;
	case DNS_Q_PTR:
		q->ptr_fn(q->arg, q->st,
			  q->st == DNS_OK ? (const char *const *)q->str : NULL,
			  q->st == DNS_OK ? q->n_str : 0, q->why);
		break;
	}
	dns_query_free(q);
}

static void dns_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dns_query_finish(arg, false);
}

static struct dns_query *dns_query_new(struct dns *d, enum dns_kind kind,
				       const char *name, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof *q);
	q->d = d;
	q->kind = kind;
	q->arg = arg;
	q->st = DNS_TEMPFAIL;
	snprintf(q->name, sizeof q->name, "%s", name ? name : "");
	if (!d->freeing) {
		q->ev = evtimer_new(d->base, dns_deliver_cb, q);
		if (!q->ev)
			log_fatal("dns: out of memory for an event");
	}
	q->next = d->queries;
	if (d->queries)
		d->queries->prev = q;
	d->queries = q;
	return q;
}

/* Schedules delivery from the loop. While dns_free runs there is no
 * event: its drain loop finds the query on the list instead. */
static void dns_query_ready(struct dns_query *q)
{
	if (q->ev)
		event_active(q->ev, EV_TIMEOUT, 1);
}

/* Maps a c-ares status to ours; NXDOMAIN and NODATA are the answers
 * routing must tell apart (RFC 5321 section 5.1: NODATA for MX means
 * the implicit MX). */
static enum dns_status dns_status_of(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
		return DNS_NXDOMAIN;
	case ARES_ENODATA:
		return DNS_NODATA;
	default:
		return DNS_TEMPFAIL;
	}
}

static void dns_why(char *why, size_t n, const char *name, const char *type,
		    int status)
{
	const char *what;
	switch (dns_status_of(status)) {
	case DNS_NXDOMAIN:
		what = "no such domain";
		break;
	case DNS_NODATA:
		what = "no record of that type";
		break;
	default:
		what = ares_strerror(status);
		break;
	}
	snprintf(why, n, "DNS %s %s: %s", type, name, what);
}

static void dns_mx_answer(void *arg, int status, int timeouts,
			  unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	struct ares_mx_reply *list = NULL;
	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &list);
	q->st = dns_status_of(status);
	if (q->st == DNS_OK) {
		q->mx = xcalloc(DNS_MX_MAX, sizeof *q->mx);
		for (struct ares_mx_reply *r = list; r && q->n_mx < DNS_MX_MAX;
		     r = r->next) {
			const char *h = r->host ? r->host : "";
			size_t hl = strlen(h);
			/* RFC 7505 section 3: the null MX's exchange is the
			 * root, ".", which c-ares expands to "". */
			if (hl == 1 && h[0] == '.')
				hl = 0;
			if (hl >= sizeof q->mx[0].host)
				continue;
			q->mx[q->n_mx].pref = r->priority;
			memcpy(q->mx[q->n_mx].host, h, hl);
			q->mx[q->n_mx].host[hl] = '\0';
			q->n_mx++;
		}
		if (q->n_mx == 0) {
			q->st = DNS_NODATA;
			status = ARES_ENODATA;
		}
	}
	if (list)
		ares_free_data(list);
	if (q->st == DNS_OK)
		snprintf(q->why, sizeof q->why, "DNS MX %s: %zu records",
			 q->name, q->n_mx);
	else
		dns_why(q->why, sizeof q->why, q->name, "MX", status);
	dns_query_ready(q);
}

/* Combines the two halves: any address wins; else a temporary failure
 * of either half is temporary; else NXDOMAIN if either half said so
 * (the name does not exist); else NODATA. */
static void dns_addr_merge(struct dns_query *q)
{
	if (q->v6.n + q->v4.n > 0) {
		q->st = DNS_OK;
		snprintf(q->why, sizeof q->why, "DNS %s: %zu addresses",
			 q->name, q->v6.n + q->v4.n);
		return;
	}
	const struct dns_addr_half *h;
	if (q->family == AF_INET)
		h = &q->v4;
	else if (q->family == AF_INET6)
		h = &q->v6;
	else if (q->v6.st == DNS_TEMPFAIL)
		h = &q->v6;
	else if (q->v4.st == DNS_TEMPFAIL)
		h = &q->v4;
	else if (q->v4.st == DNS_NXDOMAIN)
		h = &q->v4;
	else
		h = &q->v6;
	q->st = h->st == DNS_OK ? DNS_NODATA : h->st;
	snprintf(q->why, sizeof q->why, "%s", h->why);
}

static void dns_addr_answer(struct dns_query *q, struct dns_addr_half *h,
			    int family, int status, unsigned char *abuf,
			    int alen)
{
	if (family == AF_INET6) {
		struct ares_addr6ttl ttl[DNS_ADDR_FAMILY_MAX];
		int n = DNS_ADDR_FAMILY_MAX;
		if (status == ARES_SUCCESS)
			status = ares_parse_aaaa_reply(abuf, alen, NULL, ttl, &n);
		for (int i = 0; status == ARES_SUCCESS && i < n; i++) {
			struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&h->addrs[h->n];
			memset(sa, 0, sizeof *sa);
			sa->sin6_family = AF_INET6;
			memcpy(&sa->sin6_addr, &ttl[i].ip6addr, sizeof sa->sin6_addr);
			h->lens[h->n++] = sizeof *sa;
		}
	} else {
		struct ares_addrttl ttl[DNS_ADDR_FAMILY_MAX];
		int n = DNS_ADDR_FAMILY_MAX;
		if (status == ARES_SUCCESS)
			status = ares_parse_a_reply(abuf, alen, NULL, ttl, &n);
		for (int i = 0; status == ARES_SUCCESS && i < n; i++) {
			struct sockaddr_in *sa = (struct sockaddr_in *)&h->addrs[h->n];
			memset(sa, 0, sizeof *sa);
			sa->sin_family = AF_INET;
			sa->sin_addr = ttl[i].ipaddr;
			h->lens[h->n++] = sizeof *sa;
		}
	}
	if (status == ARES_SUCCESS && h->n == 0)
		status = ARES_ENODATA;
	h->st = dns_status_of(status);
	dns_why(h->why, sizeof h->why, q->name,
		family == AF_INET6 ? "AAAA" : "A", status);
	if (--q->outstanding == 0)
		dns_query_ready(q);
}

static void dns_aaaa_cb(void *arg, int status, int timeouts,
			unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	dns_addr_answer(q, &q->v6, AF_INET6, status, abuf, alen);
}

static void dns_a_cb(void *arg, int status, int timeouts, unsigned char *abuf,
		     int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	dns_addr_answer(q, &q->v4, AF_INET, status, abuf, alen);
}

struct dns *dns_new(struct event_base *base, const char *servers,
		    struct buf *err)
{
	static bool lib_ready;
	if (!lib_ready) {
		int rc = ares_library_init(ARES_LIB_INIT_ALL);
		if (rc != ARES_SUCCESS) {
			buf_printf(err, "dns: %s\n", ares_strerror(rc));
			return NULL;
		}
		lib_ready = true;
	}
	struct dns *d = xcalloc(1, sizeof *d);
	d->base = base;
	struct ares_options o;
	memset(&o, 0, sizeof o);
	/* No search list: a recipient domain is always fully qualified,
	 * and "b.test" must never become "b.test.corp.example". */
	o.flags = ARES_FLAG_NOSEARCH;
	o.timeout = DNS_TIMEOUT_MS;
	o.tries = DNS_TRIES;
	o.ndots = 1;
	o.domains = NULL;
	o.ndomains = 0;
	o.sock_state_cb = dns_sock_state;
	o.sock_state_cb_data = d;
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
		   ARES_OPT_NDOTS | ARES_OPT_DOMAINS | ARES_OPT_SOCK_STATE_CB;
	int rc = ares_init_options(&d->ch, &o, mask);
	if (rc != ARES_SUCCESS) {
		buf_printf(err, "dns: cannot start the resolver: %s\n",
			   ares_strerror(rc));
		free(d);
		return NULL;
	}
	d->have_ch = true;
	if (servers && servers[0]) {
		rc = ares_set_servers_ports_csv(d->ch, servers);
		if (rc != ARES_SUCCESS) {
			buf_printf(err, "dns_resolver: \"%s\": %s\n", servers,
				   ares_strerror(rc));
			ares_destroy(d->ch);
			free(d);
			return NULL;
		}
	}
	d->timer = evtimer_new(base, dns_timer_cb, d);
	if (!d->timer)
		log_fatal("dns: out of memory for an event");
	return d;
}

void dns_free(struct dns **dp)
{
	struct dns *d = *dp;
	if (!d)
		return;
	*dp = NULL;
	d->freeing = true;
	/* Pending c-ares requests end with ARES_EDESTRUCTION; their
	 * callbacks only record it. */
	if (d->have_ch)
		ares_destroy(d->ch);
	d->have_ch = false;
	while (d->socks) {
		struct dns_sock *s = d->socks;
		d->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	/* A callback may start new queries on us: they join the list (with
	 * no event) and are cancelled by this same loop. */
	while (d->queries) {
		struct dns_query *q = d->queries;
		if (q->ev) {
			event_free(q->ev);
			q->ev = NULL;
		}
		dns_query_finish(q, true);
	}
	if (d->timer)
		event_free(d->timer);
	free(d);
}

void dns_query_mx(struct dns *d, const char *domain, dns_mx_fn fn, void *arg)
{
	struct dns_query *q = dns_query_new(d, DNS_Q_MX, domain, arg);
	q->mx_fn = fn;
	if (d->freeing)
		return;
	ares_query(d->ch, q->name, ns_c_in, ns_t_mx, dns_mx_answer, q);
	dns_timer_update(d);
}

/* An address literal is its own answer (no query). */
static bool dns_addr_literal(struct dns_query *q)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&q->v6.addrs[0];
	struct sockaddr_in *s4 = (struct sockaddr_in *)&q->v4.addrs[0];
	memset(s6, 0, sizeof *s6);
	memset(s4, 0, sizeof *s4);
	if (inet_pton(AF_INET6, q->name, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		q->v6.lens[0] = sizeof *s6;
		q->v6.n = 1;
	} else if (inet_pton(AF_INET, q->name, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		q->v4.lens[0] = sizeof *s4;
		q->v4.n = 1;
	} else {
		return false;
	}
	return true;
}

void dns_query_addr(struct dns *d, const char *host, dns_addr_fn fn,
		    void *arg)
{
	struct dns_query *q = dns_query_new(d, DNS_Q_ADDR, host, arg);
	q->addr_fn = fn;
	if (d->freeing)
		return;
	if (dns_addr_literal(q)) {
		dns_query_ready(q);
		return;
	}
	q->v6.st = q->v4.st = DNS_TEMPFAIL;
	q->outstanding = 2;
	ares_query(d->ch, q->name, ns_c_in, ns_t_aaaa, dns_aaaa_cb, q);
	/* The first may have been answered already (an error c-ares finds
	 * without sending): the query stays alive until both are in. */
	ares_query(d->ch, q->name, ns_c_in, ns_t_a, dns_a_cb, q);
	dns_timer_update(d);
}

void dns_query_addr_family(struct dns *d, const char *host, int family,
			   dns_addr_fn fn, void *arg)
{
	struct dns_query *q = dns_query_new(d, DNS_Q_ADDR, host, arg);
	q->addr_fn = fn;
	q->family = family == AF_INET6 ? AF_INET6 : AF_INET;
	if (d->freeing)
		return;
	if (dns_addr_literal(q)) {
		/* the literal of the other family is no answer */
		if (family == AF_INET6)
			q->v4.n = 0;
		else
			q->v6.n = 0;
		q->v6.st = q->v4.st = DNS_NODATA;
		snprintf(q->v6.why, sizeof q->v6.why, "%s: address literal",
			 q->name);
		snprintf(q->v4.why, sizeof q->v4.why, "%s: address literal",
			 q->name);
		dns_query_ready(q);
		return;
	}
	q->v6.st = q->v4.st = DNS_TEMPFAIL;
	q->outstanding = 1;
	if (q->family == AF_INET6)
		ares_query(d->ch, q->name, ns_c_in, ns_t_aaaa, dns_aaaa_cb, q);
	else
		ares_query(d->ch, q->name, ns_c_in, ns_t_a, dns_a_cb, q);
	dns_timer_update(d);
}

static void dns_str_add(struct dns_query *q, const char *s, size_t len)
{
	q->str[q->n_str] = xmalloc(len + 1);
	memcpy(q->str[q->n_str], s, len);
	q->str[q->n_str][len] = '\0';
	q->str_len[q->n_str] = len;
	q->n_str++;
}

static void dns_str_alloc(struct dns_query *q, size_t max)
{
	q->str = xcalloc(max, sizeof *q->str);
	q->str_len = xcalloc(max, sizeof *q->str_len);
}

static void dns_txt_answer(void *arg, int status, int timeouts,
			   unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	struct ares_txt_ext *list = NULL;
	if (status == ARES_SUCCESS)
		status = ares_parse_txt_reply_ext(abuf, alen, &list);
	q->st = dns_status_of(status);
	if (q->st == DNS_OK) {
		dns_str_alloc(q, DNS_TXT_MAX);
		struct buf rec;
		buf_init(&rec);
		bool have = false;
		for (struct ares_txt_ext *r = list; r; r = r->next) {
			if (r->record_start) {
				if (have && q->n_str < DNS_TXT_MAX)
					dns_str_add(q, rec.data ? rec.data : "",
						    rec.len);
				buf_clear(&rec);
				have = true;
			}
			buf_append(&rec, (const char *)r->txt, r->length);
		}
		if (have && q->n_str < DNS_TXT_MAX)
			dns_str_add(q, rec.data ? rec.data : "", rec.len);
		buf_free(&rec);
		if (q->n_str == 0) {
			q->st = DNS_NODATA;
			status = ARES_ENODATA;
		}
	}
	if (list)
		ares_free_data(list);
	if (q->st == DNS_OK)
		snprintf(q->why, sizeof q->why, "DNS TXT %s: %zu records",
			 q->name, q->n_str);
	else
		dns_why(q->why, sizeof q->why, q->name, "TXT", status);
	dns_query_ready(q);
}

void dns_query_txt(struct dns *d, const char *name, dns_txt_fn fn,
		   void *arg)
{
	struct dns_query *q = dns_query_new(d, DNS_Q_TXT, name, arg);
	q->txt_fn = fn;
	if (d->freeing)
		return;
	ares_query(d->ch, q->name, ns_c_in, ns_t_txt, dns_txt_answer, q);
	dns_timer_update(d);
}

static void dns_ptr_answer(void *arg, int status, int timeouts,
			   unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	struct hostent *he = NULL;
	if (status == ARES_SUCCESS)
	{
		/* the address only goes into he->h_addr_list, unused */
		static const unsigned char any[4];
		status = ares_parse_ptr_reply(abuf, alen, any, sizeof any,
					      AF_INET, &he);
	}
	q->st = dns_status_of(status);
	if (q->st == DNS_OK) {
		dns_str_alloc(q, DNS_PTR_MAX);
		/* c-ares lists every PTR name among the aliases (and the
		 * last one again as h_name); take each once. */
		for (size_t i = 0; he->h_aliases && he->h_aliases[i] &&
				   q->n_str < DNS_PTR_MAX; i++) {
			const char *a = he->h_aliases[i];
			size_t al = strlen(a);
			while (al && a[al - 1] == '.')
				al--;
			bool dup = false;
			for (size_t k = 0; k < q->n_str && !dup; k++)
				dup = q->str_len[k] == al &&
				      !strncasecmp(q->str[k], a, al);
			if (!dup && al)
				dns_str_add(q, a, al);
		}
		if (q->n_str == 0 && he->h_name && he->h_name[0]) {
			size_t al = strlen(he->h_name);
			while (al && he->h_name[al - 1] == '.')
				al--;
			if (al)
				dns_str_add(q, he->h_name, al);
		}
		if (q->n_str == 0) {
			q->st = DNS_NODATA;
			status = ARES_ENODATA;
		}
	}
	if (he)
		ares_free_hostent(he);
	if (q->st == DNS_OK)
		snprintf(q->why, sizeof q->why, "DNS PTR %s: %zu names",
			 q->name, q->n_str);
	else
		dns_why(q->why, sizeof q->why, q->name, "PTR", status);
	dns_query_ready(q);
}

/* RFC 1035 3.5 (in-addr.arpa) and RFC 3596 2.5 (ip6.arpa, nibbles). */
static void dns_reverse_name(char *out, size_t n, const struct sockaddr *sa)
{
	size_t o = 0;
	if (sa->sa_family == AF_INET6) {
		const unsigned char *b =
			((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		for (int i = 15; i >= 0; i--)
			o += (size_t)snprintf(out + o, n - o, "%x.%x.",
					      b[i] & 15, b[i] >> 4);
		snprintf(out + o, n - o, "ip6.arpa");
	} else {
		const unsigned char *b = (const unsigned char *)&(
			(const struct sockaddr_in *)sa)->sin_addr;
		snprintf(out, n, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1],
			 b[0]);
	}
}

void dns_query_ptr(struct dns *d, const struct sockaddr *addr,
		   dns_ptr_fn fn, void *arg)
{
	char name[80];
	dns_reverse_name(name, sizeof name, addr);
	struct dns_query *q = dns_query_new(d, DNS_Q_PTR, name, arg);
	q->ptr_fn = fn;
	if (d->freeing)
		return;
	ares_query(d->ch, q->name, ns_c_in, ns_t_ptr, dns_ptr_answer, q);
	dns_timer_update(d);
}

void dns_call_soon(struct dns *d, void (*fn)(void *arg), void *arg)
{
	struct dns_query *q = dns_query_new(d, DNS_Q_CALL, NULL, arg);
	q->call_fn = fn;
	dns_query_ready(q);
}
