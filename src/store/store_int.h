/*
 * Internals shared by the store sources (atomic.c, store.c, audit.c).
 * Not a public interface: other modules use include/hkms/store.h.
 */
#ifndef HKMS_STORE_INT_H
#define HKMS_STORE_INT_H

#include <pthread.h>
#include <stddef.h>

#include "hkms/store.h"

struct hkms_store;

/** A sync run by one of the store's sync workers (atomic.c): the syncs of
 *  one batch then wait for the device together (concurrent syncs share
 *  the journal commit and the cache flush) instead of one after the
 *  other; each file is still synced itself. fd is borrowed and stays open
 *  until wait. dir: fsync, else fdatasync. Without a worker (none could
 *  be made, or after a fork) the sync runs inline. wait returns 0 or the
 *  sync's errno (0 when never started). */
struct hkms_psync {
	struct hkms_psync *next;
	int fd, dir, err, started;
	int state;		/* under the pool's mu: 1 queued, 2 done */
};
void hkms_store_psync_start(struct hkms_store *st, struct hkms_psync *p,
    int fd, int dir);
int hkms_store_psync_wait(struct hkms_store *st, struct hkms_psync *p);

/** The store's sync workers, started on first use, stopped by fini. */
#define HKMS_SYNC_WORKERS 4
struct hkms_syncpool {
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	struct hkms_psync *head, *tail;
	pthread_t th[HKMS_SYNC_WORKERS];
	int nth, stop;
	long pid;		/* the process that started them */
};
void hkms_store_syncpool_init(struct hkms_syncpool *sp);
void hkms_store_syncpool_fini(struct hkms_syncpool *sp);

struct hkms_store {
	char *dir;		/* data directory, as given */
	pthread_mutex_t mu;	/* recursive; serializes threads on the data lock */
	int depth;		/* begin() nesting, only modified with mu held */
	struct hkms_lock *lock;	/* <dir>/.lock while depth > 0 */
	int daemon_fd;		/* <dir>/.daemon.lock or -1 */
	int read_only;		/* set after an fsync failure */
	int check_only;		/* opened read-only: no writes */
	/* the audit key (audit.c); all but the stamp under mu */
	struct hkms_audit_key akey;	/* provider, when akey_set */
	int akey_set;
	int akey_state;		/* AKEY_* */
	unsigned char *akey_spki;	/* the token's audit public key */
	size_t akey_len;
	char akey_fpr[65];	/* hex SHA-256 of akey_spki */
	char akey_pin[65];	/* configured fingerprint, or "" */
	void *trusted_head;	/* audit.c: last head known good, under the
				 * audit lock */
	void *head_cache;	/* audit.c: the bytes of the head this store
				 * object last wrote and their parse; under
				 * the audit lock */
	struct hkms_err akey_err;	/* why AKEY_ERROR */
	/* the write-ahead audit line of the running operation: stamped into
	 * every record put until the outermost hkms_store_end() */
	long long stamp_seq;	/* 0 = none */
	char stamp_hash[65];
	/* group commit (commit.c): operations waiting to commit, and
	 * whether a leader is writing a batch; all under gc_mu */
	pthread_mutex_t gc_mu;
	pthread_cond_t gc_cv;	/* a batch ended: its operations are done,
				 * the lead is free (broadcast once a batch) */
	pthread_cond_t gc_gather_cv;	/* the gathering leader: an operation
					 * queued or an intent withdrawn */
	struct gc_op *gc_head, *gc_tail;
	int gc_busy;
	int gc_gathering;	/* the leader waits in gather_wait */
	int gc_inflight;	/* operations running that will commit
				 * (hkms_store_commit_intent) */
	long long gc_last_ns;	/* how long the last batch took */
	unsigned long long gc_batches, gc_ops;	/* counters (tests) */
	struct hkms_syncpool sync;	/* a batch's syncs (atomic.c) */
};

enum { AKEY_UNKNOWN = 0, AKEY_NONE, AKEY_HAVE, AKEY_ERROR };

/** Each audit line's hash by seq - 1, and the head's seq. */
struct hkms_audit_lines {
	unsigned char (*hash)[32];
	size_t n, cap;
	long long head_seq;
	long long group_end;	/* last line of the one line or group a crash
				 * may leave after the head (= head_seq if
				 * none, or if verify failed) */
};

/** hkms_audit_verify, also filling t (may be NULL; free it with
 *  hkms_audit_lines_free) for the record cross-check. */
