#include "escpos_streams.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

const char *const escpos_stream_names[] = {
    "cp437_cafe", "cp858_bistro", "cp1252_boutique", "cp850_german", "reprint", "unreadable", NULL,
};

const char *const chunking_names[] = {"whole", "byte by byte", "random chunks"};

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

void escpos_stream_load(const char *name, struct escpos_stream *s)
{
    char path[512];
    size_t n;
    snprintf(path, sizeof path, "%s/%s.bin", ESCPOS_DATA, name);
    s->bytes = slurp(path, &s->len);
    snprintf(path, sizeof path, "%s/%s.json", ESCPOS_DATA, name);
    char *j = (char *)slurp(path, &n);
    s->expect = cJSON_Parse(j);
    free(j);
    if (!s->expect)
        fail_msg("%s: not JSON", path);
}

void escpos_stream_free(struct escpos_stream *s)
{
    free(s->bytes);
    cJSON_Delete(s->expect);
}

size_t chunk_next(enum chunking how, size_t off, size_t len, uint32_t *seed)
{
    size_t left = len - off, n;
    switch (how) {
    case CHUNK_WHOLE:
        return left;
    case CHUNK_BYTES:
        return 1;
    default:
        *seed = *seed * 1103515245u + 12345u;
        n = 1 + (*seed >> 16) % 64;
        return n < left ? n : left;
    }
}
