/*
 * Revocation and CRLs of a CA.
 *
 * A revocation is a record revoked/<ca>/<SERIAL> written under the data
 * lock; it is the commit point and is never changed or deleted (Vault
 * CVE-2021-29653: revocations must not be lost to a cleanup). The issued
 * record's status is updated after it, and readers treat the revocation
 * index as the authority. A CRL lists every revocation of the CA, gets the
 * next number of the counter crl/<ca>/number (and always a number above
 * every CRL of the CA already published; a damaged counter is an error,
 * never a restart at 1), is signed by the CA's token
 * key and published atomically to <crl_dir>/<ca>.crl (DER) and
 * <crl_dir>/<ca>.crl.pem; the last one is also kept as crl/<ca>/current.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "ca_int.h"
#include "ops_int.h"

enum hkms_rc
ca_revoke_one(struct hkms_ops_ctx *c, struct ca *ca, const char *hex,
    enum hkms_x509_crl_reason reason, json_t *audit, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta = NULL, *old = NULL, *rv = NULL;
	char *pem = NULL, when[32];
	int64_t now = (int64_t)time(NULL);

	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	if (!hkms_store_exists(c->store, ca->issued_kind, hex)) {
		rc = hkms_err_set(err, HKMS_E_NOT_FOUND, "CA '%s' issued no "
		    "certificate with serial %s", ca->name, hex);
		goto out;
	}
	if (hkms_store_exists(c->store, ca->revoked_kind, hex)) {
		if (hkms_store_get(c->store, ca->revoked_kind, hex, &old, NULL,
		    err) != HKMS_OK)
			old = NULL;
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "already_revoked",
		    "certificate %s of CA '%s' was already revoked at %s "
		    "(%s)", hex, ca->name, json_string_value(json_object_get(
		    old, "revoked_at")) ? json_string_value(json_object_get(
		    old, "revoked_at")) : "?", json_string_value(
		    json_object_get(old, "reason")) ? json_string_value(
		    json_object_get(old, "reason")) : "?");
		goto out;
	}
	if ((rc = hkms_store_get(c->store, ca->issued_kind, hex, &meta, &pem,
	    err)) != HKMS_OK)
		goto out;
	hkms_time_str(now, when);
	rv = json_pack("{s:s,s:s,s:I,s:s,s:s,s:O}", "serial", hex,
	    "revoked_at", when, "revoked_at_unix", (json_int_t)now, "reason",
	    hkms_x509_crl_reason_name(reason), "requester", c->actor ?
	    c->actor : "unknown", "subject", json_object_get(meta, "subject") ?
	    json_object_get(meta, "subject") : json_null());
	if (rv == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* the write-ahead line, then the commit point of the revocation */
	if ((audit != NULL && (rc = hkms_ops_audit_ahead(c, "ca.revoke",
	    ca->name, audit, err)) != HKMS_OK) ||
	    (rc = hkms_store_put(c->store, ca->revoked_kind, hex, rv, NULL,
	    err)) != HKMS_OK)
		goto out;
	json_object_set_new(meta, "status", json_string("revoked"));
	json_object_set_new(meta, "revoked_at", json_string(when));
	json_object_set_new(meta, "reason", json_string(
	    hkms_x509_crl_reason_name(reason)));
	if ((rc = hkms_store_put(c->store, ca->issued_kind, hex, meta, pem,
	    err)) != HKMS_OK)
		goto out;
	if (out != NULL)
		*out = json_pack("{s:s,s:s,s:s,s:s}", "ca", ca->name, "serial",
		    hex, "reason", hkms_x509_crl_reason_name(reason),
		    "revoked_at", when);
	rc = HKMS_OK;
out:
	hkms_store_end(c->store);
	json_decref(meta);
	json_decref(old);
	json_decref(rv);
	free(pem);
	return rc;
}

enum hkms_rc
hkms_ops_ca_revoke(struct hkms_ops_ctx *c, const char *ca_name,
    const char *serial, const char *reason, json_t **out,
    struct hkms_err *err)
{
	enum hkms_x509_crl_reason r = HKMS_X509_REASON_UNSPECIFIED;
	enum hkms_rc rc;
	struct ca *ca = NULL;
	char hex[HKMS_X509_SERIAL_HEX_MAX] = "";
	json_t *d;

