/* The base64 alphabet and encoder (core/base64.h). */
#include "core/base64.h"

#include <stdint.h>

const char base64_alphabet[65] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(struct buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;
	buf_reserve(out, (n + 2) / 3 * 4);
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i;
		uint32_t w = (uint32_t)s[i] << 16;
		if (left > 1)
			w |= (uint32_t)s[i + 1] << 8;
		if (left > 2)
			w |= s[i + 2];
		char o[4] = { base64_alphabet[(w >> 18) & 63],
			      base64_alphabet[(w >> 12) & 63],
			      left > 1 ? base64_alphabet[(w >> 6) & 63] : '=',
			      left > 2 ? base64_alphabet[w & 63] : '=' };
		buf_append(out, o, 4);
	}
	buf_cstr(out);
}
