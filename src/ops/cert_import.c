/*
 * Certificate import ("apply"): take a certificate issued elsewhere for a
 * key in the token, or a private key together with its certificate, check
 * it, and store it as a "certificate" record.
 *
 * The checks run in a fixed order and each is reported as {name, pass,
 * reason}, whether or not an earlier one failed, so an operator sees
 * everything wrong at once:
 *
 *   validity            now is within notBefore..notAfter
 *   key_matches         the certificate's public key is the token key's
 *   extended_key_usage  the EKUs the profile requires are listed
 *   chains_to_ca        OpenSSL verifies it against the CA file
 *
 * The error names the first failed check ("check_failed:<name>"); the
 * specific checks come first so an expired certificate is reported as
 * "validity" rather than as the chain failure it also causes. Nothing is
 * written unless every check passes, and what_if never writes (nor
 * audits: it changes nothing).
 *
 * A key bundle (PEM with a private key, PKCS#8, PKCS#12) is parsed by
 * certio; the software key lives only until hkms_hsm_key_import() has
 * written it into the token as sensitive and non-extractable. If the same
 * key is already in the token it is used as it is. If storing the record
 * fails after the key went in, the key is destroyed again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "cert_int.h"
#include "ops_int.h"

struct import {
	STACK_OF(X509) *certs;	/* leaf first, then what came with it */
	STACK_OF(X509) *cas;	/* the CA file, or NULL */
	EVP_PKEY *swkey;	/* a bundle's private key (software) */
	EVP_PKEY *pub;		/* the token key's public key, or NULL */
	struct hkms_key_info ki;
	int have_key;		/* ki names the token key */
	int key_in_token;	/* the bundle's key is already there */
	char keyname[128];	/* a bundle's key: the name it gets */
	json_t *eku;		/* required EKU short names */
	json_t *checks;
};

static void
add_check(struct import *im, const char *name, json_t *pass,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
add_check(struct import *im, const char *name, json_t *pass,
    const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	json_array_append_new(im->checks, json_pack("{s:s,s:o,s:s}", "name",
	    name, "pass", pass, "reason", reason));
}

/* Prefix err->detail with what was being read. */
static enum hkms_rc
about(enum hkms_rc rc, struct hkms_err *err, const char *what)
{
	char d[sizeof(err->detail) + 64];

	if (rc != HKMS_OK && err != NULL) {
		snprintf(d, sizeof(d), "%s: %s", what, err->detail);
		d[sizeof(err->detail) - 1] = '\0';	/* truncate to fit */
		memcpy(err->detail, d, sizeof(err->detail));
	}
	return rc;
}

/* The EKU short names profile name requires: NULL = tls-server, "any" =
 * none, else whatever the profile puts into its certificates. */
static enum hkms_rc
required_eku(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	struct hkms_x509_profile *p = NULL;
	enum hkms_rc rc;
	json_t *o = NULL;
	char *s = NULL;

	if (name != NULL && strcmp(name, "any") == 0) {
		*out = json_array();
		return HKMS_OK;
	}
	if ((rc = hkms_x509_profile_get(name ? name : "tls-server",
	    c->cfg ? c->cfg->profiles_dir : NULL, &p, err)) != HKMS_OK ||
	    (rc = hkms_x509_profile_to_json(p, &s, err)) != HKMS_OK)
		goto out;
	if ((o = json_loads(s, 0, NULL)) == NULL ||
	    !json_is_array(json_object_get(o, "extended_key_usage"))) {
		rc = hkms_err_set(err, HKMS_E_INTERNAL, "cannot read profile "
		    "'%s'", name);
		goto out;
	}
	*out = json_incref(json_object_get(o, "extended_key_usage"));
	rc = HKMS_OK;
out:
	json_decref(o);
	free(s);
	hkms_x509_profile_free(p);
	return rc;
}

/* Read the input: certificates, or a private key with its certificate. */
static enum hkms_rc
parse_input(const struct hkms_ops_cert_import_req *req, struct import *im,
    struct hkms_err *err)
{
	struct hkms_certio_info info;
	STACK_OF(X509) *kcerts = NULL;
	enum hkms_rc rc;

	memset(&info, 0, sizeof(info));
	if ((rc = hkms_certio_parse(req->data, req->len, req->passphrase,
	    &im->certs, &info, err)) != HKMS_OK)
		return about(rc, err, "certificate file");
	/* the key in a file of its own (issue 13b): a bundle of both */
	if (req->key_data != NULL) {
		if (info.has_private_key)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_field", "key_data is given, but the "
			    "certificate file holds a private key too");
		if ((rc = hkms_certio_parse_key(req->key_data, req->key_len,
		    req->passphrase, &im->swkey, &kcerts, err)) != HKMS_OK)
			return about(rc, err, "key file");
		hkms_certio_chain_free(kcerts);
		if ((rc = hkms_x509_check_key(im->swkey, err)) != HKMS_OK)
			return about(rc, err, "private key");
	} else if (info.has_private_key) {
		if ((rc = hkms_certio_parse_key(req->data, req->len,
		    req->passphrase, &im->swkey, &kcerts, err)) != HKMS_OK)
			return about(rc, err, "key bundle");
		/* the certificate matching the key is first in kcerts */
		if (sk_X509_num(kcerts) > 0) {
			hkms_certio_chain_free(im->certs);
			im->certs = kcerts;
			kcerts = NULL;	/* transferred */
		}
		hkms_certio_chain_free(kcerts);
		if ((rc = hkms_x509_check_key(im->swkey, err)) != HKMS_OK)
			return about(rc, err, "private key");
	}
	if (req->ca != NULL && (rc = hkms_certio_parse(req->ca, req->ca_len,
	    NULL, &im->cas, NULL, err)) != HKMS_OK)
		return about(rc, err, "CA file");
	return HKMS_OK;
}

