/*
 * Shared by the fuzz targets (tests/fuzz/fuzz_*.c) and the replay driver
 * (replay.c). Each target is a pure function of its input: no token, no
 * network; the store targets use a private temporary data directory.
 *
 * The same fuzz_*.c builds two ways (tests/fuzz/tests.cmake):
 * - HKMS_FUZZ=ON (clang): linked with libFuzzer (-fsanitize=fuzzer), which
 *   provides main();
 * - otherwise: linked with replay.c, whose main() feeds every file of the
 *   corpus directories to LLVMFuzzerTestOneInput once (ctest label
 *   "fuzz-replay"), so seeds and regression inputs run in every build.
 */
#ifndef HKMS_FUZZ_H
#define HKMS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant (not a rejected input): abort so that libFuzzer and
 * the replay driver both report it with the input that caused it. */
#define FUZZ_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", \
			    __FILE__, __LINE__, #cond);			\
			abort();					\
		}							\
	} while (0)

/* A fixed clock so that the output never depends on the day it runs. */
#define FUZZ_NOW ((int64_t)1700000000)

/* A malloc'd NUL-terminated copy of data; aborts if out of memory. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* Write size bytes to path (truncating); aborts on failure. */
void fuzz_write(const char *path, const void *data, size_t size);

/* A fresh directory under $TMPDIR (default /tmp), removed at exit. The
 * result lives until exit. Aborts on failure. */
const char *fuzz_tmpdir(const char *tag);

/* Split data at NUL bytes into at most max parts (the last one takes the
 * rest, NULs included); returns the number of parts (>= 1). The parts
 * point into data. */
size_t fuzz_split(const uint8_t *data, size_t size, size_t max,
    const uint8_t **part, size_t *len);

/* A malloc'd NUL-terminated copy of text (len bytes) with every
 * "@PEM_SHA256@" replaced by the lower-case hex SHA-256 of pem: lets
 * the store targets build records whose PEM hash matches, which a fuzzer
 * could never guess. */
char *fuzz_subst_sha256(const uint8_t *text, size_t len, const uint8_t *pem,
    size_t pemlen);

#endif
