/* CRC-32 (IEEE 802.3 / zlib / PNG variant), for STUN FINGERPRINT. */
#ifndef P2PCALL_CRC32_H
#define P2PCALL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 of n bytes at p. crc32_compute(NULL, 0) is 0. */
uint32_t crc32_compute(const uint8_t *p, size_t n);

/* Continue a CRC: crc32_update(crc32_compute(a, na), b, nb) equals the CRC
 * of a followed by b. Start from 0. */
uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n);

#endif
