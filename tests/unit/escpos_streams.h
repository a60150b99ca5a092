/* The recorded print streams of tests/data/escpos (make_streams.py) and ways to feed them. */
#ifndef TEST_ESCPOS_STREAMS_H
#define TEST_ESCPOS_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

extern const char *const escpos_stream_names[]; /* NULL-terminated */

struct escpos_stream {
    uint8_t *bytes;
    size_t len;
    cJSON *expect; /* <name>.json */
};

/* Loads <name>.bin and <name>.json (fails the test if it cannot). */
void escpos_stream_load(const char *name, struct escpos_stream *s);
void escpos_stream_free(struct escpos_stream *s);

/* How a stream is cut into writes: whole, a byte at a time, random sizes 1-64 (seeded). */
enum chunking { CHUNK_WHOLE, CHUNK_BYTES, CHUNK_RANDOM, CHUNKINGS };
extern const char *const chunking_names[];

/* The size of the next write at offset off of len. */
size_t chunk_next(enum chunking how, size_t off, size_t len, uint32_t *seed);

#endif
