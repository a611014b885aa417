/*
 * Certificate operations: CSRs and self-signed certificates signed in the
 * token, and the records that hold them (list, show, export, rename,
 * delete, renew). Import of certificates issued elsewhere lives in
 * cert_import.c.
 *
 * A record is kind "certs", name = the certificate's name, meta "type"
 * "csr" or "certificate" and "key" = the name of its token key; the PEM is
 * the CSR, or the certificate followed by any chain it came with. CAs are
 * records of kind "cas" made by the CA operations; show, list and export
 * read them too but never change them.
 *
 * Every signature is made in two steps (x509.h): the unsigned object is
 * built from a software copy of the public key, then only the sign call
 * runs inside hkms_hsm_with_key(), which may call it twice after a token
 * reconnect. A key generated for a request (--new-key) is destroyed again
 * when a later step fails, so a failed request leaves neither a record nor
 * a stray key. The data lock is held from the name check to the store
 * write so two requests cannot take the same name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "cert_int.h"
#include "ops_int.h"
#include "revocation_int.h"

#define DAY_SECONDS 86400

/* ---- shared helpers ---------------------------------------------- */

enum hkms_rc
cert_need_hsm(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	if (c == NULL || c->hsm == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no token open");
	return HKMS_OK;
}

static enum hkms_rc
need_store(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	return HKMS_OK;
}

static enum hkms_rc
name_check(const char *name, struct hkms_err *err)
{
	if (name == NULL || !hkms_name_valid(name))
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid certificate name '%s' (1..64 of A-Z a-z 0-9 . _ "
		    "-, not starting with '.' or '-')", name ? name : "");
	return HKMS_OK;
}

enum hkms_rc
cert_name_free(struct hkms_ops_ctx *c, const char *name,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = name_check(name, err)) != HKMS_OK)
		return rc;
	if (hkms_store_exists(c->store, CERT_KIND, name))
		return hkms_err_setc(err, HKMS_E_EXISTS, "cert_exists",
		    "certificate '%s' already exists", name);
	return HKMS_OK;
}

static json_t *
now_json(void)
{
	char buf[32];

	return json_string(hkms_time_str((int64_t)time(NULL), buf));
}

static void
set_key(json_t *m, const struct hkms_key_info *ki)
{
	json_object_set_new(m, "key", ki ? json_string(ki->name) :
	    json_null());
	json_object_set_new(m, "key_uri", ki ? json_string(ki->uri) :
	    json_null());
}

json_t *
cert_meta(X509 *x, const char *type, const struct hkms_key_info *ki)
{
	json_t *m = json_object(), *f = ops_cert_record(x, NULL);

	if (m == NULL || f == NULL) {
		json_decref(m);
		json_decref(f);
		return NULL;
	}
	json_object_set_new(m, "type", json_string(type));
	set_key(m, ki);
	json_object_update(m, f);
	json_decref(f);
	json_object_set_new(m, "created", now_json());
	json_object_set_new(m, "used_by", json_array());
	return m;
}

static enum hkms_rc
one_cert_pem(X509 *x, char **pem, struct hkms_err *err)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	enum hkms_rc rc;

	if (sk == NULL || !sk_X509_push(sk, x)) {
		sk_X509_free(sk);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	rc = hkms_certio_pem_string(sk, pem, err);
	sk_X509_free(sk);	/* x is borrowed */
	return rc;
}

enum hkms_rc
cert_put(struct hkms_ops_ctx *c, const char *name, json_t *meta,
    const char *pem, int replace_csr, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *old = NULL;
	const char *ot, *ok, *nk;

	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	if (hkms_store_exists(c->store, CERT_KIND, name)) {
		if (!replace_csr) {
			rc = hkms_err_setc(err, HKMS_E_EXISTS, "cert_exists",
			    "certificate '%s' already exists", name);
			goto out;
		}
		if ((rc = hkms_store_get(c->store, CERT_KIND, name, &old,
		    NULL, err)) != HKMS_OK)
			goto out;
		ot = json_string_value(json_object_get(old, "type"));
		ok = json_string_value(json_object_get(old, "key"));
		nk = json_string_value(json_object_get(meta, "key"));
		if (ot == NULL || strcmp(ot, "csr") != 0 || ok == NULL ||
		    nk == NULL || strcmp(ok, nk) != 0) {
			rc = hkms_err_setc(err, HKMS_E_EXISTS, "cert_exists",
			    "certificate '%s' already exists%s", name,
			    ot && strcmp(ot, "csr") == 0 ? " (a CSR for "
			    "another key)" : "");
			goto out;
		}
		json_object_set(meta, "csr_created",
		    json_object_get(old, "created"));
	}
	rc = hkms_store_put(c->store, CERT_KIND, name, meta, pem, err);
out:
	hkms_store_end(c->store);
	json_decref(old);
	return rc;
}

/* ---- token key helpers -------------------------------------------- */

/* The key for a request: an existing one (key), or a new one of type
 * new_key named key or name. On success *made tells whether it was made
 * here (the caller destroys it again if a later step fails). */
static enum hkms_rc
request_key(struct hkms_ops_ctx *c, const struct hkms_ops_cert_req *req,
    struct hkms_key_info *ki, int *made, struct hkms_err *err)
{
	enum hkms_key_type t;
	enum hkms_rc rc;

	*made = 0;
	if (req->new_key == NULL) {
		if (req->key == NULL)
			return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
			    "key or new_key is required");
		return ops_key_find(c, req->key, ki, err);
	}
	if ((rc = hkms_hsm_key_type_parse(req->new_key, &t, err)) != HKMS_OK)
		return rc;
	if ((rc = ops_key_create(c, req->key ? req->key : req->name, t,
	    NULL, ki, err)) != HKMS_OK)
		return rc;
	*made = 1;
	return HKMS_OK;
}

