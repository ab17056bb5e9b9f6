/* auth/aliases.c and auth/resolve.c: the aliases file and the recipient resolver. */
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "core/config.h"
#include "auth/aliases.h"
#include "auth/resolve.h"
#include "tests/unit/unit.h"

static const char users_text[] =
	"alice:{PLAIN}x\n"
	"bob@example.org:{PLAIN}x\n"
	"carol@Second.Example:{PLAIN}x\n"
	"dave:{PLAIN}x\n"
	"a+b:{PLAIN}x\n";

static const char aliases_text[] =
	"# comment\n"
	"\n"
	"sales: alice, bob@example.org\n"
	"info@example.org: dave\n"
	"team:sales carol@second.example ,alice\n" /* alice twice via sales */
	"copy: copy, dave\n"                         /* no user "copy": loop */
	"alice2: alice2\n"
	"dave: dave, alice\n"                        /* self: dave's mailbox */
	"l1: l2\nl2: l3\nl3: l4\nl4: l5\nl5: l6\nl6: l7\nl7: l8\nl8: alice\n"
	"d1: d2\nd2: d3\nd3: d4\nd4: d5\nd5: d6\nd6: d7\nd7: d8\nd8: d9\nd9: alice\n"
	"dangling: nosuchuser\n"
	"shop@virtual.example: alice\n"
	"postmaster: alice\n";

struct fixture {
	struct config cfg;
	struct users users;
	struct aliases aliases;
	struct resolver *r;
};

static void fx_open(struct fixture *f, const char *delim, const char *local,
		    const char *aliases)
{
	struct buf err = BUF_INIT;
	memset(&f->cfg, 0, sizeof f->cfg);
	f->cfg.hostname = (char *)"mx.Example.NET";
	f->cfg.local_domains = (char *)(local ? local : "");
	f->cfg.recipient_delimiter = (char *)(delim ? delim : "+");
	users_init(&f->users);
	aliases_init(&f->aliases);
	CHECK_EQ_INT(users_parse(&f->users, users_text, strlen(users_text),
				 "users", &err), 0);
	CHECK_EQ_INT(aliases_parse(&f->aliases, aliases, strlen(aliases),
				   "aliases", &err), 0);
	if (err.len)
		fprintf(stderr, "%s", buf_cstr(&err));
	buf_free(&err);
	f->r = resolver_new(&f->cfg, &f->users, &f->aliases);
}

static void fx_close(struct fixture *f)
{
	resolver_free(&f->r);
	CHECK(f->r == NULL);
	aliases_free(&f->aliases);
	users_free(&f->users);
}

/* Resolves addr and returns its status; the users, comma-joined, go to
 * got (empty unless LOCAL). */
static enum resolve_status res(struct fixture *f, const char *addr,
			       char *got, size_t gotsz)
{
	struct resolve_result rr;
	enum resolve_status st = resolver_resolve(f->r, str_from_cstr(addr), &rr);
	got[0] = '\0';
	for (size_t i = 0; i < rr.n_users; i++) {
		size_t n = strlen(got);
		snprintf(got + n, gotsz - n, "%s%s", i ? "," : "", rr.users[i]);
	}
	CHECK(st == rr.status);
	CHECK(st == RESOLVE_LOCAL || rr.n_users == 0);
	resolve_result_free(&rr);
	return st;
}

#define EXPECT(f, addr, st, users)                                           \
	do {                                                                 \
		char got_[1024];                                             \
		CHECK_EQ_INT(res((f), (addr), got_, sizeof got_), (st));     \
		CHECK_EQ_STR(got_, (users));                                 \
	} while (0)

UNIT_TEST(test_local_domains)
{
	struct fixture f;
	fx_open(&f, NULL, "extra.example, more.example  third.example",
		aliases_text);
	CHECK(resolver_domain_is_local(f.r, STR_LIT("localhost")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("LocalHost.")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("mx.example.net")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("example.org")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("EXAMPLE.ORG")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("second.example")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("extra.example")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("more.example")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("third.example")));
	CHECK(resolver_domain_is_local(f.r, STR_LIT("virtual.example")));
	CHECK(!resolver_domain_is_local(f.r, STR_LIT("example.com")));
	CHECK(!resolver_domain_is_local(f.r, STR_LIT("sub.example.org")));
	CHECK(!resolver_domain_is_local(f.r, STR_LIT("")));
	CHECK(!resolver_domain_is_local(f.r, STR_LIT(".")));
	fx_close(&f);
}

