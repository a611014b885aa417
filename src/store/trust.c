/*
 * The truststore (include/hkms/trust.h, docs/truststore.md).
 *
 * Entries are ordinary store records of kind "trust": <alias>.json (the
 * metadata, including the thumbprint of every certificate) beside
 * <alias>.pem (the certificates, in order). The store gives us atomic,
 * crash-safe records, lock-free consistent reads and the data lock that
 * serializes writers of every process. On top of that this file adds:
 *
 * - snapshots: an immutable, reference-counted view (certificates parsed
 *   once) that readers such as the HTTPS server share across threads;
 *   a snapshot is replaced when the files change. "Changed" is decided by
 *   a freshness key (mtime and inode of the trust directory, inode and
 *   size of the change journal), read when inotify reports an event in
 *   the directory, or at least every HKMS_TRUST_RECHECK_MS (filesystems
 *   where inotify does not see other hosts' writes);
 * - the change journal (trust_journal.c), appended under the data lock
 *   after every committed change, which `trust watch` reads;
 * - pins and verification (trust_verify.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hkms/store.h"
#include "hkms/util.h"
#include "store_int.h"
#include "trust_int.h"

int64_t
trust_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
hkms_trust_alias_valid(const char *alias)
{
	return hkms_name_valid(alias) && strstr(alias, "..") == NULL;
}

static enum hkms_rc
check_alias(const char *alias, struct hkms_err *err)
{
	if (!hkms_trust_alias_valid(alias))
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_alias",
		    "invalid alias '%s': use 1 to 64 of A-Z a-z 0-9 . _ -, "
		    "not starting with '.' or '-', without '..'",
		    alias ? alias : "");
	return HKMS_OK;
}

enum hkms_rc
hkms_trust_open(struct hkms_store *st, struct hkms_trust **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_trust *tr = NULL;

	if (st == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "truststore: no store");
	if ((tr = calloc(1, sizeof(*tr))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	tr->st = st;
	tr->ino_fd = -1;
	pthread_mutex_init(&tr->mu, NULL);
	if ((rc = hkms_store_kind_path(st, HKMS_TRUST_KIND, &tr->dir, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_mkdir_p(tr->dir, 0700, err)) != HKMS_OK)
		goto out;
	if ((tr->journal = hkms_store_join(tr->dir, TRUST_JOURNAL, NULL)) ==
	    NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* inotify is an accelerator only: without it we stat() each time */
	tr->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (tr->ino_fd >= 0 && inotify_add_watch(tr->ino_fd, tr->dir,
	    IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
	    IN_CLOSE_WRITE) < 0) {
		close(tr->ino_fd);
		tr->ino_fd = -1;
	}
	*out = tr;
	tr = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	hkms_trust_close(tr);
	return rc;
}

void
hkms_trust_close(struct hkms_trust *tr)
{
	if (tr == NULL)
		return;
	hkms_trust_snap_free(tr->cur);
	if (tr->ino_fd >= 0)
		close(tr->ino_fd);
	pthread_mutex_destroy(&tr->mu);
	free(tr->journal);
	free(tr->dir);
	free(tr);
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                            */
/* ------------------------------------------------------------------ */

enum hkms_rc
trust_key_read(const struct hkms_trust *tr, struct trust_key *k,
    struct hkms_err *err)
{
	struct stat sb;

	memset(k, 0, sizeof(*k));
	if (stat(tr->dir, &sb) != 0)
		return hkms_err_set(err, HKMS_E_IO, "cannot stat '%s': %s",
		    tr->dir, strerror(errno));
	k->dir_mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 +
	    sb.st_mtim.tv_nsec;
	k->dir_ino = sb.st_ino;
	if (stat(tr->journal, &sb) == 0) {
		k->journal_ino = sb.st_ino;
		k->journal_size = sb.st_size;
	}
	return HKMS_OK;
}

static void
snap_destroy(struct hkms_trust_snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].alias);
		json_decref(s->v[i].meta);
		sk_X509_pop_free(s->v[i].certs, X509_free);
	}
	free(s->v);
	sk_X509_pop_free(s->all, X509_free);
	sk_X509_pop_free(s->pinned, X509_free);
	free(s);
}

