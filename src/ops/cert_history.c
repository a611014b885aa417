/*
 * Certificate history: the previous versions of a named certificate.
 *
 * Whatever replaces a certificate record (cert import with replace, cert
 * renew and rekey, the service certificate's apply / self-signed / rekey,
 * a restore) archives the record it replaces first: version N of the
 * sub-kind "certs/<name>" (records "1", "2", ...; the old record's meta and
 * PEM, plus version, archived and reason), written atomically by the store
 * like every record. The new record is written after it, both under the
 * data lock and after the operation's write-ahead audit line, so a crash
 * between the two leaves the old record current and a copy of it in the
 * history; archiving the same PEM again is skipped, so that copy is never
 * doubled. Versions are never renumbered: the oldest beyond [store]
 * cert_history (default 20) are deleted.
 *
 * A restore makes a version current again the same way (the current one
 * is archived first), so the history only grows and every state that was
 * ever current can be reached again while it is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"

#include "cert_int.h"
#include "ops_int.h"

#define HISTORY_DEFAULT 20

/* members the store sets, not carried into a version */
static const char *const store_members[] = { "schema", "name", "updated",
	"pem_sha256", "renamed_from", "audit_seq", "audit_hash", NULL };

static int
history_kind(const char *name, char *kind, size_t size)
{
	if (name == NULL || !hkms_name_valid(name))
		return -1;
	snprintf(kind, size, "%s/%s", CERT_KIND, name);
	return 0;
}

static int
history_max(struct hkms_ops_ctx *c)
{
	return c->cfg != NULL && c->cfg->cert_history > 0 ?
	    c->cfg->cert_history : HISTORY_DEFAULT;
}

