/* Password schemes (see passwd.h). */
#include "auth/passwd.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

static const struct {
	const char *name;
	enum passwd_kind kind;
} schemes[] = {
	{ "CRYPT", PASSWD_KIND_CRYPT },
	{ "SHA512-CRYPT", PASSWD_KIND_CRYPT },
	{ "SHA256-CRYPT", PASSWD_KIND_CRYPT },
	{ "BLF-CRYPT", PASSWD_KIND_CRYPT },
	{ "MD5-CRYPT", PASSWD_KIND_CRYPT },
	{ "PLAIN", PASSWD_KIND_PLAIN },
	{ "CLEARTEXT", PASSWD_KIND_PLAIN },
};

bool passwd_parse(struct str stored, enum passwd_kind *kind, struct str *data,
		  struct buf *err)
{
	if (stored.len == 0) {
		*kind = PASSWD_KIND_NONE;
		*data = stored;
		return true;
	}
	if (stored.p[0] != '{') {
		*kind = PASSWD_KIND_CRYPT;
		*data = stored;
		return true;
	}
	const char *end = memchr(stored.p, '}', stored.len);
	if (!end) {
		if (err)
			buf_appends(err, "password scheme has no closing '}'");
		return false;
	}
	struct str name = { stored.p + 1, (size_t)(end - stored.p - 1) };
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		if (str_eq_nocase(name, schemes[i].name)) {
			*kind = schemes[i].kind;
			*data = (struct str){ end + 1,
					      stored.len - name.len - 2 };
			if (*kind == PASSWD_KIND_CRYPT && data->len == 0) {
				if (err)
					buf_appends(err, "empty crypt hash");
				return false;
			}
			return true;
		}
	}
	if (err) {
		buf_appends(err, "unsupported password scheme {");
		for (size_t i = 0; i < name.len && i < 32; i++) {
			unsigned char c = (unsigned char)name.p[i];
			buf_appendc(err, c > 0x20 && c < 0x7f ? (char)c : '?');
		}
		buf_appends(err, "}");
	}
	return false;
}

bool passwd_verify(const char *stored, struct str password,
		   const char **reason)
{
	const char *dummy_reason;
	if (!reason)
		reason = &dummy_reason;
	enum passwd_kind kind;
	struct str data;
	if (!passwd_parse(str_from_cstr(stored), &kind, &data, NULL)) {
		*reason = "bad_hash";
		return false;
	}
	bool has_nul = memchr(password.p, '\0', password.len) != NULL;
	if (kind == PASSWD_KIND_NONE) {
		*reason = "no_password";
		return false;
	}
	if (kind == PASSWD_KIND_PLAIN) {
		/* Length is not secret enough to hide; the bytes are. */
		bool ok = data.len == password.len && !has_nul &&
			  CRYPTO_memcmp(data.p, password.p, data.len) == 0;
		*reason = ok ? NULL : "bad_password";
		return ok;
	}

	/* crypt_rn wants C strings; data ends where stored does. */
	char *pw = xstrndup(password.p, password.len);
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *h = crypt_rn(pw, data.p, cd, (int)sizeof *cd);
	bool ok = false;
	if (!h || h[0] == '*') {
		*reason = "bad_hash";
	} else {
		size_t hl = strlen(h);
		ok = hl == data.len && !has_nul &&
		     CRYPTO_memcmp(h, data.p, hl) == 0;
		*reason = ok ? NULL : "bad_password";
	}
	OPENSSL_cleanse(pw, password.len);
	OPENSSL_cleanse(cd, sizeof *cd);
	free(pw);
	free(cd);
	return ok;
}

bool passwd_plain_secret(const char *stored, struct str *secret,
			 const char **reason)
{
	enum passwd_kind kind;
	struct str data;
	if (!passwd_parse(str_from_cstr(stored), &kind, &data, NULL) ||
	    kind != PASSWD_KIND_PLAIN) {
		if (reason)
			*reason = "scheme";
		return false;
	}
	*secret = data;
	return true;
}

int passwd_scheme_parse(const char *name, enum passwd_scheme *out)
{
	if (strcasecmp(name, "yescrypt") == 0)
		*out = PASSWD_YESCRYPT;
	else if (strcasecmp(name, "sha512-crypt") == 0)
		*out = PASSWD_SHA512_CRYPT;
	else if (strcasecmp(name, "plain") == 0)
		*out = PASSWD_PLAIN;
	else
		return -1;
	return 0;
}

static char *crypt_new(const char *prefix, const char *tag,
		       struct str password)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	if (memchr(password.p, '\0', password.len))
		return NULL;
	/* NULL random bytes: libxcrypt reads the OS's random source. */
	if (!crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof salt))
		return NULL;
	char *pw = xstrndup(password.p, password.len);
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *h = crypt_rn(pw, salt, cd, (int)sizeof *cd);
	char *res = NULL;
	if (h && h[0] != '*')
		res = xasprintf("%s%s", tag, h);
	OPENSSL_cleanse(pw, password.len);
	OPENSSL_cleanse(cd, sizeof *cd);
	free(pw);
	free(cd);
	return res;
}

char *passwd_hash(enum passwd_scheme scheme, struct str password)
{
	switch (scheme) {
	case PASSWD_YESCRYPT:
		return crypt_new("$y$", "{CRYPT}", password);
	case PASSWD_SHA512_CRYPT:
		return crypt_new("$6$", "{SHA512-CRYPT}", password);
	case PASSWD_PLAIN:
		if (memchr(password.p, '\0', password.len))
			return NULL;
		char *s = xmalloc(password.len + 8);
		memcpy(s, "{PLAIN}", 7);
		memcpy(s + 7, password.p, password.len);
		s[7 + password.len] = '\0';
		return s;
	}
	return NULL;
}

char *passwd_dummy_hash(void)
{
	unsigned char r[18];
	char pw[sizeof r * 2 + 1];
	static const char hex[] = "0123456789abcdef";
	if (RAND_bytes(r, sizeof r) != 1)
		return NULL;
	for (size_t i = 0; i < sizeof r; i++) {
		pw[2 * i] = hex[r[i] >> 4];
		pw[2 * i + 1] = hex[r[i] & 15];
	}
	pw[sizeof pw - 1] = '\0';
	char *h = passwd_hash(PASSWD_YESCRYPT, str_make(pw, sizeof pw - 1));
	OPENSSL_cleanse(pw, sizeof pw);
	return h;
}
