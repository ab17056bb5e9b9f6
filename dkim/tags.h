/* The tag=value lists of DKIM (RFC 6376 section 3.2), shared by the
 * DKIM-Signature header field and the key records in DNS TXT. Pure: the
 * parsed tags are slices of the input, nothing is copied. */
#ifndef POSTERN_DKIM_TAGS_H
#define POSTERN_DKIM_TAGS_H
#include "core/buf.h"
#include "core/limits.h"

struct dkim_tag {
	struct str name;
	struct str value; /* without the FWS around it; may hold inner FWS */
	struct str raw;   /* from after '=' to before ';' (or the end): what
			   * "the value with its surrounding whitespace" means
			   * when b= is emptied for hashing (RFC 6376 3.5) */
};

struct dkim_tags {
	struct dkim_tag t[DKIM_TAGS_MAX];
	size_t n;
};

/* Parses a tag-list. Whitespace (SP, HTAB, CR, LF: folded header lines
 * or TXT strings) may surround names, '=' and values. A tag name is
 * ALPHA *(ALPHA / DIGIT / "_"); a value is VALCHARs (%x21-3A / %x3C-7E)
 * with whitespace inside. Names are case-sensitive. Empty tag-specs
 * (";;") are skipped, a final ';' is allowed. A name seen twice is an
 * error (RFC 6376 3.2), as is anything over DKIM_TAGS_MAX tags. Unknown
 * tags are kept; the callers ignore them. Returns 0, or -1 with *why. */
int dkim_tags_parse(struct str in, struct dkim_tags *out, const char **why);

/* The tag called name, or NULL. */
const struct dkim_tag *dkim_tags_get(const struct dkim_tags *t, const char *name);

/* Copies v without its whitespace (SP, HTAB, CR, LF) into out (which is
 * cleared first): b=, bh= and p= may be folded anywhere. */
void dkim_strip_ws(struct str v, struct buf *out);

/* Strict base64 (RFC 4648 4) of v, whitespace ignored; padding optional
 * only at the very end. Returns the decoded length, or -1. */
long dkim_base64_decode(struct str v, unsigned char *out, size_t cap);
/* Appends base64 of p to out. */
void dkim_base64_encode(const unsigned char *p, size_t n, struct buf *out);

#endif