/* The token key whose public key is pub, if any: *found 1 and im->ki. */
static enum hkms_rc
find_by_public(struct hkms_ops_ctx *c, EVP_PKEY *pub, struct import *im,
    int *found, struct hkms_err *err)
{
	struct hkms_key_info *keys = NULL;
	enum hkms_rc rc;
	EVP_PKEY *kp;
	size_t n = 0, i;
	char ref[160];

	*found = 0;
	if ((rc = hkms_hsm_key_list(c->hsm, &keys, &n, err)) != HKMS_OK)
		return rc;
	for (i = 0; i < n && !*found; i++) {
		struct hkms_err e;

		if (keys[i].id_len > 0)
			snprintf(ref, sizeof(ref), "id:%s", keys[i].id_hex);
		else
			snprintf(ref, sizeof(ref), "%s", keys[i].name);
		/* a key without a readable public half cannot match */
		if (hkms_hsm_key_public(c->hsm, ref, &kp, &e) != HKMS_OK)
			continue;
		if (EVP_PKEY_eq(kp, pub) == 1) {
			im->ki = keys[i];
			im->pub = kp;
			*found = 1;
		} else {
			EVP_PKEY_free(kp);
		}
	}
	free(keys);
	return HKMS_OK;
}

/* Which token key the certificate is for. For a plain certificate:
 * req->key, else the key of a CSR record of the same name, else the one
 * whose public key matches. */
