/*
 * The store object: metadata records and plain files under one data dir.
 *
 * A record is <data>/<kind>/<name>.json (readable, schema-versioned) with
 * an optional <name>.pem beside it. The JSON is the commit point: the PEM
 * is staged as <name>.pem.next, the JSON (which holds the PEM's SHA-256)
 * is replaced atomically, and only then the PEM is moved into place. After
 * a crash, hkms_store_open() promotes a staged PEM whose hash the JSON
 * names and drops any other, so a record is always wholly old or wholly
 * new. Readers need no lock: a reader that sees the new JSON before the
 * PEM was moved finds the PEM in .pem.next by its hash.
 *
 * Mutations hold the data lock (<data>/.lock, flock), recursive per store
 * object; a pthread mutex makes it exclude threads of this process too.
 * The audit log (audit.c) has its own leaf lock taken after this one.
 *
 * The data dir is ours or it is refused: it must pass
 * hkms_path_check_safe() (owned by root or the effective user, not group-
 * or world-writable, nor any directory above it), only `hkms init`
 * creates it (hkms_store_init_dir), and nothing under it is used through
 * a symlink: every kind dir is lstat()ed before use (kind_dirs_ok) and
 * every file opened with O_NOFOLLOW (atomic.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hkms/config.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "store_int.h"

static const char *const base_kinds[] = {
	"keys", "certs", "cas", "clients", "trust", "service", "state",
	"secrets", "issued", "revoked", "crl",
	"acme",		/* ACME settings and state (issue 17a) */
};
#define NBASE (sizeof(base_kinds) / sizeof(base_kinds[0]))

#define SHA256_HEX 65

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
name_ok(const char *name)
{
	return hkms_name_valid(name) && strstr(name, ".tmp.") == NULL;
}

static int
base_ok(const char *base, size_t n)
{
	size_t i;

	for (i = 0; i < NBASE; i++)
		if (strlen(base_kinds[i]) == n &&
		    strncmp(base_kinds[i], base, n) == 0)
			return 1;
	return 0;
}

int
hkms_store_kind_valid(const char *kind)
{
	const char *slash;

	if (kind == NULL)
		return 0;
	if ((slash = strchr(kind, '/')) == NULL)
		return base_ok(kind, strlen(kind));
	return base_ok(kind, (size_t)(slash - kind)) && name_ok(slash + 1);
}

static unsigned
kind_mode(const char *kind)
{
	return strncmp(kind, "secrets", 7) == 0 &&
	    (kind[7] == '\0' || kind[7] == '/') ? 0600 : 0644;
}

char *
hkms_store_join(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + (b ? strlen(b) + 1 : 0) +
	    (c ? strlen(c) + 1 : 0) + 1;
	char *s = malloc(n);

	if (s == NULL)
		return NULL;
	snprintf(s, n, "%s%s%s%s%s", a, b ? "/" : "", b ? b : "",
	    c ? "/" : "", c ? c : "");
	return s;
}

static void
sha256_hex(const void *data, size_t len, char out[SHA256_HEX])
{
	unsigned char md[32];
	unsigned mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	hkms_hex(md, 32, 0, out);
}


/* <dir>/<base> and, for a sub-kind, <dir>/<base>/<sub> are real
 * directories (or missing): never a symlink written or read through. */
static enum hkms_rc
kind_dirs_check(struct hkms_store *st, const char *kind, int *missing,
    struct hkms_err *err)
{
	const char *slash = strchr(kind, '/');
	char buf[PATH_MAX];
	enum hkms_rc rc;
	int n, pass;

	if (missing != NULL)
		*missing = 0;
	for (pass = 0; pass < (slash != NULL ? 2 : 1); pass++) {
		n = pass == 0 && slash != NULL ? (int)(slash - kind) :
		    (int)strlen(kind);
		if (snprintf(buf, sizeof(buf), "%s/%.*s", st->dir, n, kind) >=
		    (int)sizeof(buf))
			return hkms_err_set(err, HKMS_E_INVALID, "path too "
			    "long");
		rc = hkms_store_real_dir(buf, err);
		if (rc == HKMS_E_NOT_FOUND) {
			if (err != NULL)
				hkms_err_clear(err);
			if (missing != NULL)
				*missing = 1;
			return HKMS_OK;
		}
		if (rc != HKMS_OK)
			return rc;
	}
	return HKMS_OK;
}

static enum hkms_rc
kind_dirs_ok(struct hkms_store *st, const char *kind, struct hkms_err *err)
{
	return kind_dirs_check(st, kind, NULL, err);
}

/* "<dir>/<kind>/<name><ext>", validated, its kind's directories checked. */
static enum hkms_rc
rec_path(struct hkms_store *st, const char *kind, const char *name,
    const char *ext, char **out, struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = hkms_store_rec_path_nocheck(st, kind, name, ext, out,
	    err)) != HKMS_OK)
		return rc;
	if ((rc = kind_dirs_ok(st, kind, err)) != HKMS_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

void
hkms_store_note_failure(struct hkms_store *st, enum hkms_rc rc,
    const struct hkms_err *err)
{
	if (rc != HKMS_OK && err != NULL &&
	    strcmp(err->code, "fsync_failed") == 0)
		st->read_only = 1;
}

static enum hkms_rc
check_writable(struct hkms_store *st, struct hkms_err *err)
{
	if (st->check_only)
		return hkms_err_setc(err, HKMS_E_IO, "store_read_only",
		    "store '%s' was opened read-only (for a check)", st->dir);
	if (st->read_only)
		return hkms_err_setc(err, HKMS_E_IO, "store_read_only",
		    "store '%s' is read-only after an fsync failure", st->dir);
	return HKMS_OK;
}

/* mkdir for a sub-kind ("issued/<ca>"); durable via a parent fsync. */
static enum hkms_rc
ensure_kind_dir(struct hkms_store *st, const char *kind, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *path = NULL;
	int missing = 0;

	/* both levels checked (lstat): there and real, or one missing */
	if ((rc = kind_dirs_check(st, kind, &missing, err)) != HKMS_OK ||
	    !missing)
		return rc;
	if ((path = hkms_store_join(st->dir, kind, NULL)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_real_dir(path, err)) != HKMS_E_NOT_FOUND)
		goto out;	/* there (HKMS_OK) or refused */
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot create directory "
		    "'%s': %s", path, strerror(errno));
		goto out;
	}
	if ((rc = hkms_store_real_dir(path, err)) != HKMS_OK)
		goto out;
	rc = hkms_store_fsync_dir(path, 0, err);
out:
	free(path);
	return rc;
}

/* ---------------------------------------------------------------- */
/* open / close / locks                                              */
/* ---------------------------------------------------------------- */

/* Recovery in one directory; called with the data lock held. With
 * would != NULL it only says what it would do there (store check). */
