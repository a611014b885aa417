/*
 * Reservations and group commit: token work outside the data lock, and
 * concurrent operations of one process sharing their fsyncs and their
 * signed audit head. docs/store.md, "Group commit".
 *
 * An issuer reserves its record name (a serial) with an O_EXCL file
 * <kind>/<name>.rsv, signs in the token holding no store lock, then hands
 * the record and its audit line to hkms_store_commit(). The first waiter
 * becomes the leader: it takes up to HKMS_STORE_GROUP_MAX queued
 * operations, takes the data lock once and, for the whole batch:
 *
 *   1. writes each record — dumped by its caller before it queued, the
 *      leader only fills in its line's seq and hash — into its
 *      reservation file, through the descriptor the reservation was made
 *      with (no fsync yet; the file is not a record until it is renamed)
 *      and starts its writeback;
 *   2. appends the batch's audit lines with one write(), writes one
 *      signed head (audit.c) and syncs the log, the head and each record
 *      file at the same time (the store's sync workers, atomic.c);
 *   3. renames each record to <name>.json (the commit point of that
 *      record) and fsyncs the data dir and each directory once, again
 *      at the same time;
 *
 * then wakes every operation of the batch with its own result. A crash at
 * any instant leaves each record absent (its reservation file is dropped
 * by recovery; a line without a record is an unacknowledged operation)
 * or whole; the audit lines of a batch cut before its head are one group
 * that verify and the next append accept (audit.c, "group").
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hkms/store.h"
#include "hkms/util.h"
#include "store_int.h"

struct hkms_store_rsv {
	struct hkms_store *st;
	char *kind, *name;
	char *path;		/* <dir>/<kind>/<name>.rsv */
	int committed;		/* renamed into place: nothing to remove */
	int fd;			/* the reservation file, kept open from its
				 * creation for the record (-1: handed to
				 * the batch) */
	dev_t dev;		/* its identity: the name must still be it */
	ino_t ino;
};

struct gc_op {
	struct hkms_store_rsv *r;
	json_t *meta, *detail;
	const char *actor, *op, *object;
	/* the record dumped by its caller before it queued, outside any
	 * lock; the leader fills in the line's seq and hash */
	struct hkms_rec_tmpl tmpl;
	long long when;		/* its "updated" */
	/* results */
	enum hkms_rc rc;
	struct hkms_err err;
	long long seq;
	int done;
	/* the leader's scratch */
	char *jpath;
	int fd;
	struct hkms_psync ps;	/* the record's fdatasync */
	struct gc_op *next;
};

void
hkms_store_gc_init(struct hkms_store *st)
{
	pthread_mutex_init(&st->gc_mu, NULL);
	pthread_cond_init(&st->gc_cv, NULL);
	pthread_cond_init(&st->gc_gather_cv, NULL);
	hkms_store_syncpool_init(&st->sync);
}

void
hkms_store_gc_fini(struct hkms_store *st)
{
	hkms_store_syncpool_fini(&st->sync);
	pthread_cond_destroy(&st->gc_gather_cv);
	pthread_cond_destroy(&st->gc_cv);
	pthread_mutex_destroy(&st->gc_mu);
}

void
hkms_store_commit_intent(struct hkms_store *st, int delta)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->gc_mu);
	st->gc_inflight += delta;
	if (st->gc_inflight < 0)
		st->gc_inflight = 0;
	/* only a withdrawn intent can end the leader's wait; no one else
	 * waits on a count (waking every queued operation here cost two
	 * context switches each per intent) */
	if (delta < 0 && st->gc_gathering)
		pthread_cond_signal(&st->gc_gather_cv);
	pthread_mutex_unlock(&st->gc_mu);
}

void
hkms_store_commit_stats(struct hkms_store *st, unsigned long long *batches,
    unsigned long long *ops)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->gc_mu);
	if (batches != NULL)
		*batches = st->gc_batches;
	if (ops != NULL)
		*ops = st->gc_ops;
	pthread_mutex_unlock(&st->gc_mu);
}

/* ---------------------------------------------------------------- */
/* reservations                                                      */
/* ---------------------------------------------------------------- */

/* Start time of pid (clock ticks since boot, /proc/<pid>/stat field 22),
 * or -1 when the process does not exist or cannot be read. */
static long long
own_start(void)
{
	static long long v;

	if (v <= 0)	/* a failed read (EMFILE) is not kept */
		v = hkms_pid_start((long)getpid());
	return v;
}