void
hkms_trust_snap_free(struct hkms_trust_snap *s)
{
	if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) ==
	    0)
		snap_destroy(s);
}

static enum hkms_rc
push_ref(STACK_OF(X509) *st, X509 *x, struct hkms_err *err)
{
	if (!sk_X509_push(st, x))
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	X509_up_ref(x);
	return HKMS_OK;
}

/* Load one entry; HKMS_E_NOT_FOUND if it vanished since it was listed. */
static enum hkms_rc
load_entry(struct hkms_trust *tr, const char *alias, struct trust_entry *e,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	char *pem = NULL;
	int tries;

	memset(e, 0, sizeof(*e));
	/*
	 * A lock-free read can fall between a writer's rename of
	 * <alias>.pem.next to <alias>.pem and miss both (the store tries .pem,
	 * then .pem.next): such a "damaged" record heals within the writer's
	 * next syscall, so try again briefly before calling it damaged.
	 */
	for (tries = 0; ; tries++) {
		rc = hkms_store_get(tr->st, HKMS_TRUST_KIND, alias, &e->meta,
		    &pem, err);
		if (rc != HKMS_E_INVALID || tries >= 20)
			break;
		usleep(1000);
	}
	if (rc != HKMS_OK)
		goto out;
	if (pem == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record",
		    "truststore entry '%s' has no certificate", alias);
		goto out;
	}
	if ((rc = hkms_certio_parse((unsigned char *)pem, strlen(pem), NULL,
	    &e->certs, NULL, err)) != HKMS_OK)
		goto out;
	if ((e->alias = strdup(alias)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	e->pinned = strcmp(json_string_value(json_object_get(e->meta,
	    "kind")) ? json_string_value(json_object_get(e->meta, "kind")) :
	    "", "pinned") == 0;
	rc = HKMS_OK;
out:
	if (rc != HKMS_OK) {
		json_decref(e->meta);
		sk_X509_pop_free(e->certs, X509_free);
		memset(e, 0, sizeof(*e));
	}
	free(pem);
	return rc;
}

static enum hkms_rc
snap_load(struct hkms_trust *tr, struct hkms_trust_snap **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_trust_snap *s = NULL;
	json_t *list = NULL;
	size_t i, n;
	int j;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->all = sk_X509_new_null()) == NULL ||
	    (s->pinned = sk_X509_new_null()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	s->refs = 1;
	if ((rc = hkms_store_list(tr->st, HKMS_TRUST_KIND, &list, err)) !=
	    HKMS_OK)
		goto out;
	n = json_array_size(list);
	if (n > 0 && (s->v = calloc(n, sizeof(*s->v))) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* the list is sorted by name; entries keep that order */
	for (i = 0; i < n; i++) {
		const char *alias = json_string_value(json_object_get(
		    json_array_get(list, i), "name"));
		struct trust_entry *e = &s->v[s->n];

		if (alias == NULL)
			continue;
		rc = load_entry(tr, alias, e, err);
		if (rc == HKMS_E_NOT_FOUND)
			continue;	/* deleted meanwhile */
		if (rc != HKMS_OK)
			goto out;
		s->n++;
		for (j = 0; j < sk_X509_num(e->certs); j++) {
			X509 *x = sk_X509_value(e->certs, j);

			/* fill OpenSSL's lazily computed extension cache now,
			 * while only this thread sees x: verifying threads
			 * then only read it (TSan saw a race on skid) */
			(void)X509_check_purpose(x, -1, 0);
			if ((rc = push_ref(s->all, x, err)) != HKMS_OK)
				goto out;
			if (!e->pinned)
				continue;
			if ((rc = push_ref(s->pinned, x, err)) != HKMS_OK)
				goto out;
			if (X509_self_signed(x, 0) != 1)
				s->pinned_non_root = 1;
		}
	}
	*out = s;
	s = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(list);
	if (s != NULL)
		snap_destroy(s);
	return rc;
}

/* Drain the inotify queue; 1 if anything was there. */
static int
drain_inotify(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int any = 0;

	while (read(fd, buf, sizeof(buf)) > 0)
		any = 1;
	return any;
}

enum hkms_rc
hkms_trust_snapshot(struct hkms_trust *tr, struct hkms_trust_snap **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_OK;
	struct hkms_trust_snap *s = NULL;
	struct trust_key k;
	int64_t now;
	int check;

	if (tr == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no truststore");
	pthread_mutex_lock(&tr->mu);
	now = trust_now_ms();
	check = tr->cur == NULL || tr->ino_fd < 0 ||
	    now - tr->checked_ms >= HKMS_TRUST_RECHECK_MS;
	if (tr->ino_fd >= 0 && drain_inotify(tr->ino_fd))
		check = 1;
	if (check) {
		tr->checked_ms = now;
		/* the key is read before the files, so a change racing
		 * with the load is seen by the next check */
		if ((rc = trust_key_read(tr, &k, err)) != HKMS_OK)
			goto out;
		if (tr->cur == NULL || memcmp(&k, &tr->key, sizeof(k)) != 0) {
			if ((rc = snap_load(tr, &s, err)) != HKMS_OK)
				goto out;
			hkms_trust_snap_free(tr->cur);
			tr->cur = s;
			tr->key = k;
		}
	}
	__atomic_add_fetch(&tr->cur->refs, 1, __ATOMIC_ACQ_REL);
	*out = tr->cur;
out:
	pthread_mutex_unlock(&tr->mu);
	return rc;
}

STACK_OF(X509) *
hkms_trust_snap_certs(const struct hkms_trust_snap *s)
{
	return s->all;
}

size_t
hkms_trust_snap_count(const struct hkms_trust_snap *s)
{
	return s->n;
}

const struct trust_entry *
trust_snap_entry(const struct hkms_trust_snap *s, const char *alias)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strcmp(alias, s->v[mid].alias);
		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *
hkms_trust_snap_find(const struct hkms_trust_snap *s, const char *thumbprint)
{
	size_t i, j;
	json_t *certs;

	for (i = 0; i < s->n; i++) {
		certs = json_object_get(s->v[i].meta, "certificates");
		for (j = 0; j < json_array_size(certs); j++)
			if (strcmp(json_string_value(json_object_get(
			    json_array_get(certs, j), "thumbprint")) ?
			    json_string_value(json_object_get(json_array_get(
			    certs, j), "thumbprint")) : "", thumbprint) == 0)
				return s->v[i].alias;
	}
	return NULL;
}

enum hkms_rc
hkms_trust_snap_alias_certs(const struct hkms_trust_snap *s,
    const char *alias, STACK_OF(X509) **out, struct hkms_err *err)
{
	const struct trust_entry *e = alias ? trust_snap_entry(s, alias) :
	    NULL;

	if (e == NULL)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
		    "no truststore entry '%s'", alias ? alias : "");
	*out = e->certs;
	return HKMS_OK;
}

/* "trusted", "expired" or "not-yet-valid" for x at now. */
static const char *
cert_status(X509 *x, int64_t now)
{
	int64_t nb, na;

	if (hkms_certio_time(X509_get0_notBefore(x), &nb, NULL) != HKMS_OK ||
	    hkms_certio_time(X509_get0_notAfter(x), &na, NULL) != HKMS_OK)
		return "expired";
	if (now < nb)
		return "not-yet-valid";
	if (now > na)
		return "expired";
	return "trusted";
}

static const char *
entry_status(const struct trust_entry *e, int64_t now)
{
	const char *st;
	json_t *pres;
	int i;

	for (i = 0; i < sk_X509_num(e->certs); i++) {
		st = cert_status(sk_X509_value(e->certs, i), now);
		if (strcmp(st, "trusted") != 0)
			return e->pinned ? "untrusted" : st;
	}
	pres = json_object_get(json_object_get(e->meta, "pin"), "presented");
	if (e->pinned && json_is_object(pres))
		return "untrusted";
	return "trusted";
}

static int64_t
fix_now(int64_t now)
{
	return now != 0 ? now : (int64_t)time(NULL);
}

enum hkms_rc
hkms_trust_snap_list(const struct hkms_trust_snap *s, int64_t now,
    json_t **out, struct hkms_err *err)
{
	json_t *arr = json_array(), *row, *c0;
	const struct trust_entry *e;
	const char *na, *min_na;
	size_t i, j;
	json_t *certs;

	if (arr == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	now = fix_now(now);
	for (i = 0; i < s->n; i++) {
		e = &s->v[i];
		certs = json_object_get(e->meta, "certificates");
		c0 = json_array_get(certs, 0);
		min_na = NULL;
		for (j = 0; j < json_array_size(certs); j++) {
			na = json_string_value(json_object_get(
			    json_array_get(certs, j), "not_after"));
			/* RFC 3339 UTC strings sort as times */
			if (na != NULL && (min_na == NULL ||
			    strcmp(na, min_na) < 0))
				min_na = na;
		}
		row = json_object();
		json_object_set_new(row, "alias", json_string(e->alias));
		json_object_set(row, "kind", json_object_get(e->meta, "kind"));
		json_object_set_new(row, "status",
		    json_string(entry_status(e, now)));
		json_object_set_new(row, "certificates",
		    json_integer((json_int_t)json_array_size(certs)));
		json_object_set(row, "subject", json_object_get(c0, "subject"));
		json_object_set_new(row, "not_after", min_na ?
		    json_string(min_na) : json_null());
		json_object_set(row, "thumbprint",
		    json_object_get(c0, "thumbprint"));
		json_array_append_new(arr, row);
	}
	*out = arr;
	return HKMS_OK;
}

enum hkms_rc
hkms_trust_snap_show(const struct hkms_trust_snap *s, const char *alias,
    int64_t now, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	const struct trust_entry *e = alias ? trust_snap_entry(s, alias) :
	    NULL;
	static const char *const keep[] = { "subject", "issuer", "serial",
	    "not_before", "not_after", "fingerprint_sha1",
	    "fingerprint_sha256", "thumbprint", "is_ca", "self_signed",
	    "common_name", "san", "key_type", "key_bits", "path_len",
	    "extended_key_usage" };
	json_t *o = NULL, *arr, *d = NULL, *c;
	size_t k;
	int i;

	if (e == NULL)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
		    "no truststore entry '%s'", alias ? alias : "");
	now = fix_now(now);
	if ((o = json_object()) == NULL || (arr = json_array()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(o, "alias", json_string(e->alias));
	json_object_set(o, "kind", json_object_get(e->meta, "kind"));
	json_object_set_new(o, "status", json_string(entry_status(e, now)));
	json_object_set(o, "created", json_object_get(e->meta, "created"));
	json_object_set(o, "updated", json_object_get(e->meta, "updated"));
	json_object_set(o, "source_format", json_object_get(e->meta,
	    "source_format"));
	json_object_set_new(o, "certificates", arr);
	for (i = 0; i < sk_X509_num(e->certs); i++) {
		X509 *x = sk_X509_value(e->certs, i);

		if ((rc = hkms_certio_describe(x, now, &d, err)) != HKMS_OK)
			goto out;
		c = json_object();
		json_object_set(c, "subject", json_object_get(d, "subject"));
		for (k = 1; k < sizeof(keep) / sizeof(keep[0]); k++)
			json_object_set(c, keep[k], json_object_get(d,
			    keep[k]));
		json_object_set_new(c, "status",
		    json_string(cert_status(x, now)));
		json_array_append_new(arr, c);
		json_decref(d);
		d = NULL;
	}
	if (e->pinned)
		json_object_set(o, "pin", json_object_get(e->meta, "pin"));
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(d);
	json_decref(o);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

static json_t *
cert_meta(X509 *x, struct hkms_err *err)
{
	char thumb[HKMS_CERTIO_THUMB_SIZE];
	json_t *d = NULL, *m;

	if (hkms_certio_thumbprint(x, thumb, err) != HKMS_OK ||
	    hkms_certio_describe(x, 0, &d, err) != HKMS_OK)
		return NULL;
	m = json_object();
	json_object_set_new(m, "thumbprint", json_string(thumb));
	json_object_set(m, "subject", json_object_get(d, "subject"));
	json_object_set(m, "issuer", json_object_get(d, "issuer"));
	json_object_set(m, "serial", json_object_get(d, "serial"));
	json_object_set(m, "not_before", json_object_get(d, "not_before"));
	json_object_set(m, "not_after", json_object_get(d, "not_after"));
	json_object_set(m, "is_ca", json_object_get(d, "is_ca"));
	json_object_set(m, "self_signed", json_object_get(d, "self_signed"));
	json_decref(d);
	return m;
}

/* Metadata ("certificates", "trust_schema", "created", "kind") and the
 * PEM of certs. */
static enum hkms_rc
build_record(STACK_OF(X509) *certs, const char *kind, const char *created,
    json_t **meta, char **pem, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	json_t *m = json_object(), *arr = json_array(), *cm;
	unsigned char *buf = NULL;
	size_t len;
	char now[32];
	int i;

	if (m == NULL || arr == NULL) {
		json_decref(arr);
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(m, "trust_schema", json_integer(TRUST_SCHEMA));
	json_object_set_new(m, "kind", json_string(kind));
	json_object_set_new(m, "created", json_string(created ? created :
	    hkms_time_str((int64_t)time(NULL), now)));
	json_object_set_new(m, "certificates", arr);
	for (i = 0; i < sk_X509_num(certs); i++) {
		if ((cm = cert_meta(sk_X509_value(certs, i), err)) == NULL) {
			rc = err ? err->rc : HKMS_E_CRYPTO;
			goto out;
		}
		json_array_append_new(arr, cm);
	}
	if ((rc = hkms_certio_encode(certs, HKMS_CERTIO_FMT_PEM, NULL, &buf,
	    &len, err)) != HKMS_OK)
		goto out;
	*meta = m;
	m = NULL;	/* transferred */
	*pem = (char *)buf;
	buf = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(m);
	free(buf);
	return rc;
}

static json_t *
thumbs_of(json_t *meta)
{
	json_t *arr = json_array(), *certs = json_object_get(meta,
	    "certificates");
	size_t i;

	for (i = 0; i < json_array_size(certs); i++)
		json_array_append(arr, json_object_get(json_array_get(certs, i),
		    "thumbprint"));
	return arr;
}

/* The alias holding thumb among the records in list, or NULL. */
static const char *
list_find(json_t *list, const char *thumb)
{
	size_t i, j;
	json_t *certs;
	const char *t;

	for (i = 0; i < json_array_size(list); i++) {
		certs = json_object_get(json_array_get(list, i),
		    "certificates");
		for (j = 0; j < json_array_size(certs); j++) {
			t = json_string_value(json_object_get(json_array_get(
			    certs, j), "thumbprint"));
			if (t != NULL && strcmp(t, thumb) == 0)
				return json_string_value(json_object_get(
				    json_array_get(list, i), "name"));
		}
	}
	return NULL;
}

/* Write record alias and note the change in the journal (lock held). */
static enum hkms_rc
commit(struct hkms_trust *tr, const char *alias, json_t *meta,
    const char *pem, const char *event, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *thumbs = thumbs_of(meta);

	rc = hkms_store_put(tr->st, HKMS_TRUST_KIND, alias, meta, pem, err);
	if (rc == HKMS_OK)
		rc = trust_journal_append(tr, event, alias, thumbs, err);
	json_decref(thumbs);
	return rc;
}

enum hkms_rc
hkms_trust_import(struct hkms_trust *tr, const char *alias,
    STACK_OF(X509) *certs, const char *source_format, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	STACK_OF(X509) *keep = NULL;
	json_t *list = NULL, *meta = NULL, *dups = NULL, *res = NULL;
	json_t *seen = NULL;
	char *pem = NULL, thumb[HKMS_CERTIO_THUMB_SIZE];
	const char *owner;
	int i, locked = 0;

	if (tr == NULL || sk_X509_num(certs) <= 0)
		return hkms_err_set(err, HKMS_E_INVALID, "no certificate to "
		    "import");
	if ((rc = check_alias(alias, err)) != HKMS_OK)
		return rc;
	if ((keep = sk_X509_new_null()) == NULL ||
	    (dups = json_array()) == NULL || (seen = json_object()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_begin(tr->st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (hkms_store_exists(tr->st, HKMS_TRUST_KIND, alias)) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "alias_exists",
		    "truststore alias '%s' already exists", alias);
		goto out;
	}
	/* under the lock, the records are exactly what is committed */
	if ((rc = hkms_store_list(tr->st, HKMS_TRUST_KIND, &list, err)) !=
	    HKMS_OK)
		goto out;
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if ((rc = hkms_certio_thumbprint(x, thumb, err)) != HKMS_OK)
			goto out;
		if (json_object_get(seen, thumb) != NULL)
			continue;	/* twice in the input */
		json_object_set_new(seen, thumb, json_true());
		if ((owner = list_find(list, thumb)) != NULL) {
			json_t *d = json_object();

			json_object_set_new(d, "thumbprint",
			    json_string(thumb));
			json_object_set_new(d, "alias", json_string(owner));
			json_array_append_new(dups, d);
			continue;
		}
		if ((rc = push_ref(keep, x, err)) != HKMS_OK)
			goto out;
	}
	if (sk_X509_num(keep) == 0) {
		owner = json_string_value(json_object_get(json_array_get(dups,
		    0), "alias"));
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "already_trusted",
		    "%s already in the truststore (alias '%s')",
		    json_array_size(dups) > 1 ? "all certificates are" :
		    "the certificate is", owner ? owner : "?");
		goto out;
	}
	if ((rc = build_record(keep, "imported", NULL, &meta, &pem, err)) !=
	    HKMS_OK)
		goto out;
	if (source_format != NULL)
		json_object_set_new(meta, "source_format",
		    json_string(source_format));
	if ((rc = commit(tr, alias, meta, pem, "added", err)) != HKMS_OK)
		goto out;
	if (out != NULL) {
		res = json_object();
		json_object_set_new(res, "alias", json_string(alias));
		json_object_set_new(res, "imported", thumbs_of(meta));
		json_object_set(res, "duplicates", dups);
		*out = res;
	}
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(tr->st);
	sk_X509_pop_free(keep, X509_free);
	json_decref(list);
	json_decref(meta);
	json_decref(dups);
	json_decref(seen);
	free(pem);
	return rc;
}

/* Hosts a leaf answers for: DNS and IP SANs, and the CN. */
static json_t *
leaf_hosts(X509 *leaf)
{
	json_t *d = NULL, *hosts = json_array(), *san;
	const char *s, *cn;
	size_t i;

	if (hkms_certio_describe(leaf, 0, &d, NULL) != HKMS_OK)
		return hosts;
	san = json_object_get(d, "san");
	for (i = 0; i < json_array_size(san); i++) {
		s = json_string_value(json_array_get(san, i));
		if (strncmp(s, "DNS:", 4) == 0 || strncmp(s, "IP:", 3) == 0)
			json_array_append_new(hosts, json_string(
			    strchr(s, ':') + 1));
	}
	cn = json_string_value(json_object_get(d, "common_name"));
	if (cn != NULL)
		json_array_append_new(hosts, json_string(cn));
	json_decref(d);
	return hosts;
}

/* Which certificate of presented a pin trusts (see hkms_trust_pin). */
static enum hkms_rc
pin_target(STACK_OF(X509) *presented, X509 **out, struct hkms_err *err)
{
	X509 *leaf = sk_X509_value(presented, 0);
	int i;

	if (sk_X509_num(presented) == 1 || X509_self_signed(leaf, 0) == 1) {
		*out = leaf;
		return HKMS_OK;
	}
	for (i = 1; i < sk_X509_num(presented); i++) {
		X509 *c = sk_X509_value(presented, i);

		if (X509_check_issued(c, leaf) == X509_V_OK) {
			*out = c;
			return HKMS_OK;
		}
	}
	return hkms_err_setc(err, HKMS_E_INVALID, "issuer_not_presented",
	    "the issuer of the presented certificate is not in the file: "
	    "give the peer's certificate alone or with its issuing CA");
}

enum hkms_rc
hkms_trust_pin(struct hkms_trust *tr, const char *alias,
    STACK_OF(X509) *presented, int force, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	STACK_OF(X509) *one = NULL;
	json_t *meta = NULL, *old = NULL, *pin, *peer, *res;
	char *pem = NULL, *subj = NULL;
	char target_tp[HKMS_CERTIO_THUMB_SIZE], leaf_tp[HKMS_CERTIO_THUMB_SIZE];
	const char *old_tp = NULL, *created = NULL;
	X509 *target = NULL, *leaf;
	int locked = 0, replaced = 0, unchanged = 0;

	if (tr == NULL || sk_X509_num(presented) <= 0)
		return hkms_err_set(err, HKMS_E_INVALID, "no certificate to "
		    "pin");
	if ((rc = check_alias(alias, err)) != HKMS_OK)
		return rc;
	leaf = sk_X509_value(presented, 0);
	if ((rc = pin_target(presented, &target, err)) != HKMS_OK ||
	    (rc = hkms_certio_thumbprint(target, target_tp, err)) != HKMS_OK ||
	    (rc = hkms_certio_thumbprint(leaf, leaf_tp, err)) != HKMS_OK)
		goto out;
	if ((one = sk_X509_new_null()) == NULL ||
	    (rc = push_ref(one, target, err)) != HKMS_OK ||
	    (subj = hkms_certio_name_str(X509_get_subject_name(leaf))) ==
	    NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_begin(tr->st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	rc = hkms_store_get(tr->st, HKMS_TRUST_KIND, alias, &old, NULL, err);
	if (rc != HKMS_OK && rc != HKMS_E_NOT_FOUND)
		goto out;
	if (rc == HKMS_OK) {
		int was_pin = strcmp(json_string_value(json_object_get(old,
		    "kind")) ? json_string_value(json_object_get(old, "kind")) :
		    "", "pinned") == 0;

		old_tp = json_string_value(json_object_get(json_object_get(old,
		    "pin"), "thumbprint"));
		created = json_string_value(json_object_get(old, "created"));
		if (was_pin && old_tp != NULL && strcmp(old_tp, target_tp) ==
		    0) {
			unchanged = 1;
		} else if (!force) {
			rc = was_pin ? hkms_err_setc(err, HKMS_E_EXISTS,
			    "pin_changed", "alias '%s' pins a different "
			    "certificate (%s); use --force to replace it",
			    alias, old_tp ? old_tp : "?") :
			    hkms_err_setc(err, HKMS_E_EXISTS, "alias_exists",
			    "truststore alias '%s' already exists (imported); "
			    "use --force to replace it", alias);
			goto out;
		} else {
			replaced = 1;
		}
	}
	if (!unchanged) {
		if ((rc = build_record(one, "pinned", created, &meta, &pem,
		    err)) != HKMS_OK)
			goto out;
		pin = json_object();
		peer = json_object();
		json_object_set_new(peer, "subject", json_string(subj));
		json_object_set_new(peer, "hosts", leaf_hosts(leaf));
		json_object_set_new(peer, "thumbprint", json_string(leaf_tp));
		json_object_set_new(pin, "thumbprint", json_string(target_tp));
		json_object_set_new(pin, "peer", peer);
		json_object_set_new(pin, "presented", json_null());
		json_object_set_new(meta, "pin", pin);
		json_object_set_new(meta, "source_format", json_string("pin"));
		if ((rc = commit(tr, alias, meta, pem, replaced ? "changed" :
		    "added", err)) != HKMS_OK)
			goto out;
	}
	if (out != NULL) {
		res = json_object();
		json_object_set_new(res, "alias", json_string(alias));
		json_object_set_new(res, "pinned", json_string(target_tp));
		json_object_set_new(res, "peer", json_string(subj));
		json_object_set_new(res, "replaced", json_boolean(replaced));
		json_object_set_new(res, "unchanged", json_boolean(unchanged));
		*out = res;
	}
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(tr->st);
	sk_X509_pop_free(one, X509_free);
	json_decref(meta);
	json_decref(old);
	free(pem);
	free(subj);
	return rc;
}

enum hkms_rc
hkms_trust_delete(struct hkms_trust *tr, const char *alias,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *old = NULL, *thumbs = NULL;

	if (tr == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no truststore");
	if ((rc = check_alias(alias, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(tr->st, err)) != HKMS_OK)
		return rc;
	rc = hkms_store_get(tr->st, HKMS_TRUST_KIND, alias, &old, NULL, err);
	if (rc == HKMS_E_NOT_FOUND)
		hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
		    "no truststore entry '%s'", alias);
	if (rc == HKMS_OK) {
		thumbs = thumbs_of(old);
		rc = hkms_store_delete(tr->st, HKMS_TRUST_KIND, alias, err);
	}
	if (rc == HKMS_OK)
		rc = trust_journal_append(tr, "removed", alias, thumbs, err);
	hkms_store_end(tr->st);
	json_decref(old);
	json_decref(thumbs);
	return rc;
}

enum hkms_rc
trust_pin_observe(struct hkms_trust *tr, const char *alias,
    const char *thumbprint, const char *subject, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta = NULL, *pin, *pres;
	char *pem = NULL, now[32];
	const char *cur;

	if ((rc = hkms_store_begin(tr->st, err)) != HKMS_OK)
		return rc;
	rc = hkms_store_get(tr->st, HKMS_TRUST_KIND, alias, &meta, &pem, err);
	if (rc != HKMS_OK)
		goto out;
	pin = json_object_get(meta, "pin");
	if (!json_is_object(pin))
		goto out;	/* replaced by an import meanwhile */
	pres = json_object_get(pin, "presented");
	cur = json_string_value(json_object_get(pres, "thumbprint"));
	if (thumbprint == NULL ? cur == NULL : (cur != NULL &&
	    strcmp(cur, thumbprint) == 0))
		goto out;	/* nothing new: no write */
	if (thumbprint == NULL) {
		json_object_set_new(pin, "presented", json_null());
	} else {
		pres = json_object();
		json_object_set_new(pres, "thumbprint",
		    json_string(thumbprint));
		json_object_set_new(pres, "subject", json_string(subject ?
		    subject : ""));
		json_object_set_new(pres, "at", json_string(hkms_time_str(
		    (int64_t)time(NULL), now)));
		json_object_set_new(pin, "presented", pres);
	}
	rc = commit(tr, alias, meta, pem, "changed", err);
out:
	hkms_store_end(tr->st);
	json_decref(meta);
	free(pem);
	return rc;
}
