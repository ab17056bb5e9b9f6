/* libFuzzer target: mailbox names. Modified UTF-7 must round-trip both
 * ways, and a name the store accepts must map to one directory directly
 * below the Maildir that maps back to the same (canonical) name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mutf7.h"
#include "store/store.h"

static void same(const struct buf *a, const uint8_t *p, size_t n)
{
	if (a->len != n || (n && memcmp(a->data, p, n) != 0))
		abort();
}

static void check_dir(const struct buf *dir)
{
	/* One entry of the Maildir: no '/', a Maildir++ folder name, no
	 * empty level (so never "." or ".."), a file name's length. */
	if (dir->len == 0)
		return;
	if (dir->len > 255 || dir->data[0] != '.' ||
	    memchr(dir->data, '/', dir->len) || memchr(dir->data, '\0', dir->len))
		abort();
	for (size_t i = 0; i < dir->len; i++)
		if (dir->data[i] == '.' &&
		    (i + 1 == dir->len || dir->data[i + 1] == '.'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = str_make((const char *)data, size);
	struct buf a = BUF_INIT, b = BUF_INIT;
	if (mutf7_to_utf8(in, &a) == 0) {
		if (mutf7_from_utf8(buf_str(&a), &b) != 0)
			abort();
		same(&b, data, size);
	}
	buf_clear(&a);
	buf_clear(&b);
	if (mutf7_from_utf8(in, &a) == 0) {
		if (mutf7_to_utf8(buf_str(&a), &b) != 0)
			abort();
		same(&b, data, size);
	}
	buf_clear(&a);
	buf_clear(&b);

	char err[256];
	struct buf canon = BUF_INIT, back = BUF_INIT, dir2 = BUF_INIT;
	if (store_mboxname_to_dir(in, &a, &canon, err, sizeof err) == 0) {
		check_dir(&a);
		if (a.len > 0) {
			if (store_mboxname_from_dir(buf_str(&a), &back) != 0)
				abort();
			if (back.len != canon.len ||
			    memcmp(back.data, canon.data, canon.len) != 0)
				abort();
		}
		if (store_mboxname_to_dir(buf_str(&canon), &dir2, NULL, err,
					  sizeof err) != 0 ||
		    dir2.len != a.len ||
		    (a.len && memcmp(dir2.data, a.data, a.len) != 0))
			abort();
	} else if (a.len != 0) {
		abort();
	}
	buf_clear(&back);
	buf_clear(&dir2);
	if (store_mboxname_from_dir(in, &back) == 0) {
		if (store_mboxname_to_dir(buf_str(&back), &dir2, NULL, err,
					  sizeof err) != 0)
			abort();
		same(&dir2, data, size);
	}
	buf_free(&a);
	buf_free(&b);
	buf_free(&canon);
	buf_free(&back);
	buf_free(&dir2);
	return 0;
}