static enum hkms_rc
io_fail(struct hkms_err *err, int e, const char *what, const char *path)
{
	if (hkms_store_errno_nospace(e))
		return hkms_err_setc(err, HKMS_E_NOSPACE, "no_space", "no space "
		    "left on device: cannot %s '%s'", what, path);
	return hkms_err_set(err, HKMS_E_IO, "cannot %s '%s': %s", what, path,
	    strerror(e));
}

static unsigned
rec_mode(const char *kind)
{
	return strncmp(kind, "secrets", 7) == 0 &&
	    (kind[7] == '\0' || kind[7] == '/') ? 0600 : 0644;
}

/*
 * Create path holding data, atomically and exclusively: the file appears
 * with its whole content or not at all (a recovery running meanwhile, in
 * another process, never sees it empty and takes it for a dead one's).
 * An O_TMPFILE in the directory, written, then linked to its name
 * (EEXIST when taken). Where O_TMPFILE is missing: O_EXCL and write.
 */
static enum hkms_rc
make_rsv(const char *path, unsigned mode, const char *data, size_t len,
    const char *kind, const char *name, int *out, struct hkms_err *err)
{
	char dir[PATH_MAX], proc[64];
	const char *slash = strrchr(path, '/');
	int fd, e, tmpfile = 1;

	*out = -1;
	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return hkms_err_set(err, HKMS_E_INVALID, "bad path '%s'", path);
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	fd = open(dir, O_NOFOLLOW | O_TMPFILE | O_WRONLY | O_CLOEXEC,
	    (mode_t)mode);
	if (fd < 0) {
		tmpfile = 0;
		/* O_EXCL: atomic across threads and processes; never
		 * through a link (O_EXCL fails on one) */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, (mode_t)mode);
		if (fd < 0) {
			e = errno;
			if (e == EEXIST)
				return hkms_err_set(err, HKMS_E_EXISTS, "'%s/%s' "
				    "is reserved by another operation", kind,
				    name);
			return io_fail(err, e, "reserve", path);
		}
	}
	(void)fchmod(fd, (mode_t)mode);
	if ((e = hkms_store_write_all(fd, data, len)) != 0) {
		close(fd);
		if (!tmpfile)
			unlink(path);
		return io_fail(err, e, "reserve", path);
	}
	if (tmpfile) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path,
		    AT_SYMLINK_FOLLOW) != 0) {
			e = errno;
			close(fd);
			if (e == EEXIST)
				return hkms_err_set(err, HKMS_E_EXISTS, "'%s/%s' "
				    "is reserved by another operation", kind,
				    name);
			return io_fail(err, e, "reserve", path);
		}
	}
	*out = fd;	/* the record is written through it (write_records) */
	return HKMS_OK;
}

enum hkms_rc
hkms_store_reserve(struct hkms_store *st, const char *kind,
    const char *name, struct hkms_store_rsv **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_store_rsv *r = NULL;
	char *jp = NULL, buf[96];
	struct stat sb;
	int n;

	if (st == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	*out = NULL;
	if ((rc = hkms_store_writable(st, err)) != HKMS_OK)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->kind = strdup(kind ? kind : "")) == NULL ||
	    (r->name = strdup(name ? name : "")) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	r->st = st;
	r->fd = -1;
	/* kind and name valid, then the kind's directories checked once
	 * (and a sub-kind made) for both paths */
	if ((rc = hkms_store_rec_path_nocheck(st, kind, name, ".rsv",
	    &r->path, err)) != HKMS_OK ||
	    (rc = hkms_store_rec_path_nocheck(st, kind, name, ".json", &jp,
	    err)) != HKMS_OK ||
	    (rc = hkms_store_kind_ready(st, kind, err)) != HKMS_OK)
		goto out;
	/* without its start time a reservation would be taken for stale
	 * (hkms_pid_alive) */
	if (own_start() <= 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot read the start time "
		    "of this process (/proc/self/stat)");
		goto out;
	}
	n = snprintf(buf, sizeof(buf), "{\"pid\":%ld,\"pid_start\":%lld}\n",
	    (long)getpid(), own_start());
	if ((rc = make_rsv(r->path, rec_mode(kind), buf, (size_t)n, kind, name,
	    &r->fd, err)) != HKMS_OK)
		goto out;
	if (fstat(r->fd, &sb) != 0) {
		rc = io_fail(err, errno, "reserve", r->path);
		unlink(r->path);
		goto out;
	}
	r->dev = sb.st_dev;
	r->ino = sb.st_ino;
	hkms_store_crash_point("gc_reserved");
	/* the name is ours now; a record made before we reserved it wins */
	if (lstat(jp, &sb) == 0) {
		unlink(r->path);
		rc = hkms_err_set(err, HKMS_E_EXISTS, "record '%s/%s' "
		    "exists", kind, name);
		goto out;
	}
	*out = r;
	r = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	if (r != NULL) {
		if (r->fd >= 0)
			close(r->fd);
		free(r->path);
		free(r->kind);
		free(r->name);
		free(r);
	}
	free(jp);
	return rc;
}