static enum hkms_rc
resolve_key(struct hkms_ops_ctx *c, const struct hkms_ops_cert_import_req
    *req, struct import *im, struct hkms_err *err)
{
	EVP_PKEY *leafpub = X509_get0_pubkey(sk_X509_value(im->certs, 0));
	const char *ref = req->key;
	json_t *meta = NULL;
	enum hkms_rc rc;
	char idref[160];
	int found;

	if (leafpub == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_certificate",
		    "certificate has no readable public key");
	if (im->swkey != NULL) {
		snprintf(im->keyname, sizeof(im->keyname), "%s",
		    req->key ? req->key : req->name);
		if ((rc = find_by_public(c, im->swkey, im, &found, err)) !=
		    HKMS_OK)
			return rc;
		if (found) {
			im->have_key = im->key_in_token = 1;
			return HKMS_OK;
		}
		if (!hkms_name_valid(im->keyname))
			return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
			    "invalid key name '%s'", im->keyname);
		if (hkms_hsm_key_find(c->hsm, im->keyname, &im->ki, err) ==
		    HKMS_OK)
			return hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
			    "a different key named '%s' is already in the "
			    "token; give the imported key another name (key)",
			    im->keyname);
		hkms_err_clear(err);
		return HKMS_OK;
	}
	if (ref == NULL && hkms_store_get(c->store, CERT_KIND, req->name,
	    &meta, NULL, NULL) == HKMS_OK) {
		const char *t = json_string_value(json_object_get(meta,
		    "type"));

		if (t != NULL && strcmp(t, "csr") == 0)
			ref = json_string_value(json_object_get(meta, "key"));
	}
	if (ref != NULL) {
		rc = ops_key_find(c, ref, &im->ki, err);
		json_decref(meta);
		if (rc != HKMS_OK)
			return rc;
		snprintf(idref, sizeof(idref), "id:%s", im->ki.id_hex);
		if ((rc = hkms_hsm_key_public(c->hsm, im->ki.id_len ? idref :
		    im->ki.name, &im->pub, err)) != HKMS_OK)
			return rc;
		im->have_key = 1;
		return HKMS_OK;
	}
	json_decref(meta);
	if ((rc = find_by_public(c, leafpub, im, &found, err)) != HKMS_OK)
		return rc;
	im->have_key = found;
	return HKMS_OK;
}

static void
check_validity(struct import *im, X509 *leaf, int64_t now)
{
	struct hkms_err e;
	int64_t nb, na;
	char b[32], a[32];

	if (hkms_certio_time(X509_get0_notBefore(leaf), &nb, &e) != HKMS_OK ||
	    hkms_certio_time(X509_get0_notAfter(leaf), &na, &e) != HKMS_OK) {
		add_check(im, "validity", json_false(), "unreadable validity "
		    "period");
		return;
	}
	hkms_time_str(nb, b);
	hkms_time_str(na, a);
	if (now < nb)
		add_check(im, "validity", json_false(), "not valid before %s",
		    b);
	else if (now > na)
		add_check(im, "validity", json_false(), "expired on %s", a);
	else
		add_check(im, "validity", json_true(), "valid from %s to %s",
		    b, a);
}

static void
check_key(struct import *im, X509 *leaf)
{
	EVP_PKEY *pub = X509_get0_pubkey(leaf);

	if (im->swkey != NULL) {
		if (EVP_PKEY_eq(pub, im->swkey) == 1)
			add_check(im, "key_matches", json_true(), "certificate "
			    "matches the private key in the file%s",
			    im->key_in_token ? " (already in the token)" : "");
		else
			add_check(im, "key_matches", json_false(), "the "
			    "private key in the file is not the "
			    "certificate's");
		return;
	}
	if (!im->have_key) {
		add_check(im, "key_matches", json_false(), "no key in the "
		    "token matches the certificate's public key");
		return;
	}
	if (im->pub != NULL && EVP_PKEY_eq(pub, im->pub) == 1)
		add_check(im, "key_matches", json_true(), "certificate is for "
		    "token key '%s'", im->ki.name);
	else
		add_check(im, "key_matches", json_false(), "certificate's "
		    "public key is not that of token key '%s'", im->ki.name);
}

