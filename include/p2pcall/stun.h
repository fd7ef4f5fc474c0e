/* STUN message codec (RFC 8489), pure: it touches only caller buffers.
 *
 * Message layout (all big-endian):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |0 0|     STUN Message Type     |         Message Length        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                   Magic Cookie = 0x2112A442                   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  Transaction ID (96 bits)                     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  | Attribute Type                | Attribute Length (unpadded)   |
 *  | Value ... padded to a multiple of 4 bytes                     |
 *
 *  Message Type bits: M11..M7 C1 M6..M4 C0 M3..M0 (method M, class C).
 *
 * Parsing keeps pointers into the caller's buffer (USERNAME, SOFTWARE,
 * reason phrase, raw attributes): the buffer must outlive the stun_msg.
 */
#ifndef P2PCALL_STUN_H
#define P2PCALL_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_HEADER_LEN 20
#define STUN_TXID_LEN 12
#define STUN_FINGERPRINT_XOR 0x5354554eu
#define STUN_INTEGRITY_LEN 20        /* HMAC-SHA1 */
#define STUN_INTEGRITY_SHA256_LEN 32 /* HMAC-SHA256, untruncated */
/* Bounds kept by the parser; a message with more attributes is refused. */
#define STUN_MAX_ATTRS 32
#define STUN_MAX_UNKNOWN 16

enum stun_class {
	STUN_CLASS_REQUEST = 0,
	STUN_CLASS_INDICATION = 1,
	STUN_CLASS_SUCCESS = 2,
	STUN_CLASS_ERROR = 3,
};

enum stun_method {
	STUN_METHOD_BINDING = 0x001,
	/* TURN (RFC 8656), for the relay later. */
	STUN_METHOD_ALLOCATE = 0x003,
	STUN_METHOD_REFRESH = 0x004,
	STUN_METHOD_SEND = 0x006,
	STUN_METHOD_DATA = 0x007,
	STUN_METHOD_CREATE_PERMISSION = 0x008,
	STUN_METHOD_CHANNEL_BIND = 0x009,
};

enum stun_attr_type {
	/* comprehension-required (< 0x8000) */
	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_ATTR_CHANNEL_NUMBER = 0x000C,
	STUN_ATTR_LIFETIME = 0x000D,
	STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
	STUN_ATTR_DATA = 0x0013,
	STUN_ATTR_REALM = 0x0014,
	STUN_ATTR_NONCE = 0x0015,
	STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
	STUN_ATTR_USERHASH = 0x001E,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_ATTR_PRIORITY = 0x0024,
	STUN_ATTR_USE_CANDIDATE = 0x0025,
	/* comprehension-optional (>= 0x8000) */
	STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
	STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_ALTERNATE_SERVER = 0x8023,
	STUN_ATTR_FINGERPRINT = 0x8028,
	STUN_ATTR_ICE_CONTROLLED = 0x8029,
	STUN_ATTR_ICE_CONTROLLING = 0x802A,
	/* p2pcall's own, in the private ranges (RFC 8489 section 18.3):
	 * 0x4000-0x7FFF comprehension-required, 0xC000-0xFFFF optional.
	 * The parser accepts the whole 0x4000-0x40FF and 0xC000-0xC0FF blocks
	 * as "ours" (not unknown), so later versions can add attributes there
	 * without making older peers answer 420; read them via
	 * stun_msg_find(). */
	STUN_ATTR_P2PCALL_FIRST_REQ = 0x4000,
	STUN_ATTR_P2PCALL_LAST_REQ = 0x40FF,
	STUN_ATTR_P2PCALL_FIRST_OPT = 0xC000,
	STUN_ATTR_P2PCALL_CALL_ID = 0xC001, /* reserved: u32 call id */
	STUN_ATTR_P2PCALL_LAST_OPT = 0xC0FF,
};

/* One attribute as it appeared on the wire. value points into the buffer
 * given to stun_parse(); len is the unpadded length. */
struct stun_attr {
	uint16_t type;
	uint16_t len;
	const uint8_t *value;
	size_t offset; /* of the attribute header from the message start */
};

/* A parsed message. Fields are valid only when their has_ flag is set
 * (or, for byte strings, when the pointer is non-NULL). */
struct stun_msg {
	uint16_t type; /* raw message type field */
	uint16_t method;
	enum stun_class cls;
	uint8_t txid[STUN_TXID_LEN];
	size_t length; /* whole message, header included */

