/*
 * Clients and clearance (include/hkms/clients.h, docs/clients.md): the
 * registrations of mTLS clients, records clients/<name>.json written
 * under the data lock with a write-ahead audit line (client.add,
 * client.generate, client.edit, client.delete), and the authentication of
 * a presented chain to a principal.
 *
 * The server looks a thumbprint up on every request: a process-wide cache
 * (one per data dir) keeps a hash table thumbprint -> name and the client
 * CAs (an X509_STORE of every active hkms CA). Each lookup stats the
 * clients and cas directories (dev, ino, mtime, size): a change made by
 * any process (hkms writes by rename, which changes the directory) is
 * seen by the next request without a restart. A snapshot taken within a
 * second of the directory's mtime is not trusted (the file system's
 * clock is coarse): it is taken again on the next lookup. An index miss
 * rebuilds at most once a second (a file edited in place), so a flood of
 * unknown certificates cannot turn into directory reads. The registration
 * itself is kept parsed under the stamp of its file (reg_get below): every
 * successful lookup stats the file, and a changed, replaced or removed
 * registration is read again (or refused) at that request.
 *
 * Client CAs are the hkms CAs only, never truststore aliases: hkms can
 * answer for the revocation state of its own CAs only, and the truststore
 * holds the peers hkms talks to, not who may talk to hkms. A certificate
 * of an outside CA is admitted through [server] admin_thumbprints.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "ca_int.h"
#include "clients_int.h"
#include "ops_int.h"


/* ---- helpers ---- */

const char *
ops_clearance_name(enum hkms_clearance c)
{
	switch (c) {
	case HKMS_CLEARANCE_ADMIN:
		return "admin";
	case HKMS_CLEARANCE_OPERATOR:
		return "operator";
	case HKMS_CLEARANCE_USER:
		return "user";
	default:
		return "none";
	}
}

int
ops_clearance_parse(const char *s, enum hkms_clearance *out)
{
	if (s == NULL)
		return 0;
	if (strcmp(s, "admin") == 0)
		*out = HKMS_CLEARANCE_ADMIN;
	else if (strcmp(s, "operator") == 0)
		*out = HKMS_CLEARANCE_OPERATOR;
	else if (strcmp(s, "user") == 0)
		*out = HKMS_CLEARANCE_USER;
	else
		return 0;
	return 1;
}

static enum hkms_rc
need_store(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	return HKMS_OK;
}

enum hkms_rc
ops_client_name_check(const char *name, struct hkms_err *err)
{
	if (name == NULL || name[0] == '\0')
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "name is required");
	if (!hkms_name_valid(name) || strlen(name) > 64)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid client name '%s'", name);
	return HKMS_OK;
}

enum hkms_rc
ops_client_get(struct hkms_ops_ctx *c, const char *name, json_t **reg,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	rc = hkms_store_get(c->store, CLIENT_KIND, name, reg, NULL, err);
	if (rc == HKMS_E_NOT_FOUND)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "client_not_found",
		    "no client '%s'", name);
	return rc;
}

/* Lower-case hex SHA-256 of the DER of x. */
static enum hkms_rc
thumb_hex(X509 *x, char out[65], struct hkms_err *err)
{
	char t[HKMS_CERTIO_THUMB_SIZE];
	const char *h;
	enum hkms_rc rc;

	if ((rc = hkms_certio_thumbprint(x, t, err)) != HKMS_OK)
		return rc;
	h = strncmp(t, "sha256:", 7) == 0 ? t + 7 : t;
	if (strlen(h) != 64)
		return hkms_err_set(err, HKMS_E_INTERNAL, "bad thumbprint");
	memcpy(out, h, 64);
	out[64] = '\0';
	return HKMS_OK;
}

/* The permissions array of a registration from the request's grants. */
static enum hkms_rc
grants_json(struct hkms_ops_ctx *c, const struct hkms_ops_client_grant *g,
    size_t n, json_t **out, struct hkms_err *err)
{
	json_t *a = json_array(), *p, *r, *pr;
	size_t i, j, k;

	if (a == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (g[i].ca == NULL || !hkms_name_valid(g[i].ca)) {
			json_decref(a);
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_field", "permissions: invalid CA name "
			    "'%s'", g[i].ca ? g[i].ca : "");
		}
		if (!hkms_store_exists(c->store, CA_KIND, g[i].ca)) {
			json_decref(a);
			return hkms_err_setc(err, HKMS_E_NOT_FOUND,
			    "ca_not_found", "permissions: no CA '%s'",
			    g[i].ca);
		}
		for (k = 0; k < i; k++)
			if (strcmp(g[k].ca, g[i].ca) == 0) {
				json_decref(a);
				return hkms_err_setc(err, HKMS_E_INVALID,
				    "invalid_field", "permissions: CA '%s' is "
				    "given twice", g[i].ca);
			}
		if (g[i].rights & ~(HKMS_PERM_READ | HKMS_PERM_SIGN)) {
			json_decref(a);
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_field", "permissions: unknown rights");
		}
		r = json_array();
		if (g[i].rights == 0 || (g[i].rights & HKMS_PERM_SIGN))
			json_array_append_new(r, json_string("sign"));
		json_array_append_new(r, json_string("read"));
		pr = json_null();
		if (g[i].profiles != NULL) {
			json_decref(pr);
			pr = json_array();
			for (j = 0; j < g[i].nprofiles; j++) {
				if (g[i].profiles[j] == NULL ||
				    !hkms_name_valid(g[i].profiles[j])) {
					json_decref(pr);
					json_decref(r);
					json_decref(a);
					return hkms_err_setc(err,
					    HKMS_E_INVALID, "invalid_field",
					    "permissions: invalid profile "
					    "name for CA '%s'", g[i].ca);
				}
				json_array_append_new(pr, json_string(
				    g[i].profiles[j]));
			}
		}
		p = json_pack("{s:s,s:o,s:o,s:n}", "ca", g[i].ca, "rights", r,
		    "profiles", pr, "name_policy");
		if (p == NULL || json_array_append_new(a, p) != 0) {
			json_decref(a);
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		}
	}
	*out = a;
	return HKMS_OK;
}

/* The facts of one certificate a registration keeps. */
static json_t *
cert_facts(X509 *x, const char *thumb)
{
	char serial[HKMS_X509_SERIAL_HEX_MAX] = "";
	char *subj = hkms_certio_name_str(X509_get_subject_name(x));
	char *iss = hkms_certio_name_str(X509_get_issuer_name(x));
	json_t *o;

	(void)hkms_x509_serial_to_hex(X509_get0_serialNumber(x), serial,
	    NULL);
	o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "thumbprint", thumb,
	    "subject", subj ? subj : "", "issuer", iss ? iss : "", "serial",
	    serial, "not_before", ca_time_json(X509_get0_notBefore(x)),
	    "not_after", ca_time_json(X509_get0_notAfter(x)));
	free(subj);
	free(iss);
	return o;
}

/* ---- the client CAs ---- */

struct client_ca {
	char name[65];
	X509 *cert;
};

/* Every active hkms CA's certificate, loaded from the store. */
static enum hkms_rc
load_cas(struct hkms_ops_ctx *c, struct client_ca **out, size_t *nout,
    struct hkms_err *err)
{
	struct client_ca *v = NULL;
	struct hkms_err e;
	json_t *list = NULL, *it;
	enum hkms_rc rc;
	size_t i, n = 0;

