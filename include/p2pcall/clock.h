/* The one place the I/O layer reads time: a monotonic clock in µs. */
#ifndef P2PCALL_CLOCK_H
#define P2PCALL_CLOCK_H

#include <stdint.h>

uint64_t clock_now_us(void);

#endif