UNIT_TEST(test_users)
{
	struct fixture f;
	fx_open(&f, NULL, "extra.example", aliases_text);
	/* a bare user is at every local domain */
	EXPECT(&f, "alice", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice@localhost", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "ALICE@mx.example.net", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice@example.org", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice@second.example", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice@extra.example", RESOLVE_LOCAL, "alice");
	/* an address user only at its domain */
	EXPECT(&f, "bob@example.org", RESOLVE_LOCAL, "bob@example.org");
	EXPECT(&f, "Bob@Example.Org", RESOLVE_LOCAL, "bob@example.org");
	EXPECT(&f, "bob@example.org.", RESOLVE_LOCAL, "bob@example.org");
	EXPECT(&f, "bob@localhost", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "bob", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "carol@second.example", RESOLVE_LOCAL, "carol@Second.Example");
	/* unknown user vs not ours */
	EXPECT(&f, "nobody@example.org", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "nobody", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "alice@example.com", RESOLVE_NOT_LOCAL_DOMAIN, "");
	EXPECT(&f, "nobody@example.com", RESOLVE_NOT_LOCAL_DOMAIN, "");
	EXPECT(&f, "alice@", RESOLVE_NOT_LOCAL_DOMAIN, "");
	EXPECT(&f, "@example.org", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "", RESOLVE_UNKNOWN_USER, "");
	fx_close(&f);
}