static void
key_ref(const struct hkms_key_info *ki, char *ref, size_t size)
{
	if (ki->id_len > 0)
		snprintf(ref, size, "id:%s", ki->id_hex);
	else
		snprintf(ref, size, "%s", ki->name);
}

/* Destroy a key made for a request that failed; the request's error in
 * err stays as it is, and says so if the key cannot be removed. */
static void
unmake_key(struct hkms_ops_ctx *c, const struct hkms_key_info *ki,
    struct hkms_err *err)
{
	struct hkms_err e = { 0 };
	size_t n;

	if (ops_key_remove(c, ki, &e) == HKMS_OK || err == NULL)
		return;
	n = strlen(err->detail);
	snprintf(err->detail + n, sizeof(err->detail) - n, "; key '%s' made "
	    "for it is left in the token: %s", ki->name,
	    e.detail);
}

/* ---- CSR ---------------------------------------------------------- */

/* Subject, SANs and digest are checked before any token call, so a typo
 * never leaves a generated key behind. */
static enum hkms_rc
precheck_names(const struct hkms_ops_cert_req *req,
    enum hkms_x509_digest *digest, struct hkms_err *err)
{
	X509_NAME *n = NULL;
	GENERAL_NAMES *g = NULL;
	enum hkms_rc rc;

	if (req->subject == NULL || req->subject[0] == '\0')
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "subject is required (e.g. /CN=host.example)");
	if ((rc = hkms_x509_digest_parse(req->digest, digest, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_x509_name_parse(req->subject, &n, err)) != HKMS_OK)
		return rc;
	X509_NAME_free(n);
	if (req->san != NULL && req->san[0] != '\0') {
		if ((rc = hkms_x509_san_parse(req->san, &g, err)) != HKMS_OK)
			return rc;
		GENERAL_NAMES_free(g);
	}
	if (req->key == NULL && req->new_key == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "key or new_key is required");
	return HKMS_OK;
}

static json_t *
csr_meta(X509_REQ *req, const struct hkms_key_info *ki)
{
	json_t *m = json_object(), *f = ops_cert_record(NULL, req);

	if (m == NULL || f == NULL) {
		json_decref(m);
		json_decref(f);
		return NULL;
	}
	json_object_set_new(m, "type", json_string("csr"));
	set_key(m, ki);
	json_object_update(m, f);
	json_decref(f);
	json_object_set_new(m, "created", now_json());
	json_object_set_new(m, "used_by", json_array());
	return m;
}

static json_t *
req_audit_detail(const struct hkms_ops_cert_req *req,
    const struct hkms_key_info *ki, int ok)
{
	json_t *d = json_object();

	json_object_set_new(d, "key", ok ? json_string(ki->name) :
	    req->key ? json_string(req->key) : json_null());
	if (req->new_key != NULL)
		json_object_set_new(d, "new_key", json_string(req->new_key));
	/* a key made for the request: this line acknowledges its creation
	 * (keys.c, not_acked) */
	if (ok && req->new_key != NULL && ki->id_hex[0] != '\0')
		json_object_set_new(d, "key_id", json_string(ki->id_hex));
	if (req->subject != NULL)
		json_object_set_new(d, "subject", json_string(req->subject));
	if (req->profile != NULL)
		json_object_set_new(d, "profile", json_string(req->profile));
	if (hkms_x509_ext_choice_set(&req->ext))
		json_object_set_new(d, "extensions",
		    hkms_x509_ext_choice_json(&req->ext));
	return d;
}