	*out = NULL;
	*nout = 0;
	if ((rc = hkms_store_list(c->store, CA_KIND, &list, err)) != HKMS_OK)
		return rc;
	if ((v = calloc(json_array_size(list) + 1, sizeof(*v))) == NULL) {
		json_decref(list);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	json_array_foreach(list, i, it) {
		const char *name = json_string_value(json_object_get(it,
		    "name"));
		struct ca *ca = NULL;

		memset(&e, 0, sizeof(e));
		if (name == NULL || ca_load(c, name, 1, &ca, &e) != HKMS_OK)
			continue;	/* pending or damaged: no client CA */
		snprintf(v[n].name, sizeof(v[n].name), "%s", name);
		X509_up_ref(ca->cert);
		v[n++].cert = ca->cert;
		ca_free(ca);
	}
	json_decref(list);
	*out = v;
	*nout = n;
	return HKMS_OK;
}

static void
free_cas(struct client_ca *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		X509_free(v[i].cert);
	free(v);
}

/* ---- the lookup cache ---- */

struct dir_snap {
	int valid;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	mode_t mode;		/* with uid, gid: what the store's checks see */
	uid_t uid;
	gid_t gid;
	time_t taken;
};

struct thumb_slot {
	char thumb[65];		/* "" = empty */
	char name[65];
};

static struct {
	pthread_mutex_t mu;
	char dir[PATH_MAX];
	char cl_path[PATH_MAX], ca_path[PATH_MAX];	/* "" = not yet */
	struct dir_snap clients_snap, cas_snap;
	struct thumb_slot *slots;
	size_t nslots;		/* power of two */
	time_t last_miss_rebuild;
	struct client_ca *cas;
	size_t ncas;
	X509_STORE *store;	/* of cas, trusted */
	unsigned long cas_gen;	/* raised on every rebuild of cas */
} cache = { PTHREAD_MUTEX_INITIALIZER, "", "", "", { 0 }, { 0 }, NULL, 0,
	0, NULL, 0, NULL, 0 };

/* 1 if dir changed since snap (or snap is racy); refreshes *now_snap. */
static int
dir_changed(const char *path, const struct dir_snap *snap,
    struct dir_snap *now_snap)
{
	struct stat sb;

