/* Internationalized domain names for DNS (RFC 5890/5891): a domain in
 * UTF-8, as an SMTPUTF8 client may give it, is looked up under its
 * ASCII form, each non-ASCII label as "xn--" + Punycode (RFC 3492).
 * Mapping before the encoding is the simple part of UTS 46 only: ASCII
 * and Latin-1 capitals are lowered; no Unicode normalization (a name
 * typed in decomposed form will not be found -- rare in practice).
 * Pure functions: no I/O, no allocation. */
#ifndef POSTERN_IDNA_H
#define POSTERN_IDNA_H
#include <stdbool.h>
#include <stddef.h>

/* Writes the ASCII form of domain into out (n bytes with the NUL).
 * ASCII labels are copied as they are. False if the input is not valid
 * UTF-8, has an empty label, or a label or the whole name would be too
 * long for DNS (63 and 253 octets). */
bool idna_domain_to_ascii(const char *domain, char *out, size_t n);
/* Does it hold any non-ASCII byte? */
bool idna_is_ascii(const char *s);

#endif
