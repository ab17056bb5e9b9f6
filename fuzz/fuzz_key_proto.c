/* libFuzzer target for the key process's message decoder
 * (tls/key_proto.c), which reads what a worker -- or whoever took one
 * over -- sends keyd. A message that decodes must keep to the rules of
 * key_proto.h and encode back to the same bytes. Invariants are checked
 * with abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/key_proto.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct key_msg m;
	if (key_proto_decode(data, size, &m) < 0)
		return 0;
	check(size >= KEY_PROTO_HDR && size <= IPC_MSG_MAX);
	check(m.len == size - KEY_PROTO_HDR);
	check(m.data == data + KEY_PROTO_HDR);
	switch (m.type) {
	case KEY_MSG_SIGN:
		check(m.len >= 1 && m.len <= KEYD_DATA_MAX);
		check(m.code >= KEY_OP_RSA_PKCS1 && m.code <= KEY_OP_ECDSA);
		break;
	case KEY_MSG_SIGN_REPLY:
		check(m.code == KEY_ST_OK ? m.len >= 1 : m.len == 0);
		check(m.len <= KEYD_DATA_MAX);
		break;
	case KEY_MSG_ADD:
		check(m.id == 0 && m.len >= 1 && m.len <= KEY_PROTO_DER_MAX);
		break;
	case KEY_MSG_ADD_REPLY:
		check(m.id == 0 && m.len == 0);
		break;
	default:
		check(0);
	}
	uint8_t *out = malloc(IPC_MSG_MAX);
	size_t n = key_proto_encode(out, IPC_MSG_MAX, &m);
	check(n == size && memcmp(out, data, size) == 0);
	free(out);
	return 0;
}
