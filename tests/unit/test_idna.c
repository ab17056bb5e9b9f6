#include "unit.h"

#include <string.h>

#include "relay/idna.h"

static void check_ascii(const char *in, const char *want)
{
	char out[260];
	bool ok = idna_domain_to_ascii(in, out, sizeof out);
	CHECK(ok);
	if (ok && strcmp(out, want) != 0) {
		fprintf(stderr, "idna %s: got %s, want %s\n", in, out, want);
		CHECK(0);
	}
}

/* Expected forms from RFC 3492 section 7.1 and Python's codec. */
UNIT_TEST(test_to_ascii)
{
	check_ascii("example.org", "example.org");
	check_ascii("b\xc3\xbc" "cher.example", "xn--bcher-kva.example");
	check_ascii("B\xc3\x9c" "CHER.de", "xn--bcher-kva.de"); /* BÜCHER */
	check_ascii("m\xc3\xbc" "nchen.de.", "xn--mnchen-3ya.de.");
	check_ascii("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9"
		    "\xe3\x83\x88", "xn--r8jz45g.xn--zckzah");
	/* (A) Arabic (Egyptian) */
	check_ascii("\xd9\x84\xd9\x8a\xd9\x87\xd9\x85\xd8\xa7\xd8\xa8\xd8\xaa"
		    "\xd9\x83\xd9\x84\xd9\x85\xd9\x88\xd8\xb4\xd8\xb9\xd8\xb1"
		    "\xd8\xa8\xd9\x8a\xd8\x9f.eg",
		    "xn--egbpdaj6bu4bxfgehfvwxn.eg");
	/* (B) Chinese (simplified) */
	check_ascii("\xe4\xbb\x96\xe4\xbb\xac\xe4\xb8\xba\xe4\xbb\x80\xe4\xb9"
		    "\x88\xe4\xb8\x8d\xe8\xaf\xb4\xe4\xb8\xad\xe6\x96\x87",
		    "xn--ihqwcrb4cv8a8dqg056pqjye");
	CHECK(idna_is_ascii("abc.de"));
	CHECK(!idna_is_ascii("b\xc3\xbc" "cher"));
}

UNIT_TEST(test_refused)
{
	char out[260];
	CHECK(!idna_domain_to_ascii("", out, sizeof out));
	CHECK(!idna_domain_to_ascii("a..b", out, sizeof out));
	CHECK(!idna_domain_to_ascii(".a", out, sizeof out));
	CHECK(!idna_domain_to_ascii("b\xc3" "cher.de", out, sizeof out));
	CHECK(!idna_domain_to_ascii("\xc0\xaf.de", out, sizeof out));  /* overlong */
	CHECK(!idna_domain_to_ascii("\xed\xa0\x80.de", out, sizeof out)); /* surrogate */
	CHECK(!idna_domain_to_ascii("\xf4\x90\x80\x80.de", out, sizeof out));
	/* a label that grows past 63 octets once encoded */
	char big[200];
	size_t o = 0;
	for (unsigned i = 0; i < 40; i++) { /* U+4E00 + 97 i: 3 bytes each */
		unsigned c = 0x4e00 + i * 97;
		big[o++] = (char)(0xe0 | (c >> 12));
		big[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
		big[o++] = (char)(0x80 | (c & 0x3f));
	}
	big[o] = '\0';
	CHECK(!idna_domain_to_ascii(big, out, sizeof out));
	/* the output buffer bounds the result */
	CHECK(!idna_domain_to_ascii("b\xc3\xbc" "cher.example", out, 8));
}

UNIT_MAIN(test_to_ascii, test_refused)