void
hkms_store_release(struct hkms_store_rsv *r)
{
	if (r == NULL)
		return;
	if (!r->committed && r->path != NULL)
		(void)unlink(r->path);
	if (r->fd >= 0)
		close(r->fd);

	free(r->path);
	free(r->kind);
	free(r->name);
	free(r);
}

/*
 * A reservation file is live while the process named in it runs (pid and
 * start time). Anything else — its process is gone, or it holds the
 * record a leader was writing when it died (recovery runs under the data
 * lock, so no live leader is mid-batch) — is stale and removed.
 */
void
hkms_store_recover_rsv(const char *dirpath, const char *kind,
    const char *file, json_t *would, json_t *warnings, int *changed)
{
	unsigned char *buf = NULL;
	json_t *j = NULL;
	json_int_t pid = 0, start = 0;
	char *p;
	size_t len;
	int live = 0;

	if ((p = hkms_store_join(dirpath, file, NULL)) == NULL)
		return;
	if (hkms_store_read_file(p, 4096, &buf, &len, NULL) == HKMS_OK &&
	    (j = json_loadb((const char *)buf, len, 0, NULL)) != NULL &&
	    json_is_integer(json_object_get(j, "pid")) &&
	    json_object_size(j) == 2) {
		pid = json_integer_value(json_object_get(j, "pid"));
		start = json_integer_value(json_object_get(j, "pid_start"));
		live = hkms_pid_alive((long)pid, start);
	}
	if (live) {
		if (warnings != NULL)
			hkms_json_push(warnings, "%s/%s: reservation of running "
			    "process %lld (in progress)", kind, file,
			    (long long)pid);
	} else if (would != NULL) {
		hkms_json_push(would, "%s/%s: stale reservation (its process is "
		    "gone) would be dropped", kind, file);
	} else if (warnings != NULL) {
		hkms_json_push(warnings, "%s/%s: stale reservation (dropped on "
		    "open)", kind, file);
	} else if (unlink(p) == 0 && changed != NULL) {
		*changed = 1;
	}
	json_decref(j);
	free(buf);
	free(p);
}

/* ---------------------------------------------------------------- */
/* the batch                                                         */
/* ---------------------------------------------------------------- */

/* records of a batch whose fdatasync runs on its own thread */
#define PSYNC_MAX 16

struct batch {
	struct hkms_store *st;
	struct gc_op **ops;
	size_t n;
};

static void
fail_op(struct gc_op *o, enum hkms_rc rc, const struct hkms_err *e)
{
	if (o->rc != HKMS_OK)
		return;
	o->rc = rc;
	if (e != NULL)
		o->err = *e;
	else
		hkms_err_set(&o->err, rc, "group commit failed");
	if (o->err.rc == HKMS_OK)
		o->err.rc = rc;
}

/*
 * The reservation's descriptor is the file this operation created (by
 * O_TMPFILE + link or O_EXCL): it is written through only while its name
 * is still that file (lstat: same device and inode, a regular file) and
 * the file has no second name (a hard link made since, to be written
 * through too); a name replaced since the reservation — by another file
 * or a link to one outside — is refused and never renamed into a record
 * (test_store_commit_rsv_hardlink, test_store_commit_rsv_replaced).
 */
