/* The wire format between a worker's auth client and the auth process:
 * one message per SOCK_SEQPACKET datagram, at most IPC_MSG_MAX octets,
 * integers in host byte order (both ends are the same binary on the same
 * host). Every message is checked in full on receipt: type, exact total
 * length, and each field's length against its limit.
 *
 * request: u8 type=1 | u8 mech | u8 secured | u8 0 | u64 id |
 *          u16 len[7] | service authzid user secret challenge
 *          remote_ip session_id (the bytes, back to back)
 * reply:   u8 type=2 | u8 status | u8 pop3_dele | u8 0 | u64 id |
 *          u16 len[2] | user reason
 *
 * recipient lookup (auth_client_lookup_rcpt), in the same id space:
 * rcpt:    u8 type=3 | u8 0 | u8 0 | u8 0 | u64 id |
 *          u16 len[2] | session_id address
 * reply:   u8 type=4 | u8 status | u8 0 | u8 0 | u64 id |
 *          u16 reason_len | u16 count | u16 len[count] | reason |
 *          user names (back to back, each 1..AUTH_NAME_MAX octets)
 * count is > 0 exactly when status is AUTH_RCPT_LOCAL.
 */
#ifndef POSTERN_AUTH_PROTO_H
#define POSTERN_AUTH_PROTO_H
#include <stdbool.h>
#include <stdint.h>

#include "auth/auth_client.h"
#include "core/buf.h"
#include "core/limits.h"

#define AUTH_MSG_REQUEST 1
#define AUTH_MSG_REPLY 2
#define AUTH_MSG_RCPT 3
#define AUTH_MSG_RCPT_REPLY 4

#define AUTH_PROTO_SERVICE_MAX 16
#define AUTH_PROTO_CHALLENGE_MAX 512 /* APOP timestamp, CRAM challenge */
#define AUTH_PROTO_IP_MAX 64
#define AUTH_PROTO_SID_MAX 64
#define AUTH_PROTO_REASON_MAX 64
/* Twice RFC 5321's 256-octet path: longer is never an address. */
#define AUTH_PROTO_ADDRESS_MAX 512
/* Names in one recipient reply; = RESOLVE_USERS_MAX (auth/resolve.h).
 * The reply must also fit IPC_MSG_MAX: if it does not, the auth process
 * answers AUTH_RCPT_ERROR, reason "too_many_targets". */
#define AUTH_PROTO_RCPT_USERS_MAX 1000

/* A decoded request: slices point into the received datagram. */
struct auth_proto_request {
	uint64_t id;
	enum auth_mech mech;
	bool secured;
	struct str service, authzid, user, secret, challenge, remote_ip,
		session_id;
};

struct auth_proto_reply {
	uint64_t id;
	enum auth_status status;
	enum pop3_dele_mode pop3_dele;
	struct str user, reason;
};

struct auth_proto_rcpt {
	uint64_t id;
	struct str session_id, address;
};

/* Decoded: user names are n_users u16 lengths at user_lens (unaligned;
 * read with auth_proto_rcpt_user) and their bytes back to back at
 * user_bytes. Encoding: users/n_users instead. */
struct auth_proto_rcpt_reply {
	uint64_t id;
	enum auth_rcpt_status status;
	struct str reason;
	size_t n_users;
	const char *const *users;  /* encode only */
	const uint8_t *user_lens;  /* decode only */
	const char *user_bytes;    /* decode only */
};

/* Encoders append to out; they return -1 (appending nothing) when a
 * field is over its limit. */
int auth_proto_encode_request(struct buf *out, uint64_t id,
			      const struct auth_request *req);
int auth_proto_encode_reply(struct buf *out, const struct auth_proto_reply *r);
/* Decoders return 0, or -1 for anything malformed. */
int auth_proto_decode_request(const void *msg, size_t len,
			      struct auth_proto_request *out);
int auth_proto_decode_reply(const void *msg, size_t len,
			    struct auth_proto_reply *out);

/* Recipient lookup. The reply encoder also returns -1 when the whole
 * message would exceed IPC_MSG_MAX or the status/count do not agree. */
int auth_proto_encode_rcpt(struct buf *out, uint64_t id, struct str address,
			   const char *session_id);
int auth_proto_encode_rcpt_reply(struct buf *out,
				 const struct auth_proto_rcpt_reply *r);
int auth_proto_decode_rcpt(const void *msg, size_t len,
			   struct auth_proto_rcpt *out);
int auth_proto_decode_rcpt_reply(const void *msg, size_t len,
				 struct auth_proto_rcpt_reply *out);
/* Walks a decoded reply's names: *pos starts at 0; call n_users times. */
struct str auth_proto_rcpt_user(const struct auth_proto_rcpt_reply *r,
				size_t i, size_t *pos);
/* The type octet of a message, or -1 if it is empty. */
int auth_proto_type(const void *msg, size_t len);

#endif
