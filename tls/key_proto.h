/* The wire format of the key process (tls/keyd.c): one message per
 * SOCK_SEQPACKET datagram, at most IPC_MSG_MAX octets, integers in host
 * byte order (both ends are the same binary on the same host). Every
 * message is a 16-octet header and its data:
 *
 *   u8 type | u8 code | u16 len | u32 key_id | u64 id | data[len]
 *
 * len is exactly the rest of the datagram.
 *
 * worker -> keyd (abstract socket, SO_PEERCRED checked):
 *   KEY_MSG_SIGN        code = KEY_OP_*, id chosen by the worker,
 *                       data = the input of the private-key operation
 *   KEY_MSG_SIGN_REPLY  code = KEY_ST_*, same key_id and id; data = the
 *                       signature when KEY_ST_OK, else empty
 * supervisor's key loader -> keyd (the socketpair keyd was forked with):
 *   KEY_MSG_ADD         code 0, id 0, data = the private key (DER)
 *   KEY_MSG_ADD_REPLY   code = KEY_ST_*, same key_id, id 0, no data
 *
 * Operations, each checked against the key's type and size by keyd:
 *   KEY_OP_RSA_PKCS1  PKCS #1 v1.5 type 1 padding of data (a DigestInfo,
 *                     at most the modulus length - 11), then the RSA
 *                     private operation: TLS 1.2's RSA signatures
 *   KEY_OP_RSA_RAW    the RSA private operation on data, exactly the
 *                     modulus length and already padded: RSA-PSS, which
 *                     TLS 1.3 requires, padded by the worker's OpenSSL
 *   KEY_OP_ECDSA      an ECDSA signature (DER) of the digest in data
 *                     (1..64 octets)
 * There is no decryption: our TLS offers only (EC)DHE key exchange, so
 * keyd never has to be an RSA decryption oracle.
 */
#ifndef POSTERN_KEY_PROTO_H
#define POSTERN_KEY_PROTO_H
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

#define KEY_MSG_SIGN 1
#define KEY_MSG_SIGN_REPLY 2
#define KEY_MSG_ADD 3
#define KEY_MSG_ADD_REPLY 4

#define KEY_OP_RSA_PKCS1 1
#define KEY_OP_RSA_RAW 2
#define KEY_OP_ECDSA 3

#define KEY_ST_OK 0
#define KEY_ST_NO_KEY 1     /* no key with that id (restarted, evicted) */
#define KEY_ST_BAD_INPUT 2  /* operation or length wrong for the key */
#define KEY_ST_FAILED 3     /* OpenSSL refused (logged by keyd) */

#define KEY_PROTO_HDR 16
/* The largest digest an ECDSA request carries (SHA-512). */
#define KEY_PROTO_DIGEST_MAX 64
/* A private key in DER: what fits in one datagram after the header. */
#define KEY_PROTO_DER_MAX (IPC_MSG_MAX - KEY_PROTO_HDR)

/* A decoded message; data points into the datagram. */
struct key_msg {
	uint8_t type, code;
	uint32_t key_id;
	uint64_t id;
	const uint8_t *data;
	size_t len;
};

/* Writes m into out (cap octets); returns the datagram's length, or 0
 * if m breaks a rule below (the caller's bug, or a key too big). */
size_t key_proto_encode(uint8_t *out, size_t cap, const struct key_msg *m);
/* 0 when msg is one well-formed message, -1 otherwise. Checked: the
 * length against the header, the type, the code for the type, and
 * data's length for the type (SIGN: 1..KEYD_DATA_MAX; SIGN_REPLY:
 * 1..KEYD_DATA_MAX when OK, else 0; ADD: 1..KEY_PROTO_DER_MAX, id 0;
 * ADD_REPLY: 0, id 0). Whether the operation fits the key is keyd's. */
int key_proto_decode(const void *msg, size_t len, struct key_msg *out);
/* "rsa_pkcs1", "rsa_raw", "ecdsa", "unknown": for the log. */
const char *key_proto_op_name(int op);
const char *key_proto_status_name(int st);

#endif