static enum hkms_rc
rsv_still_ours(const struct hkms_store_rsv *r, struct hkms_err *err)
{
	struct stat ls, fs;

	if (r->fd < 0)
		return hkms_err_set(err, HKMS_E_INVALID, "reservation '%s' "
		    "has no file", r->path);
	if (lstat(r->path, &ls) != 0 || fstat(r->fd, &fs) != 0)
		return io_fail(err, errno, "check", r->path);
	if (!S_ISREG(ls.st_mode) || ls.st_dev != r->dev ||
	    ls.st_ino != r->ino || fs.st_dev != r->dev ||
	    fs.st_ino != r->ino || fs.st_nlink != 1)
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing '%s': not the file reserved (replaced, or it "
		    "has another name)", r->path);
	/* and still as hkms_store_open_file would take it: ours (or
	 * root's), not group/world-writable (a chown or chmod since) */
	return hkms_store_owned_ok(r->path, &fs, err);
}

/* Just before the rename: the reservation's name is still the file the
 * record was written into and synced (lstat: same device and inode, a
 * regular file). What is left between this and the rename is a few
 * microseconds, not the batch's syncs (test_store_commit_rsv_swapped). */
static enum hkms_rc
rsv_name_still(const struct hkms_store_rsv *r, struct hkms_err *err)
{
	struct stat ls;

	if (lstat(r->path, &ls) != 0)
		return io_fail(err, errno, "check", r->path);
	if (!S_ISREG(ls.st_mode) || ls.st_dev != r->dev ||
	    ls.st_ino != r->ino)
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing '%s': not the file the record was written "
		    "into (replaced during the commit)", r->path);
	return HKMS_OK;
}

/* Under the audit lock, every line's seq and hash known: write each
 * record into its reservation file and start its writeback. */
static enum hkms_rc
write_records(void *arg, const struct hkms_audit_rec *recs, size_t n,
    struct hkms_err *err)
{
	struct batch *b = arg;
	enum hkms_rc rc;
	char *dump = NULL;
	size_t i, len = 0;
	int e;

