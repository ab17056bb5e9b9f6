/* The aliases file (config: aliases_file):
 *
 *   # comment
 *   source: target[, target...]
 *
 * source is a bare local part ("sales": at every local domain) or a full
 * address ("sales@example.org": at that domain only). Targets are user
 * names (bare or address) or other aliases; they are resolved by
 * auth/resolve.h, not here. Names use the users file's characters
 * ([A-Za-z0-9._+@-], not starting with '.'); comparisons ignore ASCII
 * case. Targets may be separated by commas, spaces or both; a line may
 * not be continued. Loaded once; lookups are O(log n), no I/O. */
#ifndef POSTERN_ALIASES_H
#define POSTERN_ALIASES_H
#include <stddef.h>

#include "core/buf.h"

/* A line longer than this is an error: bounds parser work. */
#define ALIASES_LINE_MAX 8192
/* Targets on one line: a bound on what one lookup can fan out to. */
#define ALIASES_TARGETS_MAX 1000
/* The file is read whole; larger is an error (a list this big belongs
 * in a mailing list manager). */
#define ALIASES_FILE_MAX (16u * 1024 * 1024)

struct alias_entry {
	char *source;   /* as written */
	char **targets; /* as written, at least one */
	size_t n_targets;
	unsigned line;
};

struct aliases {
	struct alias_entry *v; /* sorted by case-folded source */
	size_t n;
};

void aliases_init(struct aliases *a);
/* Parses a whole file's text. path is only used in messages. On success
 * fills *a (freed first) and returns 0; on error returns -1, leaves *a
 * empty and appends one "path:line: message\n" per problem (at most 20)
 * to err. A source given twice (any case) is an error. */
int aliases_parse(struct aliases *a, const char *data, size_t len,
		  const char *path, struct buf *err);
/* Reads path and parses it. A missing file (ENOENT) is no aliases:
 * returns 0 with *out empty. An unreadable file is an error. */
int aliases_load(const char *path, struct aliases *out, struct buf *err);
/* Case-insensitive lookup of a source; the result lives as long as *a. */
const struct alias_entry *aliases_lookup(const struct aliases *a,
					 struct str source);
void aliases_free(struct aliases *a);
void aliases_swap(struct aliases *a, struct aliases *b);

#endif
