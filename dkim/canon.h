/* DKIM canonicalization (RFC 6376 3.4): header fields one at a time,
 * the body as a stream fed in chunks of any size, hashed as it goes. */
#ifndef POSTERN_DKIM_CANON_H
#define POSTERN_DKIM_CANON_H
#include "core/buf.h"

#include <openssl/evp.h>
#include <stdint.h>

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/* One header field of a message: the bytes from its name to the end of
 * its last (folded) line, without that line's CRLF/LF. */
struct dkim_hdr {
	struct str field;
	struct str name; /* before the ':', trailing WSP removed */
};

/* Splits the header section of msg (CRLF or LF line ends) into fields,
 * at most max. *body_off gets where the body starts (after the empty
 * line; msg->len if there is none). Lines before the first field that
 * are continuations, or lines without ':', are not fields: they are
 * skipped (they cannot be signed). Returns the field count, or -1 when
 * there are more than max. */
long dkim_split_header(struct str msg, struct dkim_hdr *out, size_t max,
		       size_t *body_off);

/* Appends the canonical form of field (a struct dkim_hdr's field) and
 * CRLF to out: simple keeps it as is, with every line end as CRLF;
 * relaxed lowercases the name, unfolds, squeezes WSP runs to one SP and
 * drops WSP at the end of the value and around the colon (3.4.2). */
void dkim_canon_header(enum dkim_canon c, struct str field, struct buf *out);

/* The body canonicalizer and hash (3.4.3, 3.4.4, 3.7). Line ends in
 * the input may be CRLF or LF (a CR before LF belongs to the line end,
 * a CR elsewhere is a byte of the line), also when the CR and the LF
 * arrive in different chunks. Empty lines at the end are held back
 * until a non-empty line follows, so the state is a few counters. */
#define DKIM_BODY_OUTBUF 4096
struct dkim_body {
	enum dkim_canon canon;
	EVP_MD_CTX *md;
	int64_t limit;       /* l=: bytes of canonical body to hash; -1 all */
	uint64_t produced;   /* canonical bytes produced (hashed or not) */
	uint64_t held_lines; /* empty lines held back */
	bool pending_ws;     /* relaxed: WSP seen in this line, not yet out */
	bool line_has_data;  /* something of this line is out */
	bool cr;             /* the last byte fed was a CR */
	size_t outlen;
	unsigned char out[DKIM_BODY_OUTBUF];
};

/* md is EVP_sha256() (or EVP_sha1() for checking). Returns 0 or -1. */
int dkim_body_init(struct dkim_body *b, enum dkim_canon c, const EVP_MD *md,
		   int64_t limit);
void dkim_body_update(struct dkim_body *b, const void *p, size_t n);
/* Ends the body and writes the digest (at most EVP_MAX_MD_SIZE bytes).
 * Returns the digest length, or -1. */
int dkim_body_final(struct dkim_body *b, unsigned char *digest);
/* The canonical body's whole length (for l= checks), after final. */
static inline uint64_t dkim_body_length(const struct dkim_body *b)
{
	return b->produced;
}
void dkim_body_free(struct dkim_body *b);

#endif