enum hkms_rc hkms_audit_verify_lines(struct hkms_store *st, json_t **report,
    struct hkms_audit_lines *t, struct hkms_err *err);
void hkms_audit_lines_free(struct hkms_audit_lines *t);

/** Take .audit.lock exclusively (blocking); the fd to close, or -1. For
 *  recovery of the data-dir root, where audit.head's temp files live. */
int hkms_audit_lock(struct hkms_store *st, struct hkms_err *err);

/** _exit(137) if HKMS_STORE_CRASH_AT names step (and its count is due);
 *  a no-op unless built with HKMS_TEST_HOOKS. */
void hkms_store_crash_point(const char *step);
#ifdef HKMS_TEST_HOOKS
/** Test builds: called at each crash point with its step (unit tests
 * act there, e.g. swap a file between two steps of a batch). */
extern void (*hkms_store_test_step)(const char *step);
#endif

/** Write all of len bytes, retrying on EINTR and short writes; 0 or errno. */
int hkms_store_write_all(int fd, const void *data, size_t len);
/** Cut fd to len bytes if it is longer; 0 or errno. */
int hkms_store_cut_to(int fd, size_t len);

/** fsync() the directory that contains path (dir = 1: path is the dir). */
/** Open path's directory (dir: path itself) read-only, to fsync it; the
 *  directory's name is left in buf. -1 with errno on failure. */
int hkms_store_dir_open(const char *path, int dir, char *buf, size_t cap);
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
struct stat;
/** The owner and mode rule of hkms_store_open_file() for sb (of path):
 *  root's or ours, not group/world-writable; else unsafe_path. */
enum hkms_rc hkms_store_owned_ok(const char *path, const struct stat *sb,
    struct hkms_err *err);

/** 1 if an error code from a write-ish syscall means "disk full". */
int hkms_store_errno_nospace(int e);

/** Mark st read-only when rc came from an fsync failure (err->code). */
void hkms_store_note_failure(struct hkms_store *st, enum hkms_rc rc,
    const struct hkms_err *err);

/** hkms_store_write_atomic in two steps, so that several files can share
 *  one journal commit: begin creates the temp file, writes it and starts
 *  its writeback (crash point after_write); finish fsyncs (fdatasync
 *  with HKMS_ATOMIC_DATASYNC: a new file's data and size, no timestamps),
 *  renames and fsyncs the directory (unless HKMS_ATOMIC_NO_DIRSYNC) (after_fsync, after_rename); abort removes the
 *  temp file. finish and abort release a; begin leaves nothing behind on
 *  failure. */
#include <limits.h>
struct hkms_atomic {
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd;
	int spare;	/* tmp is a spare file: exchanged with path, kept */
};
enum hkms_rc hkms_store_atomic_begin(const char *path, const void *data,
    size_t len, unsigned mode, struct hkms_atomic *a, struct hkms_err *err);
/** Like hkms_store_atomic_begin, but the new contents go into the file
 *  spare (made when missing, emptied when there), which finish exchanges
 *  with path (renameat2 RENAME_EXCHANGE): the old contents stay in spare
 *  for the next write, so no inode is freed or made per write (a file
 *  replaced hundreds of times a second — audit.head — made ext4's inode
 *  allocator scan its recently freed inodes on every create). Where the
 *  exchange is not possible (path missing, a file system without it)
 *  spare is renamed onto path as a temp file would be. The caller
 *  serializes writers of spare (the audit lock). */
enum hkms_rc hkms_store_atomic_begin_spare(const char *path,
    const char *spare, const void *data, size_t len, unsigned mode,
    struct hkms_atomic *a, struct hkms_err *err);
#define HKMS_ATOMIC_DATASYNC 1	/* fdatasync instead of fsync */
#define HKMS_ATOMIC_NO_DIRSYNC 2	/* the caller fsyncs the directory */
#define HKMS_ATOMIC_SYNCED 4	/* the caller synced a->fd already */
enum hkms_rc hkms_store_atomic_finish(struct hkms_atomic *a, int flags,
    struct hkms_err *err);
void hkms_store_atomic_abort(struct hkms_atomic *a);


/** Join dir/kind/file (any part may be NULL to skip); malloc'd or NULL. */
char *hkms_store_join(const char *a, const char *b, const char *c);

/** One audit line of a group (hkms_audit_append_group): in actor, op,
 *  object, result, detail (borrowed); out seq and hash. */
struct hkms_audit_rec {
	const char *actor, *op, *object, *result;
	json_t *detail;
	long long seq;
	char hash[65];
};

