/*
 * Small helpers with no domain logic.
 */
#ifndef HKMS_UTIL_H
#define HKMS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hkms/error.h"

/** Lower-case hex of len bytes into out (2*len+1 bytes), with sep (0 = none)
 *  between bytes. Returns out. */
char *hkms_hex(const unsigned char *in, size_t len, char sep, char *out);

/** Parse lower/upper-case hex (optional ':' separators) into out (cap bytes). */
enum hkms_rc hkms_unhex(const char *hex, unsigned char *out, size_t cap,
    size_t *outlen, struct hkms_err *err);

/** Create dir and its parents with mode (existing dirs are left as they are). */
enum hkms_rc hkms_mkdir_p(const char *dir, unsigned mode, struct hkms_err *err);

/** Read a whole regular file (at most max bytes) into a malloc'd buffer
 *  (NUL added). HKMS_E_NOT_FOUND if missing, HKMS_E_INVALID if larger than
 *  max ("too_large") or not a regular file ("not_regular_file": a FIFO or
 *  device is refused at once, never waited on). The buffer is sized from
 *  fstat, so no partial copy is left in freed memory; a caller holding
 *  key material wipes it with OPENSSL_clear_free(buf, len + 1). */
enum hkms_rc hkms_read_file(const char *path, size_t max, unsigned char **out,
    size_t *outlen, struct hkms_err *err);

/** A name usable as a file name and an object name: 1..64 of [A-Za-z0-9._-],
 *  not starting with '.' or '-'. */
int hkms_name_valid(const char *name);

/** RFC 3339 UTC time string (20 bytes + NUL). */
char *hkms_time_str(int64_t t, char out[32]);

/** The start time of process pid (field 22 of /proc/<pid>/stat, clock
 *  ticks since boot), or -1. With the pid it names one process even when
 *  the pid is reused. */
long long hkms_pid_start(long pid);

/** Append the formatted message (cut at 511 bytes) to JSON array arr:
 *  the errors and warnings lists of check reports. */
void hkms_json_push(json_t *arr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** 1 if process pid runs and is the one that started at start
 *  (hkms_pid_start); 0 otherwise. start <= 0 (a writer that could not
 *  read /proc) matches only a process whose start cannot be read either.
 *  For reservation files whose writer may be gone. */
int hkms_pid_alive(long pid, long long start);

#endif