	memset(now_snap, 0, sizeof(*now_snap));
	now_snap->taken = time(NULL);
	if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return !snap->valid ? 1 : snap->dev != 0;
	now_snap->valid = 1;
	now_snap->dev = sb.st_dev;
	now_snap->ino = sb.st_ino;
	now_snap->mtime = sb.st_mtim;
	now_snap->size = sb.st_size;
	now_snap->mode = sb.st_mode;
	now_snap->uid = sb.st_uid;
	now_snap->gid = sb.st_gid;
	if (!snap->valid || snap->dev != sb.st_dev || snap->ino != sb.st_ino ||
	    snap->size != sb.st_size || snap->mtime.tv_sec !=
	    sb.st_mtim.tv_sec || snap->mtime.tv_nsec != sb.st_mtim.tv_nsec ||
	    snap->mode != sb.st_mode || snap->uid != sb.st_uid ||
	    snap->gid != sb.st_gid)
		return 1;
	/* racy: taken in the same second as the last change */
	return snap->taken <= sb.st_mtim.tv_sec + 1;
}

static size_t
thumb_hash(const char *t)
{
	size_t h = 0;
	int i;

	/* the thumbprint is already a hash: its first hex digits do */
	for (i = 0; i < 16 && t[i]; i++)
		h = h * 16 + (size_t)(t[i] <= '9' ? t[i] - '0' :
		    (t[i] | 0x20) - 'a' + 10);
	return h;
}

/* Build the thumbprint table from every registration; caller holds mu. */
static enum hkms_rc
rebuild_index(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	json_t *list = NULL, *it, *t;
	struct thumb_slot *slots;
	size_t i, j, n = 0, cap = 16, h, skipped = 0;
	enum hkms_rc rc;

	/* a damaged or unsafe registration is left out of the index (its
	 * client is refused) instead of failing every client's request */
	if ((rc = hkms_store_list_readable(c->store, CLIENT_KIND, &list,
	    &skipped, err)) != HKMS_OK)
		return rc;
	if (skipped > 0)
		hkms_log_msg(hkms_service_log(c->service), HKMS_LOG_WARN,
		    "client.index", "%zu registration(s) under clients/ "
		    "cannot be read and are ignored (a store check names "
		    "them)", skipped);
	json_array_foreach(list, i, it)
		n += json_array_size(json_object_get(it, "thumbprints"));
	while (cap < 2 * n + 2)
		cap *= 2;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL) {
		json_decref(list);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	json_array_foreach(list, i, it) {
		const char *name = json_string_value(json_object_get(it,
		    "name"));

		json_array_foreach(json_object_get(it, "thumbprints"), j, t) {
			const char *s = json_string_value(t);

			if (s == NULL || name == NULL || strlen(s) != 64)
				continue;
			for (h = thumb_hash(s) & (cap - 1); slots[h].thumb[0];
			    h = (h + 1) & (cap - 1))
				;
			snprintf(slots[h].thumb, sizeof(slots[h].thumb), "%s",
			    s);
			snprintf(slots[h].name, sizeof(slots[h].name), "%s",
			    name);
		}
	}
	json_decref(list);
	free(cache.slots);
	cache.slots = slots;
	cache.nslots = cap;
	return HKMS_OK;
}

static enum hkms_rc
rebuild_cas(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	struct client_ca *v = NULL;
	X509_STORE *xs;
	enum hkms_rc rc;
	size_t i, n = 0;

	if ((rc = load_cas(c, &v, &n, err)) != HKMS_OK)
		return rc;
	if ((xs = X509_STORE_new()) == NULL) {
		free_cas(v, n);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		X509_STORE_add_cert(xs, v[i].cert);
	ERR_clear_error();	/* a duplicate add is not an error */
	free_cas(cache.cas, cache.ncas);
	X509_STORE_free(cache.store);
	cache.cas = v;
	cache.ncas = n;
	cache.store = xs;
	cache.cas_gen++;
	return HKMS_OK;
}

/* Bring the cache up to date for c's store; caller holds mu. The store
 * checks the two directories (real directories, safely owned) when their
 * paths are first taken and on every rebuild; in between, a snapshot
 * that covers what those checks look at (a replaced directory or link is
 * another inode, a chown or chmod another owner or mode) stands for
 * them, so the usual request costs two lstat calls. */
static enum hkms_rc
cache_refresh(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	struct dir_snap ns;
	char *cl = NULL, *ca = NULL;
	const char *dir = hkms_store_dir(c->store);
	enum hkms_rc rc;

	if (strcmp(cache.dir, dir) != 0 || cache.cl_path[0] == '\0') {
		memset(&cache.clients_snap, 0, sizeof(cache.clients_snap));
		memset(&cache.cas_snap, 0, sizeof(cache.cas_snap));
		cache.cl_path[0] = cache.ca_path[0] = '\0';
		snprintf(cache.dir, sizeof(cache.dir), "%s", dir);
		if ((rc = hkms_store_kind_path(c->store, CLIENT_KIND, &cl,
		    err)) != HKMS_OK || (rc = hkms_store_kind_path(c->store,
		    CA_KIND, &ca, err)) != HKMS_OK)
			goto out;
		if (strlen(cl) >= sizeof(cache.cl_path) ||
		    strlen(ca) >= sizeof(cache.ca_path)) {
			rc = hkms_err_set(err, HKMS_E_INVALID, "path too "
			    "long");
			goto out;
		}
		snprintf(cache.cl_path, sizeof(cache.cl_path), "%s", cl);
		snprintf(cache.ca_path, sizeof(cache.ca_path), "%s", ca);
	}
	if (dir_changed(cache.cl_path, &cache.clients_snap, &ns) ||
	    cache.slots == NULL) {
		if ((rc = rebuild_index(c, err)) != HKMS_OK)
			goto out;
		cache.clients_snap = ns;
	}
	if (dir_changed(cache.ca_path, &cache.cas_snap, &ns) ||
	    cache.store == NULL) {
		if ((rc = rebuild_cas(c, err)) != HKMS_OK)
			goto out;
		cache.cas_snap = ns;
	}
	rc = HKMS_OK;
out:
	free(cl);
	free(ca);
	return rc;
}

static const char *
index_find(const char *thumb)
{
	size_t h;

	if (cache.slots == NULL)
		return NULL;
	for (h = thumb_hash(thumb) & (cache.nslots - 1);
	    cache.slots[h].thumb[0]; h = (h + 1) & (cache.nslots - 1))
		if (strcmp(cache.slots[h].thumb, thumb) == 0)
			return cache.slots[h].name;
	return NULL;
}

/* The name registered for thumb into name, or 0 when none. The caller
 * brought the cache up to date for this request (vcache_get or
 * client_cas); only a cache never built is refreshed here. */
static int
lookup_thumb(struct hkms_ops_ctx *c, const char *thumb, char name[65],
    int fresh_on_miss)
{
	struct hkms_err e = { 0 };
	const char *n;
	int found = 0;

	pthread_mutex_lock(&cache.mu);
	if ((cache.slots != NULL && strcmp(cache.dir,
	    hkms_store_dir(c->store)) == 0) || cache_refresh(c, &e) ==
	    HKMS_OK) {
		n = index_find(thumb);
		if (n == NULL && fresh_on_miss &&
		    cache.last_miss_rebuild != time(NULL)) {
			cache.last_miss_rebuild = time(NULL);
			if (rebuild_index(c, &e) == HKMS_OK)
				n = index_find(thumb);
		}
		if (n != NULL) {
			snprintf(name, 65, "%s", n);
			found = 1;
		}
	}
	pthread_mutex_unlock(&cache.mu);
	return found;
}

/*
 * Registrations, parsed. Reading and parsing clients/<name>.json was a
 * good part of a request's authentication, so each registration read is
 * kept under the stamp of its file (hkms_store_stamp: dev, inode, size,
 * mtime, ctime; every write of a record is a new file renamed into
 * place). Every lookup stats the file first: an equal stamp hands out a
 * deep copy of the kept registration, a changed one reads the file again,
 * a missing one is refused, whichever process (the CLI) changed it. A
 * registration is kept only when its stamp did not change while it was
 * read and its ctime is at least 2 s older than the lookup: a later write
 * then has a later ctime, even where an inode number and a size come back
 * within the file system's coarse clock.
 */
#define REG_SLOTS 64

struct reg_slot {
	char name[65];			/* "" = empty */
	struct hkms_store_stamp stamp;
	json_t *reg;			/* owned; never handed out */
	unsigned long used;		/* for least recently used */
};

static pthread_mutex_t regs_mu = PTHREAD_MUTEX_INITIALIZER;
static char regs_dir[PATH_MAX];		/* the data dir of the slots */
static struct reg_slot regs[REG_SLOTS];
static unsigned long regs_clock;

/* Empty every slot; caller holds regs_mu. */
static void
regs_clear(void)
{
	size_t i;

	for (i = 0; i < REG_SLOTS; i++) {
		json_decref(regs[i].reg);
		memset(&regs[i], 0, sizeof(regs[i]));
	}
}

/* Keep a copy of reg (name's, read under stamp st from dir). */
static void
reg_put(const char *dir, const char *name, json_t *reg,
    const struct hkms_store_stamp *st)
{
	struct reg_slot *sl = NULL;
	json_t *copy = json_deep_copy(reg);
	size_t i;

	if (copy == NULL)
		return;
	pthread_mutex_lock(&regs_mu);
	if (strcmp(regs_dir, dir) != 0) {
		regs_clear();
		snprintf(regs_dir, sizeof(regs_dir), "%s", dir);
	}
	for (i = 0; i < REG_SLOTS && sl == NULL; i++)
		if (strcmp(regs[i].name, name) == 0)
			sl = &regs[i];
	if (sl == NULL) {	/* an empty slot (used 0) or the oldest */
		sl = &regs[0];
		for (i = 1; i < REG_SLOTS; i++)
			if (regs[i].used < sl->used)
				sl = &regs[i];
	}
	json_decref(sl->reg);
	snprintf(sl->name, sizeof(sl->name), "%s", name);
	sl->stamp = *st;
	sl->reg = copy;
	sl->used = ++regs_clock;
	pthread_mutex_unlock(&regs_mu);
}

/* The registration of name (a new object, json_decref): the kept copy
 * when its file's stamp is unchanged, else read from the file. */
static enum hkms_rc
reg_get(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	const char *dir = hkms_store_dir(c->store);
	struct hkms_store_stamp st, st2;
	json_t *reg = NULL;
	enum hkms_rc rc;
	size_t i;

	*out = NULL;
	if (hkms_store_stamp(c->store, CLIENT_KIND, name, &st) != 0)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
		    "record '%s' not found", name);
	pthread_mutex_lock(&regs_mu);
	if (strcmp(regs_dir, dir) == 0)
		for (i = 0; i < REG_SLOTS; i++) {
			if (regs[i].reg == NULL ||
			    strcmp(regs[i].name, name) != 0)
				continue;
			if (hkms_store_stamp_same(&regs[i].stamp, &st)) {
				reg = json_deep_copy(regs[i].reg);
				regs[i].used = ++regs_clock;
			}
			break;
		}
	pthread_mutex_unlock(&regs_mu);
	if (reg != NULL) {
		*out = reg;
		return HKMS_OK;
	}
	if ((rc = hkms_store_get(c->store, CLIENT_KIND, name, &reg, NULL,
	    err)) != HKMS_OK)
		return rc;
	if (hkms_store_stamp(c->store, CLIENT_KIND, name, &st2) == 0 &&
	    hkms_store_stamp_same(&st, &st2) &&
	    st.ctime_ns / 1000000000LL + 2 <= (long long)time(NULL))
		reg_put(dir, name, reg, &st);
	*out = reg;
	return HKMS_OK;
}

/* The client CAs' store (a new reference) and a copy of the CA list. */
static enum hkms_rc
client_cas(struct hkms_ops_ctx *c, X509_STORE **xs, struct client_ca **cas,
    size_t *ncas, unsigned long *gen, struct hkms_err *err)
{
	enum hkms_rc rc;
	size_t i;

	*xs = NULL;
	*cas = NULL;
	*ncas = 0;
	pthread_mutex_lock(&cache.mu);
	if ((rc = cache_refresh(c, err)) == HKMS_OK) {
		X509_STORE_up_ref(cache.store);
		*xs = cache.store;
		if (gen != NULL)
			*gen = cache.cas_gen;
		if ((*cas = calloc(cache.ncas + 1, sizeof(**cas))) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		} else {
			for (i = 0; i < cache.ncas; i++) {
				(*cas)[i] = cache.cas[i];
				X509_up_ref(cache.cas[i].cert);
			}
			*ncas = cache.ncas;
		}
	}
	pthread_mutex_unlock(&cache.mu);
	if (rc != HKMS_OK) {
		X509_STORE_free(*xs);
		*xs = NULL;
	}
	return rc;
}

/* ---- verification of a client certificate ---- */

/* Now, for the validity checks. Test builds: HKMS_TEST_CLIENT_AUTH_AT
 * (Unix time) moves it, so tests see an expired certificate. */
static time_t
auth_now(void)
{
#ifdef HKMS_TEST_HOOKS
	const char *at = getenv("HKMS_TEST_CLIENT_AUTH_AT");

	if (at != NULL && *at)
		return (time_t)strtoll(at, NULL, 10);
#endif
	return time(NULL);
}

static int
has_client_auth(X509 *x)
{
	uint32_t fl = X509_get_extension_flags(x);

	return (fl & EXFLAG_XKUSAGE) &&
	    (X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
}

#define VRES_MAX 8

/* What a verified chain leaves for the revocation check (and the cache):
 * each certificate of the chain an hkms CA issued, by CA and serial, and
 * the leaf's validity. */
struct vres {
	size_t n;
	char ca[VRES_MAX][65];
	char serial[VRES_MAX][HKMS_X509_SERIAL_HEX_MAX];
	time_t not_before, not_after;
	unsigned long cas_gen;
};

/* HKMS_E_DENIED client_cert_revoked when an hkms CA revoked one of v's
 * certificates (one stat each: the revocation records). */
static enum hkms_rc
check_revoked(struct hkms_ops_ctx *c, const struct vres *v,
    struct hkms_err *err)
{
	char kind[80];
	size_t i;

	for (i = 0; i < v->n; i++) {
		snprintf(kind, sizeof(kind), "revoked/%s", v->ca[i]);
		if (hkms_store_exists(c->store, kind, v->serial[i]))
			return hkms_err_setc(err, HKMS_E_DENIED,
			    "client_cert_revoked", "client certificate "
			    "refused: %s %s was revoked by CA '%s'", i == 0 ?
			    "certificate" : "its issuing CA", v->serial[i],
			    v->ca[i]);
	}
	return HKMS_OK;
}

static time_t
asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/*
 * Verify leaf against the client CAs, intermediates from untrusted, at
 * now: the chain, validity, clientAuth, and no certificate of the chain
 * revoked by the hkms CA that issued it. HKMS_E_DENIED with
 * client_cert_invalid / client_cert_expired / client_cert_revoked. vout
 * (may be NULL) gets what the revocation check needs.
 */
static enum hkms_rc
verify_client(struct hkms_ops_ctx *c, X509 *leaf, STACK_OF(X509) *untrusted,
    struct vres *vout, struct hkms_err *err)
{
	struct vres vr;
	struct client_ca *cas = NULL;
	X509_STORE *xs = NULL;
	X509_STORE_CTX *vc = NULL;
	STACK_OF(X509) *chain = NULL;
	enum hkms_rc rc;
	size_t ncas = 0, k;
	int i, v, e, depth = 0;
	const char *rule;
	char msg[200];

	memset(&vr, 0, sizeof(vr));
	if ((rc = client_cas(c, &xs, &cas, &ncas, &vr.cas_gen, err)) !=
	    HKMS_OK)
		return rc;
	if (ncas == 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "client_cert_invalid",
		    "client certificate refused: there is no client CA");
		goto out;
	}
	if ((vc = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(vc, xs, leaf, untrusted)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(vc),
	    X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(vc),
	    auth_now());
	v = X509_verify_cert(vc);
	if (v != 1) {
		e = X509_STORE_CTX_get_error(vc);
		if (e == X509_V_ERR_CERT_HAS_EXPIRED ||
		    e == X509_V_ERR_CERT_NOT_YET_VALID)
			rc = hkms_err_setc(err, HKMS_E_DENIED,
			    "client_cert_expired", "client certificate "
			    "refused: %s", X509_verify_cert_error_string(e));
		else
			rc = hkms_err_setc(err, HKMS_E_DENIED,
			    "client_cert_invalid", "client certificate does "
			    "not verify against the client CAs: %s (rule %s)",
			    X509_verify_cert_error_string(e),
			    hkms_certio_openssl_rule(e));
		goto out;
	}
	if (!has_client_auth(leaf)) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "client_cert_invalid",
		    "client certificate refused: no clientAuth extended key "
		    "usage");
		goto out;
	}
	/* path validation (issue 14b): the rules of `trust verify
	 * --purpose client` (profile rfc5280) over the path OpenSSL built */
	if ((rule = hkms_certio_path_rules(X509_STORE_CTX_get0_chain(vc),
	    HKMS_CERTIO_PROFILE_RFC5280, HKMS_CERTIO_PURPOSE_CLIENT, NULL, 0,
	    &depth, msg, sizeof(msg))) != NULL) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "client_cert_invalid",
		    "client certificate refused: path rule %s fails at depth "
		    "%d: %s", rule, depth, msg);
		goto out;
	}
	/* the certificates of the chain an hkms CA issued, for the
	 * revocation check */
	chain = X509_STORE_CTX_get1_chain(vc);
	for (i = 0; chain != NULL && i + 1 < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		X509 *iss = sk_X509_value(chain, i + 1);

		for (k = 0; k < ncas && vr.n < VRES_MAX; k++) {
			if (X509_cmp(iss, cas[k].cert) != 0 ||
			    hkms_x509_serial_to_hex(X509_get0_serialNumber(x),
			    vr.serial[vr.n], NULL) != HKMS_OK)
				continue;
			snprintf(vr.ca[vr.n], sizeof(vr.ca[0]), "%s",
			    cas[k].name);
			vr.n++;
			break;
		}
	}
	vr.not_before = asn1_time_t(X509_get0_notBefore(leaf));
	vr.not_after = asn1_time_t(X509_get0_notAfter(leaf));
	if ((rc = check_revoked(c, &vr, err)) != HKMS_OK)
		goto out;
	if (vout != NULL)
		*vout = vr;
	rc = HKMS_OK;
