/*
 * The file store: everything hkms knows apart from keys, under one data
 * directory. Every write is atomic and durable; writers take a lock.
 */
#ifndef HKMS_STORE_H
#define HKMS_STORE_H

#include <stddef.h>

#include "hkms/error.h"

/** Replace path with data atomically and durably: a temp file in the same
 *  directory (O_EXCL, mode), write, fsync, rename, fsync of the directory.
 *  On failure the previous content of path is intact and the temp file is
 *  gone. An fsync failure is an error, never retried. Thread-safe. */
enum hkms_rc hkms_store_write_atomic(const char *path, const void *data,
    size_t len, unsigned mode, struct hkms_err *err);

struct hkms_lock;

/** Take an flock() on dir/.lock (created 0600): exclusive for writers,
 *  shared for readers. Blocks until it is free. Release with
 *  hkms_store_unlock(), which accepts NULL. */
enum hkms_rc hkms_store_lock_dir(const char *dir, int exclusive,
    struct hkms_lock **out, struct hkms_err *err);
void hkms_store_unlock(struct hkms_lock *lock);

#endif