	OPS_AUTHORIZE(c, "ca.revoke", ca_name, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_x509_crl_reason_parse(reason, &r, err)) != HKMS_OK ||
	    (rc = ca_serial_norm(serial, hex, err)) != HKMS_OK ||
	    (rc = ca_load(c, ca_name, 1, &ca, err)) != HKMS_OK)
		goto out;
	d = json_pack("{s:s,s:s}", "serial", hex, "reason", reason ? reason :
	    "unspecified");
	rc = ca_revoke_one(c, ca, hex, r, d, out, err);
	json_decref(d);
out:
	d = json_pack("{s:s,s:s}", "serial", hex[0] ? hex : serial ? serial :
	    "", "reason", reason ? reason : "unspecified");
	hkms_ops_audit(c, "ca.revoke", ca_name ? ca_name : "", rc, err, d);
	json_decref(d);
	ca_free(ca);
	return rc;
}

/* ---- CRL ----------------------------------------------------------- */

/* The revocations of ca as CRL entries; strings borrowed from list. */
static enum hkms_rc
crl_entries(json_t *list, struct hkms_x509_revoked **out, size_t *n,
    struct hkms_err *err)
{
	struct hkms_x509_revoked *e;
	enum hkms_rc rc;
	size_t i;
	json_t *it;

	*n = json_array_size(list);
	if ((e = calloc(*n ? *n : 1, sizeof(*e))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_array_foreach(list, i, it) {
		e[i].serial_hex = json_string_value(json_object_get(it,
		    "serial"));
		e[i].revoked_at = json_integer_value(json_object_get(it,
		    "revoked_at_unix"));
		if (e[i].serial_hex == NULL || e[i].revoked_at <= 0) {
			free(e);
			return hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
			    "damaged revocation record #%zu", i + 1);
		}
		if ((rc = hkms_x509_crl_reason_parse(json_string_value(
		    json_object_get(it, "reason")), &e[i].reason, err)) !=
		    HKMS_OK) {
			free(e);
			return rc;
		}
	}
	*out = e;
	return HKMS_OK;
}

static enum hkms_rc
crl_encode(X509_CRL *crl, unsigned char **der, size_t *derlen, char **pem,
    struct hkms_err *err)
{
	unsigned char *d = NULL;
	BIO *bio = NULL;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *p = NULL;
	long n;
	int len;