out:
	sk_X509_pop_free(chain, X509_free);
	X509_STORE_CTX_free(vc);
	X509_STORE_free(xs);
	free_cas(cas, ncas);
	ERR_clear_error();
	return rc;
}

/* ---- registrations ---- */

/* Under the data lock: the registration name whose thumbprints contain
 * thumb (not skip), read from every file, or 0. */
static int
registered_elsewhere(struct hkms_ops_ctx *c, const char *thumb,
    const char *skip, char who[65])
{
	json_t *list = NULL, *it, *t;
	size_t i, j;
	int found = 0;

	if (hkms_store_list(c->store, CLIENT_KIND, &list, NULL) != HKMS_OK)
		return 0;
	json_array_foreach(list, i, it) {
		const char *name = json_string_value(json_object_get(it,
		    "name"));

		if (name == NULL || (skip != NULL && strcmp(name, skip) == 0))
			continue;
		json_array_foreach(json_object_get(it, "thumbprints"), j, t)
			if (json_string_value(t) != NULL &&
			    strcmp(json_string_value(t), thumb) == 0) {
				snprintf(who, 65, "%s", name);
				found = 1;
			}
	}
	json_decref(list);
	return found;
}

/* What list and show return: the record without the store's fields. */
static json_t *
reg_view(json_t *meta)
{
	json_t *o = json_deep_copy(meta), *c, *nb = NULL;
	const char *na, *latest = NULL;
	size_t i;

	if (o == NULL)
		return NULL;
	/* valid from: the not_before of the certificate that expires last
	 * (the one not_after names), for the list that drops certificates */
	json_array_foreach(json_object_get(o, "certificates"), i, c) {
		na = json_string_value(json_object_get(c, "not_after"));
		if (na != NULL && (latest == NULL || strcmp(na, latest) > 0)) {
			latest = na;
			nb = json_object_get(c, "not_before");
		}
	}
	if (nb != NULL && json_object_get(o, "not_before") == NULL)
		json_object_set(o, "not_before", nb);
	json_object_del(o, "schema");
	json_object_del(o, "pem_sha256");
	json_object_del(o, "audit_seq");
	json_object_del(o, "audit_hash");
	ops_totp_view(o);
	return o;
}

/* A new registration record. certs: the client certificates (not CAs). */
static enum hkms_rc
reg_new(struct hkms_ops_ctx *c, const struct hkms_ops_client_req *req,
    enum hkms_clearance cl, STACK_OF(X509) *certs, const char *source,
    json_t **out, struct hkms_err *err)
{
	json_t *rec = NULL, *thumbs, *facts, *perms = NULL, *f;
	const ASN1_TIME *latest = NULL;
	enum hkms_rc rc;
	char t[65];
	int i;

	if ((rc = grants_json(c, req->grants, req->ngrants, &perms, err)) !=
	    HKMS_OK)
		return rc;
	thumbs = json_array();
	facts = json_array();
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if ((rc = thumb_hex(x, t, err)) != HKMS_OK)
			goto fail;
		json_array_append_new(thumbs, json_string(t));
		json_array_append_new(facts, cert_facts(x, t));
		if (latest == NULL || ASN1_TIME_compare(X509_get0_notAfter(x),
		    latest) > 0)
			latest = X509_get0_notAfter(x);
	}
	f = json_array_get(facts, 0);
	rec = json_pack("{s:s,s:s,s:O,s:O,s:o,s:b,s:o,s:O,s:O,s:o,s:s,s:o}",
	    "name", req->name, "clearance", ops_clearance_name(cl),
	    "thumbprints", thumbs, "certificates", facts, "permissions",
	    perms, "require_2fa", req->require_2fa ? 1 : 0, "not_after",
	    latest ? ca_time_json(latest) : json_null(), "subject",
	    json_object_get(f, "subject"), "issuer", json_object_get(f,
	    "issuer"), "created", ca_now_json(), "source", source, "ca",
	    req->ca ? json_string(req->ca) : json_null());
	perms = NULL;
	if (rec == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto fail;
	}
	json_decref(thumbs);
	json_decref(facts);
	*out = rec;
	return HKMS_OK;