	for (i = 0; i < n; i++) {
		struct gc_op *o = b->ops[i];

		/* the caller's dump with the stamp filled in: the bytes
		 * hkms_store_record_dump would give (test_store_rec_tmpl) */
		if (o->tmpl.text != NULL)
			rc = hkms_store_rec_tmpl_fill(&o->tmpl, recs[i].seq,
			    recs[i].hash, &dump, &len, err);
		else if ((rc = hkms_store_record_dump_at(o->r->name, o->meta,
		    recs[i].seq, recs[i].hash, o->when, &dump, err)) ==
		    HKMS_OK)
			len = strlen(dump);
		if (rc != HKMS_OK)
			return rc;
		/* through the reservation's own descriptor, kept from its
		 * creation; its name must still be that file, with no other
		 * name (rsv_still_ours) */
		if ((rc = rsv_still_ours(o->r, err)) != HKMS_OK) {
			free(dump);
			return rc;
		}
		o->fd = o->r->fd;
		o->r->fd = -1;	/* the batch closes it */
		/* not O_TRUNC: the record is written over the reservation
		 * from its start and the file cut to the record's length
		 * (a record is longer than a reservation: nothing is cut,
		 * no block freed, no discard on a file system mounted with
		 * it); a crash half-way leaves neither a reservation nor a
		 * record, which recovery drops as it drops a whole record
		 * in a .rsv */
		/* from its start: the descriptor is past the reservation's
		 * content */
		e = lseek(o->fd, 0, SEEK_SET) != 0 ? errno :
		    hkms_store_write_all(o->fd, dump, len);
		free(dump);
		dump = NULL;
		if (e == 0)
			e = hkms_store_cut_to(o->fd, len);
		if (e != 0)
			return io_fail(err, e, "write", o->r->path);
		/* start the writeback now */
		(void)sync_file_range(o->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	/* no wait here: starting the writeback maps the files' blocks and
	 * sizes into the running journal transaction, which the audit log's
	 * fdatasync commits (waiting for these data blocks too, in ordered
	 * mode), so their own fdatasync below has nothing left to do; the
	 * record, log and head writes are in flight together */
	hkms_store_crash_point("gc_records_written");
	return HKMS_OK;
}

/* The lines and the head are written, the log's fdatasync starts: each
 * record's fdatasync on its own thread now, so that they all wait for
 * the device together (joined in run_batch before any rename; the first
 * PSYNC_MAX records, the rest there). */
static void
sync_records(void *arg)
{
	struct batch *b = arg;
	size_t i;

	for (i = 0; i < b->n && i < PSYNC_MAX; i++)
		if (b->ops[i]->fd >= 0)
			hkms_store_psync_start(b->st, &b->ops[i]->ps,
			    b->ops[i]->fd, 0);
}

static int
same_dir(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');

	return sa != NULL && sb != NULL && sa - a == sb - b &&
	    strncmp(a, b, (size_t)(sa - a)) == 0;
}

/* Open directory path (dir: path itself, else the one holding it). */
static int
open_dir(const char *path, int dir)
{
	char buf[PATH_MAX];

	return hkms_store_dir_open(path, dir, buf, sizeof(buf));
}

/*
 * The data dir (the head's rename) and each directory of the batch once,
 * all fsync'd at the same time (one thread each but the data dir's):
 * they wait for the device together. A failed data dir fails the whole
 * batch, a failed record directory the operations in it. A crash that
 * keeps a record's rename but loses the head's leaves the record naming
 * a line of the one group after the head: the check accepts that (its
 * line is in the log, with its hash).
 */
static void
sync_dirs(struct hkms_store *st, struct gc_op **ops, size_t n)
{
	struct hkms_psync ps[PSYNC_MAX];
	size_t idx[PSYNC_MAX], nd = 0, i, k, j;
	int fds[PSYNC_MAX], se, dfd;
	struct hkms_err e = { 0 };
	enum hkms_rc rc;

	for (i = 0; i < n; i++) {
		for (k = 0; k < i; k++)
			if (same_dir(ops[k]->jpath, ops[i]->jpath))
				break;
		if (k < i)
			continue;
		if (nd == PSYNC_MAX) {	/* many directories: inline */
			if ((rc = hkms_store_fsync_dir(ops[i]->jpath, 0, &e)) ==
			    HKMS_OK)
				continue;
			hkms_store_note_failure(st, rc, &e);
			for (k = i; k < n; k++)
				if (same_dir(ops[k]->jpath, ops[i]->jpath))
					fail_op(ops[k], rc, &e);
			continue;
		}
		idx[nd] = i;
		if ((fds[nd] = open_dir(ops[i]->jpath, 0)) >= 0)
			hkms_store_psync_start(st, &ps[nd], fds[nd], 1);
		else
			ps[nd] = (struct hkms_psync){ .err = errno,
			    .started = 0 };
		nd++;
	}
	dfd = open_dir(st->dir, 1);
	se = dfd < 0 ? errno : fsync(dfd) != 0 ? errno : 0;
	if (dfd >= 0)
		close(dfd);
	if (se != 0) {
		rc = hkms_err_setc(&e, HKMS_E_IO, "fsync_failed", "cannot "
		    "fsync directory '%s': %s", st->dir, strerror(se));
		hkms_store_note_failure(st, rc, &e);
		for (k = 0; k < n; k++)
			fail_op(ops[k], rc, &e);
	}
	for (j = 0; j < nd; j++) {
		se = fds[j] >= 0 ? hkms_store_psync_wait(st, &ps[j]) :
		    ps[j].err;
		if (fds[j] >= 0)
			close(fds[j]);
		if (se == 0)
			continue;
		i = idx[j];
		rc = hkms_err_setc(&e, HKMS_E_IO, "fsync_failed", "cannot "
		    "fsync the directory of '%s': %s", ops[i]->jpath,
		    strerror(se));
		hkms_store_note_failure(st, rc, &e);
		for (k = i; k < n; k++)
			if (same_dir(ops[k]->jpath, ops[i]->jpath))
				fail_op(ops[k], rc, &e);
	}
}

static void
run_batch(struct hkms_store *st, struct gc_op **ops, size_t n)
{
	struct hkms_audit_rec recs[HKMS_STORE_GROUP_MAX];
	struct batch b = { st, ops, n };
	struct hkms_err e = { 0 };
	enum hkms_rc rc;
	size_t i, k;

	for (i = 0; i < n; i++) {
		ops[i]->rc = HKMS_OK;
		ops[i]->fd = -1;
		ops[i]->seq = 0;
		memset(&ops[i]->ps, 0, sizeof(ops[i]->ps));
	}
	if ((rc = hkms_store_begin(st, &e)) != HKMS_OK) {
		for (i = 0; i < n; i++)
			fail_op(ops[i], rc, &e);
		return;
	}
	if ((rc = hkms_store_writable(st, &e)) != HKMS_OK)
		goto fail_all;
	for (i = 0; i < n; i++) {
		struct gc_op *o = ops[i];

		if (o->r == NULL || o->r->st != st || o->r->committed) {
			rc = hkms_err_set(&e, HKMS_E_INVALID, "commit without a "
			    "reservation");
			goto fail_all;
		}
		if ((rc = hkms_store_rec_path(st, o->r->kind, o->r->name,
		    ".json", &o->jpath, &e)) != HKMS_OK ||
		    (rc = hkms_store_not_link(o->jpath, &e)) != HKMS_OK)
			goto fail_all;
		recs[i] = (struct hkms_audit_rec){ o->actor, o->op, o->object,
		    "ok", o->detail, 0, "" };
	}
	rc = hkms_audit_append_group(st, recs, n, write_records,
	    sync_records, &b, &e);
	/* the records' syncs started by write_records end here, whatever
	 * happened */
	for (i = 0; i < n; i++)
		ops[i]->ps.err = hkms_store_psync_wait(st, &ops[i]->ps);
	if (rc != HKMS_OK)
		goto fail_all;
	for (i = 0; i < n; i++)
		ops[i]->seq = recs[i].seq;
	hkms_store_crash_point("gc_after_head");
	/* each record's content durable before its rename */
	for (i = 0; i < n; i++) {
		/* a new file: its data and size (fdatasync, on its own
		 * thread for the first PSYNC_MAX: sync_records) */
		int se = ops[i]->ps.started ? ops[i]->ps.err :
		    fdatasync(ops[i]->fd) != 0 ? errno : 0;

		if (se != 0) {
			rc = hkms_err_setc(&e, HKMS_E_IO, "fsync_failed",
			    "cannot fdatasync '%s': %s", ops[i]->r->path,
			    strerror(se));
			hkms_store_note_failure(st, rc, &e);
			/* fatal for the batch: never retried */
			for (k = i; k < n; k++)
				fail_op(ops[k], rc, &e);
			break;
		}
	}
	for (i = 0; i < n; i++) {
		close(ops[i]->fd);
		ops[i]->fd = -1;
	}
	for (i = 0; i < n; i++) {
		if (ops[i]->rc != HKMS_OK)
			continue;
		if (i == n / 2 && i > 0)
			hkms_store_crash_point("gc_mid_records");
		/* the name is still the file written and synced: it may have
		 * been replaced during the syncs since write_records checked
		 * it, and a rename takes whatever the name is now */
		if ((rc = rsv_name_still(ops[i]->r, &e)) != HKMS_OK) {
			fail_op(ops[i], rc, &e);
			continue;
		}
		if (rename(ops[i]->r->path, ops[i]->jpath) != 0) {
			rc = hkms_err_set(&e, HKMS_E_IO, "cannot rename '%s': %s",
			    ops[i]->r->path, strerror(errno));
			fail_op(ops[i], rc, &e);
			continue;
		}
		ops[i]->r->committed = 1;
	}
	/* the data dir (the head's rename) first, then each directory of
	 * the batch once: on a journalled file system the first fsync
	 * commits every rename of the batch, the others find nothing left.
	 * A crash that keeps a record's rename but loses the head's leaves
	 * the record naming a line of the one group after the head: the
	 * check accepts that (its line is in the log, with its hash). */
	sync_dirs(st, ops, n);
	goto out;
fail_all:
	for (i = 0; i < n; i++)
		fail_op(ops[i], rc, &e);
out:
	for (i = 0; i < n; i++) {
		if (ops[i]->fd >= 0)
			close(ops[i]->fd);
		ops[i]->fd = -1;
		free(ops[i]->jpath);
		ops[i]->jpath = NULL;
	}
	hkms_store_end(st);
}

/* 1 if this thread holds the data lock of st (a batch led from here
 * would wait for itself: commit inline). */
static int
holds_data_lock(struct hkms_store *st)
{
	int mine;

	if (pthread_mutex_trylock(&st->mu) != 0)
		return 0;	/* another thread has it */
	mine = st->depth > 0;
	pthread_mutex_unlock(&st->mu);
	return mine;
}

static long long
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t
queued(const struct hkms_store *st)
{
	const struct gc_op *o;
	size_t n = 0;

	for (o = st->gc_head; o != NULL; o = o->next)
		n++;
	return n;
}

/*
 * The leader (gc_mu held), alone in the queue: while more operations of
 * this process have announced a commit (hkms_store_commit_intent) than
 * are queued — the others are still building or signing — wait for
 * them, at most as long as the last batch took to write (and never more
 * than 2 ms): one batch for all of them costs about what one batch for
 * the leader alone would. With two or more queued the batch goes at once:
 * the operations still running arrive while it writes and make the next
 * batch, so the device is never idle while anything is queued (waiting
 * for them too left it idle for up to 2 ms per batch with 8 callers).
 * gc_busy is set, so no one else leads.
 */
static void
gather_wait(struct hkms_store *st)
{
	long long budget = st->gc_last_ns, end;
	struct timespec ts;

	if (queued(st) >= 2)
		return;
	if (budget > 2000000)
		budget = 2000000;
	if (budget <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	end = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec + budget;
	ts.tv_sec = (time_t)(end / 1000000000LL);
	ts.tv_nsec = (long)(end % 1000000000LL);
	st->gc_gathering = 1;
	while ((size_t)st->gc_inflight > queued(st) &&
	    queued(st) < HKMS_STORE_GROUP_MAX)
		if (pthread_cond_timedwait(&st->gc_gather_cv, &st->gc_mu,
		    &ts) != 0)
			break;
	st->gc_gathering = 0;
}

enum hkms_rc
hkms_store_commit(struct hkms_store *st, struct hkms_store_rsv *r,
    json_t *meta, const char *actor, const char *op, const char *object,
    json_t *detail, long long *seq, struct hkms_err *err)
{
	struct gc_op me, *batch[HKMS_STORE_GROUP_MAX], *o;
	enum hkms_rc rc;
	long long t0;
	size_t n;

	if (seq != NULL)
		*seq = 0;
	if (st == NULL || r == NULL || op == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "commit: missing "
		    "argument");
	memset(&me, 0, sizeof(me));
	me.r = r;
	me.meta = meta;
	me.detail = detail;
	me.actor = actor;
	me.op = op;
	me.object = object;
	me.fd = -1;
	/* the record's JSON now, in the caller's thread: the leader only
	 * fills in the stamp (no copy, no dump under the data lock) */
	me.when = (long long)time(NULL);
	if (meta != NULL && !json_is_object(meta))
		return hkms_err_set(err, HKMS_E_INVALID, "metadata for '%s' "
		    "is not a JSON object", r->name);
	if ((rc = hkms_store_rec_tmpl_make(r->name, meta, me.when, &me.tmpl,
	    err)) != HKMS_OK)
		return rc;
	if (holds_data_lock(st)) {
		batch[0] = &me;
		run_batch(st, batch, 1);
		me.done = 1;
		pthread_mutex_lock(&st->gc_mu);
		st->gc_batches++;
		st->gc_ops++;
		pthread_mutex_unlock(&st->gc_mu);
	}
	pthread_mutex_lock(&st->gc_mu);
	if (!me.done) {
		if (st->gc_tail != NULL)
			st->gc_tail->next = &me;
		else
			st->gc_head = &me;
		st->gc_tail = &me;
	}
	if (!me.done && st->gc_gathering)
		pthread_cond_signal(&st->gc_gather_cv);	/* a waiting leader */
	while (!me.done) {
		if (st->gc_busy) {
			pthread_cond_wait(&st->gc_cv, &st->gc_mu);
			continue;
		}
		/* the leader: everything queued so far, up to the max */
		st->gc_busy = 1;
		gather_wait(st);
		for (n = 0; n < HKMS_STORE_GROUP_MAX && st->gc_head != NULL;
		    n++) {
			o = st->gc_head;
			st->gc_head = o->next;
			o->next = NULL;
			batch[n] = o;
		}
		if (st->gc_head == NULL)
			st->gc_tail = NULL;
		pthread_mutex_unlock(&st->gc_mu);
		t0 = mono_ns();
		run_batch(st, batch, n);
		pthread_mutex_lock(&st->gc_mu);
		st->gc_last_ns = mono_ns() - t0;
		st->gc_batches++;
		st->gc_ops += n;
		for (size_t i = 0; i < n; i++)
			batch[i]->done = 1;
		st->gc_busy = 0;
		pthread_cond_broadcast(&st->gc_cv);
	}
	pthread_mutex_unlock(&st->gc_mu);
	hkms_store_rec_tmpl_free(&me.tmpl);
	if (seq != NULL)
		*seq = me.seq;
	if (me.rc != HKMS_OK && err != NULL)
		*err = me.err;
	return me.rc;
}
