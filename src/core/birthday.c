/* Birthday-style probing schedule: see include/p2pcall/birthday.h. */
#include "p2pcall/birthday.h"
#include "p2pcall/prng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct birthday {
	struct birthday_config cfg;
	enum birthday_state state;
	uint64_t t0;       /* end of the head start: first datagram */
	uint64_t end;      /* give up */
	uint64_t prng;
	/* SPRAY: the round in progress and the next socket in it */
	uint64_t round;
	unsigned next_sock;
	/* PROBE: probes sent, and which ports they went to */
	unsigned probes;
	uint64_t sent;
	uint64_t tried[65536 / 64];
};

int birthday_new(struct birthday **out, const struct birthday_config *cfg, uint64_t now_us)
{
	if (!out || !cfg || (cfg->role != BIRTHDAY_SPRAY && cfg->role != BIRTHDAY_PROBE))
		return -EINVAL;
	struct birthday_config c = *cfg;
	if (!c.head_start_us)
		c.head_start_us = 300000;
	if (!c.sockets)
		c.sockets = 256;
	if (!c.respray_us)
		c.respray_us = 1000000;
	if (!c.rate)
		c.rate = 1000;
	if (!c.max_probes)
		c.max_probes = 3000;
	if (!c.linger_us)
		c.linger_us = 1000000;
	if (!c.port_min)
		c.port_min = 1024;
	if (!c.port_max)
		c.port_max = 65535;
	if (c.port_min > c.port_max || c.max_probes > (unsigned)(c.port_max - c.port_min) + 1)
		return -EINVAL;
	struct birthday *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = c;
	b->state = BIRTHDAY_WAITING;
	b->t0 = now_us + c.head_start_us;
	/* Both roles end together: the sprayed mappings must live as long
	 * as the peer probes, plus the time for an answer. */
	b->end = b->t0 + (uint64_t)c.max_probes * 1000000u / c.rate + c.linger_us;
	b->prng = c.seed ? c.seed : 0x2545F4914F6CDD1Dull;
	*out = b;
	return 0;
}

void birthday_free(struct birthday *b)
{
	free(b);
}

static bool tried(const struct birthday *b, uint16_t port)
{
	return b->tried[port / 64] >> (port % 64) & 1;
}

/* A port not probed yet, uniform over the rest of the range. */
static uint16_t draw_port(struct birthday *b)
{
	uint32_t span = (uint32_t)(b->cfg.port_max - b->cfg.port_min) + 1;
	for (;;) {
		uint32_t r;
		prng_fill(&b->prng, &r, sizeof(r));
		uint16_t port = (uint16_t)(b->cfg.port_min + r % span);
		if (!tried(b, port)) {
			b->tried[port / 64] |= 1ull << (port % 64);
			return port;
		}
	}
}

/* PROBE: how many probes are due by now (probe i at t0 + i / rate). */
static unsigned probes_due(const struct birthday *b, uint64_t now)
{
	uint64_t n = (now - b->t0) * b->cfg.rate / 1000000u + 1;
	return n > b->cfg.max_probes ? b->cfg.max_probes : (unsigned)n;
}

size_t birthday_poll(struct birthday *b, uint64_t now_us, struct birthday_probe *out, size_t max)
{
	size_t n = 0;
	if (!b || b->state == BIRTHDAY_DONE || b->state == BIRTHDAY_GAVE_UP)
		return 0;
	if (now_us >= b->end) {
		b->state = BIRTHDAY_GAVE_UP;
		return 0;
	}
	if (now_us < b->t0)
		return 0;
	b->state = BIRTHDAY_RUNNING;
	if (b->cfg.role == BIRTHDAY_SPRAY) {
		while (n < max) {
			if (b->next_sock == b->cfg.sockets) {
				/* The round is complete: the next begins on time. */
				if (now_us < b->t0 + (b->round + 1) * b->cfg.respray_us)
					break;
				b->round++;
				b->next_sock = 0;
			}
			out[n++] = (struct birthday_probe){ .socket = b->next_sock++ };
		}
	} else {
		unsigned due = probes_due(b, now_us);
		while (n < max && b->probes < due) {
			out[n++] = (struct birthday_probe){ .port = draw_port(b) };
			b->probes++;
		}
	}
	b->sent += n;
	return n;
}

uint64_t birthday_next_deadline(const struct birthday *b)
{
	if (!b || b->state == BIRTHDAY_DONE || b->state == BIRTHDAY_GAVE_UP)
		return UINT64_MAX;
	if (b->state == BIRTHDAY_WAITING)
		return b->t0;
	uint64_t d;
	if (b->cfg.role == BIRTHDAY_SPRAY) {
		d = b->next_sock < b->cfg.sockets ? b->t0 + b->round * b->cfg.respray_us
						  : b->t0 + (b->round + 1) * b->cfg.respray_us;
	} else if (b->probes < b->cfg.max_probes) {
		/* Probe number `probes` (0-based) is due at t0 + probes / rate,
		 * rounded up so that it is due when polled then. */
		d = b->t0 + ((uint64_t)b->probes * 1000000u + b->cfg.rate - 1) / b->cfg.rate;
	} else {
		d = b->end;
	}
	return d < b->end ? d : b->end;
}

void birthday_done(struct birthday *b)
{
	if (b && b->state != BIRTHDAY_GAVE_UP)
		b->state = BIRTHDAY_DONE;
}

enum birthday_state birthday_get_state(const struct birthday *b)
{
	return b->state;
}

const struct birthday_config *birthday_get_config(const struct birthday *b)
{
	return &b->cfg;
}

bool birthday_probed(const struct birthday *b, uint16_t port)
{
	return b && b->cfg.role == BIRTHDAY_PROBE && tried(b, port);
}

uint64_t birthday_sent(const struct birthday *b)
{
	return b ? b->sent : 0;
}