fail:
	json_decref(perms);
	json_decref(thumbs);
	json_decref(facts);
	return rc;
}

/* Under the data lock: refuse a name or a thumbprint already taken. */
static enum hkms_rc
reg_conflicts(struct hkms_ops_ctx *c, const char *name, json_t *rec,
    struct hkms_err *err)
{
	json_t *t;
	size_t i;
	char who[65];

	if (hkms_store_exists(c->store, CLIENT_KIND, name))
		return hkms_err_setc(err, HKMS_E_EXISTS, "client_exists",
		    "client '%s' exists", name);
	json_array_foreach(json_object_get(rec, "thumbprints"), i, t)
		if (registered_elsewhere(c, json_string_value(t), name, who))
			return hkms_err_setc(err, HKMS_E_EXISTS,
			    "thumbprint_registered", "certificate sha256:%s "
			    "is already registered to client '%s'",
			    json_string_value(t), who);
	return HKMS_OK;
}

/* Write a new registration with its write-ahead line (caller: lock). */
static enum hkms_rc
reg_write(struct hkms_ops_ctx *c, const char *op, const char *name,
    json_t *rec, json_t *detail, struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = hkms_ops_audit_ahead(c, op, name, detail, err)) != HKMS_OK)
		return rc;
	return hkms_store_put(c->store, CLIENT_KIND, name, rec, NULL, err);
}

static json_t *
audit_detail(const char *clearance, json_t *rec)
{
	json_t *d = json_pack("{s:s}", "clearance", clearance ? clearance :
	    "");

	if (d != NULL && rec != NULL) {
		json_object_set(d, "thumbprints", json_object_get(rec,
		    "thumbprints"));
		json_object_set(d, "permissions", json_object_get(rec,
		    "permissions"));
	}
	return d;
}

static enum hkms_rc
req_check(const struct hkms_ops_client_req *req, enum hkms_clearance *cl,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = ops_client_name_check(req->name, err)) != HKMS_OK)
		return rc;
	if (!ops_clearance_parse(req->clearance, cl))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "clearance must be admin, operator or user");
	if (req->ngrants > 0 && req->grants == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "permissions are missing");
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_client_add(struct hkms_ops_ctx *c,
    const struct hkms_ops_client_req *req, json_t **out,
    struct hkms_err *err)
{
	struct hkms_certio_info info = { HKMS_CERTIO_FMT_UNKNOWN, 0 };
	STACK_OF(X509) *all = NULL, *leaves = NULL;
	enum hkms_clearance cl = HKMS_CLEARANCE_NONE;
	json_t *rec = NULL, *d = NULL, *totp = NULL;
	enum hkms_rc rc;
	int i, locked = 0;
	const char *name = req ? req->name : NULL;

	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "client.add", NULL, NULL, err);
	if ((rc = req_check(req, &cl, err)) != HKMS_OK)
		goto out;
	if (req->cert == NULL || req->cert_len == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "certificate is required");
		goto out;
	}
	if ((rc = hkms_certio_parse(req->cert, req->cert_len, req->password,
	    &all, &info, err)) != HKMS_OK)
		goto out;
	if ((leaves = sk_X509_new_null()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* CA certificates of a collection are its chain, not clients */
	for (i = 0; i < sk_X509_num(all); i++)
		if (!X509_check_ca(sk_X509_value(all, i)))
			sk_X509_push(leaves, sk_X509_value(all, i));
	if (sk_X509_num(leaves) == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_certificate",
		    "certificate: no client certificate in the input (only "
		    "CA certificates)");
		goto out;
	}
	for (i = 0; i < sk_X509_num(leaves); i++)
		if ((rc = verify_client(c, sk_X509_value(leaves, i), all,
		    NULL, err)) != HKMS_OK)
			goto out;
	if ((rc = reg_new(c, req, cl, leaves, "add", &rec, err)) != HKMS_OK)
		goto out;
	json_object_set_new(rec, "format", json_string(
	    hkms_certio_format_name(info.format)));
	if (req->require_2fa && (rc = ops_totp_enrol(c, name, rec, &totp,
	    err)) != HKMS_OK)
		goto out;
	d = audit_detail(req->clearance, rec);
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = reg_conflicts(c, name, rec, err)) != HKMS_OK ||
	    (rc = reg_write(c, "client.add", name, rec, d, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_ops_client_show(c, name, out, err)) == HKMS_OK &&
	    totp != NULL)
		json_object_set(*out, "totp", totp);
out:
	if (locked)
		hkms_store_end(c->store);
	if (d == NULL)
		d = audit_detail(req->clearance, NULL);
	rc = hkms_ops_audit(c, "client.add", name ? name : "", rc, err, d);
	if (rc != HKMS_OK) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(d);
	json_decref(rec);
	json_decref(totp);
	sk_X509_free(leaves);
	hkms_certio_chain_free(all);
	return rc;
}

enum hkms_rc
hkms_ops_client_generate(struct hkms_ops_ctx *c,
    const struct hkms_ops_client_req *req, json_t **out,
    struct hkms_secret **p12, struct hkms_err *err)
{
	struct hkms_ops_ca_client_req cr;
	enum hkms_clearance cl = HKMS_CLEARANCE_NONE;
	STACK_OF(X509) *certs = NULL, *leaf = NULL;
	json_t *issued = NULL, *rec = NULL, *d = NULL, *rv = NULL;
	json_t *totp = NULL;
	struct hkms_err e2 = { 0 };
	enum hkms_rc rc;
	char subj[200];
	const char *pem, *serial;
	int locked = 0;
	const char *name = req ? req->name : NULL;

	if (req == NULL || out == NULL || p12 == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	*p12 = NULL;
	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "client.generate", NULL, NULL, err);
	if ((rc = req_check(req, &cl, err)) != HKMS_OK)
		goto out;
	if (req->ca == NULL || req->ca[0] == '\0') {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "ca is required");
		goto out;
	}
	/* refuse a taken name before issuing (checked again, locked) */
	if (hkms_store_exists(c->store, CLIENT_KIND, name)) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "client_exists",
		    "client '%s' exists", name);
		goto out;
	}
	if (req->subject == NULL)
		snprintf(subj, sizeof(subj), "/CN=%s", name);
	memset(&cr, 0, sizeof(cr));
	cr.ca = req->ca;
	cr.subject = req->subject ? req->subject : subj;
	cr.days = req->days;	/* 0: 5 years, clamped to the CA */
	cr.passphrase = req->passphrase;
	cr.destination = req->destination;
	if ((rc = hkms_ops_ca_issue_client(c, &cr, &issued, p12, err)) !=
	    HKMS_OK)
		goto out;
	pem = json_string_value(json_object_get(issued, "pem"));
	if (pem == NULL || hkms_certio_parse((const unsigned char *)pem,
	    strlen(pem), NULL, &certs, NULL, err) != HKMS_OK ||
	    (leaf = sk_X509_new_null()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_INTERNAL, "issued certificate "
		    "cannot be read back");
		goto undo;
	}
	sk_X509_push(leaf, sk_X509_value(certs, 0));
	if ((rc = reg_new(c, req, cl, leaf, "generate", &rec, err)) != HKMS_OK)
		goto undo;
	json_object_set(rec, "serial", json_object_get(issued, "serial"));
	if (req->require_2fa && (rc = ops_totp_enrol(c, name, rec, &totp,
	    err)) != HKMS_OK)
		goto undo;
	d = audit_detail(req->clearance, rec);
	json_object_set_new(d, "ca", json_string(req->ca));
	json_object_set(d, "serial", json_object_get(issued, "serial"));
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto undo;
	locked = 1;
	if ((rc = reg_conflicts(c, name, rec, err)) != HKMS_OK ||
	    (rc = reg_write(c, "client.generate", name, rec, d, err)) !=
	    HKMS_OK)
		goto undo;
	if ((rc = hkms_ops_client_show(c, name, out, err)) != HKMS_OK)
		goto out;
	json_object_set(*out, "serial", json_object_get(issued, "serial"));
	json_object_set(*out, "pkcs12_bytes", json_object_get(issued,
	    "pkcs12_bytes"));
	if (totp != NULL)
		json_object_set(*out, "totp", totp);
	goto out;