	if ((len = i2d_X509_CRL(crl, &d)) <= 0) {
		rc = hkms_err_crypto(err, "cannot encode CRL");
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_CRL(bio, crl)) {
		rc = hkms_err_crypto(err, "cannot encode CRL");
		goto out;
	}
	n = BIO_get_mem_data(bio, &p);
	if ((*pem = malloc((size_t)n + 1)) == NULL ||
	    (*der = malloc((size_t)len)) == NULL) {
		free(*pem);
		*pem = NULL;
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*pem, p, (size_t)n);
	(*pem)[n] = '\0';
	memcpy(*der, d, (size_t)len);
	*derlen = (size_t)len;
	rc = HKMS_OK;
out:
	OPENSSL_free(d);
	BIO_free(bio);
	return rc;
}

/* CRL files read back to find the numbers already published. */
#define CRL_READ_MAX (64 * 1024 * 1024)

/* The cRLNumber of a CRL (DER or PEM) signed by the CA's key; 0 when the
 * data is no such CRL (a foreign or damaged file is not ours to count). */
static uint64_t
crl_number_of(const struct ca *ca, const unsigned char *data, size_t len)
{
	const unsigned char *p = data;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	ASN1_INTEGER *num = NULL;
	uint64_t v = 0;
	BIO *bio;

	if (crl == NULL && (bio = BIO_new_mem_buf(data, (int)len)) != NULL) {
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (crl != NULL && X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(ca->cert)) == 0 &&
	    X509_CRL_verify(crl, X509_get0_pubkey(ca->cert)) == 1 &&
	    (num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) !=
	    NULL && !ASN1_INTEGER_get_uint64(&v, num))
		v = UINT64_MAX;	/* larger than we can count past */
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	ERR_clear_error();
	return v;
}

/*
 * The highest CRL number already published for the CA: the CRLs at dpath
 * and ppath and the copy in crl/<ca>/current (its recorded number and its
 * PEM). The next number goes above it even if the counter record was lost
 * or restored from an old backup.
 */
static enum hkms_rc
published_max(struct hkms_ops_ctx *c, const struct ca *ca,
    const char *dpath, const char *ppath, uint64_t *out, struct hkms_err *err)
{
	const char *paths[2] = { dpath, ppath };
	unsigned char *buf = NULL;
	json_t *meta = NULL;
	char *pem = NULL;
	json_int_t jn;
	uint64_t max = 0, v;
	struct hkms_err e;
	size_t i, len;

	for (i = 0; i < 2; i++) {
		if (hkms_read_file(paths[i], CRL_READ_MAX, &buf, &len, &e) !=
		    HKMS_OK)
			continue;
		if ((v = crl_number_of(ca, buf, len)) > max)
			max = v;
		free(buf);
		buf = NULL;
	}
	if (hkms_store_get(c->store, ca->crl_kind, "current", &meta, &pem,
	    &e) == HKMS_OK) {
		jn = json_integer_value(json_object_get(meta, "number"));
		if (jn > 0 && (uint64_t)jn > max)
			max = (uint64_t)jn;
		if (pem != NULL &&
		    (v = crl_number_of(ca, (const unsigned char *)pem,
		    strlen(pem))) > max)
			max = v;
	}
	json_decref(meta);
	free(pem);
	if (max >= (uint64_t)INT64_MAX)
		return hkms_err_setc(err, HKMS_E_INVALID, "counter_overflow",
		    "a published CRL of CA '%s' has a number too large to "
		    "count past", ca->name);
	*out = max;
	return HKMS_OK;
}

static char *
join(const char *dir, const char *name, const char *ext)
{
	size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s%s", dir, name, ext);
	return p;
}

enum hkms_rc
hkms_ops_ca_crl(struct hkms_ops_ctx *c, const char *ca_name, int days,
    json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	struct hkms_x509_revoked *entries = NULL;
	X509_CRL *crl = NULL;
	json_t *list = NULL, *meta = NULL, *d;
	unsigned char *der = NULL;
	size_t n = 0, derlen = 0;
	uint64_t number = 0, published = 0;
	char *pem = NULL, *dpath = NULL, *ppath = NULL, *crl_dir = NULL,
	    ref[160];
	int locked = 0;

	OPS_AUTHORIZE(c, "ca.crl", ca_name, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_hsm(c, err)) != HKMS_OK ||
	    (rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = ops_days_check(days, HKMS_OPS_CRL_DAYS_MAX, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = ca_load(c, ca_name, 1, &ca, err)) != HKMS_OK)
		goto out;
	if (c->cfg != NULL && c->cfg->crl_dir != NULL)
		crl_dir = strdup(c->cfg->crl_dir);
	else if ((rc = hkms_store_kind_path(c->store, "crl", &crl_dir,
	    err)) != HKMS_OK)
		goto out;
	if (crl_dir == NULL || (dpath = join(crl_dir, ca->name, ".crl")) ==
	    NULL || (ppath = join(crl_dir, ca->name, ".crl.pem")) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	/* the number: above the counter and above every CRL published */
	if ((rc = hkms_store_list(c->store, ca->revoked_kind, &list, err)) !=
	    HKMS_OK || (rc = crl_entries(list, &entries, &n, err)) !=
	    HKMS_OK || (rc = published_max(c, ca, dpath, ppath, &published,
	    err)) != HKMS_OK || (rc = hkms_store_counter_next(c->store,
	    ca->crl_kind, "number", published, &number, err)) != HKMS_OK ||
	    (rc = hkms_x509_crl_build(ca->cert, entries, n, number, days, 0,
	    &crl, err)) != HKMS_OK)
		goto out;
	ca_key_ref(ca, ref, sizeof(ref));
	if ((rc = ops_sign_crl(c->hsm, ref, crl, ca->cert,
	    hkms_x509_digest_resolve(HKMS_X509_DIGEST_AUTO,
	    X509_get0_pubkey(ca->cert)), err)) != HKMS_OK ||
	    (rc = crl_encode(crl, &der, &derlen, &pem, err)) != HKMS_OK)
		goto out;
	/* write-ahead (after the counter: a skipped number is harmless),
	 * then publish: each file replaced atomically, under the data lock */
	d = json_pack("{s:I,s:I,s:i}", "number", (json_int_t)number,
	    "entries", (json_int_t)n, "days", days ? days : 7);
	rc = hkms_ops_audit_ahead(c, "ca.crl", ca->name, d, err);
	json_decref(d);
	if (rc != HKMS_OK)
		goto out;
	if ((rc = hkms_store_check_dir(c->store, crl_dir, err)) != HKMS_OK ||
	    (rc = hkms_mkdir_p(crl_dir, 0755, err)) != HKMS_OK ||
	    (rc = hkms_store_check_dir(c->store, crl_dir, err)) != HKMS_OK ||
	    (rc = hkms_store_write_atomic(dpath, der, derlen, 0644, err)) !=
	    HKMS_OK || (rc = hkms_store_write_atomic(ppath, pem, strlen(pem),
	    0644, err)) != HKMS_OK)
		goto out;
	meta = json_pack("{s:s,s:I,s:o,s:o,s:I,s:s,s:s}", "ca", ca->name,
	    "number", (json_int_t)number, "this_update", ca_time_json(
	    X509_CRL_get0_lastUpdate(crl)), "next_update", ca_time_json(
	    X509_CRL_get0_nextUpdate(crl)), "entries", (json_int_t)n,
	    "path", dpath, "pem_path", ppath);
	if (meta == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_put(c->store, ca->crl_kind, "current", meta, pem,
	    err)) != HKMS_OK)
		goto out;
	json_object_set_new(meta, "pem", json_string(pem));
	*out = meta;
	meta = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	d = json_pack("{s:I,s:I,s:i}", "number", (json_int_t)number,
	    "entries", (json_int_t)n, "days", days ? days : 7);
	hkms_ops_audit(c, "ca.crl", ca_name ? ca_name : "", rc, err, d);
	json_decref(d);
	json_decref(meta);
	json_decref(list);
	free(entries);
	free(der);
	free(pem);
	free(dpath);
	free(ppath);
	free(crl_dir);
	X509_CRL_free(crl);
	ca_free(ca);
	return rc;
}

/*
 * The CA's last CRL (crl/<ca>/current, what hkms_ops_ca_crl published):
 * its PEM, or with der its DER. HKMS_E_NOT_FOUND "not_found" before the
 * first CRL. Needs no token; changes nothing.
 */
enum hkms_rc
hkms_ops_ca_crl_get(struct hkms_ops_ctx *c, const char *ca_name, int der,
    unsigned char **data, size_t *len, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	json_t *meta = NULL;
	X509_CRL *crl = NULL;
	unsigned char *buf = NULL;
	char *pem = NULL;
	BIO *bio = NULL;
	int n;

	OPS_AUTHORIZE(c, "ca.crl_get", ca_name, NULL, err);
	if (data == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*data = NULL;
	*len = 0;
	if ((rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = ca_load(c, ca_name, 0, &ca, err)) != HKMS_OK)
		goto out;
	if (!hkms_store_exists(c->store, ca->crl_kind, "current")) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found", "CA '%s' "
		    "has no CRL yet", ca->name);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, ca->crl_kind, "current", &meta,
	    &pem, err)) != HKMS_OK)
		goto out;
	if (pem == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record", "the "
		    "CRL record of CA '%s' has no PEM", ca->name);
		goto out;
	}
	if (!der) {
		*len = strlen(pem);
		*data = (unsigned char *)pem;
		pem = NULL;
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) == NULL ||
	    (n = i2d_X509_CRL(crl, &buf)) <= 0) {
		ERR_clear_error();
		rc = hkms_err_setc(err, HKMS_E_INVALID, "damaged_record", "the "
		    "CRL record of CA '%s' does not parse", ca->name);
		goto out;
	}
	if ((*data = malloc((size_t)n)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*data, buf, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(buf);
	BIO_free(bio);
	X509_CRL_free(crl);
	json_decref(meta);
	free(pem);
	ca_free(ca);
	return rc;
}
