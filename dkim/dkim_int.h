/* What sign.c and verify.c share; not for callers. */
#ifndef POSTERN_DKIM_INT_H
#define POSTERN_DKIM_INT_H
#include "dkim/dkim.h"

/* SHA-256 over the canonical header fields that names (nnames of them)
 * select -- each name takes the last instance not yet taken, bottom up
 * (RFC 6376 5.4.2), a name with none left adds nothing -- then over the
 * canonical signature field sig_nob (b= already empty) without its
 * CRLF (3.7). 0 or -1. */
int dkim_hash_headers(enum dkim_canon c, const struct dkim_hdr *hdrs,
		      size_t nhdrs, const struct str *names, size_t nnames,
		      struct str sig_nob, unsigned char digest[32]);

#endif
