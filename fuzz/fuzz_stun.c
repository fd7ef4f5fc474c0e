/* libFuzzer target: arbitrary bytes into the STUN parser, the integrity
 * checks, the Binding-response helper and the responder (IPv4 and IPv6
 * sources). Whatever parses must also re-serialise sanely: every attribute
 * the parser recorded lies inside the buffer. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2pcall/stun.h"
#include "p2pcall/stun_responder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_msg m;
	struct sockaddr_storage ss;
	uint8_t out[1500];
	uint16_t code;
	static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";

	/* An exact-size heap copy, so ASan sees any over-read. */
	uint8_t *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);

	bool demux = stun_is_message(p, size);
	if (stun_parse(p, size, &m) == 0) {
		if (demux && m.length != size)
			abort();
		for (size_t i = 0; i < m.n_attrs; i++) {
			const struct stun_attr *a = &m.attrs[i];
			if (a->value < p || a->value + a->len > p + size)
				abort();
		}
		stun_verify_integrity(&m, p, key, sizeof(key) - 1);
		stun_verify_integrity_sha256(&m, p, key, sizeof(key) - 1);
		const struct stun_attr *a = stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS);
		if (a)
			stun_attr_address(&m, a, true, &ss);
	} else if (demux && size == 20) {
		/* a bare valid header always parses */
		abort();
	}
	stun_parse_binding_response(p, size, NULL, &ss, &code);

	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	ssize_t r = stun_responder_handle(p, size, (struct sockaddr *)&s4, sizeof(s4),
					  out, sizeof(out), "fuzz");
	if (r > 0 && ((size_t)r > 2 * size || stun_parse(out, (size_t)r, &m) != 0))
		abort();
	r = stun_responder_handle(p, size, (struct sockaddr *)&s6, sizeof(s6),
				  out, sizeof(out), NULL);
	/* IPv6: the bare 44-byte answer is the one allowed exception. */
	size_t bound6 = 2 * size > 44 ? 2 * size : 44;
	if (r > 0 && ((size_t)r > bound6 || stun_parse(out, (size_t)r, &m) != 0))
		abort();
	free(p);
	return 0;
}