static enum hkms_rc
recover_dir(struct hkms_store *st, const char *kind, json_t *would,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *dirpath = NULL, *p = NULL, *jp = NULL, *pp = NULL;
	unsigned char *buf = NULL;
	json_t *meta = NULL;
	struct dirent *de;
	DIR *d = NULL;
	int changed = 0, alk = -1;

	/* audit.head is replaced through a temp file in the root under the
	 * audit lock only: sweep the root's temp files holding it, so a live
	 * one is never taken for a crashed writer's (lock order data ->
	 * audit). A dry run (store check) takes no lock and creates no
	 * lock file. */
	if (kind == NULL && would == NULL &&
	    (alk = hkms_audit_lock(st, err)) < 0) {
		/* err names why (a link is unsafe_path) */
		rc = err != NULL ? err->rc : HKMS_E_IO;
		goto out;
	}
	if ((dirpath = hkms_store_join(st->dir, kind, NULL)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_real_dir(dirpath, err)) != HKMS_OK) {
		if (rc == HKMS_E_NOT_FOUND)
			rc = HKMS_OK;
		goto out;
	}
	if ((d = opendir(dirpath)) == NULL) {
		rc = errno == ENOENT ? HKMS_OK : hkms_err_set(err, HKMS_E_IO,
		    "cannot open directory '%s': %s", dirpath,
		    strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		char base[NAME_MAX + 1], hex[SHA256_HEX];
		const char *want;
		size_t len;

		if (strstr(n, ".tmp.") != NULL) {
			if (would != NULL) {
				hkms_json_push(would, "%s%s%s: stray temp file would be "
				    "removed", kind ? kind : "", kind ? "/" : "",
				    n);
				continue;
			}
			free(p);
			if ((p = hkms_store_join(dirpath, n, NULL)) == NULL)
				goto nomem;
			if (unlink(p) == 0)
				changed = 1;
			free(p);
			p = NULL;
			continue;
		}
		if (kind != NULL && ends_with(n, ".rsv")) {
			/* a serial reserved by an issuer (commit.c) */
			hkms_store_recover_rsv(dirpath, kind, n, would, NULL,
			    &changed);
			continue;
		}
		if (kind == NULL || !ends_with(n, ".pem.next"))
			continue;
		/* a staged PEM: promote it if its JSON names it, else drop */
		snprintf(base, sizeof(base), "%.*s",
		    (int)(strlen(n) - strlen(".pem.next")), n);
		free(p);
		free(jp);
		free(pp);
		free(buf);
		json_decref(meta);
		p = jp = pp = NULL;
		buf = NULL;
		meta = NULL;
		if ((p = hkms_store_join(dirpath, n, NULL)) == NULL ||
		    (jp = malloc(strlen(dirpath) + strlen(base) + 7)) == NULL ||
		    (pp = malloc(strlen(dirpath) + strlen(base) + 6)) == NULL)
			goto nomem;
		sprintf(jp, "%s/%s.json", dirpath, base);
		sprintf(pp, "%s/%s.pem", dirpath, base);
		want = NULL;
		if (hkms_store_read_file(jp, HKMS_STORE_MAX_FILE, &buf, &len,
		    NULL) == HKMS_OK)
			meta = json_loadb((const char *)buf, len, 0, NULL);
		free(buf);
		buf = NULL;
		if (meta != NULL)
			want = json_string_value(json_object_get(meta,
			    "pem_sha256"));
		if (want != NULL && hkms_store_read_file(p,
		    HKMS_STORE_MAX_FILE, &buf, &len, NULL) == HKMS_OK) {
			sha256_hex(buf, len, hex);
			if (strcmp(hex, want) == 0) {
				if (would != NULL) {
					hkms_json_push(would, "%s/%s: staged PEM would "
					    "be finished (its record names "
					    "it)", kind, n);
					continue;
				}
				if (hkms_store_not_link(pp, NULL) == HKMS_OK &&
				    rename(p, pp) == 0) {
					changed = 1;
					continue;
				}
			}
		}
		if (would != NULL) {
			hkms_json_push(would, "%s/%s: staged PEM would be dropped (its "
			    "record does not name it)", kind, n);
			continue;
		}
		if (unlink(p) == 0)
			changed = 1;
	}
	rc = changed ? hkms_store_fsync_dir(dirpath, 1, err) : HKMS_OK;
	goto out;
nomem:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	if (d != NULL)
		closedir(d);
	if (alk >= 0)
		close(alk);
	json_decref(meta);
	free(buf);
	free(p);
	free(jp);
	free(pp);
	free(dirpath);
	return rc;
}

/* 1 if de (in <dir>/<base>) is a sub-kind directory (a real one: a
 * symlink is not); d_type may be DT_UNKNOWN on some file systems. */
static int
subkind_dir(struct hkms_store *st, const char *base, const struct dirent *de)
{
	struct stat sb;
	char *p;
	int r;

	if (!name_ok(de->d_name))
		return 0;
	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	if ((p = hkms_store_join(st->dir, base, de->d_name)) == NULL)
		return 0;
	r = lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
	free(p);
	return r;
}

/* Recovery in a base kind dir and each of its one-level sub-kinds. */
static enum hkms_rc
recover_kind(struct hkms_store *st, const char *base, json_t *would,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	char *dirpath = NULL;
	char sub[NAME_MAX + 64];
	struct dirent *de;
	DIR *d;

	if ((rc = recover_dir(st, base, would, err)) != HKMS_OK)
		return rc;
	if ((dirpath = hkms_store_join(st->dir, base, NULL)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	d = opendir(dirpath);
	free(dirpath);
	if (d == NULL)
		return HKMS_OK;
	while ((de = readdir(d)) != NULL) {
		if (!subkind_dir(st, base, de))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", base, de->d_name);
		if ((rc = recover_dir(st, sub, would, err)) != HKMS_OK)
			break;
	}
	closedir(d);
	return rc;
}

/* The data dir exists (else: run init) and is ours (hkms_path_check_safe). */
static enum hkms_rc
check_data_dir(const char *dir, struct hkms_err *err)
{
	struct stat sb;

	if (stat(dir, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_initialized",
		    "data dir '%s' does not exist: run 'hkms init' first",
		    dir);
	return hkms_path_check_safe(dir, "data dir", 1, err);
}

/* Before init makes a directory: the deepest one that exists on the way
 * to data_dir must be one we may create in (ours or root's, not writable
 * by group or others unless sticky, as /tmp), so nothing is made inside
 * another user's directory before the data dir is refused. */
static enum hkms_rc
init_parent_ok(const char *data_dir, struct hkms_err *err)
{
	char buf[PATH_MAX], *slash;
	struct stat sb;

	if (snprintf(buf, sizeof(buf), "%s", data_dir) >= (int)sizeof(buf))
		return hkms_err_set(err, HKMS_E_INVALID, "path too long");
	if (stat(buf, &sb) == 0)
		return HKMS_OK;	/* there: check_data_dir decides */
	for (;;) {
		if ((slash = strrchr(buf, '/')) == NULL)
			snprintf(buf, sizeof(buf), ".");
		else if (slash == buf)
			buf[1] = '\0';
		else
			*slash = '\0';
		if (stat(buf, &sb) == 0)
			break;
		if (slash == NULL || strcmp(buf, "/") == 0)
			return hkms_err_set(err, HKMS_E_IO, "cannot stat '%s': "
			    "%s", buf, strerror(errno));
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid())
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing data dir '%s': directory '%s' is not owned by "
		    "root or the service user (uid %u, mode %04o)", data_dir,
		    buf, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
	if ((sb.st_mode & 022) != 0 && (sb.st_mode & S_ISVTX) == 0)
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing data dir '%s': directory '%s' is writable by "
		    "group or others (uid %u, mode %04o)", data_dir, buf,
		    (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
	return HKMS_OK;
}

enum hkms_rc
hkms_store_init_dir(const char *data_dir, struct hkms_err *err)
{
	enum hkms_rc rc;

	if (data_dir == NULL || *data_dir == '\0')
		return hkms_err_set(err, HKMS_E_INVALID, "store: no data dir");
	if ((rc = init_parent_ok(data_dir, err)) != HKMS_OK)
		return rc;
	/* missing parents too, all 0700 (the umask cannot widen that); an
	 * existing dir is checked afterwards, so one made by someone else
	 * in the meantime is refused as well */
	if ((rc = hkms_mkdir_p(data_dir, 0700, err)) != HKMS_OK ||
	    (rc = check_data_dir(data_dir, err)) != HKMS_OK)
		return rc;
	return hkms_store_fsync_dir(data_dir, 0, err);
}

/* A store object on a checked data dir; st->dir is the resolved path so
 * a symlink on the way cannot be swapped later. */
static enum hkms_rc
store_new(const char *data_dir, struct hkms_store **out,
    struct hkms_err *err)
{
	struct hkms_store *st = NULL;
	pthread_mutexattr_t ma;
	enum hkms_rc rc;

	*out = NULL;
	if (data_dir == NULL || *data_dir == '\0')
		return hkms_err_set(err, HKMS_E_INVALID, "store: no data dir");
	if ((rc = check_data_dir(data_dir, err)) != HKMS_OK)
		return rc;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->dir = realpath(data_dir, NULL)) == NULL) {
		rc = st == NULL || errno == ENOMEM ? hkms_err_set(err,
		    HKMS_E_NOMEM, "out of memory") : hkms_err_set(err,
		    HKMS_E_IO, "cannot resolve data dir '%s': %s", data_dir,
		    strerror(errno));
		free(st);
		return rc;
	}
	/* the path used is the path checked: a symlink on the way (in a
	 * directory someone else may write) swapped between the check and
	 * realpath() would otherwise pick an unchecked dir */
	if ((rc = check_data_dir(st->dir, err)) != HKMS_OK) {
		free(st->dir);
		free(st);
		return rc;
	}
	st->daemon_fd = -1;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	hkms_store_gc_init(st);
	*out = st;
	return HKMS_OK;
}

enum hkms_rc
hkms_store_open_readonly(const char *data_dir, struct hkms_store **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "store: no output");
	if ((rc = store_new(data_dir, out, err)) != HKMS_OK)
		return rc;
	(*out)->check_only = 1;
	return HKMS_OK;
}

enum hkms_rc
hkms_store_open(const char *data_dir, struct hkms_store **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_store *st = NULL;
	char *p = NULL;
	size_t i;
	int locked = 0, created = 0;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "store: no output");
	if ((rc = store_new(data_dir, &st, err)) != HKMS_OK)
		return rc;
	for (i = 0; i < NBASE; i++) {
		if ((p = hkms_store_join(st->dir, base_kinds[i], NULL)) ==
		    NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		if (mkdir(p, 0700) == 0) {
			created = 1;
		} else if (errno != EEXIST) {
			rc = hkms_err_set(err, HKMS_E_IO, "cannot create "
			    "directory '%s': %s", p, strerror(errno));
			goto out;
		} else if ((rc = hkms_store_real_dir(p, err)) != HKMS_OK) {
			goto out;
		}
		free(p);
		p = NULL;
	}
	/* nothing to make durable when the layout was already there */
	if (created && (rc = hkms_store_fsync_dir(st->dir, 1, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = recover_dir(st, NULL, NULL, err)) != HKMS_OK)
		goto out;
	for (i = 0; i < NBASE; i++)
		if ((rc = recover_kind(st, base_kinds[i], NULL, err)) !=
		    HKMS_OK)
			goto out;
	if ((rc = hkms_audit_init(st, err)) != HKMS_OK)
		goto out;
	hkms_store_end(st);
	locked = 0;
	*out = st;
	st = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(st);
	free(p);
	hkms_store_close(st);
	return rc;
}

void
hkms_store_close(struct hkms_store *st)
{
	if (st == NULL)
		return;
	hkms_store_unlock(st->lock);
	if (st->daemon_fd >= 0)
		close(st->daemon_fd);
	pthread_mutex_destroy(&st->mu);
	hkms_store_gc_fini(st);
	free(st->trusted_head);
	free(st->head_cache);
	free(st->akey_spki);
	free(st->dir);
	free(st);
}

const char *
hkms_store_dir(const struct hkms_store *st)
{
	return st ? st->dir : NULL;
}

int
hkms_store_read_only(const struct hkms_store *st)
{
	return st ? st->read_only : 0;
}

enum hkms_rc
hkms_store_lock_daemon(struct hkms_store *st, struct hkms_err *err)
{
	char *path = NULL;
	enum hkms_rc rc;
	int fd;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if (st->daemon_fd >= 0)
		return HKMS_OK;
	if ((path = hkms_store_join(st->dir, ".daemon.lock", NULL)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if ((rc = hkms_store_open_file(path, O_RDWR | O_CREAT, 0600, &fd,
	    err)) != HKMS_OK) {
		free(path);
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			hkms_err_setc(err, HKMS_E_LOCKED, "store_locked",
			    "data dir '%s' is in use by another daemon",
			    st->dir);
			free(path);
			return HKMS_E_LOCKED;
		}
		hkms_err_set(err, HKMS_E_IO, "cannot lock '%s': %s", path,
		    strerror(e));
		free(path);
		return HKMS_E_IO;
	}
	free(path);
	st->daemon_fd = fd;
	return HKMS_OK;
}

enum hkms_rc
hkms_store_begin(struct hkms_store *st, struct hkms_err *err)
{
	enum hkms_rc rc;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	pthread_mutex_lock(&st->mu);
	if (st->depth == 0) {
		rc = hkms_store_lock_dir(st->dir, 1, &st->lock, err);
		if (rc != HKMS_OK) {
			pthread_mutex_unlock(&st->mu);
			return rc;
		}
	}
	st->depth++;
	return HKMS_OK;
}

void
hkms_store_end(struct hkms_store *st)
{
	if (st == NULL || st->depth == 0)
		return;
	if (--st->depth == 0) {
		hkms_store_unlock(st->lock);
		st->lock = NULL;
		st->stamp_seq = 0;	/* the operation is over */
	}
	pthread_mutex_unlock(&st->mu);
}

/* ---------------------------------------------------------------- */
/* records                                                           */
/* ---------------------------------------------------------------- */

static enum hkms_rc load_meta(const char *path, const char *name,
    json_t **out, struct hkms_err *err);

/* 1 if the record at jp names the PEM with hash hex. */
static int
json_names_pem(const char *jp, const char *name, const char *hex)
{
	json_t *j = NULL;
	const char *h;
	int r = 0;

	if (load_meta(jp, name, &j, NULL) == HKMS_OK &&
	    (h = json_string_value(json_object_get(j, "pem_sha256"))) != NULL)
		r = strcmp(h, hex) == 0;
	json_decref(j);
	return r;
}

static enum hkms_rc
put_locked(struct hkms_store *st, const char *kind, const char *name,
    json_t *meta, const char *pem, const char *renamed_from,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *jp = NULL, *pp = NULL, *np = NULL, *dump = NULL;
	char hex[SHA256_HEX], now[32];
	json_t *rec = NULL;
	unsigned mode = kind_mode(kind);
	size_t pemlen = pem ? strlen(pem) : 0;

	if ((rc = rec_path(st, kind, name, ".json", &jp, err)) != HKMS_OK ||
	    (rc = rec_path(st, kind, name, ".pem", &pp, err)) != HKMS_OK ||
	    (rc = rec_path(st, kind, name, ".pem.next", &np, err)) != HKMS_OK)
		goto out;
	if (meta != NULL && !json_is_object(meta)) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "metadata for '%s/%s' "
		    "is not a JSON object", kind, name);
		goto out;
	}
	if ((rc = check_writable(st, err)) != HKMS_OK)
		goto out;
	if (strchr(kind, '/') != NULL &&
	    (rc = ensure_kind_dir(st, kind, err)) != HKMS_OK)
		goto out;
	/* the JSON and the staged PEM are refused as links by write_atomic;
	 * the PEM is renamed into place, so refuse a link there up front */
	if ((rc = hkms_store_not_link(pp, err)) != HKMS_OK)
		goto out;
	rec = meta ? json_deep_copy(meta) : json_object();
	if (rec == NULL)
		goto nomem;
	json_object_set_new(rec, "schema", json_integer(HKMS_STORE_SCHEMA));
	json_object_set_new(rec, "name", json_string(name));
	json_object_set_new(rec, "updated",
	    json_string(hkms_time_str((int64_t)time(NULL), now)));
	/* the write-ahead audit line of the operation making this change
	 * (hkms_audit_append_ahead); a put outside one keeps the stamp the
	 * caller's copy of the record has */
	if (st->stamp_seq > 0) {
		json_object_set_new(rec, "audit_seq",
		    json_integer(st->stamp_seq));
		json_object_set_new(rec, "audit_hash",
		    json_string(st->stamp_hash));
	}
	if (renamed_from != NULL)
		json_object_set_new(rec, "renamed_from",
		    json_string(renamed_from));
	else
		json_object_del(rec, "renamed_from");
	if (pem != NULL) {
		sha256_hex(pem, pemlen, hex);
		json_object_set_new(rec, "pem_sha256", json_string(hex));
	} else {
		json_object_del(rec, "pem_sha256");
	}
	if ((dump = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS)) ==
	    NULL)
		goto nomem;
	{
		size_t dl = strlen(dump);
		char *d2 = realloc(dump, dl + 2);

		if (d2 == NULL)
			goto nomem;
		dump = d2;
		memcpy(dump + dl, "\n", 2);
	}
	/* 1. stage the PEM; 2. the JSON commits; 3. PEM into place */
	if (pem != NULL &&
	    (rc = hkms_store_write_atomic(np, pem, pemlen, mode, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_store_write_atomic(jp, dump, strlen(dump), mode,
	    err)) != HKMS_OK) {
		/* a failed directory fsync comes after the rename: then the
		 * JSON names the staged PEM, which must stay findable */
		if (pem != NULL && !json_names_pem(jp, name, hex))
			unlink(np);
		else if (pem != NULL)
			(void)rename(np, pp);
		goto out;
	}
	if (pem != NULL) {
		if (rename(np, pp) != 0) {
			/* committed; open() or a reader finds .pem.next */
			rc = hkms_err_set(err, HKMS_E_IO, "cannot rename '%s': "
			    "%s", np, strerror(errno));
			goto out;
		}
	} else if (unlink(pp) != 0 && errno != ENOENT) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot remove '%s': %s", pp,
		    strerror(errno));
		goto out;
	}
	if ((rc = hkms_store_fsync_dir(jp, 0, err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
	goto out;
nomem:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	hkms_store_note_failure(st, rc, err);
	json_decref(rec);
	free(dump);
	free(jp);
	free(pp);
	free(np);
	return rc;
}

enum hkms_rc
hkms_store_record_dump(const char *name, json_t *meta, long long seq,
    const char *hash, char **out, struct hkms_err *err)
{
	return hkms_store_record_dump_at(name, meta, seq, hash,
	    (long long)time(NULL), out, err);
}

enum hkms_rc
hkms_store_record_dump_at(const char *name, json_t *meta, long long seq,
    const char *hash, long long when, char **out, struct hkms_err *err)
{
	char now[32], *dump = NULL, *d2;
	json_t *rec;
	size_t dl;

	if (meta != NULL && !json_is_object(meta))
		return hkms_err_set(err, HKMS_E_INVALID, "metadata for '%s' "
		    "is not a JSON object", name);
	if ((rec = meta ? json_deep_copy(meta) : json_object()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_object_set_new(rec, "schema", json_integer(HKMS_STORE_SCHEMA));
	json_object_set_new(rec, "name", json_string(name));
	json_object_set_new(rec, "updated",
	    json_string(hkms_time_str((int64_t)when, now)));
	if (seq > 0) {
		json_object_set_new(rec, "audit_seq", json_integer(seq));
		json_object_set_new(rec, "audit_hash", json_string(hash));
	}
	json_object_del(rec, "renamed_from");
	json_object_del(rec, "pem_sha256");
	dump = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(rec);
	if (dump == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	dl = strlen(dump);
	if ((d2 = realloc(dump, dl + 2)) == NULL) {
		free(dump);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	memcpy(d2 + dl, "\n", 2);
	*out = d2;
	return HKMS_OK;
}

/*
 * The stamp's members are top-level keys of the record: in the indented
 * dump they follow a newline and exactly two spaces, which no nested key
 * (four spaces or more) and no string (a newline in it is escaped) can
 * produce, so the one place of each is found without parsing.
 */
#define TMPL_HASH_KEY "\n  \"audit_hash\": \""
#define TMPL_SEQ_KEY "\n  \"audit_seq\": "
#define TMPL_SEQ 1

enum hkms_rc
hkms_store_rec_tmpl_make(const char *name, json_t *meta, long long when,
    struct hkms_rec_tmpl *t, struct hkms_err *err)
{
	char zeros[65], *p, *q;
	enum hkms_rc rc;

	memset(t, 0, sizeof(*t));
	memset(zeros, '0', 64);
	zeros[64] = '\0';
	if ((rc = hkms_store_record_dump_at(name, meta, TMPL_SEQ, zeros, when,
	    &t->text, err)) != HKMS_OK)
		return rc;
	t->len = strlen(t->text);
	if ((p = strstr(t->text, TMPL_HASH_KEY)) == NULL ||
	    strstr(p + 1, TMPL_HASH_KEY) != NULL ||
	    (q = strstr(t->text, TMPL_SEQ_KEY)) == NULL ||
	    strstr(q + 1, TMPL_SEQ_KEY) != NULL ||
	    strncmp(p + strlen(TMPL_HASH_KEY), zeros, 64) != 0 ||
	    p[strlen(TMPL_HASH_KEY) + 64] != '"' ||
	    q[strlen(TMPL_SEQ_KEY)] != '0' + TMPL_SEQ ||
	    (q[strlen(TMPL_SEQ_KEY) + 1] != ',' &&
	    q[strlen(TMPL_SEQ_KEY) + 1] != '\n')) {
		/* cannot happen; the caller dumps the record whole */
		hkms_store_rec_tmpl_free(t);
		return HKMS_OK;
	}
	t->hash_off = (size_t)(p - t->text) + strlen(TMPL_HASH_KEY);
	t->seq_off = (size_t)(q - t->text) + strlen(TMPL_SEQ_KEY);
	t->seq_len = 1;
	return HKMS_OK;
}

enum hkms_rc
hkms_store_rec_tmpl_fill(const struct hkms_rec_tmpl *t, long long seq,
    const char *hash, char **out, size_t *len, struct hkms_err *err)
{
	char num[32], *b;
	size_t nl, k;
	int n;

	*out = NULL;
	n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
	    (json_int_t)seq);
	if (t->text == NULL || seq <= 0 || n <= 0 || hash == NULL ||
	    strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64)
		return hkms_err_set(err, HKMS_E_INTERNAL, "record template: "
		    "bad stamp");
	nl = (size_t)n;
	if ((b = malloc(t->len - t->seq_len + nl + 1)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	/* the text with the seq replaced (its length may differ), then the
	 * hash over its placeholder (the same length) where it now is */
	k = t->seq_off + t->seq_len;
	memcpy(b, t->text, t->seq_off);
	memcpy(b + t->seq_off, num, nl);
	memcpy(b + t->seq_off + nl, t->text + k, t->len - k);
	memcpy(b + (t->hash_off < t->seq_off ? t->hash_off :
	    t->hash_off - t->seq_len + nl), hash, 64);
	*len = t->len - t->seq_len + nl;
	b[*len] = '\0';
	*out = b;
	return HKMS_OK;
}

void
hkms_store_rec_tmpl_free(struct hkms_rec_tmpl *t)
{
	if (t == NULL)
		return;
	free(t->text);
	memset(t, 0, sizeof(*t));
}

enum hkms_rc
hkms_store_put(struct hkms_store *st, const char *kind, const char *name,
    json_t *meta, const char *pem, struct hkms_err *err)
{
	struct hkms_err local = { 0 };
	enum hkms_rc rc;

	if (err == NULL)
		err = &local;
	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		return rc;
	rc = put_locked(st, kind, name, meta, pem, NULL, err);
	hkms_store_end(st);
	return rc;
}

static enum hkms_rc
load_meta(const char *path, const char *name, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	unsigned char *buf = NULL;
	json_t *j = NULL, *sv;
	json_error_t je;
	size_t len;
	json_int_t schema;

	if ((rc = hkms_store_read_file(path, HKMS_STORE_MAX_FILE, &buf, &len,
	    err)) != HKMS_OK) {
		if (rc == HKMS_E_NOT_FOUND)
			hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
			    "record '%s' not found", name);
		goto out;
	}
	if ((j = json_loadb((const char *)buf, len, 0, &je)) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record",
		    "damaged record '%s': line %d: %s", path, je.line,
		    je.text);
		goto out;
	}
	if (!json_is_object(j)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record",
		    "damaged record '%s': not a JSON object", path);
		goto out;
	}
	sv = json_object_get(j, "schema");
	if (!json_is_integer(sv) || (schema = json_integer_value(sv)) < 1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record",
		    "damaged record '%s': no valid \"schema\"", path);
		goto out;
	}
	if (schema > HKMS_STORE_SCHEMA) {
		rc = hkms_err_setc(err, HKMS_E_UNSUPPORTED, "schema_version",
		    "record '%s' has schema %lld; this hkms reads up to %d",
		    path, (long long)schema, HKMS_STORE_SCHEMA);
		goto out;
	}
	if (!json_is_string(json_object_get(j, "name")) ||
	    strcmp(json_string_value(json_object_get(j, "name")), name) !=
	    0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record",
		    "damaged record '%s': \"name\" does not match the file",
		    path);
		goto out;
	}
	*out = j;
	j = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(j);
	free(buf);
	return rc;
}

/* The PEM whose hash is want: <name>.pem, or a staged <name>.pem.next. */
static enum hkms_rc
load_pem(struct hkms_store *st, const char *kind, const char *name,
    const char *want, char **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	/* ".pem" once more at the end: a writer may move ".pem.next" into
	 * place between our two reads (put stages, commits the JSON, then
	 * renames), and a lock-free reader must still find it */
	static const char *const exts[] = { ".pem", ".pem.next", ".pem" };
	unsigned char *buf = NULL;
	char *path = NULL, hex[SHA256_HEX];
	size_t i, len;

	for (i = 0; i < 3; i++) {
		free(path);
		path = NULL;
		if ((rc = rec_path(st, kind, name, exts[i], &path, err)) !=
		    HKMS_OK)
			goto out;
		rc = hkms_store_read_file(path, HKMS_STORE_MAX_FILE, &buf,
		    &len, err);
		if (rc == HKMS_E_DENIED)
			goto out;	/* a link: refused, not skipped */
		if (rc != HKMS_OK)
			continue;
		sha256_hex(buf, len, hex);
		if (strcmp(hex, want) == 0 && strlen((char *)buf) == len) {
			*out = (char *)buf;
			buf = NULL;	/* transferred */
			rc = HKMS_OK;
			goto out;
		}
		free(buf);
		buf = NULL;
	}
	rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record",
	    "PEM of record '%s/%s' is missing or does not match its record",
	    kind, name);
out:
	free(buf);
	free(path);
	return rc;
}

enum hkms_rc
hkms_store_get(struct hkms_store *st, const char *kind, const char *name,
    json_t **meta, char **pem, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *jp = NULL, *p = NULL;
	json_t *j = NULL;
	const char *want;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if ((rc = rec_path(st, kind, name, ".json", &jp, err)) != HKMS_OK)
		goto out;
	if ((rc = load_meta(jp, name, &j, err)) != HKMS_OK)
		goto out;
	want = json_string_value(json_object_get(j, "pem_sha256"));
	if (pem != NULL && want != NULL &&
	    (rc = load_pem(st, kind, name, want, &p, err)) != HKMS_OK)
		goto out;
	if (meta != NULL) {
		*meta = j;
		j = NULL;	/* transferred */
	}
	if (pem != NULL) {
		*pem = p;
		p = NULL;	/* transferred */
	}
	rc = HKMS_OK;
out:
	json_decref(j);
	free(p);
	free(jp);
	return rc;
}

int
hkms_store_exists(struct hkms_store *st, const char *kind, const char *name)
{
	char *jp = NULL;
	struct stat sb;
	int r;

	if (st == NULL || rec_path(st, kind, name, ".json", &jp, NULL) !=
	    HKMS_OK)
		return 0;
	r = lstat(jp, &sb) == 0;
	free(jp);
	return r;
}

int
hkms_store_stamp(struct hkms_store *st, const char *kind, const char *name,
    struct hkms_store_stamp *out)
{
	char *jp = NULL;
	struct stat sb;
	int r;

	if (st == NULL || out == NULL || rec_path(st, kind, name, ".json", &jp,
	    NULL) != HKMS_OK)
		return -1;
	r = lstat(jp, &sb);
	free(jp);
	if (r != 0 || !S_ISREG(sb.st_mode))
		return -1;
	memset(out, 0, sizeof(*out));
	out->dev = (unsigned long long)sb.st_dev;
	out->ino = (unsigned long long)sb.st_ino;
	out->size = (unsigned long long)sb.st_size;
	out->mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL +
	    sb.st_mtim.tv_nsec;
	out->ctime_ns = (long long)sb.st_ctim.tv_sec * 1000000000LL +
	    sb.st_ctim.tv_nsec;
	return 0;
}

int
hkms_store_stamp_same(const struct hkms_store_stamp *a,
    const struct hkms_store_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Record names in a directory (sorted, malloc'd array of malloc'd). */
static enum hkms_rc
list_names(const char *dirpath, char ***out, size_t *count,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0, len;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*count = 0;
	if ((rc = hkms_store_real_dir(dirpath, err)) != HKMS_OK)
		return rc == HKMS_E_NOT_FOUND ? HKMS_OK : rc;
	if ((d = opendir(dirpath)) == NULL) {
		if (errno == ENOENT)
			return HKMS_OK;
		return hkms_err_set(err, HKMS_E_IO, "cannot open directory "
		    "'%s': %s", dirpath, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (!ends_with(de->d_name, ".json") ||
		    strstr(de->d_name, ".tmp.") != NULL)
			continue;
		len = strlen(de->d_name) - 5;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				goto nomem;
			v = nv;
		}
		if ((v[n] = strndup(de->d_name, len)) == NULL)
			goto nomem;
		if (!name_ok(v[n])) {
			free(v[n]);
			continue;
		}
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*count = n;
	v = NULL;	/* transferred */
	n = 0;
	rc = HKMS_OK;
	goto out;
nomem:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	while (n > 0)
		free(v[--n]);
	free(v);
	closedir(d);
	return rc;
}

static void
free_names(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

static enum hkms_rc store_list(struct hkms_store *st, const char *kind,
    json_t **out, size_t *skipped, struct hkms_err *err);

enum hkms_rc
hkms_store_list(struct hkms_store *st, const char *kind, json_t **out,
    struct hkms_err *err)
{
	return store_list(st, kind, out, NULL, err);
}

enum hkms_rc
hkms_store_list_readable(struct hkms_store *st, const char *kind,
    json_t **out, size_t *skipped, struct hkms_err *err)
{
	size_t n = 0;

	return store_list(st, kind, out, skipped ? skipped : &n, err);
}

/* skipped NULL: a record that cannot be read fails the list; else it is
 * left out and counted */
static enum hkms_rc
store_list(struct hkms_store *st, const char *kind, json_t **out,
    size_t *skipped, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *dirpath = NULL, **names = NULL;
	json_t *arr = NULL, *m;
	size_t i, n = 0;

	if (st == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if (!hkms_store_kind_valid(kind))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid store kind "
		    "'%s'", kind ? kind : "(null)");
	if ((rc = kind_dirs_ok(st, kind, err)) != HKMS_OK)
		return rc;
	if ((dirpath = hkms_store_join(st->dir, kind, NULL)) == NULL ||
	    (arr = json_array()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = list_names(dirpath, &names, &n, err)) != HKMS_OK)
		goto out;
	for (i = 0; i < n; i++) {
		m = NULL;
		rc = hkms_store_get(st, kind, names[i], &m, NULL, err);
		if (rc == HKMS_E_NOT_FOUND)
			continue;	/* deleted meanwhile */
		if (rc != HKMS_OK && skipped != NULL && rc != HKMS_E_NOMEM) {
			(*skipped)++;
			continue;
		}
		if (rc != HKMS_OK)
			goto out;
		json_array_append_new(arr, m);
	}
	*out = arr;
	arr = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	free_names(names, n);
	json_decref(arr);
	free(dirpath);
	return rc;
}

static enum hkms_rc
delete_locked(struct hkms_store *st, const char *kind, const char *name,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *jp = NULL, *pp = NULL, *np = NULL;

	if ((rc = rec_path(st, kind, name, ".json", &jp, err)) != HKMS_OK ||
	    (rc = rec_path(st, kind, name, ".pem", &pp, err)) != HKMS_OK ||
	    (rc = rec_path(st, kind, name, ".pem.next", &np, err)) != HKMS_OK)
		goto out;
	if ((rc = check_writable(st, err)) != HKMS_OK)
		goto out;
	/* unlinking a link would write nothing through it, but a record
	 * that is not ours as a whole is refused, not half removed */
	if ((rc = hkms_store_not_link(jp, err)) != HKMS_OK ||
	    (rc = hkms_store_not_link(pp, err)) != HKMS_OK)
		goto out;
	if (unlink(jp) != 0) {
		if (errno == ENOENT)
			rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
			    "record '%s/%s' not found", kind, name);
		else
			rc = hkms_err_set(err, HKMS_E_IO, "cannot remove '%s':"
			    " %s", jp, strerror(errno));
		goto out;
	}
	/* the record is gone; a PEM left by a crash here is ignored */
	(void)unlink(pp);
	(void)unlink(np);
	if ((rc = hkms_store_fsync_dir(jp, 0, err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	hkms_store_note_failure(st, rc, err);
	free(jp);
	free(pp);
	free(np);
	return rc;
}

enum hkms_rc
hkms_store_delete(struct hkms_store *st, const char *kind, const char *name,
    struct hkms_err *err)
{
	struct hkms_err local = { 0 };
	enum hkms_rc rc;

	if (err == NULL)
		err = &local;
	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		return rc;
	rc = delete_locked(st, kind, name, err);
	hkms_store_end(st);
	return rc;
}

enum hkms_rc
hkms_store_rename(struct hkms_store *st, const char *kind,
    const char *oldname, const char *newname, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_err local = { 0 };
	json_t *meta = NULL;
	char *pem = NULL;
	int locked = 0;

	if (err == NULL)
		err = &local;
	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if (!name_ok(newname)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_name",
		    "invalid name '%s'", newname ? newname : "(null)");
		goto out;
	}
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = hkms_store_get(st, kind, oldname, &meta, &pem, err)) !=
	    HKMS_OK)
		goto out;
	if (strcmp(oldname, newname) == 0) {
		rc = HKMS_OK;
		goto out;
	}
	if (hkms_store_exists(st, kind, newname)) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "exists",
		    "record '%s/%s' already exists", kind, newname);
		goto out;
	}
	if ((rc = put_locked(st, kind, newname, meta, pem, oldname, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = delete_locked(st, kind, oldname, err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(st);
	json_decref(meta);
	free(pem);
	return rc;
}

/* The value of a counter record: a non-negative integer, else damaged
 * (never read as 0: a CRL number must not start over). */
static enum hkms_rc
counter_value(json_t *meta, const char *kind, const char *name,
    json_int_t *out, struct hkms_err *err)
{
	json_t *v = json_object_get(meta, "value");

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return hkms_err_setc(err, HKMS_E_VERIFY, "counter_damaged",
		    "counter '%s/%s' is damaged: \"value\" is %s, not a "
		    "non-negative integer; restore it from a backup, or delete "
		    "%s/%s.json to continue above the last published number",
		    kind, name, v == NULL ? "missing" : json_is_integer(v) ?
		    "negative" : "of the wrong type", kind, name);
	*out = json_integer_value(v);
	return HKMS_OK;
}

enum hkms_rc
hkms_store_counter_check(struct hkms_store *st, const char *kind,
    const char *name, uint64_t *out, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta = NULL;
	json_int_t v = 0;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if ((rc = hkms_store_get(st, kind, name, &meta, NULL, err)) ==
	    HKMS_OK)
		rc = counter_value(meta, kind, name, &v, err);
	json_decref(meta);
	if (rc == HKMS_OK && out != NULL)
		*out = (uint64_t)v;
	return rc;
}

enum hkms_rc
hkms_store_counter_next(struct hkms_store *st, const char *kind,
    const char *name, uint64_t floor, uint64_t *out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	json_t *meta = NULL;
	json_int_t v = 0;
	int locked = 0;

	if (st == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if (floor >= (uint64_t)INT64_MAX)
		return hkms_err_setc(err, HKMS_E_INVALID, "counter_overflow",
		    "counter '%s/%s' cannot go above %llu", kind, name,
		    (unsigned long long)floor);
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	rc = hkms_store_get(st, kind, name, &meta, NULL, err);
	if (rc == HKMS_E_NOT_FOUND) {
		if ((meta = json_object()) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	} else if (rc != HKMS_OK) {
		goto out;
	} else if ((rc = counter_value(meta, kind, name, &v, err)) !=
	    HKMS_OK) {
		goto out;
	}
	if ((uint64_t)v < floor)
		v = (json_int_t)floor;
	if (v == INT64_MAX) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "counter_overflow",
		    "counter '%s/%s' is at its maximum", kind, name);
		goto out;
	}
	v++;
	json_object_set_new(meta, "value", json_integer(v));
	if ((rc = hkms_store_put(st, kind, name, meta, NULL, err)) != HKMS_OK)
		goto out;
	*out = (uint64_t)v;
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(st);
	json_decref(meta);
	return rc;
}

/* ---------------------------------------------------------------- */
/* plain files                                                       */
/* ---------------------------------------------------------------- */

static enum hkms_rc
file_path(struct hkms_store *st, const char *kind, const char *file,
    char **out, struct hkms_err *err)
{
	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if (file != NULL && (ends_with(file, ".json") ||
	    ends_with(file, ".pem") || ends_with(file, ".next") ||
	    ends_with(file, ".rsv")))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_name",
		    "file name '%s' is reserved for records", file);
	return rec_path(st, kind, file, "", out, err);
}

enum hkms_rc
hkms_store_put_file(struct hkms_store *st, const char *kind,
    const char *file, const void *data, size_t len, unsigned mode,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_err local = { 0 };
	char *path = NULL;
	int locked = 0;

	if (err == NULL)
		err = &local;
	if ((rc = file_path(st, kind, file, &path, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = check_writable(st, err)) != HKMS_OK)
		goto out;
	if (strchr(kind, '/') != NULL &&
	    (rc = ensure_kind_dir(st, kind, err)) != HKMS_OK)
		goto out;
	rc = hkms_store_write_atomic(path, data, len, mode, err);
	hkms_store_note_failure(st, rc, err);
out:
	if (locked)
		hkms_store_end(st);
	free(path);
	return rc;
}

enum hkms_rc
hkms_store_get_file(struct hkms_store *st, const char *kind,
    const char *file, unsigned char **data, size_t *len,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	char *path = NULL;

	if (data == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "get_file: no output");
	if ((rc = file_path(st, kind, file, &path, err)) != HKMS_OK)
		return rc;
	rc = hkms_store_read_file(path, HKMS_STORE_MAX_FILE, data, len, err);
	free(path);
	return rc;
}

enum hkms_rc
hkms_store_delete_file(struct hkms_store *st, const char *kind,
    const char *file, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_err local = { 0 };
	char *path = NULL;
	int locked = 0;

	if (err == NULL)
		err = &local;
	if ((rc = file_path(st, kind, file, &path, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = check_writable(st, err)) != HKMS_OK)
		goto out;
	if (unlink(path) != 0) {
		rc = errno == ENOENT ? hkms_err_setc(err, HKMS_E_NOT_FOUND,
		    "not_found", "file '%s/%s' not found", kind, file) :
		    hkms_err_set(err, HKMS_E_IO, "cannot remove '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	rc = hkms_store_fsync_dir(path, 0, err);
	hkms_store_note_failure(st, rc, err);
out:
	if (locked)
		hkms_store_end(st);
	free(path);
	return rc;
}

enum hkms_rc
hkms_store_kind_path(struct hkms_store *st, const char *kind, char **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if (st == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if (!hkms_store_kind_valid(kind))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid store kind "
		    "'%s'", kind ? kind : "(null)");
	if ((rc = kind_dirs_ok(st, kind, err)) != HKMS_OK)
		return rc;
	if ((*out = hkms_store_join(st->dir, kind, NULL)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}

enum hkms_rc
hkms_store_check_dir(struct hkms_store *st, const char *path,
    struct hkms_err *err)
{
	char buf[PATH_MAX], *p;
	size_t n;
	enum hkms_rc rc;

	if (st == NULL || path == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	n = strlen(st->dir);
	if (strncmp(path, st->dir, n) != 0 || path[n] != '/')
		return HKMS_OK;		/* not ours to judge */
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return hkms_err_set(err, HKMS_E_INVALID, "path too long");
	/* each component below the data dir, top down */
	for (p = buf + n + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char c = *p;

			*p = '\0';
			rc = hkms_store_real_dir(buf, err);
			*p = c;
			if (rc == HKMS_E_NOT_FOUND) {
				if (err != NULL)
					hkms_err_clear(err);
				return HKMS_OK;
			}
			if (rc != HKMS_OK)
				return rc;
			if (c == '\0')
				break;
		}
	}
	return HKMS_OK;
}

/* ---------------------------------------------------------------- */
/* consistency check                                                 */
/* ---------------------------------------------------------------- */

/* Every entry of <dir>[/<kind>] that is a symlink or neither a regular
 * file nor a directory is an error: the store refuses to use it. */
static void
check_entries(struct hkms_store *st, const char *kind, json_t *errors)
{
	char *dirpath = NULL, *p = NULL;
	struct hkms_err e;
	struct dirent *de;
	struct stat sb;
	DIR *d = NULL;

	if ((dirpath = hkms_store_join(st->dir, kind, NULL)) == NULL)
		return;
	if (hkms_store_real_dir(dirpath, &e) != HKMS_OK) {
		if (e.rc != HKMS_E_NOT_FOUND)
			hkms_json_push(errors, "%s", e.detail);
		goto out;
	}
	if ((d = opendir(dirpath)) == NULL)
		goto out;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		free(p);
		if ((p = hkms_store_join(dirpath, de->d_name, NULL)) == NULL)
			break;
		if (lstat(p, &sb) != 0)
			continue;	/* removed meanwhile */
		if (S_ISLNK(sb.st_mode))
			hkms_json_push(errors, "%s: a symbolic link (refused, never "
			    "followed)", p);
		else if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
			hkms_json_push(errors, "%s: not a regular file or directory "
			    "(refused)", p);
	}
out:
	if (d != NULL)
		closedir(d);
	free(p);
	free(dirpath);
}

/* Counter records (hkms_store_counter_next): the CRL numbers. */
static int
is_counter(const char *kind, const char *name)
{
	return strncmp(kind, "crl/", 4) == 0 && strcmp(name, "number") == 0;
}

static void
check_dir(struct hkms_store *st, const char *kind, json_t *errors,
    json_t *warnings, json_t *stamps, json_int_t *records)
{
	char *dirpath = NULL, **names = NULL, *pem = NULL;
	struct hkms_err e;
	struct dirent *de;
	size_t i, n = 0;
	json_int_t cv;
	json_t *m;
	DIR *d;

	if ((dirpath = hkms_store_join(st->dir, kind, NULL)) == NULL)
		return;
	if ((d = opendir(dirpath)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			const char *f = de->d_name;
			char base[NAME_MAX + 1];
			char *jp;
			struct stat sb;

			if (strstr(f, ".tmp.") != NULL) {
				hkms_json_push(warnings, "%s/%s: stray temp file "
				    "(ignored)", kind, f);
			} else if (ends_with(f, ".rsv")) {
				hkms_store_recover_rsv(dirpath, kind, f, NULL,
				    warnings, NULL);
			} else if (ends_with(f, ".pem.next")) {
				hkms_json_push(warnings, "%s/%s: staged PEM (finished "
				    "or dropped on open)", kind, f);
			} else if (strcmp(kind, "crl") == 0 &&
			    ends_with(f, ".crl.pem")) {
				/* a CRL hkms published (<crl_dir>/<ca>.crl.pem
				 * beside <ca>.crl): not a record */
				continue;
			} else if (ends_with(f, ".pem")) {
				snprintf(base, sizeof(base), "%.*s",
				    (int)(strlen(f) - 4), f);
				jp = malloc(strlen(dirpath) + strlen(base) + 7);
				if (jp == NULL)
					continue;
				sprintf(jp, "%s/%s.json", dirpath, base);
				if (lstat(jp, &sb) != 0)
					hkms_json_push(warnings, "%s/%s: PEM without a "
					    "record (ignored)", kind, f);
				free(jp);
			}
		}
		closedir(d);
	}
	if (list_names(dirpath, &names, &n, &e) != HKMS_OK) {
		hkms_json_push(errors, "%s: %s", kind, e.detail);
		goto out;
	}
	for (i = 0; i < n; i++) {
		m = NULL;
		pem = NULL;
		if (hkms_store_get(st, kind, names[i], &m, &pem, &e) !=
		    HKMS_OK) {
			hkms_json_push(errors, "%s: %s", kind, e.detail);
			continue;
		}
		(*records)++;
		if (is_counter(kind, names[i]) &&
		    counter_value(m, kind, names[i], &cv, &e) != HKMS_OK)
			hkms_json_push(errors, "%s", e.detail);
		if (json_object_get(m, "audit_seq") != NULL)
			json_array_append_new(stamps, json_pack("[s++,O,O]",
			    kind, "/", names[i], json_object_get(m,
			    "audit_seq"), json_object_get(m, "audit_hash")));
		if (json_object_get(m, "renamed_from") != NULL &&
		    hkms_store_exists(st, kind, json_string_value(
		    json_object_get(m, "renamed_from"))))
			hkms_json_push(warnings, "%s/%s: interrupted rename, old name "
			    "still present", kind, names[i]);
		json_decref(m);
		free(pem);
	}
out:
	free_names(names, n);
	free(dirpath);
}

/*
 * Each record's audit_seq must name a line the head covers, and that line
 * must be the one the record was written under (audit_hash). A line with
 * no record is fine (an operation that failed or was killed after its
 * write-ahead line); a record with no line is not.
 */
static void
check_stamps(json_t *stamps, const struct hkms_audit_lines *t,
    json_t *errors)
{
	unsigned char want[32];
	const char *what, *hash;
	json_int_t seq;
	size_t i, len;
	json_t *s;

	json_array_foreach(stamps, i, s) {
		what = json_string_value(json_array_get(s, 0));
		seq = json_integer_value(json_array_get(s, 1));
		hash = json_string_value(json_array_get(s, 2));
		if (!json_is_integer(json_array_get(s, 1)) || seq < 1 ||
		    hash == NULL) {
			hkms_json_push(errors, "record %s: damaged audit_seq/audit_hash",
			    what);
		} else if ((size_t)seq > t->n || (seq > t->head_seq &&
		    seq > t->group_end)) {
			/* a record may name a line of the one line or group a
			 * crash can leave after the head (its rename durable,
			 * the head's not), never one beyond it */
			hkms_json_push(errors, "record %s names audit seq %lld beyond "
			    "the audit head (seq %lld): head rolled back or "
			    "log cut", what, (long long)seq, t->head_seq);
		} else if (hkms_unhex(hash, want, sizeof(want), &len, NULL) !=
		    HKMS_OK || len != 32 ||
		    memcmp(want, t->hash[seq - 1], 32) != 0) {
			hkms_json_push(errors, "record %s names audit line %lld, which "
			    "is not its line (log re-chained or record "
			    "altered)", what, (long long)seq);
		}
	}
}

/* Every record directory: base kinds and their sub-kinds. */
static void
check_all(struct hkms_store *st, json_t *errors, json_t *warnings,
    json_t *stamps, json_t *would, json_int_t *records)
{
	char sub[NAME_MAX + 64], *p;
	struct hkms_err ae;
	struct dirent *de;
	struct stat sb;
	size_t i;
	DIR *d;

	for (i = 0; i < NBASE; i++) {
		if (would != NULL) {
			/* what hkms_store_open() would change, without
			 * changing it */
			if ((p = hkms_store_join(st->dir, base_kinds[i],
			    NULL)) == NULL)
				continue;
			if (lstat(p, &sb) != 0 && errno == ENOENT)
				hkms_json_push(would, "%s: missing kind directory would "
				    "be created", base_kinds[i]);
			free(p);
			if (recover_kind(st, base_kinds[i], would, &ae) !=
			    HKMS_OK)
				hkms_json_push(errors, "%s", ae.detail);
		}
		check_entries(st, base_kinds[i], errors);
		check_dir(st, base_kinds[i], errors, warnings, stamps,
		    records);
		if ((p = hkms_store_join(st->dir, base_kinds[i], NULL)) ==
		    NULL)
			continue;
		d = hkms_store_real_dir(p, NULL) == HKMS_OK ? opendir(p) :
		    NULL;
		free(p);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (!subkind_dir(st, base_kinds[i], de))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", base_kinds[i],
			    de->d_name);
			check_entries(st, sub, errors);
			check_dir(st, sub, errors, warnings, stamps, records);
		}
		closedir(d);
	}
	/* <data>/profiles holds custom profile files, not records: only
	 * that none is a link or special file */
	check_entries(st, "profiles", errors);
}

enum hkms_rc
hkms_store_audit_check(struct hkms_store *st, json_t **report,
    struct hkms_err *err)
{
	struct hkms_audit_lines lines = { 0 };
	json_t *errors, *warnings, *stamps, *rep = NULL;
	json_int_t records = 0;
	enum hkms_rc rc;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	errors = json_array();
	warnings = json_array();
	stamps = json_array();
	/* records first: see hkms_store_check */
	check_all(st, errors, warnings, stamps, NULL, &records);
	rc = hkms_audit_verify_lines(st, &rep, &lines, err);
	json_array_clear(errors);
	check_stamps(stamps, &lines, errors);
	if (rep != NULL)
		json_object_set(rep, "record_errors", errors);
	if (rc == HKMS_OK && json_array_size(errors) > 0) {
		json_object_set_new(rep, "ok", json_false());
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain", "%s",
		    json_string_value(json_array_get(errors, 0)));
	}
	if (report != NULL) {
		*report = rep;
		rep = NULL;	/* transferred */
	}
	hkms_audit_lines_free(&lines);
	json_decref(rep);
	json_decref(errors);
	json_decref(warnings);
	json_decref(stamps);
	return rc;
}

enum hkms_rc
hkms_store_check(struct hkms_store *st, json_t **report,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	json_t *errors = NULL, *warnings = NULL, *audit = NULL, *rep = NULL;
	json_t *stamps = NULL, *would = NULL;
	struct hkms_audit_lines lines = { 0 };
	json_int_t records = 0;
	struct hkms_err ae;
	struct dirent *de;
	DIR *d;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	errors = json_array();
	warnings = json_array();
	stamps = json_array();
	would = json_array();
	if (errors == NULL || warnings == NULL || stamps == NULL ||
	    would == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	check_entries(st, NULL, errors);
	/* the embedded token's dir (hkms init): its PIN files and config are
	 * opened by us too; SoftHSM's object files below token/tokens are
	 * the module's own */
	check_entries(st, "token", errors);
	if ((d = opendir(st->dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strstr(de->d_name, ".tmp.") != NULL)
				hkms_json_push(warnings, "%s: stray temp file "
				    "(ignored)", de->d_name);
		closedir(d);
	}
	/* what hkms_store_open() would change, without changing it */
	if (recover_dir(st, NULL, would, &ae) != HKMS_OK)
		hkms_json_push(errors, "%s", ae.detail);
	check_all(st, errors, warnings, stamps, would, &records);
	/* after the records: every line a record read above names was
	 * written (and sealed) before that record, so it is in this
	 * snapshot */
	if (hkms_audit_verify_lines(st, &audit, &lines, &ae) != HKMS_OK)
		hkms_json_push(errors, "%s", ae.detail);
	check_stamps(stamps, &lines, errors);
	rep = json_pack("{s:b, s:I, s:O, s:O, s:O, s:o*}",
	    "ok", json_array_size(errors) == 0, "records", records,
	    "errors", errors, "warnings", warnings, "would_recover", would,
	    "audit", audit);
	audit = NULL;	/* transferred (or freed by json_pack on failure) */
	if (json_array_size(errors) > 0)
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "store_inconsistent",
		    "store check failed: %s",
		    json_string_value(json_array_get(errors, 0)));
	else
		rc = HKMS_OK;
	if (report != NULL) {
		*report = rep;
		rep = NULL;	/* transferred */
	}
out:
	hkms_audit_lines_free(&lines);
	json_decref(stamps);
	json_decref(rep);
	json_decref(audit);
	json_decref(errors);
	json_decref(warnings);
	json_decref(would);
	return rc;
}

/* ---------------------------------------------------------------- */
/* for the group committer (commit.c)                                */
/* ---------------------------------------------------------------- */

enum hkms_rc
hkms_store_rec_path(struct hkms_store *st, const char *kind,
    const char *name, const char *ext, char **out, struct hkms_err *err)
{
	return rec_path(st, kind, name, ext, out, err);
}

enum hkms_rc
hkms_store_writable(struct hkms_store *st, struct hkms_err *err)
{
	return check_writable(st, err);
}

enum hkms_rc
hkms_store_ensure_kind(struct hkms_store *st, const char *kind,
    struct hkms_err *err)
{
	return strchr(kind, '/') != NULL ? ensure_kind_dir(st, kind, err) :
	    HKMS_OK;
}

enum hkms_rc
hkms_store_kind_ready(struct hkms_store *st, const char *kind,
    struct hkms_err *err)
{
	if (!hkms_store_kind_valid(kind))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid store kind "
		    "'%s'", kind ? kind : "(null)");
	return strchr(kind, '/') != NULL ? ensure_kind_dir(st, kind, err) :
	    kind_dirs_ok(st, kind, err);
}

enum hkms_rc
hkms_store_rec_path_nocheck(struct hkms_store *st, const char *kind,
    const char *name, const char *ext, char **out, struct hkms_err *err)
{
	char file[128];

	if (!hkms_store_kind_valid(kind))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid store kind "
		    "'%s'", kind ? kind : "(null)");
	if (!name_ok(name))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_name",
		    "invalid name '%s'", name ? name : "(null)");
	snprintf(file, sizeof(file), "%s%s", name, ext);
	if ((*out = hkms_store_join(st->dir, kind, file)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}