static void
check_eku(struct import *im, X509 *leaf)
{
	json_t *desc = NULL, *have, *need;
	struct hkms_err e;
	char missing[256] = "";
	size_t i, j;
	int found;

	if (json_array_size(im->eku) == 0) {
		add_check(im, "extended_key_usage", json_true(),
		    "no extended key usage required");
		return;
	}
	if (hkms_certio_describe(leaf, 0, &desc, &e) != HKMS_OK) {
		add_check(im, "extended_key_usage", json_false(),
		    "cannot read the certificate: %s", e.detail);
		return;
	}
	have = json_object_get(desc, "extended_key_usage");
	json_array_foreach(im->eku, i, need) {
		json_t *h;

		found = 0;
		json_array_foreach(have, j, h)
			if (json_equal(h, need))
				found = 1;
		if (!found)
			snprintf(missing + strlen(missing), sizeof(missing) -
			    strlen(missing), "%s%s", missing[0] ? "," : "",
			    json_string_value(need));
	}
	if (missing[0])
		add_check(im, "extended_key_usage", json_false(), "missing %s%s",
		    missing, json_array_size(have) == 0 ? " (the certificate "
		    "has no extended key usage extension)" : "");
	else
		add_check(im, "extended_key_usage", json_true(), "has the "
		    "required extended key usage");
	json_decref(desc);
}

static void
check_chain(struct import *im, X509 *leaf)
{
	struct hkms_certio_verify_opts vo;
	STACK_OF(X509) *untrusted = NULL;
	struct hkms_err e = { 0 };
	json_t *res = NULL;
	int i;

	if (im->cas == NULL) {
		add_check(im, "chains_to_ca", json_null(), "skipped: no CA "
		    "file given");
		return;
	}
	untrusted = sk_X509_new_null();
	for (i = 1; untrusted != NULL && i < sk_X509_num(im->certs); i++)
		sk_X509_push(untrusted, sk_X509_value(im->certs, i));
	memset(&vo, 0, sizeof(vo));
	vo.purpose = HKMS_CERTIO_PURPOSE_ANY;
	/* every certificate in the CA file is an anchor: "chains to the
	 * given CA" also when that CA is an intermediate */
	vo.partial_chain = 1;
	if (hkms_certio_verify_ex(im->cas, untrusted, leaf, &vo, &res, &e) ==
	    HKMS_OK)
		add_check(im, "chains_to_ca", json_true(), "verifies against "
		    "the CA file");
	else
		add_check(im, "chains_to_ca", json_false(), "%s: %s",
		    hkms_err_code(&e), e.detail);
	json_decref(res);
	sk_X509_free(untrusted);	/* certificates are borrowed */
}

/* The first failed check into err; HKMS_OK if none failed. */
static enum hkms_rc
verdict(struct import *im, struct hkms_err *err)
{
	json_t *ch;
	size_t i;

	json_array_foreach(im->checks, i, ch) {
		char code[48];

		if (!json_is_false(json_object_get(ch, "pass")))
			continue;
		snprintf(code, sizeof(code), "check_failed:%s",
		    json_string_value(json_object_get(ch, "name")));
		return hkms_err_setc(err, HKMS_E_VERIFY, code, "certificate "
		    "check '%s' failed: %s",
		    json_string_value(json_object_get(ch, "name")),
		    json_string_value(json_object_get(ch, "reason")));
	}
	return HKMS_OK;
}

/* Put the bundle's key into the token (unless it is there already). */
static enum hkms_rc
import_key(struct hkms_ops_ctx *c, struct import *im, int *made,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	*made = 0;
	if (im->swkey == NULL || im->key_in_token)
		return HKMS_OK;
	rc = ops_key_create(c, im->keyname, HKMS_KEY_NONE, im->swkey,
	    &im->ki, err);
	/* the software copy is gone as soon as the token has it */
	EVP_PKEY_free(im->swkey);
	im->swkey = NULL;
	if (rc == HKMS_OK)
		*made = im->have_key = 1;
	return rc;
}

