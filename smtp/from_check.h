/* The From: header of a submitted message, read for the ownership check
 * (from_check.c). Pure: no I/O, fuzzed by fuzz_smtp_from. */
#ifndef POSTERN_SMTP_FROM_CHECK_H
#define POSTERN_SMTP_FROM_CHECK_H
#include <stddef.h>

/* Distinct From: mailboxes checked per message. A longer list is
 * refused rather than checked in part: a list that stops being read
 * after N addresses lets the N+1st through unchecked. Each address is
 * one lookup in the auth process; real mail has one. */
#define SMTP_MAX_FROM 16

enum smtp_from_verdict {
	SMTP_FROM_OK,       /* *addrs holds the addresses (maybe none) */
	SMTP_FROM_MULTIPLE, /* more than one From: field (RFC 5322 3.6) */
	SMTP_FROM_CONTROL,  /* NUL, a control character, DEL, a C1
			     * control or bytes that are not UTF-8 */
	SMTP_FROM_TOO_MANY, /* more than SMTP_MAX_FROM distinct mailboxes */
};

/* Reads the From: field(s) of the message msg[0..len) (its header
 * section is found here). On SMTP_FROM_OK, *addrs and *n hold the distinct
 * mailboxes "local@domain" (ASCII case-insensitive duplicates and
 * skip, the already-checked envelope sender, left out; skip may be
 * NULL), each malloc'ed; otherwise *addrs is NULL and *n 0. Free with
 * smtp_from_addrs_free. Linear in len. */
enum smtp_from_verdict smtp_from_collect(const char *msg, size_t len,
					 const char *skip, char ***addrs,
					 size_t *n);
void smtp_from_addrs_free(char **addrs, size_t n);
const char *smtp_from_verdict_name(enum smtp_from_verdict v);

#endif
