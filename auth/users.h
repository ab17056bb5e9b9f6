/* The users file: Dovecot passwd-file compatible for the fields we use.
 *
 *   name:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields
 *
 * Everything after the password is optional; uid, gid, gecos, home and
 * shell are ignored (all mail belongs to one system user). extra_fields
 * (the rest of the line, ':' allowed) are space-separated key=value
 * pairs; we use pop3_dele=expunge|hide and ignore the others. Blank
 * lines and lines starting with '#' are skipped. A password without a
 * {SCHEME} prefix is CRYPT (see auth/passwd.h). Names: [A-Za-z0-9._+@-],
 * not starting with '.', 1..AUTH_NAME_MAX octets; lookups ignore ASCII
 * case, so two names that differ only in case are an error. */
#ifndef POSTERN_USERS_H
#define POSTERN_USERS_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/config.h"

struct user_entry {
	char *name;     /* canonical: as written in the file */
	char *password; /* "{SCHEME}data" as written ("" = none) */
	bool has_pop3_dele;
	enum pop3_dele_mode pop3_dele;
	unsigned line;
};

struct users {
	struct user_entry *v; /* sorted by case-folded name */
	size_t n;
};

bool users_name_valid(struct str name);

void users_init(struct users *u);
/* Parses a whole file's text (it may hold NULs: they are errors).
 * path is only used in messages. On success fills *u (which must be
 * initialised and is freed first) and returns 0. On error returns -1,
 * leaves *u empty and appends one "path:line: message\n" per problem
 * (at most 20) to err. */
int users_parse(struct users *u, const char *data, size_t len,
		const char *path, struct buf *err);
/* Reads path and parses it. A missing or unreadable file is an error
 * ("path: reason\n"). */
int users_load(struct users *u, const char *path, struct buf *err);
/* Case-insensitive lookup; the result lives as long as *u. */
const struct user_entry *users_lookup(const struct users *u, struct str name);
/* The account's pop3_dele if set, else dflt. */
enum pop3_dele_mode users_pop3_dele(const struct user_entry *e,
				    enum pop3_dele_mode dflt);
void users_free(struct users *u);
/* Swaps two sets (for a reload that keeps the old set on failure). */
void users_swap(struct users *a, struct users *b);

/* Splits a line into up to 8 fields at ':' (the 8th, extra_fields,
 * takes the rest of the line, ':' included). Returns the count (>= 1). */
size_t users_split_fields(struct str line, struct str f[8]);

/* Editing for `postern user` (auth/users_edit.c). Every other line,
 * comment and byte of the file is kept as it was. */
enum users_edit_op {
	USERS_EDIT_ADD,          /* name, password, optional pop3_dele */
	USERS_EDIT_SET_PASSWORD, /* name, password */
	USERS_EDIT_SET_DELE,     /* name, pop3_dele */
	USERS_EDIT_DELETE,       /* name */
};
struct users_edit {
	enum users_edit_op op;
	struct str name;
	const char *password; /* stored form, from passwd_hash() */
	bool set_pop3_dele;
	enum pop3_dele_mode pop3_dele;
};
enum users_edit_status {
	USERS_EDIT_OK,
	USERS_EDIT_EXISTS,   /* ADD of a name already there (any case) */
	USERS_EDIT_NO_USER,  /* other ops: no such name */
	USERS_EDIT_BAD_NAME, /* ADD: name not valid */
	USERS_EDIT_BAD_FILE, /* the current file does not parse */
	USERS_EDIT_IO,       /* read, write, fsync or rename failed */
};
/* Applies e to the file text in, writing the new text to out. Pure:
 * no I/O. Messages go to err. */
enum users_edit_status users_edit_text(struct str in, const char *path,
				       const struct users_edit *e,
				       struct buf *out, struct buf *err);
/* Applies e to the file at path under an exclusive lock: reads it (a
 * missing file is empty), edits, and replaces it atomically (temporary
 * file in the same directory, fsync, rename, fsync of the directory)
 * with the old file's owner, group and mode less the bits for others
 * (a new file: 0600). */
enum users_edit_status users_edit(const char *path, const struct users_edit *e,
				  struct buf *err);
/* Reads a whole file into out (for the editor and the loader); returns
 * 0, or -1 with errno set. Refuses files over max bytes (EFBIG). */
int users_read_file(const char *path, size_t max, struct buf *out);
int users_read_fd(int fd, size_t max, struct buf *out);
#define USERS_FILE_MAX (64u * 1024 * 1024)

#endif