enum hkms_rc
hkms_ops_csr_create(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_req *req, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	enum hkms_x509_digest digest = HKMS_X509_DIGEST_AUTO;
	struct hkms_key_info ki;
	X509_REQ *csr = NULL;
	enum hkms_x509_digest used = HKMS_X509_DIGEST_AUTO;
	EVP_PKEY *pub = NULL;
	json_t *meta = NULL, *d;
	char *pem = NULL, ref[160];
	int made = 0, locked = 0;

	OPS_AUTHORIZE(c, "csr.create", NULL, NULL, err);
	memset(&ki, 0, sizeof(ki));
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = cert_need_hsm(c, err)) != HKMS_OK ||
	    (rc = need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = cert_name_free(c, req->name, err)) != HKMS_OK ||
	    (rc = precheck_names(req, &digest, err)) != HKMS_OK ||
	    (rc = request_key(c, req, &ki, &made, err)) != HKMS_OK)
		goto out;
	key_ref(&ki, ref, sizeof(ref));
	if ((rc = hkms_hsm_key_public(c->hsm, ref, &pub, err)) != HKMS_OK ||
	    (rc = hkms_x509_csr_build(pub, req->subject, req->san, NULL,
	    &csr, err)) != HKMS_OK)
		goto out;
	used = hkms_x509_digest_resolve(digest, pub);
	if ((rc = ops_sign_req(c->hsm, ref, csr, used, err)) != HKMS_OK ||
	    (rc = hkms_x509_csr_pem(csr, &pem, err)) != HKMS_OK)
		goto out;
	if ((meta = csr_meta(csr, &ki)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* write-ahead: the line first, then the record it names */
	d = req_audit_detail(req, &ki, 1);
	json_object_set_new(d, "digest", json_string(
	    hkms_x509_digest_name(used)));
	rc = hkms_ops_audit_ahead(c, "csr.create", req->name, d, err);
	json_decref(d);
	if (rc != HKMS_OK ||
	    (rc = cert_put(c, req->name, meta, pem, 0, err)) != HKMS_OK)
		goto out;
	rc = ops_cert_object(NULL, csr, meta, req->name, "csr", 0, out, err);
out:
	if (rc != HKMS_OK && made)
		unmake_key(c, &ki, err);
	if (locked)
		hkms_store_end(c->store);
	d = req_audit_detail(req, &ki, rc == HKMS_OK || made);
	if (rc == HKMS_OK)
		json_object_set_new(d, "digest", json_string(
		    hkms_x509_digest_name(used)));
	hkms_ops_audit(c, "csr.create", req->name, rc, err, d);
	json_decref(d);
	json_decref(meta);
	free(pem);
	X509_REQ_free(csr);
	EVP_PKEY_free(pub);
	return rc;
}

enum hkms_rc
hkms_ops_csr_verify(struct hkms_ops_ctx *c, const unsigned char *data,
    size_t len, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	X509_REQ *req = NULL;
	GENERAL_NAMES *gens = NULL;
	json_t *o = NULL, *d;

	OPS_AUTHORIZE(c, "csr.verify", NULL, NULL, err);
	(void)c;
	if (data == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = hkms_x509_csr_parse(data, len, &req, err)) != HKMS_OK ||
	    (rc = hkms_x509_csr_verify(req, err)) != HKMS_OK ||
	    (rc = hkms_x509_name_check(X509_REQ_get_subject_name(req),
	    err)) != HKMS_OK ||
	    (rc = hkms_x509_csr_get_san(req, &gens, err)) != HKMS_OK)
		goto out;
	if (gens != NULL && (rc = hkms_x509_san_check(gens, err)) != HKMS_OK)
		goto out;
	/* the facts in the shape of a certificate; "ok" first */
	if ((rc = hkms_certio_describe_req(req, &d, err)) != HKMS_OK)
		goto out;
	o = json_pack("{s:b}", "ok", 1);
	json_object_update(o, d);
	json_decref(d);
	*out = o;
	rc = HKMS_OK;
out:
	GENERAL_NAMES_free(gens);
	X509_REQ_free(req);
	return rc;
}

/* ---- self-signed certificates -------------------------------------- */

/* Build and sign a self-signed certificate for token key ki. */
static enum hkms_rc
self_signed(struct hkms_ops_ctx *c, const struct hkms_key_info *ki,
    const struct hkms_x509_profile *prof,
    const struct hkms_x509_cert_opts *opts, enum hkms_x509_digest digest,
    X509 **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	X509 *cert = NULL;
	EVP_PKEY *pub = NULL;
	char ref[160];

	key_ref(ki, ref, sizeof(ref));
	if (digest == HKMS_X509_DIGEST_AUTO)
		digest = hkms_x509_profile_digest(prof);
	if ((rc = hkms_hsm_key_public(c->hsm, ref, &pub, err)) != HKMS_OK ||
	    (rc = hkms_x509_cert_build(pub, NULL, prof, opts, &cert,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = ops_sign_cert(c->hsm, ref, cert, NULL,
	    hkms_x509_digest_resolve(digest, pub), err)) != HKMS_OK)
		goto out;
	*out = cert;
	cert = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	X509_free(cert);
	EVP_PKEY_free(pub);
	return rc;
}

static enum hkms_rc
leaf_profile(struct hkms_ops_ctx *c, const char *name,
    struct hkms_x509_profile **out, struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = hkms_x509_profile_get(name ? name : "tls-server",
	    c->cfg ? c->cfg->profiles_dir : NULL, out, err)) != HKMS_OK)
		return rc;
	if (hkms_x509_profile_is_ca(*out)) {
		hkms_x509_profile_free(*out);
		*out = NULL;
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_profile",
		    "profile '%s' makes CA certificates; a CA is made by "
		    "creating a CA", name);
	}
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_cert_self_sign(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_req *req, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	enum hkms_x509_digest digest = HKMS_X509_DIGEST_AUTO;
	struct hkms_x509_profile *prof = NULL;
	struct hkms_x509_cert_opts opts;
	struct hkms_key_info ki;
	X509 *x = NULL;
	json_t *meta = NULL, *d;
	char *pem = NULL;
	int made = 0, locked = 0;

	OPS_AUTHORIZE(c, "cert.self_sign", NULL, NULL, err);
	memset(&ki, 0, sizeof(ki));
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = cert_need_hsm(c, err)) != HKMS_OK ||
	    (rc = need_store(c, err)) != HKMS_OK)
		return rc;
	/* the data lock is held from the name check to the record, and
	 * the key is made under it: a key generation outside it races the
	 * key lookups other processes make under it (SoftHSM2's file store
	 * hands them CKR_OBJECT_HANDLE_INVALID, e2e audit_concurrency) */
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = cert_name_free(c, req->name, err)) != HKMS_OK ||
	    (rc = precheck_names(req, &digest, err)) != HKMS_OK ||
	    (rc = leaf_profile(c, req->profile, &prof, err)) != HKMS_OK ||
	    (rc = ops_profile_narrow(&req->ext, &prof, err)) != HKMS_OK)
		goto out;
	if ((rc = ops_days_check(req->days, HKMS_OPS_DAYS_MAX, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = request_key(c, req, &ki, &made, err)) != HKMS_OK)
		goto out;
	memset(&opts, 0, sizeof(opts));
	opts.subject = req->subject;
	opts.san = req->san && req->san[0] ? req->san : NULL;
	opts.days = req->days;
	if ((rc = self_signed(c, &ki, prof, &opts, digest, &x, err)) !=
	    HKMS_OK || (rc = one_cert_pem(x, &pem, err)) != HKMS_OK)
		goto out;
	if ((meta = cert_meta(x, "certificate", &ki)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(meta, "source", json_string("self-signed"));
	json_object_set_new(meta, "profile",
	    json_string(hkms_x509_profile_name(prof)));
	d = req_audit_detail(req, &ki, 1);
	json_object_set_new(d, "serial",
	    json_incref(json_object_get(meta, "serial")));
	rc = hkms_ops_audit_ahead(c, "cert.self_sign", req->name, d, err);
	json_decref(d);
	if (rc != HKMS_OK ||
	    (rc = cert_put(c, req->name, meta, pem, 0, err)) != HKMS_OK)
		goto out;
	rc = hkms_ops_cert_show(c, req->name, out, err);
out:
	if (rc != HKMS_OK && made)
		unmake_key(c, &ki, err);
	if (locked)
		hkms_store_end(c->store);
	d = req_audit_detail(req, &ki, rc == HKMS_OK || made);
	if (x != NULL)
		json_object_set_new(d, "serial",
		    json_incref(json_object_get(meta, "serial")));
	hkms_ops_audit(c, "cert.self_sign", req->name, rc, err, d);
	json_decref(d);
	json_decref(meta);
	free(pem);
	X509_free(x);
	hkms_x509_profile_free(prof);
	return rc;
}

/* ---- reading records ---------------------------------------------- */

/* Find record name in "certs", then "cas". *kind is a static string. */
static enum hkms_rc
record_get(struct hkms_ops_ctx *c, const char *name, const char **kind,
    json_t **meta, char **pem, struct hkms_err *err)
{
	static const char *const kinds[] = { CERT_KIND, "cas" };
	enum hkms_rc rc;
	size_t i;

	if ((rc = name_check(name, err)) != HKMS_OK)
		return rc;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!hkms_store_exists(c->store, kinds[i], name))
			continue;
		if (kind != NULL)
			*kind = kinds[i];
		return hkms_store_get(c->store, kinds[i], name, meta, pem,
		    err);
	}
	return hkms_err_setc(err, HKMS_E_NOT_FOUND, "cert_not_found",
	    "no certificate '%s'", name);
}

