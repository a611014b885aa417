/*
 * Internals shared by the store sources (atomic.c, store.c, audit.c).
 * Not a public interface: other modules use include/hkms/store.h.
 */
#ifndef HKMS_STORE_INT_H
#define HKMS_STORE_INT_H

#include <pthread.h>
#include <stddef.h>

#include "hkms/store.h"

struct hkms_store {
	char *dir;		/* data directory, as given */
	pthread_mutex_t mu;	/* recursive; serializes threads on the data lock */
	int depth;		/* begin() nesting, only modified with mu held */
	struct hkms_lock *lock;	/* <dir>/.lock while depth > 0 */
	int daemon_fd;		/* <dir>/.daemon.lock or -1 */
	int read_only;		/* set after an fsync failure */
	int check_only;		/* opened read-only: no writes */
};

/** _exit(137) if HKMS_STORE_CRASH_AT names step (and its count is due);
 *  a no-op unless built with HKMS_TEST_HOOKS. */
void hkms_store_crash_point(const char *step);

/** Write all of len bytes, retrying on EINTR and short writes; 0 or errno. */
int hkms_store_write_all(int fd, const void *data, size_t len);

/** fsync() the directory that contains path (dir = 1: path is the dir). */
enum hkms_rc hkms_store_fsync_dir(const char *path, int dir,
    struct hkms_err *err);

/** Open a file under the data dir into *fd: open(path, flags |
 *  O_NOFOLLOW | O_CLOEXEC, mode), never blocking on a FIFO, and only a
 *  regular file. A symlink or anything but a regular file gives
 *  HKMS_E_DENIED, code "unsafe_path", naming path; a missing file
 *  HKMS_E_NOT_FOUND (errno kept). *fd is -1 on failure. Every open of a
 *  data-dir file goes through here. */
enum hkms_rc hkms_store_open_file(const char *path, int flags,
    unsigned mode, int *fd, struct hkms_err *err);

/** Read a whole data-dir file (at most max bytes) through
 *  hkms_store_open_file(); *out is NUL-terminated, the caller frees it.
 *  HKMS_E_NOT_FOUND when missing, "unsafe_path" for a link. */
enum hkms_rc hkms_store_read_file(const char *path, size_t max,
    unsigned char **out, size_t *outlen, struct hkms_err *err);

/** HKMS_OK if path is a real directory (lstat: not a symlink);
 *  HKMS_E_NOT_FOUND if missing; "unsafe_path" otherwise. */
enum hkms_rc hkms_store_real_dir(const char *path, struct hkms_err *err);

/** "unsafe_path" if path is a symlink; HKMS_OK otherwise (also missing). */
enum hkms_rc hkms_store_not_link(const char *path, struct hkms_err *err);

/** 1 if an error code from a write-ish syscall means "disk full". */
int hkms_store_errno_nospace(int e);

/** Mark st read-only when rc came from an fsync failure (err->code). */
void hkms_store_note_failure(struct hkms_store *st, enum hkms_rc rc,
    const struct hkms_err *err);

/** Join dir/kind/file (any part may be NULL to skip); malloc'd or NULL. */
char *hkms_store_join(const char *a, const char *b, const char *c);

/** The audit recovery step run by hkms_store_open (create audit.head). */
enum hkms_rc hkms_audit_init(struct hkms_store *st, struct hkms_err *err);

#endif