static int
version_of(json_t *meta)
{
	json_t *v = json_object_get(meta, "version");

	return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static int
version_cmp(const void *a, const void *b)
{
	return version_of(*(json_t *const *)a) -
	    version_of(*(json_t *const *)b);
}

/* The versions of name as a new array sorted by version (oldest first);
 * an empty array when there are none. */
static enum hkms_rc
versions(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	char kind[96];
	json_t *list = NULL, *arr, *it;
	json_t **v = NULL;
	enum hkms_rc rc;
	size_t i, n;

	if (history_kind(name, kind, sizeof(kind)) != 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid certificate name '%s'", name ? name : "");
	if ((rc = hkms_store_list(c->store, kind, &list, err)) != HKMS_OK)
		return rc;
	n = json_array_size(list);
	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL) {
		json_decref(list);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	json_array_foreach(list, i, it)
		v[i] = it;
	if (n > 1)
		qsort(v, n, sizeof(*v), version_cmp);
	arr = json_array();
	for (i = 0; i < n; i++)
		if (version_of(v[i]) > 0)
			json_array_append(arr, v[i]);
	free(v);
	json_decref(list);
	*out = arr;
	return HKMS_OK;
}

/* Drop the oldest versions beyond the limit. */
static void
prune(struct hkms_ops_ctx *c, const char *name, json_t *vers)
{
	char kind[96], rec[16];
	struct hkms_err e;
	size_t i, n = json_array_size(vers), max = (size_t)history_max(c);

	if (n <= max || history_kind(name, kind, sizeof(kind)) != 0)
		return;
	for (i = 0; i < n - max; i++) {
		snprintf(rec, sizeof(rec), "%d",
		    version_of(json_array_get(vers, i)));
		(void)hkms_store_delete(c->store, kind, rec, &e);
	}
}

enum hkms_rc
cert_history_archive(struct hkms_ops_ctx *c, const char *name,
    const char *reason, struct hkms_err *err)
{
	json_t *meta = NULL, *vers = NULL, *last, *v;
	const char *t, *sha, *lsha;
	char kind[96], rec[16];
	enum hkms_rc rc;
	char *pem = NULL;
	size_t i;
	int next;

	if (history_kind(name, kind, sizeof(kind)) != 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid certificate name '%s'", name ? name : "");
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	rc = hkms_store_get(c->store, CERT_KIND, name, &meta, &pem, err);
	if (rc == HKMS_E_NOT_FOUND) {
		hkms_err_clear(err);
		rc = HKMS_OK;
		goto out;
	}
	if (rc != HKMS_OK)
		goto out;
	t = json_string_value(json_object_get(meta, "type"));
	/* a CSR replaced by its certificate is not a version of it */
	if (t == NULL || strcmp(t, "certificate") != 0 || pem == NULL) {
		rc = HKMS_OK;
		goto out;
	}
	if ((rc = versions(c, name, &vers, err)) != HKMS_OK)
		goto out;
	last = json_array_get(vers, json_array_size(vers) - 1);
	sha = json_string_value(json_object_get(meta, "pem_sha256"));
	lsha = json_string_value(json_object_get(last, "pem_sha256"));
	/* archived already (a crash after the archive, before the record) */
	if (last != NULL && sha != NULL && lsha != NULL &&
	    strcmp(sha, lsha) == 0) {
		rc = HKMS_OK;
		goto out;
	}
	next = last != NULL ? version_of(last) + 1 : 1;
	for (i = 0; store_members[i] != NULL; i++)
		json_object_del(meta, store_members[i]);
	json_object_set_new(meta, "version", json_integer(next));
	json_object_set_new(meta, "reason", json_string(reason ? reason :
	    "replaced"));
	if ((v = json_object_get(meta, "created")) == NULL)
		json_object_set_new(meta, "created", json_null());
	{
		char now[32];

		hkms_time_str((int64_t)time(NULL), now);
		json_object_set_new(meta, "archived", json_string(now));
	}
	snprintf(rec, sizeof(rec), "%d", next);
	if ((rc = hkms_store_put(c->store, kind, rec, meta, pem, err)) !=
	    HKMS_OK)
		goto out;
	json_array_append(vers, meta);
	prune(c, name, vers);
	rc = HKMS_OK;
out:
	hkms_store_end(c->store);
	json_decref(meta);
	json_decref(vers);
	free(pem);
	return rc;
}

enum hkms_rc
cert_history_replace(struct hkms_ops_ctx *c, const char *name, json_t *meta,
    const char *pem, const char *reason, struct hkms_err *err)
{
	json_t *old = NULL, *v;
	enum hkms_rc rc;

	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	if (hkms_store_get(c->store, CERT_KIND, name, &old, NULL, err) ==
	    HKMS_OK) {
		/* what other features recorded about it stays */
		if ((v = json_object_get(old, "used_by")) != NULL)
			json_object_set(meta, "used_by", v);
		if ((v = json_object_get(old, "created")) != NULL &&
		    json_object_get(meta, "created_first") == NULL)
			json_object_set(meta, "created_first", v);
		json_object_set_new(meta, "replaced", json_string(reason ?
		    reason : "replaced"));
		json_object_set(meta, "previous_thumbprint",
		    json_object_get(old, "thumbprint") ?
		    json_object_get(old, "thumbprint") : json_null());
	}
	hkms_err_clear(err);
	if ((rc = cert_history_archive(c, name, reason, err)) == HKMS_OK)
		rc = hkms_store_put(c->store, CERT_KIND, name, meta, pem, err);
	hkms_store_end(c->store);
	json_decref(old);
	return rc;
}

/* One row of the listing. */
static json_t *
row(json_t *meta)
{
	static const char *const keys[] = { "version", "archived", "reason",
		"serial", "thumbprint", "subject", "issuer", "not_before",
		"not_after", "self_signed", "key", "source", NULL };
	json_t *r = json_object(), *v;
	size_t i;

	for (i = 0; keys[i] != NULL; i++)
		json_object_set(r, keys[i], (v = json_object_get(meta,
		    keys[i])) != NULL ? v : json_null());
	return r;
}

static enum hkms_rc
history_rows(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	json_t *vers = NULL, *it, *arr;
	enum hkms_rc rc;
	size_t i;

	if ((rc = versions(c, name, &vers, err)) != HKMS_OK)
		return rc;
	arr = json_array();
	json_array_foreach(vers, i, it)
		json_array_append_new(arr, row(it));
	json_decref(vers);
	*out = arr;
	return HKMS_OK;
}

void
cert_history_attach(struct hkms_ops_ctx *c, const char *name, json_t *obj)
{
	struct hkms_err e = { 0 };
	json_t *arr = NULL;

	if (history_rows(c, name, &arr, &e) == HKMS_OK)
		json_object_set_new(obj, "history", arr);
}

enum hkms_rc
hkms_ops_cert_history(struct hkms_ops_ctx *c, const char *name,
    json_t **out, struct hkms_err *err)
{
	OPS_AUTHORIZE(c, "cert.show", NULL, NULL, err);
	if (c->store == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	if (name == NULL || !hkms_store_exists(c->store, CERT_KIND, name))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "cert_not_found",
		    "no certificate '%s'", name ? name : "");
	return history_rows(c, name, out, err);
}

void
cert_history_drop(struct hkms_ops_ctx *c, const char *name)
{
	json_t *vers = NULL, *it;
	struct hkms_err e = { 0 };
	char kind[96], rec[16];
	size_t i;

	if (history_kind(name, kind, sizeof(kind)) != 0 ||
	    versions(c, name, &vers, &e) != HKMS_OK)
		return;
	json_array_foreach(vers, i, it) {
		snprintf(rec, sizeof(rec), "%d", version_of(it));
		(void)hkms_store_delete(c->store, kind, rec, &e);
	}
	json_decref(vers);
}

void
cert_history_move(struct hkms_ops_ctx *c, const char *from, const char *to)
{
	json_t *vers = NULL, *it;
	struct hkms_err e = { 0 };
	char fk[96], tk[96], rec[16];
	char *pem;
	size_t i;

	if (history_kind(from, fk, sizeof(fk)) != 0 ||
	    history_kind(to, tk, sizeof(tk)) != 0 ||
	    versions(c, from, &vers, &e) != HKMS_OK)
		return;
	/* the new name's stale versions (from a deleted certificate that
	 * had it) would mix in: the target starts empty */
	cert_history_drop(c, to);
	json_array_foreach(vers, i, it) {
		snprintf(rec, sizeof(rec), "%d", version_of(it));
		pem = NULL;
		if (hkms_store_get(c->store, fk, rec, NULL, &pem, &e) !=
		    HKMS_OK)
			continue;
		/* copy first, then delete: a crash leaves both copies */
		if (hkms_store_put(c->store, tk, rec, it, pem, &e) == HKMS_OK)
			(void)hkms_store_delete(c->store, fk, rec, &e);
		free(pem);
	}
	json_decref(vers);
}

/* The version's key is in the token and the certificate valid now. */
static enum hkms_rc
restorable(struct hkms_ops_ctx *c, const char *name, json_t *meta,
    const char *pem, struct hkms_err *err)
{
	const char *key = json_string_value(json_object_get(meta, "key"));
	STACK_OF(X509) *certs = NULL;
	struct hkms_key_info ki;
	enum hkms_rc rc;
	int64_t nb, na, now = (int64_t)time(NULL);
	EVP_PKEY *pub = NULL;
	char ref[160];
	X509 *x;

	if (key == NULL || ops_key_find(c, key, &ki, err) != HKMS_OK)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "key_not_found",
		    "version %d of certificate '%s' is for key '%s', which "
		    "is no longer in the token", version_of(meta), name,
		    key ? key : "");
	if ((rc = hkms_certio_parse((const unsigned char *)pem, strlen(pem),
	    NULL, &certs, NULL, err)) != HKMS_OK)
		return rc;
	x = sk_X509_value(certs, 0);
	/* the key of that name now: a key deleted and made again under the
	 * same name is another key, which the old certificate is not for */
	if (ki.id_len > 0)
		snprintf(ref, sizeof(ref), "id:%s", ki.id_hex);
	else
		snprintf(ref, sizeof(ref), "%s", ki.name);
	if ((rc = hkms_hsm_key_public(c->hsm, ref, &pub, err)) != HKMS_OK)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(x), pub) != 1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_mismatch",
		    "version %d of certificate '%s' is not for the key '%s' "
		    "now in the token (a key made again under that name)",
		    version_of(meta), name, key);
		goto out;
	}
	if (hkms_certio_time(X509_get0_notBefore(x), &nb, err) != HKMS_OK ||
	    hkms_certio_time(X509_get0_notAfter(x), &na, err) != HKMS_OK)
		rc = err->rc;
	else if (now < nb || now > na)
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "check_failed:validity",
		    "version %d of certificate '%s' is not valid now (%s "
		    "until %s)", version_of(meta), name,
		    json_string_value(json_object_get(meta, "not_before")),
		    json_string_value(json_object_get(meta, "not_after")));
	else
		rc = HKMS_OK;
