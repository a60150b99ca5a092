/*
 * What every harness needs: an invariant that fails says which one, then aborts, so libFuzzer
 * keeps the input as a crash and prints the stack.
 */
#ifndef TILLSYNC_FUZZ_CHECK_H
#define TILLSYNC_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* -DFUZZ_CHECK_CONTINUE (never in the fuzz preset): print and go on, to time a harness or to look
 * past a finding not fixed yet. */
#ifdef FUZZ_CHECK_CONTINUE
#define FUZZ_FAIL() ((void)0)
#else
#define FUZZ_FAIL() abort()
#endif

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            FUZZ_FAIL();                                                                           \
        }                                                                                          \
    } while (0)

#endif