	bool has_mapped;
	struct sockaddr_storage mapped;
	bool has_xor_mapped;
	struct sockaddr_storage xor_mapped;

	const uint8_t *username;
	size_t username_len;
	const uint8_t *software;
	size_t software_len;
	const uint8_t *realm;
	size_t realm_len;
	const uint8_t *nonce;
	size_t nonce_len;

	bool has_error;
	uint16_t error_code; /* 300..699 */
	const uint8_t *error_reason;
	size_t error_reason_len;

	/* Types listed in an UNKNOWN-ATTRIBUTES attribute (in a 420 answer). */
	uint16_t unknown_listed[STUN_MAX_UNKNOWN];
	size_t n_unknown_listed;
	/* Comprehension-required types (< 0x8000) in this message that we do
	 * not understand (first STUN_MAX_UNKNOWN kept; n_unknown counts all). */
	uint16_t unknown[STUN_MAX_UNKNOWN];
	size_t n_unknown;

	bool has_priority;
	uint32_t priority;
	bool use_candidate;
	bool has_ice_controlled;
	uint64_t ice_controlled;
	bool has_ice_controlling;
	uint64_t ice_controlling;

	bool has_integrity;
	size_t integrity_offset; /* of the MESSAGE-INTEGRITY attribute header */
	bool has_integrity_sha256;
	size_t integrity_sha256_offset;
	uint16_t integrity_sha256_len; /* 16..32, a multiple of 4 */
	bool has_fingerprint;          /* present and verified */

	/* Every attribute processed (those after MESSAGE-INTEGRITY other than
	 * MESSAGE-INTEGRITY-SHA256 / FINGERPRINT are not listed: RFC 8489 says
	 * to ignore them). */
	struct stun_attr attrs[STUN_MAX_ATTRS];
	size_t n_attrs;
};

/* Quick demultiplexing test (RFC 7983 + RFC 8489): true when p holds at
 * least a STUN header whose first byte is 0..3, whose length field is a
 * multiple of 4 and matches n, and which carries the magic cookie. Does
 * not look at attributes. */
bool stun_is_message(const uint8_t *p, size_t n);

/* Parses n bytes at p into *m. The whole buffer must be exactly one STUN
 * message. Checks the header, every attribute length and padding, the
 * values of the attributes it knows, and FINGERPRINT (if present it must be
 * last and correct). Does not check MESSAGE-INTEGRITY: that needs a key,
 * see stun_verify_integrity(). Returns 0 or -EBADMSG (-EINVAL for NULL
 * arguments). *m points into p afterwards. */
int stun_parse(const uint8_t *p, size_t n, struct stun_msg *m);

/* Returns the first attribute of the given type in m (among those
 * processed), or NULL. */
const struct stun_attr *stun_msg_find(const struct stun_msg *m, uint16_t type);

/* Decodes an (XOR-)address attribute value of a parsed message, e.g. for
 * XOR-PEER-ADDRESS. xor selects XOR-decoding with the cookie and m's txid.
 * Returns 0 or -EBADMSG. */
int stun_attr_address(const struct stun_msg *m, const struct stun_attr *a,
		      bool xor, struct sockaddr_storage *out);

/* Checks MESSAGE-INTEGRITY (HMAC-SHA1) of message buffer p, previously
 * parsed into m, with key (short-term credential: the password bytes;
 * long-term: see stun_long_term_key). Returns 0 if it matches, -ENOENT if
 * the message has no MESSAGE-INTEGRITY, -EACCES if it does not match. */
int stun_verify_integrity(const struct stun_msg *m, const uint8_t *p,
			  const uint8_t *key, size_t keylen);

/* The same for MESSAGE-INTEGRITY-SHA256 (possibly truncated). */
int stun_verify_integrity_sha256(const struct stun_msg *m, const uint8_t *p,
				 const uint8_t *key, size_t keylen);

/* Long-term credential key: MD5(username ":" realm ":" password). The
 * caller does any SASLprep / OpaqueString processing beforehand. */
void stun_long_term_key(const char *username, const char *realm,
			const char *password, uint8_t key[16]);

/* Writer: builds one message into a caller buffer. Every put function
 * returns 0 or -ENOSPC; an error is sticky, so callers may check only the
 * result of stun_writer_finish(). */
