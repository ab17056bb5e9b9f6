/* Password schemes: Dovecot-compatible "{SCHEME}data" strings checked
 * with libxcrypt (crypt_rn, a heap struct crypt_data per call, so any
 * thread may verify at once).
 *
 * Known schemes (case-insensitive): CRYPT, SHA512-CRYPT, SHA256-CRYPT,
 * BLF-CRYPT, MD5-CRYPT (all: a crypt(3) string whose own prefix picks
 * the algorithm), PLAIN and CLEARTEXT. A string without "{" is CRYPT,
 * Dovecot's default for passwd-file. */
#ifndef POSTERN_PASSWD_H
#define POSTERN_PASSWD_H
#include <stdbool.h>

#include "core/buf.h"

enum passwd_kind {
	PASSWD_KIND_NONE,  /* empty password field: nobody logs in */
	PASSWD_KIND_CRYPT, /* any crypt(3) scheme */
	PASSWD_KIND_PLAIN, /* clear text */
};

/* Splits stored into its kind and data (the part after "}").
 * Returns false for an unknown "{SCHEME}" or a malformed prefix and,
 * if err is not NULL, appends why. */
bool passwd_parse(struct str stored, enum passwd_kind *kind, struct str *data,
		  struct buf *err);

/* Checks password against stored. Returns true on a match. On false,
 * *reason (if reason is not NULL) is "bad_password", "no_password" or
 * "bad_hash". A password holding a NUL never matches. Slow by design:
 * run it on a thread pool, never on an event loop. */
bool passwd_verify(const char *stored, struct str password,
		   const char **reason);

/* For APOP/CRAM-MD5: the clear-text secret of a {PLAIN} password, as a
 * slice of stored. Fails with *reason = "scheme" for any other kind. */
bool passwd_plain_secret(const char *stored, struct str *secret,
			 const char **reason);

/* Hash schemes for new passwords (`postern user`). */
enum passwd_scheme {
	PASSWD_YESCRYPT,     /* "{CRYPT}$y$...": the default */
	PASSWD_SHA512_CRYPT, /* "{SHA512-CRYPT}$6$..." */
	PASSWD_PLAIN,        /* "{PLAIN}secret": needed for APOP/CRAM-MD5 */
};
/* "yescrypt", "sha512-crypt", "plain"; returns -1 if unknown. */
int passwd_scheme_parse(const char *name, enum passwd_scheme *out);
/* Returns the stored form of password (heap; caller frees), or NULL if
 * the system could not make a salt or hash. */
char *passwd_hash(enum passwd_scheme scheme, struct str password);
/* A yescrypt hash of a random password, for unknown users, so that
 * their check costs what a real one does. Heap; caller frees. */
char *passwd_dummy_hash(void);

#endif