out:
	EVP_PKEY_free(pub);
	hkms_certio_chain_free(certs);
	return rc;
}

enum hkms_rc
cert_history_restore(struct hkms_ops_ctx *c, const char *name, int version,
    int (*pick)(struct hkms_ops_ctx *, json_t *, void *), void *arg,
    const char *op, int *version_out, struct hkms_err *err)
{
	json_t *vers = NULL, *meta = NULL, *d, *it, *cur = NULL;
	char kind[96], rec[16];
	enum hkms_rc rc;
	char *pem = NULL;
	size_t i;
	int locked = 0, found = 0;

	if (history_kind(name, kind, sizeof(kind)) != 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid certificate name '%s'", name ? name : "");
	if (version < 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "version must be 1 or more");
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = hkms_store_get(c->store, CERT_KIND, name, &cur, NULL,
	    err)) != HKMS_OK) {
		if (rc == HKMS_E_NOT_FOUND)
			rc = hkms_err_setc(err, HKMS_E_NOT_FOUND,
			    "cert_not_found", "no certificate '%s'", name);
		goto out;
	}
	if ((rc = versions(c, name, &vers, err)) != HKMS_OK)
		goto out;
	for (i = json_array_size(vers); i-- > 0 && !found;) {
		it = json_array_get(vers, i);
		if (version > 0 ? version_of(it) == version :
		    pick == NULL || pick(c, it, arg))
			found = version_of(it);
		/* what pick takes must be restorable too (its key may have
		 * been made again under the same name): else an older one */
		if (found && version == 0 && pick != NULL) {
			struct hkms_err e = { 0 };

			snprintf(rec, sizeof(rec), "%d", found);
			if (hkms_store_get(c->store, kind, rec, NULL, &pem,
			    &e) != HKMS_OK || pem == NULL ||
			    restorable(c, name, it, pem, &e) != HKMS_OK)
				found = 0;
			free(pem);
			pem = NULL;
		}
	}
	if (!found) {
		if (version > 0)
			rc = hkms_err_setc(err, HKMS_E_NOT_FOUND,
			    "history_not_found", "certificate '%s' has no "
			    "version %d", name, version);
		else
			rc = hkms_err_setc(err, HKMS_E_NOT_FOUND,
			    "history_not_found", "certificate '%s' has no "
			    "previous version%s", name, pick ? " that fits" :
			    "");
		goto out;
	}
	snprintf(rec, sizeof(rec), "%d", found);
	if ((rc = hkms_store_get(c->store, kind, rec, &meta, &pem, err)) !=
	    HKMS_OK)
		goto out;
	if (pem == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
		    "version %d of certificate '%s' has no PEM", found, name);
		goto out;
	}
	if ((rc = restorable(c, name, meta, pem, err)) != HKMS_OK)
		goto out;
	for (i = 0; store_members[i] != NULL; i++)
		json_object_del(meta, store_members[i]);
	json_object_del(meta, "version");
	json_object_del(meta, "archived");
	json_object_del(meta, "reason");
	json_object_set_new(meta, "restored_version", json_integer(found));
	d = json_pack("{s:i,s:O}", "version", found, "serial",
	    json_object_get(meta, "serial") ? json_object_get(meta, "serial") :
	    json_null());
	rc = hkms_ops_audit_ahead(c, op, name, d, err);
	json_decref(d);
	if (rc == HKMS_OK)
		rc = cert_history_replace(c, name, meta, pem, "restore", err);
	if (rc == HKMS_OK && version_out != NULL)
		*version_out = found;
out:
	if (locked)
		hkms_store_end(c->store);
	json_decref(vers);
	json_decref(meta);
	json_decref(cur);
	free(pem);
	return rc;
}

enum hkms_rc
hkms_ops_cert_restore(struct hkms_ops_ctx *c, const char *name,
    int version, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *d;
	int got = 0;

	OPS_AUTHORIZE(c, "cert.restore", NULL, NULL, err);
	if (name != NULL && strcmp(name, HKMS_SERVICE_CERT) == 0)
		OPS_AUTHORIZE(c, "service.cert_apply", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (c->store == NULL || c->hsm == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store or token "
		    "open");
	rc = cert_history_restore(c, name, version, NULL, NULL, "cert.restore",
	    &got, err);
	if (rc == HKMS_OK && (rc = hkms_ops_cert_show(c, name, out, err)) ==
	    HKMS_OK)
		json_object_set_new(*out, "restored_version",
		    json_integer(got));
	d = json_pack("{s:i}", "version", got ? got : version);
	hkms_ops_audit(c, "cert.restore", name ? name : "", rc, err, d);
	json_decref(d);
	return rc;
}