static enum hkms_rc
store_cert(struct hkms_ops_ctx *c, const struct hkms_ops_cert_import_req
    *req, const char *op, struct import *im, json_t *d,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta;
	char *pem = NULL;

	if ((rc = hkms_certio_pem_string(im->certs, &pem, err)) != HKMS_OK)
		return rc;
	if ((meta = cert_meta(sk_X509_value(im->certs, 0), "certificate",
	    &im->ki)) == NULL) {
		free(pem);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	json_object_set_new(meta, "source", json_string("imported"));
	json_object_set_new(meta, "profile", json_string(req->profile ?
	    req->profile : "tls-server"));
	/* write-ahead: the line first, then the record it names */
	rc = hkms_ops_audit_ahead(c, op, req->name, d, err);
	if (rc == HKMS_OK && req->replace)
		rc = cert_history_replace(c, req->name, meta, pem,
		    strcmp(op, "cert.import") == 0 ? "import" : "apply", err);
	else if (rc == HKMS_OK)
		rc = cert_put(c, req->name, meta, pem, 1, err);
	json_decref(meta);
	free(pem);
	return rc;
}

/* Remove the key imported for a request that failed; err (the request's
 * error) says so if it cannot be removed. */
static void
undo_key(struct hkms_ops_ctx *c, struct import *im, struct hkms_err *err)
{
	struct hkms_err e = { 0 };
	size_t n;

	if (ops_key_remove(c, &im->ki, &e) == HKMS_OK || err == NULL)
		return;
	n = strlen(err->detail);
	snprintf(err->detail + n, sizeof(err->detail) - n, "; imported key "
	    "'%s' is left in the token: %s", im->ki.name,
	    e.detail);
}

/* Name free, or a CSR record this certificate may replace (or, with
 * replace, a certificate). */
static enum hkms_rc
name_usable(struct hkms_ops_ctx *c, const char *name, int replace,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta = NULL;
	const char *t;

	if ((rc = cert_name_free(c, name, err)) != HKMS_E_EXISTS)
		return rc;
	if ((rc = hkms_store_get(c->store, CERT_KIND, name, &meta, NULL,
	    err)) != HKMS_OK)
		return rc;
	t = json_string_value(json_object_get(meta, "type"));
	rc = t != NULL && (strcmp(t, "csr") == 0 || (replace &&
	    strcmp(t, "certificate") == 0)) ? HKMS_OK :
	    hkms_err_setc(err, HKMS_E_EXISTS, "cert_exists", "certificate "
	    "'%s' already exists", name);
	json_decref(meta);
	return rc;
}

/* --- trust on import (issue 13b) --- */

/* the truststore alias a trusted import will take must be free before
 * anything is written */
static enum hkms_rc
trust_alias_free(struct hkms_ops_ctx *c, const char *alias,
    struct hkms_err *err)
{
	struct hkms_err e = { 0 };
	json_t *o = NULL;
	enum hkms_rc rc;

	rc = hkms_ops_trust_show(c, alias, &o, &e);
	json_decref(o);
	if (rc == HKMS_OK)
		return hkms_err_setc(err, HKMS_E_EXISTS, "alias_exists",
		    "truststore alias '%s' exists; trust would add the "
		    "certificate under the name", alias);
	if (rc != HKMS_E_NOT_FOUND) {
		*err = e;
		return rc;
	}
	return HKMS_OK;
}

/* The leaf into the truststore under alias name (its own audit line,
 * trust.import, after the certificate's); res gets "trusted". The store
 * lock is held (recursive): no other process sees the certificate
 * without its trust entry. */
static enum hkms_rc
add_to_truststore(struct hkms_ops_ctx *c, const char *name, X509 *leaf,
    json_t *res, struct hkms_err *err)
{
	struct hkms_ops_trust_import_req tr;
	unsigned char *der = NULL;
	json_t *o = NULL;
	enum hkms_rc rc;
	int len = i2d_X509(leaf, &der);

	if (len <= 0)
		return hkms_err_crypto(err, "cannot encode the certificate");
	memset(&tr, 0, sizeof(tr));
	tr.alias = name;
	tr.data = der;
	tr.len = (size_t)len;
	rc = hkms_ops_trust_import(c, &tr, &o, err);
	OPENSSL_free(der);
	if (rc == HKMS_OK)
		json_object_set_new(res, "trusted", o);
	else
		json_decref(o);
	return rc;
}

enum hkms_rc
hkms_ops_cert_import(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_import_req *req, json_t **out,
    struct hkms_err *err)
{
	OPS_AUTHORIZE(c, "cert.import", NULL, NULL, err);
	/* replacing the service's own certificate is the admin's */
	if (req != NULL && req->replace && req->name != NULL &&
	    strcmp(req->name, HKMS_SERVICE_CERT) == 0)
		OPS_AUTHORIZE(c, "service.cert_apply", NULL, NULL, err);
	return cert_import_as(c, req, "cert.import", out, err);
}

enum hkms_rc
cert_import_as(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_import_req *req, const char *op,
    json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct import im;
	X509 *leaf;
	json_t *res = NULL, *cert = NULL, *d;
	char thumb[HKMS_CERTIO_THUMB_SIZE] = "";
	int made = 0, locked = 0;

	memset(&im, 0, sizeof(im));
	if (req == NULL || out == NULL || req->data == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = cert_need_hsm(c, err)) != HKMS_OK)
		return rc;
	if (c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	im.checks = json_array();
	if (!req->what_if) {
		if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
			goto out;
		locked = 1;
	}
	if ((rc = name_usable(c, req->name, req->replace, err)) != HKMS_OK ||
	    (req->trust && (rc = trust_alias_free(c, req->name, err)) !=
	    HKMS_OK) ||
	    (rc = required_eku(c, req->profile, &im.eku, err)) != HKMS_OK ||
	    (rc = parse_input(req, &im, err)) != HKMS_OK ||
	    (rc = resolve_key(c, req, &im, err)) != HKMS_OK)
		goto out;
	leaf = sk_X509_value(im.certs, 0);
	(void)hkms_certio_thumbprint(leaf, thumb, NULL);
	check_validity(&im, leaf, (int64_t)time(NULL));
	check_key(&im, leaf);
	check_eku(&im, leaf);
	check_chain(&im, leaf);
	rc = verdict(&im, err);
	res = json_pack("{s:s,s:b,s:b,s:O}", "name", req->name, "what_if",
	    req->what_if, "ok", rc == HKMS_OK, "checks", im.checks);
	json_object_set_new(res, "key", im.have_key ? json_string(im.ki.name) :
	    im.swkey ? json_string(im.keyname) : json_null());
	if (rc != HKMS_OK || req->what_if)
		goto out;
	if ((rc = import_key(c, &im, &made, err)) != HKMS_OK)
		goto out;
	d = json_pack("{s:s,s:b}", "thumbprint", thumb, "key_imported",
	    made);
	if (im.have_key)
		json_object_set_new(d, "key", json_string(im.ki.name));
	/* the id of a key made here: its creation is acknowledged by this
	 * line (keys.c, not_acked) */
	if (made)
		json_object_set_new(d, "key_id", json_string(im.ki.id_hex));
	rc = store_cert(c, req, op, &im, d, err);
	json_decref(d);
	if (rc != HKMS_OK) {
		if (made)
			undo_key(c, &im, err);
		goto out;
	}
	json_object_set_new(res, "key_imported", json_boolean(made));
	if (req->trust && (rc = add_to_truststore(c, req->name, leaf, res,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_ops_cert_show(c, req->name, &cert, err)) != HKMS_OK)
		goto out;
	json_object_set_new(res, "certificate", cert);
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	if (!req->what_if) {
		d = json_pack("{s:s,s:b}", "thumbprint", thumb, "key_imported",
		    made);
		if (im.have_key)
			json_object_set_new(d, "key", json_string(im.ki.name));
		if (made && rc == HKMS_OK)
			json_object_set_new(d, "key_id",
			    json_string(im.ki.id_hex));
		if (rc == HKMS_E_VERIFY)
			json_object_set(d, "checks", im.checks);
		hkms_ops_audit(c, op, req->name, rc, err, d);
		json_decref(d);
	}
	/* the result goes out on success and on a failed check */
	if (res != NULL && (rc == HKMS_OK || rc == HKMS_E_VERIFY)) {
		*out = res;
		res = NULL;	/* transferred */
	}
	json_decref(res);
	json_decref(im.checks);
	json_decref(im.eku);
	hkms_certio_chain_free(im.certs);
	hkms_certio_chain_free(im.cas);
	EVP_PKEY_free(im.swkey);
	EVP_PKEY_free(im.pub);
	return rc;
}
