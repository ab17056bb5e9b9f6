/* The base64 alphabet (core/base64.h). */
#include "core/base64.h"

const char base64_alphabet[65] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