struct stun_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	/* Byte used to pad attribute values to 4 bytes. RFC 8489 says the
	 * content is ignored by receivers; 0 by default. (RFC 5769's vectors
	 * pad SOFTWARE with 0x20.) */
	uint8_t pad;
};

/* Starts a message of method/cls with the given 12-byte transaction id
 * (the caller generates it from a good random source). Returns 0,
 * -ENOSPC if cap < 20, -EINVAL for a method > 0xFFF or a bad class. */
int stun_writer_init(struct stun_writer *w, uint8_t *buf, size_t cap,
		     uint16_t method, enum stun_class cls,
		     const uint8_t txid[STUN_TXID_LEN]);

int stun_put_bytes(struct stun_writer *w, uint16_t type, const void *v,
		   size_t len);
int stun_put_u32(struct stun_writer *w, uint16_t type, uint32_t v);
int stun_put_u64(struct stun_writer *w, uint16_t type, uint64_t v);
/* A zero-length attribute, e.g. USE-CANDIDATE. */
int stun_put_flag(struct stun_writer *w, uint16_t type);
/* An address attribute (MAPPED-ADDRESS style) or, with xor, an XOR-ed one
 * (XOR-MAPPED-ADDRESS style). sa is AF_INET or AF_INET6 (-EINVAL else). */
int stun_put_address(struct stun_writer *w, uint16_t type,
		     const struct sockaddr *sa, bool xor);
int stun_put_xor_address(struct stun_writer *w, uint16_t type,
			 const struct sockaddr *sa);
/* ERROR-CODE with code 300..699 and a reason phrase (may be NULL). */
int stun_put_error(struct stun_writer *w, uint16_t code, const char *reason);
int stun_put_software(struct stun_writer *w, const char *software);
int stun_put_unknown_attributes(struct stun_writer *w, const uint16_t *types,
				size_t n);
/* MESSAGE-INTEGRITY over everything written so far. Only FINGERPRINT
 * should follow. */
int stun_put_integrity(struct stun_writer *w, const uint8_t *key,
		       size_t keylen);
int stun_put_integrity_sha256(struct stun_writer *w, const uint8_t *key,
			      size_t keylen);
/* Appends FINGERPRINT if fingerprint is true, and returns the message
 * length, or the first error met (-ENOSPC, -EINVAL). */
ssize_t stun_writer_finish(struct stun_writer *w, bool fingerprint);

/* Options of a Binding request; zero/NULL fields are left out. */
struct stun_binding_opts {
	const char *username;   /* USERNAME */
	const uint8_t *key;     /* MESSAGE-INTEGRITY key (if non-NULL) */
	size_t keylen;
	uint32_t priority;      /* PRIORITY if non-zero */
	bool use_candidate;     /* USE-CANDIDATE */
	bool ice_controlling;   /* ICE-CONTROLLING with tiebreaker */
	bool ice_controlled;    /* ICE-CONTROLLED with tiebreaker */
	uint64_t tiebreaker;
	const char *software;   /* SOFTWARE */
	bool no_fingerprint;    /* FINGERPRINT is added unless this is set */
};

/* Builds a Binding request (a Binding indication if indication is set in
 * cls) with txid into buf. opts may be NULL: then it carries FINGERPRINT
 * only. Returns the length or -ENOSPC / -EINVAL. */
ssize_t stun_build_binding(uint8_t *buf, size_t cap, enum stun_class cls,
			   const uint8_t txid[STUN_TXID_LEN],
			   const struct stun_binding_opts *opts);

/* Convenience for the common case: a Binding request. */
ssize_t stun_build_binding_request(uint8_t *buf, size_t cap,
				   const uint8_t txid[STUN_TXID_LEN],
				   const struct stun_binding_opts *opts);

/* Parses a Binding success response and extracts the mapped address,
 * preferring XOR-MAPPED-ADDRESS over MAPPED-ADDRESS. If txid is non-NULL
 * the response's transaction id must equal it. Returns 0; -EBADMSG for
 * anything malformed, not a Binding success response, or with another
 * txid; -EPROTO for a Binding error response (*err_code set if non-NULL);
 * -ENOENT when a success response carries no address. */
int stun_parse_binding_response(const uint8_t *p, size_t n,
				const uint8_t txid[STUN_TXID_LEN],
				struct sockaddr_storage *mapped,
				uint16_t *err_code);

/* Name of a class, for logs. */
const char *stun_class_name(enum stun_class cls);

#endif
