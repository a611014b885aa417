/*
 * The truststore change journal: <data>/trust/changes.log, one JSON line
 * per committed change {"seq","event","alias","time_ms","thumbprints"},
 * appended with O_APPEND and fdatasync() by the writer that made the
 * change while it still holds the data lock, so seq is gap-free and in
 * commit order across processes.
 *
 * Readers (`trust watch`, hkms_trust_watch_next) keep an fd and an offset
 * and only consume complete lines, so a line being written, or a torn
 * line left by a crash (cut off by the next writer before it appends),
 * is never taken. Past TRUST_JOURNAL_MAX bytes the writer renames the
 * journal to changes.log.1 and starts a new one with the next seq; a
 * reader still holds the old file open, reads it to its end, then moves
 * to the new one, so nothing is lost unless two rotations pass between
 * two reads (reported as a "resync" event).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"
#include "trust_int.h"

struct hkms_trust_watch {
	struct hkms_trust *tr;
	int fd;			/* journal being read, -1 if none yet */
	ino_t ino;
	off_t off;		/* end of the last complete line consumed */
	uint64_t seq;		/* last seq returned */
	int ino_fd;		/* this watcher's inotify, or -1 */
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Find the seq of the last complete line of fd (size bytes) and where
 * complete lines end (*end; < size if a torn line follows). Reads a
 * window from the end, growing it until the last line fits.
 */
static void
journal_tail(int fd, off_t size, uint64_t *seq, off_t *end)
{
	size_t win = 8192;
	off_t start;
	ssize_t n, i, last_nl, prev_nl;
	char *buf;
	json_t *j;

	*seq = 0;
	*end = 0;
	for (;;) {
		start = size > (off_t)win ? size - (off_t)win : 0;
		if (size <= 0 || (buf = malloc((size_t)(size - start))) ==
		    NULL)
			return;
		n = pread(fd, buf, (size_t)(size - start), start);
		last_nl = prev_nl = -1;
		for (i = n - 1; i >= 0; i--) {
			if (buf[i] != '\n')
				continue;
			if (last_nl < 0) {
				last_nl = i;
			} else {
				prev_nl = i;
				break;
			}
		}
		if (n > 0 && (prev_nl >= 0 || start == 0 ||
		    (last_nl < 0 && win >= (size_t)TRUST_JOURNAL_MAX * 4))) {
			if (last_nl >= 0) {
				*end = start + last_nl + 1;
				j = json_loadb(buf + prev_nl + 1,
				    (size_t)(last_nl - prev_nl - 1), 0, NULL);
				if (j != NULL)
					*seq = (uint64_t)json_integer_value(
					    json_object_get(j, "seq"));
				json_decref(j);
			}
			free(buf);
			return;
		}
		free(buf);
		if (n <= 0)
			return;
		win *= 8;
	}
}

/* The last seq of the rotated journal (for a fresh journal's first line). */
static uint64_t
old_journal_seq(const char *dir)
{
	char *p = hkms_store_join(dir, TRUST_JOURNAL_OLD, NULL);
	struct stat sb;
	uint64_t seq = 0;
	off_t end;
	int fd;

	if (p != NULL && hkms_store_open_file(p, O_RDONLY, 0, &fd, NULL) ==
	    HKMS_OK) {
		if (fstat(fd, &sb) == 0)
			journal_tail(fd, sb.st_size, &seq, &end);
		close(fd);
	}
	free(p);
	return seq;
}