/* The record's PEM is a CSR: our "csr" records, and CAs of kind "cas"
 * that wait for an external parent's certificate ("ca-pending"). */
static int
is_csr(json_t *meta)
{
	const char *t = json_string_value(json_object_get(meta, "type"));

	return t != NULL && (strcmp(t, "csr") == 0 ||
	    strcmp(t, "ca-pending") == 0);
}

static const char *
record_type(json_t *meta, const char *kind)
{
	const char *t = json_string_value(json_object_get(meta, "type"));

	if (t != NULL)
		return t;
	return strcmp(kind, "cas") == 0 ? "ca" : "certificate";
}

static enum hkms_rc
record_certs(const char *name, const char *pem, STACK_OF(X509) **out,
    struct hkms_err *err)
{
	if (pem == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
		    "certificate record '%s' has no PEM", name);
	return hkms_certio_parse((const unsigned char *)pem, strlen(pem),
	    NULL, out, NULL, err);
}

static enum hkms_rc
record_req(const char *name, const char *pem, X509_REQ **out,
    struct hkms_err *err)
{
	if (pem == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
		    "CSR record '%s' has no PEM", name);
	return hkms_x509_csr_parse((const unsigned char *)pem, strlen(pem),
	    out, err);
}

static json_t *
pem_path(struct hkms_ops_ctx *c, const char *kind, const char *name)
{
	struct hkms_err e;
	char *dir = NULL;
	json_t *v;

	if (hkms_store_kind_path(c->store, kind, &dir, &e) != HKMS_OK)
		return json_null();
	v = json_sprintf("%s/%s.pem", dir, name);
	free(dir);
	return v ? v : json_null();
}

/* The key's pkcs11: URI when the key is in the token now; null if it is
 * gone, the recorded URI when no token is open. */
static json_t *
key_uri(struct hkms_ops_ctx *c, json_t *meta, json_t **present)
{
	const char *key = json_string_value(json_object_get(meta, "key"));
	struct hkms_key_info ki;
	struct hkms_err e;

	*present = json_null();
	if (key == NULL)
		return json_null();
	if (c->hsm == NULL)
		return json_incref(json_object_get(meta, "key_uri") ?
		    json_object_get(meta, "key_uri") : json_null());
	if (ops_key_find(c, key, &ki, &e) != HKMS_OK) {
		*present = json_false();
		return json_null();
	}
	*present = json_true();
	return json_string(ki.uri);
}