undo:
	/* issued but not registered: the PKCS#12 is not handed out, so its
	 * key is lost; revoke the certificate so it can never be used */
	serial = json_string_value(json_object_get(issued, "serial"));
	if (serial != NULL && hkms_ops_ca_revoke(c, req->ca, serial,
	    "cessationOfOperation", &rv, &e2) == HKMS_OK && err != NULL)
		snprintf(err->detail + strlen(err->detail),
		    sizeof(err->detail) - strlen(err->detail),
		    "; certificate %.40s revoked", serial);
out:
	if (locked)
		hkms_store_end(c->store);
	if (d == NULL) {
		d = audit_detail(req->clearance, NULL);
		json_object_set_new(d, "ca", json_string(req->ca ? req->ca :
		    ""));
	}
	rc = hkms_ops_audit(c, "client.generate", name ? name : "", rc, err,
	    d);
	if (rc != HKMS_OK) {
		json_decref(*out);
		*out = NULL;
		hkms_secret_free(*p12);
		*p12 = NULL;
	}
	json_decref(rv);
	json_decref(d);
	json_decref(rec);
	json_decref(totp);
	json_decref(issued);
	sk_X509_free(leaf);
	hkms_certio_chain_free(certs);
	return rc;
}

enum hkms_rc
hkms_ops_client_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	json_t *list = NULL, *res, *it;
	enum hkms_rc rc;
	size_t i;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "client.list", NULL, NULL, err);
	if ((rc = hkms_store_list(c->store, CLIENT_KIND, &list, err)) !=
	    HKMS_OK)
		return rc;
	if ((res = json_array()) == NULL) {
		json_decref(list);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	json_array_foreach(list, i, it) {
		json_t *v = reg_view(it);

		json_object_del(v, "certificates");
		json_array_append_new(res, v);
	}
	json_decref(list);
	*out = res;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_client_show(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	const struct hkms_principal *p = c ? c->principal : NULL;
	json_t *meta = NULL;
	enum hkms_rc rc;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	/* any registered client may read its own registration (once its
	 * second factor, if it needs one, was checked) */
	if (!(p != NULL && p->kind == HKMS_PRINCIPAL_CLIENT &&
	    p->clearance != HKMS_CLEARANCE_NONE && p->name != NULL &&
	    name != NULL && strcmp(p->name, name) == 0 &&
	    !(p->require_2fa && !p->second_factor)) &&
	    (rc = hkms_ops_authorize(c, "client.show", NULL, NULL, err)) !=
	    HKMS_OK)
		return rc;
	if ((rc = ops_client_name_check(name, err)) != HKMS_OK)
		return rc;
	if ((rc = ops_client_get(c, name, &meta, err)) != HKMS_OK)
		return rc;
	*out = reg_view(meta);
	json_decref(meta);
	return *out ? HKMS_OK : hkms_err_set(err, HKMS_E_NOMEM,
	    "out of memory");
}

enum hkms_rc
hkms_ops_client_edit(struct hkms_ops_ctx *c, const char *name,
    const struct hkms_ops_client_edit_req *req, json_t **out,
    struct hkms_err *err)
{
	enum hkms_clearance cl = HKMS_CLEARANCE_NONE;
	json_t *meta = NULL, *perms = NULL, *d = NULL, *totp = NULL;
	enum hkms_rc rc;
	int locked = 0;

	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "client.edit", NULL, NULL, err);
	d = json_object();
	if ((rc = ops_client_name_check(name, err)) != HKMS_OK)
		goto out;
	if (req->clearance != NULL && !ops_clearance_parse(req->clearance,
	    &cl)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "clearance must be admin, operator or user");
		goto out;
	}
	if (req->require_2fa < -1 || req->require_2fa > 1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "require_2fa must be true or false");
		goto out;
	}
	if (req->set_grants && (rc = grants_json(c, req->grants,
	    req->ngrants, &perms, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = ops_client_get(c, name, &meta, err)) != HKMS_OK)
		goto out;
	if (req->clearance != NULL) {
		json_object_set_new(meta, "clearance",
		    json_string(ops_clearance_name(cl)));
		json_object_set_new(d, "clearance",
		    json_string(ops_clearance_name(cl)));
	}
	if (perms != NULL) {
		json_object_set(meta, "permissions", perms);
		json_object_set(d, "permissions", perms);
	}
	if (req->require_2fa >= 0) {
		json_object_set_new(meta, "require_2fa",
		    json_boolean(req->require_2fa));
		json_object_set_new(d, "require_2fa",
		    json_boolean(req->require_2fa));
	}
	/* 2FA turned on for a client without a seed: enrol one (issue
	 * 16a), given once in the answer */
	if (req->require_2fa == 1 && !json_is_string(json_object_get(meta,
	    "totp_sealed"))) {
		if ((rc = ops_totp_enrol(c, name, meta, &totp, err)) !=
		    HKMS_OK)
			goto out;
		json_object_set_new(d, "totp", json_string("enrolled"));
	}
	if ((rc = hkms_ops_audit_ahead(c, "client.edit", name, d, err)) !=
	    HKMS_OK || (rc = hkms_store_put(c->store, CLIENT_KIND, name, meta,
	    NULL, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_ops_client_show(c, name, out, err)) == HKMS_OK &&
	    totp != NULL)
		json_object_set(*out, "totp", totp);
out:
	if (locked)
		hkms_store_end(c->store);
	rc = hkms_ops_audit(c, "client.edit", name ? name : "", rc, err, d);
	if (rc != HKMS_OK) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(d);
	json_decref(meta);
	json_decref(perms);
	json_decref(totp);
	return rc;
}

enum hkms_rc
hkms_ops_client_delete(struct hkms_ops_ctx *c, const char *name,
    struct hkms_err *err)
{
	json_t *meta = NULL, *d = NULL;
	enum hkms_rc rc;
	int locked = 0;

	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "client.delete", NULL, NULL, err);
	if ((rc = ops_client_name_check(name, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = ops_client_get(c, name, &meta, err)) != HKMS_OK)
		goto out;
	d = audit_detail(json_string_value(json_object_get(meta,
	    "clearance")), meta);
	if ((rc = hkms_ops_audit_ahead(c, "client.delete", name, d, err)) !=
	    HKMS_OK)
		goto out;
	rc = hkms_store_delete(c->store, CLIENT_KIND, name, err);
	if (rc == HKMS_OK)
		ops_session_end_client(name);
out:
	if (locked)
		hkms_store_end(c->store);
	rc = hkms_ops_audit(c, "client.delete", name ? name : "", rc, err, d);
	json_decref(d);
	json_decref(meta);
	return rc;
}

enum hkms_rc
hkms_ops_client_cas_pem(struct hkms_ops_ctx *c, char **pem,
    struct hkms_err *err)
{
	struct client_ca *cas = NULL;
	X509_STORE *xs = NULL;
	enum hkms_rc rc;
	size_t n = 0, i;
	BIO *b = NULL;
	char *data;
	long len;

	if (pem == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*pem = NULL;
	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "client.cas", NULL, NULL, err);
	if ((rc = client_cas(c, &xs, &cas, &n, NULL, err)) != HKMS_OK)
		return rc;
	if ((b = BIO_new(BIO_s_mem())) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!PEM_write_bio_X509(b, cas[i].cert)) {
			rc = hkms_err_set(err, HKMS_E_CRYPTO, "cannot encode "
			    "CA '%s'", cas[i].name);
			goto out;
		}
	len = BIO_get_mem_data(b, &data);
	if ((*pem = malloc((size_t)len + 1)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (len > 0)	/* no CA at all: data is NULL */
		memcpy(*pem, data, (size_t)len);
	(*pem)[len] = '\0';
	rc = HKMS_OK;
out:
	BIO_free(b);
	X509_STORE_free(xs);
	free_cas(cas, n);
	return rc;
}

/* ---- authentication ---- */

/*
 * Refusals are audited (op client.auth, result error, object the
 * thumbprint) as unsealed lines: no token signature per refusal, the next
 * sealed line covers them. An anonymous flood must not become one fsync
 * per bad handshake: a refusal is written at once the first time a
 * (thumbprint, code) pair is refused, then at most once per
 * AUTH_AUDIT_WINDOW seconds per pair, the line carrying "repeats" (how
 * many refusals of that pair it stands for); beyond AUTH_AUDIT_PER_SEC
 * lines a second overall, refusals are only counted, and the next line
 * written carries "suppressed" (refusals of any pair not written since).
 */
#define AUTH_AUDIT_WINDOW 10
#define AUTH_AUDIT_PER_SEC 20
#define AUTH_AUDIT_SLOTS 256

struct auth_slot {
	char key[65 + 48];
	time_t written;
	unsigned long repeats;	/* refusals since written */
};

static struct {
	pthread_mutex_t mu;
	struct auth_slot slots[AUTH_AUDIT_SLOTS];
	time_t sec;
	unsigned lines;		/* written in sec */
	unsigned long suppressed;
} auth_audit = { PTHREAD_MUTEX_INITIALIZER, { { "", 0, 0 } }, 0, 0, 0 };

static void
audit_refusal(struct hkms_ops_ctx *c, const char *thumb,
    const struct hkms_err *e)
{
	char key[sizeof(auth_audit.slots[0].key)];
	struct auth_slot *s;
	unsigned long repeats = 0, suppressed = 0;
	time_t now = time(NULL);
	size_t h;
	int write = 0;
	json_t *d;

	if (c->store == NULL)
		return;
	snprintf(key, sizeof(key), "%s/%s", thumb, hkms_err_code(e));
	h = (thumb_hash(thumb[0] ? thumb : "0") ^ strlen(key) * 31) %
	    AUTH_AUDIT_SLOTS;
	pthread_mutex_lock(&auth_audit.mu);
	if (auth_audit.sec != now) {
		auth_audit.sec = now;
		auth_audit.lines = 0;
	}
	s = &auth_audit.slots[h];
	if (strcmp(s->key, key) != 0) {
		/* a new pair takes the slot (an evicted pair's repeats are
		 * counted as suppressed) */
		auth_audit.suppressed += s->repeats;
		snprintf(s->key, sizeof(s->key), "%s", key);
		s->written = 0;
		s->repeats = 0;
	}
	s->repeats++;
	if (now - s->written >= AUTH_AUDIT_WINDOW &&
	    auth_audit.lines < AUTH_AUDIT_PER_SEC) {
		write = 1;
		auth_audit.lines++;
		repeats = s->repeats;
		suppressed = auth_audit.suppressed;
		auth_audit.suppressed = 0;
		s->repeats = 0;
		s->written = now;
	}
	pthread_mutex_unlock(&auth_audit.mu);
	hkms_service_count(c->service, "client.auth", e->rc);
	if (!write)
		return;
	d = json_pack("{s:s,s:s}", "code", hkms_err_code(e), "message",
	    e->detail);
	if (repeats > 1)
		json_object_set_new(d, "repeats", json_integer(
		    (json_int_t)repeats));
	if (suppressed > 0)
		json_object_set_new(d, "suppressed", json_integer(
		    (json_int_t)suppressed));
	(void)hkms_audit_append_unsealed(c->store, c->actor ? c->actor :
	    "anonymous", "client.auth", thumb, "error", d, NULL);
	json_decref(d);
}

/* [server] admin_thumbprints names thumb ("sha256:HEX" or "HEX"). */
static int
admin_pinned(const struct hkms_config *cfg, const char *thumb)
{
	const char *p = cfg ? cfg->admin_thumbprints : NULL;
	char one[80];
	size_t n;

	while (p != NULL && *p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, ", \t");
		if (n > 0 && n < sizeof(one)) {
			char *h;
			size_t i;

			memcpy(one, p, n);
			one[n] = '\0';
			h = strncasecmp(one, "sha256:", 7) == 0 ? one + 7 : one;
			for (i = 0; h[i]; i++)
				if (h[i] >= 'A' && h[i] <= 'F')
					h[i] = (char)(h[i] | 0x20);
			if (strcmp(h, thumb) == 0)
				return 1;
		}
		p += n;
	}
	return 0;
}

/* Fill cp's principal from registration reg (owned by cp now). */
static enum hkms_rc
principal_fill(struct hkms_client_principal *cp, json_t *reg,
    struct hkms_err *err)
{
	json_t *perms = json_object_get(reg, "permissions"), *it, *v;
	enum hkms_clearance cl = HKMS_CLEARANCE_NONE;
	size_t i, j, n = json_array_size(perms);

	cp->reg = reg;
	cp->p.kind = HKMS_PRINCIPAL_CLIENT;
	cp->p.name = json_string_value(json_object_get(reg, "name"));
	if (!ops_clearance_parse(json_string_value(json_object_get(reg,
	    "clearance")), &cl))
		cl = HKMS_CLEARANCE_NONE;	/* a damaged record: nothing */
	cp->p.clearance = cl;
	cp->p.require_2fa = json_is_true(json_object_get(reg, "require_2fa"));
	if (n == 0)
		return HKMS_OK;
	if ((cp->perms = calloc(n, sizeof(*cp->perms))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_array_foreach(perms, i, it) {
		struct hkms_permission *pm = &cp->perms[i];
		json_t *pr = json_object_get(it, "profiles");

		pm->ca = json_string_value(json_object_get(it, "ca"));
		json_array_foreach(json_object_get(it, "rights"), j, v) {
			if (json_string_value(v) == NULL)
				continue;
			if (strcmp(json_string_value(v), "sign") == 0)
				pm->rights |= HKMS_PERM_SIGN;
			else if (strcmp(json_string_value(v), "read") == 0)
				pm->rights |= HKMS_PERM_READ;
		}
		pm->name_policy = json_string_value(json_object_get(it,
		    "name_policy"));
		if (json_is_array(pr)) {
			const char **a = calloc(json_array_size(pr) + 1,
			    sizeof(*a));

			if (a == NULL)
				return hkms_err_set(err, HKMS_E_NOMEM,
				    "out of memory");
			json_array_foreach(pr, j, v)
				a[j] = json_string_value(v) ?
				    json_string_value(v) : "";
			pm->profiles = a;
		}
	}
	cp->p.perms = cp->perms;
	cp->p.nperms = n;
	return HKMS_OK;
}

void
hkms_client_principal_free(struct hkms_client_principal *cp)
{
	size_t i;

	if (cp == NULL)
		return;
	for (i = 0; cp->perms != NULL && i < cp->p.nperms; i++)
		free((void *)cp->perms[i].profiles);
	free(cp->perms);
	json_decref(cp->reg);
	memset(cp, 0, sizeof(*cp));
}

/*
 * Verified chains: OpenSSL 3 spends most of a verification decoding the
 * certificates (their public keys), so a chain that verified is
 * remembered by the SHA-256 of its DER certificates, with what the later
 * checks need: the leaf's validity and the (CA, serial) pairs for the
 * revocation check, which runs on every request. An entry is good only
 * for the client CAs it was verified against (cas_gen): a CA added,
 * changed or removed drops them all.
 */
#define VCACHE_SLOTS 1024

struct vcache_slot {
	unsigned char key[32];
	int used;
	struct vres v;
};

static struct vcache_slot vcache[VCACHE_SLOTS];	/* under cache.mu */

/* SHA-256 fetched once: OpenSSL 3 looks EVP_sha256() up in its provider
 * store (under a lock) on every init, two of them per request here. */
static EVP_MD *auth_md;
static pthread_once_t auth_md_once = PTHREAD_ONCE_INIT;

static void
auth_md_fetch(void)
{
	auth_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256_md(void)
{
	pthread_once(&auth_md_once, auth_md_fetch);
	return auth_md != NULL ? auth_md : EVP_sha256();
}

static void
chain_key(const unsigned char *const *der, const size_t *len, size_t n,
    unsigned char key[32])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int kl = 32;
	uint64_t l;
	size_t i;

	memset(key, 0, 32);
	if (m == NULL)
		return;
	EVP_DigestInit_ex(m, sha256_md(), NULL);
	for (i = 0; i < n; i++) {
		l = len[i];
		EVP_DigestUpdate(m, &l, sizeof(l));
		EVP_DigestUpdate(m, der[i], len[i]);
	}
	EVP_DigestFinal_ex(m, key, &kl);
	EVP_MD_CTX_free(m);
}

/* 1 and *v when key verified against the current client CAs. */
static int
vcache_get(struct hkms_ops_ctx *c, const unsigned char key[32],
    struct vres *v)
{
	struct hkms_err e = { 0 };
	struct vcache_slot *sl = &vcache[(key[0] | key[1] << 8) %
	    VCACHE_SLOTS];
	int hit = 0;

	pthread_mutex_lock(&cache.mu);
	if (cache_refresh(c, &e) == HKMS_OK && sl->used &&
	    memcmp(sl->key, key, 32) == 0 && sl->v.cas_gen == cache.cas_gen) {
		*v = sl->v;
		hit = 1;
	}
	pthread_mutex_unlock(&cache.mu);
	return hit;
}

static void
vcache_put(const unsigned char key[32], const struct vres *v)
{
	struct vcache_slot *sl = &vcache[(key[0] | key[1] << 8) %
	    VCACHE_SLOTS];

	pthread_mutex_lock(&cache.mu);
	memcpy(sl->key, key, 32);
	sl->v = *v;
	sl->used = 1;
	pthread_mutex_unlock(&cache.mu);
}

enum hkms_rc
hkms_client_authenticate(struct hkms_service *svc,
    const unsigned char *const *der, const size_t *der_len, size_t n,
    struct hkms_client_principal *out, struct hkms_err *err)
{
	struct hkms_principal anon;
	struct hkms_ops_ctx c;
	STACK_OF(X509) *untrusted = NULL;
	struct hkms_err e = { 0 };
	struct vres vr;
	X509 *leaf = NULL;
	json_t *reg = NULL;
	enum hkms_rc rc;
	unsigned char md[32], key[32];
	unsigned int mdl = 0;
	char thumb[65] = "", name[65], actor[80] = "anonymous";
	size_t i;
	time_t now;

	if (svc == NULL || out == NULL || (n > 0 && (der == NULL ||
	    der_len == NULL)))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	memset(out, 0, sizeof(*out));
	memset(&anon, 0, sizeof(anon));
	anon.kind = HKMS_PRINCIPAL_CLIENT;
	anon.name = "anonymous";
	if ((rc = hkms_service_ctx(svc, &anon, actor, HKMS_SERVICE_NEED_STORE,
	    &c, err)) != HKMS_OK)
		return rc;
	if (n == 0) {
		rc = hkms_err_setc(&e, HKMS_E_DENIED,
		    "client_certificate_required", "a client certificate is "
		    "required");
		goto refuse;
	}
	if (n > 16)
		n = 16;
	/* the thumbprint: SHA-256 of the DER as presented */
	if (der[0] == NULL || der_len[0] == 0 || EVP_Digest(der[0],
	    der_len[0], md, &mdl, sha256_md(), NULL) != 1 || mdl != 32) {
		rc = hkms_err_setc(&e, HKMS_E_DENIED, "client_cert_invalid",
		    "client certificate does not parse");
		goto refuse;
	}
	hkms_hex(md, 32, 0, thumb);
	snprintf(out->p.thumbprint, sizeof(out->p.thumbprint), "%s", thumb);
	snprintf(actor, sizeof(actor), "client:%s", thumb);
	now = auth_now();
	chain_key(der, der_len, n, key);
	if (!admin_pinned(c.cfg, thumb) && vcache_get(&c, key, &vr)) {
		/* verified before against these client CAs */
		if (now < vr.not_before || now > vr.not_after) {
			rc = hkms_err_setc(&e, HKMS_E_DENIED,
			    "client_cert_expired", "client certificate "
			    "refused: outside its validity");
			goto refuse;
		}
		if ((rc = check_revoked(&c, &vr, &e)) != HKMS_OK)
			goto refuse;
		goto lookup;
	}
	{
		const unsigned char *p = der[0];

		leaf = d2i_X509(NULL, &p, (long)der_len[0]);
		if (leaf == NULL || p != der[0] + der_len[0]) {
			rc = hkms_err_setc(&e, HKMS_E_DENIED,
			    "client_cert_invalid", "client certificate does "
			    "not parse");
			goto refuse;
		}
	}
	if (admin_pinned(c.cfg, thumb)) {
		if (X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0 ||
		    X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
			rc = hkms_err_setc(&e, HKMS_E_DENIED,
			    "client_cert_expired", "client certificate "
			    "refused: outside its validity");
			goto refuse;
		}
		reg = json_pack("{s:s,s:s,s:[s],s:[],s:b}", "name",
		    "admin_thumbprints", "clearance", "admin", "thumbprints",
		    thumb, "permissions", "require_2fa", 0);
		if (reg == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		goto fill;
	}
	if ((untrusted = sk_X509_new_null()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 1; i < n; i++) {
		const unsigned char *p = der[i];
		X509 *x = d2i_X509(NULL, &p, (long)der_len[i]);

		if (x != NULL)
			sk_X509_push(untrusted, x);
	}
	if ((rc = verify_client(&c, leaf, untrusted, &vr, &e)) != HKMS_OK) {
		if (rc != HKMS_E_DENIED)
			goto out_e;
		goto refuse;
	}
	vcache_put(key, &vr);
lookup:
	if (!lookup_thumb(&c, thumb, name, 1) ||
	    reg_get(&c, name, &reg, &e) != HKMS_OK) {
		rc = hkms_err_setc(&e, HKMS_E_DENIED, "client_unknown",
		    "client certificate sha256:%s is not registered", thumb);
		goto refuse;
	}
	/* the index may be older than an in-place edit: the file decides */
	{
		json_t *t;
		int mine = 0;

		json_array_foreach(json_object_get(reg, "thumbprints"), i, t)
			if (json_string_value(t) != NULL &&
			    strcmp(json_string_value(t), thumb) == 0)
				mine = 1;
		if (!mine) {
			rc = hkms_err_setc(&e, HKMS_E_DENIED,
			    "client_unknown", "client certificate sha256:%s "
			    "is not registered", thumb);
			goto refuse;
		}
	}
fill:
	if ((rc = principal_fill(out, reg, err)) != HKMS_OK) {
		reg = NULL;
		goto out;
	}
	reg = NULL;	/* out owns it */
	snprintf(out->actor, sizeof(out->actor), "client:%s", thumb);
	rc = HKMS_OK;
	goto out;
out_e:
	if (err != NULL)
		*err = e;
	goto out;
refuse:
	if (rc != HKMS_E_DENIED) {
		char why[sizeof(e.detail)];

		snprintf(why, sizeof(why), "%s", e.detail);
		rc = hkms_err_setc(&e, HKMS_E_DENIED, "client_cert_invalid",
		    "client certificate refused: %s", why);
	}
	audit_refusal(&c, thumb, &e);
	if (err != NULL)
		*err = e;
out:
	if (rc != HKMS_OK) {
		char keep[65];

		snprintf(keep, sizeof(keep), "%s", thumb);
		hkms_client_principal_free(out);
		snprintf(out->p.thumbprint, sizeof(out->p.thumbprint), "%s",
		    keep);
	}
	json_decref(reg);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(leaf);
	return rc;
}