/** Called under the audit lock once every line's seq and hash are known,
 *  before the lines are written; an error abandons the whole append. */
typedef enum hkms_rc (*hkms_audit_before_fn)(void *arg,
    const struct hkms_audit_rec *recs, size_t n, struct hkms_err *err);

/** Called (with before's arg) once the lines and the head's temp file are
 *  written, just as the log's fdatasync starts: the caller starts its own
 *  files' syncs then, so that they all wait for the device together. */
typedef void (*hkms_audit_syncing_fn)(void *arg);

/** Append n (1..HKMS_STORE_GROUP_MAX) sealed lines as one group: one
 *  write(), one fdatasync(), one signed head. With n > 1 each line has
 *  "group":[first seq, n], so that verify accepts the whole group after
 *  the head (a crash between the lines and their head). syncing may be
 *  NULL. */
enum hkms_rc hkms_audit_append_group(struct hkms_store *st,
    struct hkms_audit_rec *recs, size_t n, hkms_audit_before_fn before,
    hkms_audit_syncing_fn syncing, void *barg, struct hkms_err *err);

/** The record file content put writes (schema, name, updated, the audit
 *  stamp when seq > 0, pem_sha256 removed): malloc'd, ends in '\n'. */
enum hkms_rc hkms_store_record_dump(const char *name, json_t *meta,
    long long seq, const char *hash, char **out, struct hkms_err *err);
/** hkms_store_record_dump with "updated" at when (seconds). */
enum hkms_rc hkms_store_record_dump_at(const char *name, json_t *meta,
    long long seq, const char *hash, long long when, char **out,
    struct hkms_err *err);

/** A record dumped before its audit line is known (group commit: built
 *  by the caller, outside the data lock): the dump with a placeholder
 *  audit_seq and audit_hash, and where they are. */
struct hkms_rec_tmpl {
	char *text;	/* NULL: none (hkms_store_record_dump then) */
	size_t len;
	size_t hash_off;	/* the 64 placeholder hex digits */
	size_t seq_off, seq_len;	/* the placeholder integer */
};

/** Dump name/meta as hkms_store_record_dump_at would with a line not yet
 *  known; hkms_store_rec_tmpl_fill() then gives, for (seq, hash), the
 *  very bytes hkms_store_record_dump_at(name, meta, seq, hash, when)
 *  gives. */
enum hkms_rc hkms_store_rec_tmpl_make(const char *name, json_t *meta,
    long long when, struct hkms_rec_tmpl *t, struct hkms_err *err);
/** The record for seq (> 0) and hash (64 lower-case hex digits):
 *  malloc'd, NUL-terminated, *len its length. */
enum hkms_rc hkms_store_rec_tmpl_fill(const struct hkms_rec_tmpl *t,
    long long seq, const char *hash, char **out, size_t *len,
    struct hkms_err *err);
void hkms_store_rec_tmpl_free(struct hkms_rec_tmpl *t);

/** Recovery of reservation files (<name>.rsv) in dirpath: with would
 *  set, note what would be done; else remove stale ones. *changed = 1
 *  when something was removed. */
void hkms_store_recover_rsv(const char *dirpath, const char *kind,
    const char *file, json_t *would, json_t *warnings, int *changed);

/** store.c's record path ("<dir>/<kind>/<name><ext>", validated), the
 *  writability check and the sub-kind mkdir, for commit.c. */
enum hkms_rc hkms_store_rec_path(struct hkms_store *st, const char *kind,
    const char *name, const char *ext, char **out, struct hkms_err *err);
enum hkms_rc hkms_store_writable(struct hkms_store *st, struct hkms_err *err);
enum hkms_rc hkms_store_ensure_kind(struct hkms_store *st, const char *kind,
    struct hkms_err *err);
/* For the reserver: the kind's directories checked (lstat: real, ours;
 * a sub-kind created if missing) once, then paths in them built without
 * checking them again. */
enum hkms_rc hkms_store_kind_ready(struct hkms_store *st, const char *kind,
    struct hkms_err *err);
enum hkms_rc hkms_store_rec_path_nocheck(struct hkms_store *st,
    const char *kind, const char *name, const char *ext, char **out,
    struct hkms_err *err);

/** Set up / tear down the group-commit state of st. */
void hkms_store_gc_init(struct hkms_store *st);
void hkms_store_gc_fini(struct hkms_store *st);

/** The audit recovery step run by hkms_store_open (create audit.head). */
enum hkms_rc hkms_audit_init(struct hkms_store *st, struct hkms_err *err);

#endif