enum hkms_rc
hkms_ops_cert_show(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	STACK_OF(X509) *certs = NULL;
	X509_REQ *req = NULL;
	const char *kind = CERT_KIND;
	json_t *meta = NULL, *o = NULL, *present = NULL, *v;
	char *pem = NULL, ref[HKMS_OPS_REF_SIZE];

	OPS_AUTHORIZE(c, "cert.show", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need_store(c, err)) != HKMS_OK ||
	    (rc = ops_cert_ref(c, &name, ref, err)) != HKMS_OK ||
	    (rc = record_get(c, name, &kind, &meta, &pem, err)) != HKMS_OK)
		goto out;
	if (is_csr(meta)) {
		if ((rc = record_req(name, pem, &req, err)) != HKMS_OK ||
		    (rc = ops_cert_object(NULL, req, meta, name,
		    record_type(meta, kind), 0, &o, err)) != HKMS_OK)
			goto out;
	} else {
		if ((rc = record_certs(name, pem, &certs, err)) != HKMS_OK ||
		    (rc = ops_cert_object(sk_X509_value(certs, 0), NULL, meta,
		    name, record_type(meta, kind), 0, &o, err)) != HKMS_OK)
			goto out;
		json_object_set_new(o, "chain_length",
		    json_integer(sk_X509_num(certs)));
		ops_rev_mark(c, NULL, o);
	}
	json_object_set_new(o, "path", pem_path(c, kind, name));
	ops_cert_set_users(c, name, meta, o);
	json_object_set_new(o, "key_uri", key_uri(c, meta, &present));
	json_object_set_new(o, "key_in_token", present);
	if (strcmp(kind, CERT_KIND) == 0 && !is_csr(meta))
		cert_history_attach(c, name, o);
	/* pem last, so the human listing ends with it */
	if ((v = json_object_get(o, "pem")) != NULL) {
		json_incref(v);
		json_object_del(o, "pem");
		json_object_set_new(o, "pem", v);
	}
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(o);
	json_decref(meta);
	free(pem);
	hkms_certio_chain_free(certs);
	X509_REQ_free(req);
	return rc;
}

/* ---- list ---------------------------------------------------------- */

static int64_t
parse_time(const char *s)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) ==
	    NULL || *end != '\0')
		return -1;
	return (int64_t)timegm(&tm);
}

/* One row: the certificate object of the record (its PEM is read, so old
 * records show the same names), without the PEM. */
static json_t *
list_row(struct hkms_ops_ctx *c, const char *kind, json_t *meta,
    int64_t now, const struct ops_rev_cas *cas)
{
	const char *name = json_string_value(json_object_get(meta, "name"));
	json_t *row = NULL;
	struct hkms_err e;
	char *pem = NULL;

	if (name != NULL)
		(void)hkms_store_get(c->store, kind, name, NULL, &pem, &e);
	if (ops_cert_object_pem(pem, meta, name ? name : "",
	    record_type(meta, kind), now, &row, &e) != HKMS_OK)
		row = json_pack("{s:s,s:s}", "name", name ? name : "", "type",
		    record_type(meta, kind));
	else if (cas != NULL)
		ops_rev_mark(c, cas, row);
	json_object_del(row, "pem");
	ops_cert_set_users(c, name, meta, row);
	free(pem);
	return row;
}

static int
row_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a,
	    "name")), json_string_value(json_object_get(*(json_t *const *)b,
	    "name")));
}

enum hkms_rc
hkms_ops_cert_list(struct hkms_ops_ctx *c, int expiring_within,
    json_t **out, struct hkms_err *err)
{
	static const char *const kinds[] = { CERT_KIND, "cas" };
	enum hkms_rc rc = HKMS_OK;
	json_t *rows = NULL, *list = NULL, *it, *arr = NULL;
	json_t **v = NULL;
	int64_t now = (int64_t)time(NULL), t;
	struct ops_rev_cas *cas = NULL;
	struct hkms_err e;
	size_t i, k, n;

	OPS_AUTHORIZE(c, "cert.list", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need_store(c, err)) != HKMS_OK)
		return rc;
	/* the CAs once for every row: a row costs one stat more */
	if (ops_rev_cas_load(c, &cas, &e) != HKMS_OK)
		cas = NULL;
	rows = json_array();
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if ((rc = hkms_store_list(c->store, kinds[k], &list, err)) !=
		    HKMS_OK)
			goto out;
		json_array_foreach(list, i, it) {
			json_t *row = list_row(c, kinds[k], it, now, cas);

			t = parse_time(json_string_value(json_object_get(row,
			    "not_after")));
			if (expiring_within >= 0 && (is_csr(it) || t < 0 ||
			    t - now > (int64_t)expiring_within * DAY_SECONDS)) {
				json_decref(row);
				continue;
			}
			json_array_append_new(rows, row);
		}
		json_decref(list);
		list = NULL;
	}
	/* one name may be a certificate and a CA; keep the order stable */
	n = json_array_size(rows);
	if (n > 1) {
		if ((v = calloc(n, sizeof(*v))) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++)
			v[i] = json_array_get(rows, i);
		qsort(v, n, sizeof(*v), row_cmp);
		arr = json_array();
		for (i = 0; i < n; i++)
			json_array_append(arr, v[i]);
		json_decref(rows);
		rows = arr;
	}
	*out = rows;
	rows = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	ops_rev_cas_free(cas);
	free(v);
	json_decref(list);
	json_decref(rows);
	return rc;
}

/* ---- export -------------------------------------------------------- */

static enum hkms_rc
export_req(const char *name, const char *pem, enum hkms_certio_format fmt,
    unsigned char **data, size_t *len, struct hkms_err *err)
{
	enum hkms_rc rc;
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	int n;

	if (fmt != HKMS_CERTIO_FMT_PEM && fmt != HKMS_CERTIO_FMT_DER)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_format",
		    "a CSR exports as pem or der only");
	if ((rc = record_req(name, pem, &req, err)) != HKMS_OK)
		return rc;
	if (fmt == HKMS_CERTIO_FMT_PEM) {
		rc = hkms_x509_csr_pem(req, (char **)data, err);
		if (rc == HKMS_OK)
			*len = strlen((char *)*data);
		goto out;
	}
	if ((n = i2d_X509_REQ(req, &der)) <= 0) {
		rc = hkms_err_crypto(err, "cannot encode CSR '%s'", name);
		goto out;
	}
	if ((*data = malloc((size_t)n)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*data, der, (size_t)n);
	*len = (size_t)n;
	rc = HKMS_OK;
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	return rc;
}

