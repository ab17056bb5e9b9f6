/* The key process's messages (see key_proto.h): one header, checked in
 * full on receipt. */
#include "tls/key_proto.h"

#include <string.h>

static int code_ok(uint8_t type, uint8_t code)
{
	switch (type) {
	case KEY_MSG_SIGN:
		return code == KEY_OP_RSA_PKCS1 || code == KEY_OP_RSA_RAW ||
		       code == KEY_OP_ECDSA;
	case KEY_MSG_SIGN_REPLY:
	case KEY_MSG_ADD_REPLY:
		return code <= KEY_ST_FAILED;
	case KEY_MSG_ADD:
		return code == 0;
	default:
		return 0;
	}
}

static int len_ok(const struct key_msg *m)
{
	switch (m->type) {
	case KEY_MSG_SIGN:
		return m->len >= 1 && m->len <= KEYD_DATA_MAX;
	case KEY_MSG_SIGN_REPLY:
		return m->code == KEY_ST_OK
			       ? m->len >= 1 && m->len <= KEYD_DATA_MAX
			       : m->len == 0;
	case KEY_MSG_ADD:
		return m->len >= 1 && m->len <= KEY_PROTO_DER_MAX && m->id == 0;
	case KEY_MSG_ADD_REPLY:
		return m->len == 0 && m->id == 0;
	default:
		return 0;
	}
}

size_t key_proto_encode(uint8_t *out, size_t cap, const struct key_msg *m)
{
	if (!code_ok(m->type, m->code) || !len_ok(m) ||
	    KEY_PROTO_HDR + m->len > cap || KEY_PROTO_HDR + m->len > IPC_MSG_MAX)
		return 0;
	uint16_t len = (uint16_t)m->len;
	out[0] = m->type;
	out[1] = m->code;
	memcpy(out + 2, &len, 2);
	memcpy(out + 4, &m->key_id, 4);
	memcpy(out + 8, &m->id, 8);
	if (m->len)
		memcpy(out + KEY_PROTO_HDR, m->data, m->len);
	return KEY_PROTO_HDR + m->len;
}

int key_proto_decode(const void *msg, size_t len, struct key_msg *out)
{
	const uint8_t *p = msg;
	if (len < KEY_PROTO_HDR || len > IPC_MSG_MAX)
		return -1;
	uint16_t dlen;
	memcpy(&dlen, p + 2, 2);
	if ((size_t)dlen != len - KEY_PROTO_HDR)
		return -1;
	struct key_msg m = { .type = p[0], .code = p[1], .len = dlen,
			     .data = p + KEY_PROTO_HDR };
	memcpy(&m.key_id, p + 4, 4);
	memcpy(&m.id, p + 8, 8);
	if (!code_ok(m.type, m.code) || !len_ok(&m))
		return -1;
	*out = m;
	return 0;
}

const char *key_proto_op_name(int op)
{
	switch (op) {
	case KEY_OP_RSA_PKCS1: return "rsa_pkcs1";
	case KEY_OP_RSA_RAW: return "rsa_raw";
	case KEY_OP_ECDSA: return "ecdsa";
	default: return "unknown";
	}
}

const char *key_proto_status_name(int st)
{
	switch (st) {
	case KEY_ST_OK: return "ok";
	case KEY_ST_NO_KEY: return "no_key";
	case KEY_ST_BAD_INPUT: return "bad_input";
	case KEY_ST_FAILED: return "failed";
	default: return "unknown";
	}
}
