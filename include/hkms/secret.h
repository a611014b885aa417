/*
 * Buffers for secrets (PINs, passphrases): locked in memory where the
 * system allows it and wiped with OPENSSL_cleanse before they are freed.
 */
#ifndef HKMS_SECRET_H
#define HKMS_SECRET_H

#include <stddef.h>

#include "hkms/error.h"

struct hkms_secret;

/** Read a secret from a file: refused unless the file is a regular file
 *  not readable by group or others (0600/0400). A trailing newline is
 *  dropped. The caller frees the result with hkms_secret_free(). */
enum hkms_rc hkms_secret_from_file(const char *path, const char *what,
    struct hkms_secret **out, struct hkms_err *err);

/** Read a secret from environment variable name; HKMS_E_NOT_FOUND if unset.
 *  The variable is left in place (tests and child processes may need it). */
enum hkms_rc hkms_secret_from_env(const char *name, struct hkms_secret **out,
    struct hkms_err *err);

/** Copy len bytes into a new secret. */
enum hkms_rc hkms_secret_new(const void *data, size_t len,
    struct hkms_secret **out, struct hkms_err *err);

/** NUL-terminated view of the secret; valid until hkms_secret_free(). */
const char *hkms_secret_str(const struct hkms_secret *s);
size_t hkms_secret_len(const struct hkms_secret *s);

/** Wipe and free; NULL is fine. */
void hkms_secret_free(struct hkms_secret *s);

#endif