enum hkms_rc
hkms_ops_cert_export(struct hkms_ops_ctx *c, const char *name,
    const char *format, const char *password, unsigned char **data,
    size_t *len, struct hkms_err *err)
{
	enum hkms_certio_format fmt = HKMS_CERTIO_FMT_PEM;
	enum hkms_rc rc;
	STACK_OF(X509) *certs = NULL;
	json_t *meta = NULL;
	char *pem = NULL, ref[HKMS_OPS_REF_SIZE];

	OPS_AUTHORIZE(c, "cert.export", NULL, NULL, err);
	if (data == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need_store(c, err)) != HKMS_OK ||
	    (rc = ops_cert_ref(c, &name, ref, err)) != HKMS_OK)
		return rc;
	if (format != NULL && (rc = hkms_certio_format_parse(format, &fmt,
	    err)) != HKMS_OK)
		return rc;
	if ((rc = record_get(c, name, NULL, &meta, &pem, err)) != HKMS_OK)
		goto out;
	if (is_csr(meta)) {
		rc = export_req(name, pem, fmt, data, len, err);
		goto out;
	}
	if ((rc = record_certs(name, pem, &certs, err)) != HKMS_OK)
		goto out;
	/* certificates only: the record holds no key, and a token key has
	 * no export path at all */
	if (fmt == HKMS_CERTIO_FMT_P12)
		rc = hkms_certio_encode_p12(certs, password, name, data, len,
		    err);
	else
		rc = hkms_certio_encode(certs, fmt, password, data, len, err);
out:
	hkms_certio_chain_free(certs);
	json_decref(meta);
	free(pem);
	return rc;
}

/* ---- rename, delete ------------------------------------------------ */

/* computed (inuse.c): the users of the record now, put into meta's
 * used_by so the refusal and the audit line name them */
static int
in_use_now(struct hkms_ops_ctx *c, const char *name, json_t *meta)
{
	json_object_set_new(meta, "used_by", ops_cert_users(c, name, meta));
	return json_array_size(json_object_get(meta, "used_by")) > 0;
}

#define in_use(meta) (json_array_size(json_object_get((meta), "used_by")) > 0)

static enum hkms_rc
refuse_in_use(const char *name, json_t *meta, const char *what,
    struct hkms_err *err)
{
	char list[160] = "";
	json_t *u;
	size_t i, n;

	/* the users by name: "service, client:ops" */
	json_array_foreach(json_object_get(meta, "used_by"), i, u) {
		n = strlen(list);
		snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
		    json_is_string(u) ? json_string_value(u) : "?");
	}
	return hkms_err_setc(err, HKMS_E_IN_USE, "in_use", "certificate '%s' "
	    "is used by %s; %s", name, list[0] ? list : "other objects",
	    what);
}

enum hkms_rc
hkms_ops_cert_rename(struct hkms_ops_ctx *c, const char *from,
    const char *to, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta = NULL, *d;
	char ref[HKMS_OPS_REF_SIZE];
	int locked = 0;

	OPS_AUTHORIZE(c, "cert.rename", NULL, NULL, err);
	if ((rc = need_store(c, err)) != HKMS_OK ||
	    (rc = ops_cert_ref(c, &from, ref, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = name_check(from, err)) != HKMS_OK ||
	    (rc = cert_name_free(c, to, err)) != HKMS_OK)
		goto out;
	if (!hkms_store_exists(c->store, CERT_KIND, from)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "cert_not_found",
		    "no certificate '%s'", from);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, CERT_KIND, from, &meta, NULL,
	    err)) != HKMS_OK)
		goto out;
	/* whatever uses it refers to it by name */
	if (in_use_now(c, from, meta)) {
		rc = refuse_in_use(from, meta, "release it first", err);
		goto out;
	}
	d = json_pack("{s:s}", "to", to ? to : "");
	rc = hkms_ops_audit_ahead(c, "cert.rename", from, d, err);
	json_decref(d);
	if (rc == HKMS_OK)
		rc = hkms_store_rename(c->store, CERT_KIND, from, to, err);
	if (rc == HKMS_OK)
		cert_history_move(c, from, to);
out:
	if (locked)
		hkms_store_end(c->store);
	d = json_pack("{s:s}", "to", to ? to : "");
	hkms_ops_audit(c, "cert.rename", from, rc, err, d);
	json_decref(d);
	json_decref(meta);
	return rc;
}

enum hkms_rc
hkms_ops_cert_delete(struct hkms_ops_ctx *c, const char *name, int force,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta = NULL, *d;
	char ref[HKMS_OPS_REF_SIZE];
	int locked = 0;

	OPS_AUTHORIZE(c, "cert.delete", NULL, NULL, err);
	if ((rc = need_store(c, err)) != HKMS_OK ||
	    (rc = ops_cert_ref(c, &name, ref, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = name_check(name, err)) != HKMS_OK)
		goto out;
	if (!hkms_store_exists(c->store, CERT_KIND, name)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "cert_not_found",
		    "no certificate '%s'%s", name,
		    hkms_store_exists(c->store, "cas", name) ?
		    " (a CA: it is managed as a CA)" : "");
		goto out;
	}
	if ((rc = hkms_store_get(c->store, CERT_KIND, name, &meta, NULL,
	    err)) != HKMS_OK)
		goto out;
	if (in_use_now(c, name, meta) && !force) {
		rc = refuse_in_use(name, meta, "force deletes it anyway",
		    err);
		goto out;
	}
	d = json_pack("{s:b}", "force", force);
	if (in_use(meta))
		json_object_set(d, "used_by", json_object_get(meta,
		    "used_by"));
	rc = hkms_ops_audit_ahead(c, "cert.delete", name, d, err);
	json_decref(d);
	if (rc == HKMS_OK)
		rc = hkms_store_delete(c->store, CERT_KIND, name, err);
	if (rc == HKMS_OK)
		cert_history_drop(c, name);
out:
	if (locked)
		hkms_store_end(c->store);
	d = json_pack("{s:b}", "force", force);
	if (meta != NULL && in_use(meta))
		json_object_set(d, "used_by", json_object_get(meta,
		    "used_by"));
	hkms_ops_audit(c, "cert.delete", name, rc, err, d);
	json_decref(d);
	json_decref(meta);
	return rc;
}

