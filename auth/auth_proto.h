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

#define AUTH_PROTO_SERVICE_MAX 16
#define AUTH_PROTO_CHALLENGE_MAX 512 /* APOP timestamp, CRAM challenge */
#define AUTH_PROTO_IP_MAX 64
#define AUTH_PROTO_SID_MAX 64
#define AUTH_PROTO_REASON_MAX 64

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

#endif
