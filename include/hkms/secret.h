/*
 * Buffers for secrets (PINs, passphrases): pages of their own, locked in
 * memory where the system allows it, excluded from core dumps
 * (MADV_DONTDUMP) and wiped with OPENSSL_cleanse before they are freed.
 */
#ifndef HKMS_SECRET_H
#define HKMS_SECRET_H

#include <stddef.h>

#include "hkms/error.h"

struct hkms_secret;

/** Read a secret from a file: refused unless the file is a regular file
 *  (a FIFO or device is refused at once, never waited on; a symlink is not
 *  followed) not readable by group or others (0600/0400). A trailing
 *  newline is dropped. The caller frees the result with hkms_secret_free(). */
enum hkms_rc hkms_secret_from_file(const char *path, const char *what,
    struct hkms_secret **out, struct hkms_err *err);

/** Read a secret from environment variable name; HKMS_E_NOT_FOUND if unset.
 *  The first read takes the variable out of the environment (unsetenv, and
 *  its bytes wiped where /proc/<pid>/environ would show them) and keeps it
 *  in a secret buffer, from which this and later reads copy. Not
 *  thread-safe on the first read of a name. */
enum hkms_rc hkms_secret_from_env(const char *name, struct hkms_secret **out,
    struct hkms_err *err);

/** Move variable name (if set) out of the environment into the process's
 *  secret buffers, for hkms_secret_from_env(); an empty value is only
 *  removed. Call while single-threaded. */
enum hkms_rc hkms_secret_take_env(const char *name, struct hkms_err *err);

/** First call of every hkms process, before any secret is read and before
 *  any thread starts: no core dumps (RLIMIT_CORE 0, PR_SET_DUMPABLE 0) and
 *  HKMS_PIN / HKMS_SO_PIN taken out of the environment. */
void hkms_secret_process_init(void);

/** Wipe and free what hkms_secret_take_env() kept (at exit). */
void hkms_secret_env_release(void);

/** Copy len (at most 1 MiB: PINs, passphrases, a client PKCS#12) bytes
 *  into a new secret. */
enum hkms_rc hkms_secret_new(const void *data, size_t len,
    struct hkms_secret **out, struct hkms_err *err);

/** A new zeroed secret of cap bytes (at most 1 MiB) for a producer to
 *  write into (*buf, cap bytes; the token layer decrypts into it), then
 *  hkms_secret_set_len() with the length written. */
enum hkms_rc hkms_secret_alloc(size_t cap, struct hkms_secret **out,
    unsigned char **buf, struct hkms_err *err);
/** Set the length of a secret from hkms_secret_alloc() (<= its cap). */
void hkms_secret_set_len(struct hkms_secret *s, size_t len);

/** NUL-terminated view of the secret; valid until hkms_secret_free(). */
const char *hkms_secret_str(const struct hkms_secret *s);
size_t hkms_secret_len(const struct hkms_secret *s);

/** Wipe and free; NULL is fine. */
void hkms_secret_free(struct hkms_secret *s);

#endif