/* ---- renew --------------------------------------------------------- */

/* A name for the key of a rekey: the old key's name without an earlier
 * "-r<digits>" suffix, then "-r<unix time>", within 64 characters. */
static void
rekey_name(const char *old, char *out, size_t size)
{
	char base[128], suffix[24];
	size_t bl;
	char *r;

	snprintf(base, sizeof(base), "%s", old);
	if ((r = strrchr(base, '-')) != NULL && r[1] == 'r' && r[2] != '\0' &&
	    strspn(r + 2, "0123456789") == strlen(r + 2))
		*r = '\0';
	snprintf(suffix, sizeof(suffix), "-r%lld", (long long)time(NULL));
	bl = strlen(base);
	if (bl + strlen(suffix) > 64)
		bl = 64 - strlen(suffix);
	snprintf(out, size, "%.*s%s", (int)bl, base, suffix);
}

/* The token key type of x's public key, and name, into ki (for a rekey
 * whose old key is gone) */
static enum hkms_rc
key_type_of(X509 *x, const char *name, struct hkms_key_info *ki,
    struct hkms_err *err)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char curve[64] = "", t[32];
	size_t cl = 0;

	memset(ki, 0, sizeof(*ki));
	snprintf(ki->name, sizeof(ki->name), "%s", name);
	if (pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
		snprintf(t, sizeof(t), "rsa:%d", EVP_PKEY_get_bits(pk));
	else if (pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof(curve),
	    &cl) == 1)
		snprintf(t, sizeof(t), "ec:%s", strcmp(curve, "prime256v1") ==
		    0 ? "p256" : strcmp(curve, "secp384r1") == 0 ? "p384" :
		    strcmp(curve, "secp521r1") == 0 ? "p521" : curve);
	else
		return hkms_err_setc(err, HKMS_E_UNSUPPORTED,
		    "unsupported_key_type", "the certificate's key is "
		    "neither RSA nor EC");
	return hkms_hsm_key_type_parse(t, &ki->type, err);
}

/* Lifetime of x in whole days (what it was issued for). */
static int
lifetime_days(X509 *x)
{
	struct hkms_err e;
	int64_t nb, na;

	if (hkms_certio_time(X509_get0_notBefore(x), &nb, &e) != HKMS_OK ||
	    hkms_certio_time(X509_get0_notAfter(x), &na, &e) != HKMS_OK ||
	    na <= nb)
		return 0;
	return (int)((na - nb) / DAY_SECONDS);
}

