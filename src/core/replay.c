/* Sliding 128-bit replay bitmap; see replay.h. */
#include <errno.h>

#include "p2pcall/replay.h"

void replay_init(struct replay_window *w)
{
	w->top = 0;
	w->bits[0] = w->bits[1] = 0;
	w->any = false;
}

static bool bit_get(const struct replay_window *w, uint64_t back)
{
	return (w->bits[back / 64] >> (back % 64)) & 1;
}

int replay_check(const struct replay_window *w, uint64_t idx)
{
	if (!w->any || idx > w->top)
		return 0;
	uint64_t back = w->top - idx;
	if (back >= REPLAY_WINDOW || bit_get(w, back))
		return -EALREADY;
	return 0;
}

/* Moves top up by d: every bit ages by d positions, the old ones fall off. */
static void slide(struct replay_window *w, uint64_t d)
{
	if (d >= REPLAY_WINDOW) {
		w->bits[0] = w->bits[1] = 0;
	} else if (d >= 64) {
		w->bits[1] = w->bits[0] << (d - 64);
		w->bits[0] = 0;
	} else if (d > 0) {
		w->bits[1] = w->bits[1] << d | w->bits[0] >> (64 - d);
		w->bits[0] <<= d;
	}
}

void replay_accept(struct replay_window *w, uint64_t idx)
{
	if (!w->any) {
		w->any = true;
		w->top = idx;
		w->bits[0] = 1;
		w->bits[1] = 0;
		return;
	}
	if (idx > w->top) {
		slide(w, idx - w->top);
		w->top = idx;
		w->bits[0] |= 1;
		return;
	}
	uint64_t back = w->top - idx;
	if (back < REPLAY_WINDOW)
		w->bits[back / 64] |= (uint64_t)1 << (back % 64);
}