enum hkms_rc
trust_journal_append(struct hkms_trust *tr, const char *event,
    const char *alias, json_t *thumbs, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	json_t *rec = NULL;
	char *line = NULL, *old = NULL;
	struct stat sb;
	uint64_t seq = 0;
	off_t end;
	int fd = -1, created = 0, e;
	size_t len;

	rc = hkms_store_open_file(tr->journal, O_RDWR | O_APPEND, 0, &fd,
	    err);
	if (rc == HKMS_E_NOT_FOUND) {
		rc = hkms_store_open_file(tr->journal, O_RDWR | O_APPEND |
		    O_CREAT, 0644, &fd, err);
		created = 1;
	}
	if (rc != HKMS_OK)
		goto out;
	if (fstat(fd, &sb) != 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s",
		    tr->journal, strerror(errno));
		goto out;
	}
	journal_tail(fd, sb.st_size, &seq, &end);
	if (end < sb.st_size && ftruncate(fd, end) != 0) {
		/* a torn line from a crash: cut it before appending */
		rc = hkms_err_set(err, HKMS_E_IO, "cannot truncate '%s': %s",
		    tr->journal, strerror(errno));
		goto out;
	}
	if (end == 0)
		seq = old_journal_seq(tr->dir);
	if (end > TRUST_JOURNAL_MAX) {
		if ((old = hkms_store_join(tr->dir, TRUST_JOURNAL_OLD, NULL)) ==
		    NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		if (rename(tr->journal, old) != 0) {
			rc = hkms_err_set(err, HKMS_E_IO, "cannot rotate '%s': "
			    "%s", tr->journal, strerror(errno));
			goto out;
		}
		close(fd);
		created = 1;
		if ((rc = hkms_store_open_file(tr->journal, O_RDWR | O_APPEND |
		    O_CREAT | O_EXCL, 0644, &fd, err)) != HKMS_OK)
			goto out;
	}
	if ((rec = json_object()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(rec, "seq", json_integer((json_int_t)(seq + 1)));
	json_object_set_new(rec, "event", json_string(event));
	json_object_set_new(rec, "alias", json_string(alias));
	json_object_set_new(rec, "time_ms", json_integer(wall_ms()));
	json_object_set(rec, "thumbprints", thumbs ? thumbs : json_null());
	if ((line = json_dumps(rec, JSON_COMPACT)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	len = strlen(line);
	line[len++] = '\n';	/* json_dumps left room: we replace the NUL */
	if ((e = hkms_store_write_all(fd, line, len)) != 0) {
		rc = hkms_err_set(err, hkms_store_errno_nospace(e) ?
		    HKMS_E_NOSPACE : HKMS_E_IO, "cannot append to '%s': %s",
		    tr->journal, strerror(e));
		goto out;
	}
	if (fdatasync(fd) != 0) {
		rc = hkms_err_setc(err, HKMS_E_IO, "fsync_failed", "cannot "
		    "sync '%s': %s", tr->journal, strerror(errno));
		hkms_store_note_failure(tr->st, rc, err);
		goto out;
	}
	if (created && (rc = hkms_store_fsync_dir(tr->journal, 0, err)) !=
	    HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	if (fd >= 0)
		close(fd);
	json_decref(rec);
	free(line);
	free(old);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Watching                                                             */
/* ------------------------------------------------------------------ */

enum hkms_rc
hkms_trust_watch_open(struct hkms_trust *tr, struct hkms_trust_watch **out,
    struct hkms_err *err)
{
	struct hkms_trust_watch *w;
	enum hkms_rc rc;
	struct stat sb;
	off_t end;

	if (tr == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no truststore");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	w->tr = tr;
	rc = hkms_store_open_file(tr->journal, O_RDONLY, 0, &w->fd, err);
	if (rc != HKMS_OK && rc != HKMS_E_NOT_FOUND) {
		free(w);
		return rc;	/* a link: refused */
	}
	if (rc == HKMS_E_NOT_FOUND)
		hkms_err_clear(err);	/* no journal yet */
	if (w->fd >= 0 && fstat(w->fd, &sb) == 0) {
		w->ino = sb.st_ino;
		journal_tail(w->fd, sb.st_size, &w->seq, &end);
		w->off = end;
	}
	w->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ino_fd >= 0 && inotify_add_watch(w->ino_fd, tr->dir,
	    IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		close(w->ino_fd);
		w->ino_fd = -1;
	}
	*out = w;
	return HKMS_OK;
}

void
hkms_trust_watch_close(struct hkms_trust_watch *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->ino_fd >= 0)
		close(w->ino_fd);
	free(w);
}

/* Consume the complete lines of w->fd after w->off into events. */
static enum hkms_rc
read_lines(struct hkms_trust_watch *w, json_t *events, struct hkms_err *err)
{
	char buf[65536];
	ssize_t n, i, start;
	json_t *j, *gap;
	uint64_t seq;

	for (;;) {
		n = pread(w->fd, buf, sizeof(buf), w->off);
		if (n < 0)
			return hkms_err_set(err, HKMS_E_IO, "cannot read the "
			    "truststore journal: %s", strerror(errno));
		if (n == 0)
			return HKMS_OK;
		for (start = 0, i = 0; i < n; i++) {
			if (buf[i] != '\n')
				continue;
			j = json_loadb(buf + start, (size_t)(i - start), 0,
			    NULL);
			start = i + 1;
			if (j == NULL)
				continue;	/* not ours to judge: skip */
			seq = (uint64_t)json_integer_value(json_object_get(j,
			    "seq"));
			if (seq <= w->seq) {
				json_decref(j);
				continue;
			}
			if (w->seq != 0 && seq > w->seq + 1) {
				gap = json_object();
				json_object_set_new(gap, "event",
				    json_string("resync"));
				json_object_set_new(gap, "from_seq",
				    json_integer((json_int_t)w->seq + 1));
				json_object_set_new(gap, "to_seq",
				    json_integer((json_int_t)seq - 1));
				json_array_append_new(events, gap);
			}
			w->seq = seq;
			json_array_append_new(events, j);
		}
		if (start == 0 && n == (ssize_t)sizeof(buf))
			return hkms_err_set(err, HKMS_E_INVALID, "truststore "
			    "journal line too long");
		w->off += start;
		if (start < n)
			return HKMS_OK;	/* an incomplete line: later */
	}
}

/* Read what is new; switch to a new journal file once the old is done. */
static enum hkms_rc
poll_journal(struct hkms_trust_watch *w, json_t *events, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct stat sb;
	int fd;

	for (;;) {
		if (w->fd >= 0 && (rc = read_lines(w, events, err)) != HKMS_OK)
			return rc;
		if (stat(w->tr->journal, &sb) != 0 ||
		    (w->fd >= 0 && sb.st_ino == w->ino))
			return HKMS_OK;
		/* rotated (or created): the old file is complete; move on */
		if (hkms_store_open_file(w->tr->journal, O_RDONLY, 0, &fd,
		    NULL) != HKMS_OK)
			return HKMS_OK;
		if (w->fd >= 0)
			close(w->fd);
		w->fd = fd;
		w->off = 0;
		if (fstat(fd, &sb) == 0)
			w->ino = sb.st_ino;
	}
}

enum hkms_rc
hkms_trust_watch_next(struct hkms_trust_watch *w, int timeout_ms,
    json_t **events, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	int64_t deadline = timeout_ms < 0 ? -1 : trust_now_ms() + timeout_ms;
	json_t *ev = NULL;
	struct pollfd pfd;
	int wait;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (w == NULL || events == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no watcher");
	if ((ev = json_array()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	for (;;) {
		if ((rc = poll_journal(w, ev, err)) != HKMS_OK)
			goto out;
		if (json_array_size(ev) > 0)
			break;
		wait = HKMS_TRUST_RECHECK_MS;
		if (deadline >= 0) {
			int64_t left = deadline - trust_now_ms();

			if (left <= 0)
				break;
			if (left < wait)
				wait = (int)left;
		}
		if (w->ino_fd >= 0) {
			pfd.fd = w->ino_fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, wait) > 0)
				while (read(w->ino_fd, buf, sizeof(buf)) > 0)
					;
		} else {
			poll(NULL, 0, wait);
		}
	}
	*events = ev;
	ev = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(ev);
	return rc;
}