enum hkms_rc
hkms_ops_cert_renew(struct hkms_ops_ctx *c, const char *name, int rekey,
    int days, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	enum hkms_x509_digest digest = HKMS_X509_DIGEST_AUTO;
	struct hkms_x509_profile *prof = NULL;
	struct hkms_x509_cert_opts opts;
	struct hkms_key_info ki, nki;
	STACK_OF(X509) *certs = NULL;
	GENERAL_NAMES *gens = NULL;
	X509 *old, *x = NULL;
	json_t *meta = NULL, *nmeta = NULL, *d, *v;
	const char *key, *prof_name, *dg;
	char *pem = NULL, *npem = NULL, newkey[65], ref[HKMS_OPS_REF_SIZE];
	int made = 0, locked = 0;

	OPS_AUTHORIZE(c, "cert.renew", NULL, NULL, err);
	memset(&ki, 0, sizeof(ki));
	memset(&nki, 0, sizeof(nki));
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = cert_need_hsm(c, err)) != HKMS_OK ||
	    (rc = need_store(c, err)) != HKMS_OK ||
	    (rc = ops_cert_ref(c, &name, ref, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = name_check(name, err)) != HKMS_OK)
		goto out;
	if (!hkms_store_exists(c->store, CERT_KIND, name)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "cert_not_found",
		    "no certificate '%s'", name);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, CERT_KIND, name, &meta, &pem,
	    err)) != HKMS_OK)
		goto out;
	if (is_csr(meta)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "not_self_signed",
		    "'%s' is a CSR, not a certificate", name);
		goto out;
	}
	if ((rc = record_certs(name, pem, &certs, err)) != HKMS_OK)
		goto out;
	old = sk_X509_value(certs, 0);
	if (X509_self_signed(old, 1) != 1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "not_self_signed",
		    "certificate '%s' was issued by a CA: renewing it means "
		    "a new CSR signed by that CA, then importing the result",
		    name);
		goto out;
	}
	if ((key = json_string_value(json_object_get(meta, "key"))) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "no_key",
		    "certificate '%s' has no token key", name);
		goto out;
	}
	if ((rc = ops_days_check(days, HKMS_OPS_DAYS_MAX, err)) != HKMS_OK)
		goto out;
	prof_name = json_string_value(json_object_get(meta, "profile"));
	/* records before the one JSON shape said "digest" */
	dg = json_string_value(json_object_get(meta, "digest_algorithm"));
	if (dg == NULL)
		dg = json_string_value(json_object_get(meta, "digest"));
	if ((rc = leaf_profile(c, prof_name, &prof, err)) != HKMS_OK ||
	    (dg != NULL && (rc = hkms_x509_digest_parse(dg, &digest,
	    err)) != HKMS_OK))
		goto out;
	if ((rc = ops_key_find(c, key, &ki, err)) != HKMS_OK) {
		/* a rekey needs only the old key's type, which the
		 * certificate tells (issue 13b: the old key may be gone) */
		if (!rekey || rc != HKMS_E_NOT_FOUND ||
		    (rc = key_type_of(old, key, &ki, err)) != HKMS_OK)
			goto out;
	}
	if (rekey) {
		rekey_name(ki.name, newkey, sizeof(newkey));
		if ((rc = ops_key_create(c, newkey, ki.type, NULL, &nki,
		    err)) != HKMS_OK)
			goto out;
		made = 1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.subject_name = X509_get_subject_name(old);
	gens = X509_get_ext_d2i(old, NID_subject_alt_name, NULL, NULL);
	opts.san_names = gens;
	opts.days = days > 0 ? days : lifetime_days(old);
	if ((rc = self_signed(c, rekey ? &nki : &ki, prof, &opts, digest, &x,
	    err)) != HKMS_OK || (rc = one_cert_pem(x, &npem, err)) != HKMS_OK)
		goto out;
	nmeta = cert_meta(x, "certificate", rekey ? &nki : &ki);
	/* what other features recorded about it stays */
	json_object_set(nmeta, "used_by", json_object_get(meta, "used_by") ?
	    json_object_get(meta, "used_by") : json_array());
	json_object_set_new(nmeta, "source", json_string("self-signed"));
	json_object_set_new(nmeta, "profile",
	    json_string(hkms_x509_profile_name(prof)));
	if ((v = json_object_get(meta, "created")) != NULL)
		json_object_set(nmeta, "created", v);
	json_object_set_new(nmeta, "renewed", now_json());
	json_object_set(nmeta, "previous_thumbprint",
	    json_object_get(meta, "thumbprint") ?
	    json_object_get(meta, "thumbprint") : json_null());
	if (rekey)
		json_object_set_new(nmeta, "previous_key",
		    json_string(ki.name));
	d = json_pack("{s:b,s:i,s:s}", "rekey", rekey, "days", days, "key",
	    ki.name);
	if (made) {
		json_object_set_new(d, "new_key", json_string(nki.name));
		json_object_set_new(d, "new_key_id", json_string(nki.id_hex));
	}
	json_object_set(d, "serial", json_object_get(nmeta, "serial"));
	rc = hkms_ops_audit_ahead(c, "cert.renew", name, d, err);
	json_decref(d);
	if (rc != HKMS_OK || (rc = cert_history_archive(c, name, rekey ?
	    "rekey" : "renew", err)) != HKMS_OK ||
	    (rc = hkms_store_put(c->store, CERT_KIND, name, nmeta, npem,
	    err)) != HKMS_OK)
		goto out;
	rc = hkms_ops_cert_show(c, name, out, err);
out:
	if (rc != HKMS_OK && made)
		unmake_key(c, &nki, err);
	if (locked)
		hkms_store_end(c->store);
	d = json_pack("{s:b,s:i}", "rekey", rekey, "days", days);
	if (ki.name[0])
		json_object_set_new(d, "key", json_string(ki.name));
	if (made && rc == HKMS_OK) {
		json_object_set_new(d, "new_key", json_string(nki.name));
		json_object_set_new(d, "new_key_id", json_string(nki.id_hex));
	}
	if (nmeta != NULL)
		json_object_set(d, "serial", json_object_get(nmeta, "serial"));
	hkms_ops_audit(c, "cert.renew", name, rc, err, d);
	json_decref(d);
	json_decref(meta);
	json_decref(nmeta);
	free(pem);
	free(npem);
	X509_free(x);
	GENERAL_NAMES_free(gens);
	hkms_certio_chain_free(certs);
	hkms_x509_profile_free(prof);
	return rc;
}

/* ---- shared with the history and the service certificate (issue 13a) */

enum hkms_rc
cert_self_signed_make(struct hkms_ops_ctx *c, const struct hkms_key_info *ki,
    const char *profile, const char *subject, const char *san, int days,
    char **pem, json_t **meta, struct hkms_err *err)
{
	struct hkms_x509_profile *prof = NULL;
	struct hkms_x509_cert_opts opts;
	enum hkms_rc rc;
	X509 *x = NULL;

	*pem = NULL;
	*meta = NULL;
	if ((rc = leaf_profile(c, profile, &prof, err)) != HKMS_OK)
		goto out;
	memset(&opts, 0, sizeof(opts));
	opts.subject = subject;
	opts.san = san && san[0] ? san : NULL;
	opts.days = days;
	if ((rc = self_signed(c, ki, prof, &opts, HKMS_X509_DIGEST_AUTO, &x,
	    err)) != HKMS_OK || (rc = one_cert_pem(x, pem, err)) != HKMS_OK)
		goto out;
	if ((*meta = cert_meta(x, "certificate", ki)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(*meta, "source", json_string("self-signed"));
	json_object_set_new(*meta, "profile",
	    json_string(hkms_x509_profile_name(prof)));
	rc = HKMS_OK;
out:
	if (rc != HKMS_OK) {
		free(*pem);
		*pem = NULL;
	}
	X509_free(x);
	hkms_x509_profile_free(prof);
	return rc;
}