UNIT_TEST(test_plus_addressing)
{
	struct fixture f;
	fx_open(&f, NULL, NULL, aliases_text);
	EXPECT(&f, "alice+tag@example.org", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice+@example.org", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice+a+b", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "Bob+Lists@example.org", RESOLVE_LOCAL, "bob@example.org");
	EXPECT(&f, "sales+x", RESOLVE_LOCAL, "alice,bob@example.org");
	/* a user whose name holds the delimiter is found first */
	EXPECT(&f, "a+b@localhost", RESOLVE_LOCAL, "a+b");
	/* no empty local part */
	EXPECT(&f, "+alice@localhost", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "nobody+alice", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "alice-tag", RESOLVE_UNKNOWN_USER, "");
	fx_close(&f);

	fx_open(&f, "", NULL, aliases_text); /* off */
	EXPECT(&f, "alice+tag@example.org", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "alice@example.org", RESOLVE_LOCAL, "alice");
	fx_close(&f);

	fx_open(&f, "-+", NULL, aliases_text); /* several characters */
	EXPECT(&f, "alice-tag", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice+tag", RESOLVE_LOCAL, "alice");
	fx_close(&f);
}

UNIT_TEST(test_aliases)
{
	struct fixture f;
	fx_open(&f, NULL, NULL, aliases_text);
	EXPECT(&f, "sales", RESOLVE_LOCAL, "alice,bob@example.org");
	EXPECT(&f, "SALES@second.example", RESOLVE_LOCAL, "alice,bob@example.org");
	EXPECT(&f, "info@example.org", RESOLVE_LOCAL, "dave,alice"); /* via alias dave */
	EXPECT(&f, "info@localhost", RESOLVE_UNKNOWN_USER, "");
	/* recursion and deduplication */
	EXPECT(&f, "team", RESOLVE_LOCAL,
	       "alice,bob@example.org,carol@Second.Example");
	/* an alias over a user of the same name, naming itself */
	EXPECT(&f, "dave", RESOLVE_LOCAL, "dave,alice");
	/* eight levels deep is fine, nine is not */
	EXPECT(&f, "l1", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "d1", RESOLVE_ERROR, "");
	/* loops and dangling targets */
	EXPECT(&f, "copy", RESOLVE_ERROR, "");
	EXPECT(&f, "alice2", RESOLVE_ERROR, "");
	EXPECT(&f, "dangling", RESOLVE_ERROR, "");
	EXPECT(&f, "shop@virtual.example", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "alice@virtual.example", RESOLVE_LOCAL, "alice");

	struct resolve_result rr;
	CHECK_EQ_INT(resolver_resolve(f.r, STR_LIT("copy"), &rr), RESOLVE_ERROR);
	CHECK(strstr(rr.why, "loop") != NULL);
	resolve_result_free(&rr);

	struct buf err = BUF_INIT;
	CHECK_EQ_INT(resolver_check_aliases(f.r, "aliases", &err), 4);
	CHECK(strstr(buf_cstr(&err), "aliases:6: ") != NULL);
	buf_free(&err);
	fx_close(&f);
}

UNIT_TEST(test_postmaster)
{
	struct fixture f;
	fx_open(&f, NULL, NULL, aliases_text);
	CHECK(resolver_has_postmaster(f.r));
	EXPECT(&f, "postmaster", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "PostMaster", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "postmaster@example.org", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "postmaster@LOCALHOST", RESOLVE_LOCAL, "alice");
	EXPECT(&f, "postmaster@example.com", RESOLVE_NOT_LOCAL_DOMAIN, "");
	fx_close(&f);
	fx_open(&f, NULL, NULL, "sales: alice\n");
	CHECK(!resolver_has_postmaster(f.r));
	EXPECT(&f, "postmaster", RESOLVE_UNKNOWN_USER, "");
	fx_close(&f);
}

UNIT_TEST(test_alias_parse_errors)
{
	static const struct {
		const char *text;
		const char *msg; /* expected in err; NULL = parses */
	} cases[] = {
		{ "a: b\n", NULL },
		{ "a:b,c\r\n", NULL },
		{ "  a : b  c,d\n# x\n", NULL },
		{ "a: b", NULL },
		{ "\n\na b\n", "aliases:3: expected" },
		{ "a:\n", "aliases:1: alias \"a\" has no target" },
		{ ": b\n", "aliases:1: bad alias name" },
		{ "a/b: c\n", "aliases:1: bad alias name" },
		{ "a@: c\n", "aliases:1: bad alias name" },
		{ "a@b@c: c\n", "aliases:1: bad alias name" },
		{ "a: b;c\n", "aliases:1: bad target" },
		{ "a: b\nA: c\n", "aliases:2: alias \"A\" already defined on line 1" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct aliases a;
		struct buf err = BUF_INIT;
		aliases_init(&a);
		int rc = aliases_parse(&a, cases[i].text, strlen(cases[i].text),
				       "aliases", &err);
		if (!cases[i].msg) {
			CHECK_EQ_INT(rc, 0);
			CHECK(a.n >= 1);
		} else {
			CHECK_EQ_INT(rc, -1);
			CHECK_EQ_INT(a.n, 0);
			if (!strstr(buf_cstr(&err), cases[i].msg))
				fprintf(stderr, "case %zu: %s", i, buf_cstr(&err));
			CHECK(strstr(buf_cstr(&err), cases[i].msg) != NULL);
		}
		aliases_free(&a);
		buf_free(&err);
	}
	struct aliases a;
	struct buf err = BUF_INIT;
	aliases_init(&a);
	const char *t = "  a : b  c,d\n";
	CHECK_EQ_INT(aliases_parse(&a, t, strlen(t), "x", &err), 0);
	CHECK_EQ_INT(a.n, 1);
	CHECK_EQ_STR(a.v[0].source, "a");
	CHECK_EQ_INT(a.v[0].n_targets, 3);
	CHECK_EQ_STR(a.v[0].targets[2], "d");
	aliases_free(&a);
	buf_free(&err);
}

UNIT_TEST(test_alias_load_missing)
{
	struct aliases a;
	struct buf err = BUF_INIT;
	aliases_init(&a);
	CHECK_EQ_INT(aliases_load("/nonexistent/postern/aliases", &a, &err), 0);
	CHECK_EQ_INT(a.n, 0);
	CHECK_EQ_INT(err.len, 0);
	CHECK_EQ_INT(aliases_load("/", &a, &err), -1); /* a directory */
	CHECK(err.len > 0);
	aliases_free(&a);
	buf_free(&err);
}

/* Many users: the resolver is built once and every lookup stays cheap. */
UNIT_TEST(test_many_users)
{
	struct buf text = BUF_INIT;
	for (int i = 0; i < 100000; i++)
		buf_printf(&text, "user%d@d%d.example:{PLAIN}x\n", i, i % 100);
	struct fixture f;
	memset(&f, 0, sizeof f);
	f.cfg.hostname = (char *)"localhost";
	f.cfg.local_domains = (char *)"";
	f.cfg.recipient_delimiter = (char *)"+";
	struct buf err = BUF_INIT;
	users_init(&f.users);
	aliases_init(&f.aliases);
	CHECK_EQ_INT(users_parse(&f.users, text.data, text.len, "u", &err), 0);
	f.r = resolver_new(&f.cfg, &f.users, &f.aliases);
	for (int i = 0; i < 100000; i += 997) {
		char addr[64], want[64];
		snprintf(addr, sizeof addr, "USER%d+x@D%d.example", i, i % 100);
		snprintf(want, sizeof want, "user%d@d%d.example", i, i % 100);
		EXPECT(&f, addr, RESOLVE_LOCAL, want);
	}
	EXPECT(&f, "user1@d2.example", RESOLVE_UNKNOWN_USER, "");
	EXPECT(&f, "user1@d100.example", RESOLVE_NOT_LOCAL_DOMAIN, "");
	fx_close(&f);
	buf_free(&err);
	buf_free(&text);
}

UNIT_MAIN(test_local_domains, test_users, test_plus_addressing, test_aliases,
	  test_postmaster, test_alias_parse_errors, test_alias_load_missing,
	  test_many_users)
