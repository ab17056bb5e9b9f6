/* IMAP sequence sets (RFC 9051 section 9: sequence-set, seq-range,
 * seq-number; RFC 5182 "$"). A parsed set keeps '*' unresolved because
 * the same set is evaluated against sequence numbers or UIDs; resolving
 * it against a value for '*' gives a normalized set: ranges sorted,
 * disjoint, not adjacent, so membership is a binary search and huge
 * ranges ("1:4294967295") cost nothing until iterated. */
#ifndef POSTERN_IMAP_SEQSET_H
#define POSTERN_IMAP_SEQSET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* More comma-separated items than this is an attack, not a client. */
#define IMAP_SEQSET_RANGES_MAX 100000
/* In unresolved ranges, '*' (0 is never a valid seq-number). */
#define IMAP_SEQ_STAR 0u

struct imap_seq_range {
	uint32_t lo, hi; /* resolved: lo <= hi; unresolved: as written */
};

struct imap_seqset {
	struct imap_seq_range *r;
	size_t n;
	bool saved;      /* "$": the saved search result (RFC 5182) */
	bool has_star;   /* '*' appears */
	uint32_t max_number; /* the largest number written, '*' aside */
};

/* Parses s ("1,3:5,7:*,*:3" or "$"); the set must be freed. On error
 * returns false with *reason (static) and nothing to free. */
bool imap_seqset_parse(struct str s, struct imap_seqset *out,
		       const char **reason);
void imap_seqset_free(struct imap_seqset *s);

/* Normalizes `in` with '*' = star. star 0 means the mailbox is empty:
 * members written as '*' and ranges ending in '*' then match nothing
 * (RFC 9051 section 9, seq-number: the caller answers BAD for message
 * numbers when has_star and the mailbox is empty; for UIDs it passes the
 * highest UID, and an empty mailbox has nothing to match anyway).
 * Returns false for "$" (the caller substitutes its saved result). */
bool imap_seqset_resolve(const struct imap_seqset *in, uint32_t star,
			 struct imap_seqset *out);
/* On a resolved set. */
bool imap_seqset_contains(const struct imap_seqset *s, uint32_t n);
uint64_t imap_seqset_count(const struct imap_seqset *s);

/* Ascending members of a resolved set, one at a time. */
struct imap_seqset_iter {
	const struct imap_seqset *s;
	size_t i;
	uint64_t next;
};
void imap_seqset_iter_init(struct imap_seqset_iter *it,
			   const struct imap_seqset *s);
bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *out);

/* Appends "1:5,7,9:12" for ascending v (duplicates allowed); nothing
 * for n == 0. For COPYUID, APPENDUID and ESEARCH ALL. */
void imap_seqset_format_array(const uint32_t *v, size_t n, struct buf *out);
/* The same for a resolved set. */
void imap_seqset_format(const struct imap_seqset *s, struct buf *out);

#endif
