/*
 * CRLs in the truststore (issue 14a; docs/truststore.md "Revocation").
 *
 * A CRL is kept as a store record of kind "trust/crls" named by the id of
 * the CA that signed it (hkms_trust_crl_id: its subject and key), so there
 * is at most one CRL per CA and `trust verify` finds it with one read.
 * Records get the store's atomic commit and crash recovery; every change
 * is written under the data lock and appended to the truststore's change
 * journal (events crl_added, crl_replaced, crl_removed), which is what
 * `trust watch` follows. The signature is checked against a truststore CA
 * on import and again on every use, so a record changed on disk cannot
 * make a certificate look good.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hkms/revocation.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "trust_int.h"

enum hkms_rc
hkms_trust_crl_id(X509 *ca, char out[33], struct hkms_err *err)
{
	unsigned char *n = NULL, *k = NULL, md[32];
	unsigned int mdl = 0;
	EVP_MD_CTX *m = NULL;
	int nl, kl, ok = 0;

	if (ca == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no CA certificate");
	nl = i2d_X509_NAME(X509_get_subject_name(ca), &n);
	kl = i2d_PUBKEY(X509_get0_pubkey(ca), &k);
	if (nl > 0 && kl > 0 && (m = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(m, n, (size_t)nl) == 1 &&
	    EVP_DigestUpdate(m, k, (size_t)kl) == 1 &&
	    EVP_DigestFinal_ex(m, md, &mdl) == 1 && mdl == 32) {
		hkms_hex(md, 16, 0, out);
		ok = 1;
	}
	EVP_MD_CTX_free(m);
	OPENSSL_free(n);
	OPENSSL_free(k);
	ERR_clear_error();
	return ok ? HKMS_OK : hkms_err_crypto(err, "cannot hash CA "
	    "certificate");
}

static int
is_ca(X509 *x)
{
	uint32_t ku = X509_get_key_usage(x);

	return X509_check_ca(x) >= 1 && (ku == UINT32_MAX ||
	    (ku & KU_CRL_SIGN) != 0);
}

/* The truststore CA that signed crl: *signer (borrowed from s) and its
 * alias. */
static enum hkms_rc
find_signer(const struct hkms_trust_snap *s, X509_CRL *crl, X509 **signer,
    const char **alias, struct hkms_err *err)
{
	STACK_OF(X509) *all = hkms_trust_snap_certs(s);
	char tp[HKMS_CERTIO_THUMB_SIZE], *iss;
	int i, named = 0;

	for (i = 0; i < sk_X509_num(all); i++) {
		X509 *x = sk_X509_value(all, i);

		if (X509_NAME_cmp(X509_get_subject_name(x),
		    X509_CRL_get_issuer(crl)) != 0 || !is_ca(x))
			continue;
		named = 1;
		if (X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1) {
			*signer = x;
			*alias = NULL;
			if (hkms_certio_thumbprint(x, tp, NULL) == HKMS_OK)
				*alias = hkms_trust_snap_find(s, tp);
			ERR_clear_error();
			return HKMS_OK;
		}
	}
	ERR_clear_error();
	iss = hkms_certio_name_str(X509_CRL_get_issuer(crl));
	if (!named)
		hkms_err_setc(err, HKMS_E_VERIFY, "crl_issuer_unknown", "crl "
		    "issuer '%s' is not a CA in the truststore (import its "
		    "certificate first)", iss ? iss : "?");
	else
		hkms_err_setc(err, HKMS_E_VERIFY, "crl_bad_signature", "crl "
		    "signature does not verify with the key of truststore CA "
		    "'%s'", iss ? iss : "?");
	free(iss);
	return HKMS_E_VERIFY;
}

static char *
crl_pem(X509_CRL *crl)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (bio != NULL && PEM_write_bio_X509_CRL(bio, crl) == 1 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0 &&
	    (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(bio);
	return out;
}

static enum hkms_rc
fresh(X509_CRL *crl, int64_t now, struct hkms_err *err)
{
	char t[32];

	if (hkms_x509_crl_next_update(crl) < now)
		return hkms_err_setc(err, HKMS_E_VERIFY, "crl_expired", "crl "
		    "expired: its nextUpdate %s has passed", hkms_time_str(
		    hkms_x509_crl_next_update(crl), t));
	if (hkms_x509_crl_this_update(crl) > now)
		return hkms_err_setc(err, HKMS_E_VERIFY, "crl_not_yet_valid",
		    "crl is not yet valid: its thisUpdate %s is in the "
		    "future", hkms_time_str(hkms_x509_crl_this_update(crl), t));
	return HKMS_OK;
}

/* The stored CRL of record id, parsed; NULL when absent or unreadable. */
static X509_CRL *
stored_crl(struct hkms_store *st, const char *id, json_t **meta)
{
	X509_CRL *crl = NULL;
	struct hkms_err e;
	char *pem = NULL;

	if (hkms_store_get(st, HKMS_TRUST_CRL_KIND, id, meta, &pem, &e) !=
	    HKMS_OK)
		return NULL;
	if (pem == NULL || hkms_x509_crl_parse((unsigned char *)pem,
	    strlen(pem), &crl, &e) != HKMS_OK)
		crl = NULL;
	free(pem);
	return crl;
}

enum hkms_rc
hkms_trust_crl_import(struct hkms_trust *tr, const unsigned char *data,
    size_t len, int64_t now, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_trust_snap *s = NULL;
	X509_CRL *crl = NULL, *old = NULL;
	json_t *meta = NULL, *desc = NULL, *signer = NULL, *oldmeta = NULL,
	    *res = NULL, *no_thumbs = NULL;
	const char *alias = NULL;
	X509 *ca = NULL;
	char id[33], tp[HKMS_CERTIO_THUMB_SIZE] = "", *pem = NULL,
	    *subj = NULL, when[32];
	int locked = 0, unchanged = 0;

	if (tr == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no truststore");
	if (now == 0)
		now = (int64_t)time(NULL);
	if ((rc = hkms_x509_crl_parse(data, len, &crl, err)) != HKMS_OK ||
	    (rc = hkms_x509_crl_check_form(crl, err)) != HKMS_OK ||
	    (rc = hkms_trust_snapshot(tr, &s, err)) != HKMS_OK ||
	    (rc = find_signer(s, crl, &ca, &alias, err)) != HKMS_OK ||
	    (rc = fresh(crl, now, err)) != HKMS_OK ||
	    (rc = hkms_trust_crl_id(ca, id, err)) != HKMS_OK)
		goto out;
	(void)hkms_certio_thumbprint(ca, tp, NULL);
	subj = hkms_certio_name_str(X509_get_subject_name(ca));
	desc = hkms_x509_crl_describe(crl);
	signer = json_pack("{s:s?,s:s?,s:s}", "alias", alias, "subject",
	    subj, "thumbprint", tp);
	/* journal lines carry thumbprints: none for a CRL */
	no_thumbs = json_array();
	if ((pem = crl_pem(crl)) == NULL || desc == NULL || signer == NULL ||
	    no_thumbs == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_begin(tr->st, err)) != HKMS_OK)
		goto out;
	locked = 1;
	/* under the lock: what is stored now decides newer or older */
	if ((old = stored_crl(tr->st, id, &oldmeta)) != NULL) {
		int cmp = hkms_x509_crl_number_cmp(crl, old);

		if (strcmp(json_string_value(json_object_get(oldmeta,
		    "sha256")) ? json_string_value(json_object_get(oldmeta,
		    "sha256")) : "", json_string_value(json_object_get(desc,
		    "sha256"))) == 0) {
			unchanged = 1;
		} else if (cmp <= 0) {
			rc = hkms_err_setc(err, HKMS_E_EXISTS, "crl_not_newer",
			    "crl number %s of '%s' is not newer than the "
			    "stored number %s", json_string_value(
			    json_object_get(desc, "number")) ?
			    json_string_value(json_object_get(desc, "number")) :
			    "(none)", subj ? subj : "?", json_string_value(
			    json_object_get(oldmeta, "number")) ?
			    json_string_value(json_object_get(oldmeta,
			    "number")) : "(none)");
			goto out;
		}
	}
	if (!unchanged) {
		meta = json_deep_copy(desc);
		json_object_set_new(meta, "id", json_string(id));
		json_object_set(meta, "signer", signer);
		json_object_set_new(meta, "imported", json_string(
		    hkms_time_str(now, when)));
		if ((rc = hkms_store_put(tr->st, HKMS_TRUST_CRL_KIND, id, meta,
		    pem, err)) != HKMS_OK ||
		    (rc = trust_journal_append(tr, old != NULL ?
		    "crl_replaced" : "crl_added", id, no_thumbs, err)) !=
		    HKMS_OK)
			goto out;
	}
	if (out != NULL) {
		res = json_pack("{s:s,s:O,s:O,s:b,s:O}", "id", id, "signer",
		    signer, "replaced", old != NULL && !unchanged &&
		    json_object_get(oldmeta, "number") ? json_object_get(
		    oldmeta, "number") : json_null(), "unchanged", unchanged,
		    "crl", desc);
		if (res == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		*out = res;
	}
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(tr->st);
	hkms_trust_snap_free(s);
	X509_CRL_free(crl);
	X509_CRL_free(old);
	json_decref(meta);
	json_decref(desc);
	json_decref(signer);
	json_decref(oldmeta);
	json_decref(no_thumbs);
	free(pem);
	free(subj);
	return rc;
}

static int64_t
parse_time(const char *s)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) ==
	    NULL || *end != '\0')
		return 0;
	return (int64_t)timegm(&tm);
}

enum hkms_rc
hkms_trust_crl_list(struct hkms_trust *tr, int64_t now, json_t **out,
    struct hkms_err *err)
{
	static const char *const keys[] = { "id", "issuer", "number",
	    "this_update", "next_update", "entries", "signer", "imported",
	    NULL };
	enum hkms_rc rc;
	json_t *list = NULL, *arr, *it, *row;
	size_t i, k;
	int64_t nu;

	if (tr == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (now == 0)
		now = (int64_t)time(NULL);
	if ((rc = hkms_store_list(tr->st, HKMS_TRUST_CRL_KIND, &list, err)) !=
	    HKMS_OK)
		return rc;
	if ((arr = json_array()) == NULL) {
		json_decref(list);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	json_array_foreach(list, i, it) {
		row = json_object();
		for (k = 0; keys[k] != NULL; k++)
			json_object_set(row, keys[k], json_object_get(it,
			    keys[k]) ? json_object_get(it, keys[k]) :
			    json_null());
		nu = parse_time(json_string_value(json_object_get(it,
		    "next_update")));
		json_object_set_new(row, "status", json_string(nu > 0 &&
		    nu < now ? "expired" : "current"));
		json_array_append_new(arr, row);
	}
	json_decref(list);
	*out = arr;
	return HKMS_OK;
}

enum hkms_rc
hkms_trust_crl_delete(struct hkms_trust *tr, const char *id,
    struct hkms_err *err)
{
	json_t *no_thumbs;
	enum hkms_rc rc;

	if (tr == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no truststore");
	if (id == NULL || !hkms_name_valid(id))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "invalid crl id '%.64s'", id ? id : "");
	if ((no_thumbs = json_array()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if ((rc = hkms_store_begin(tr->st, err)) != HKMS_OK) {
		json_decref(no_thumbs);
		return rc;
	}
	if (!hkms_store_exists(tr->st, HKMS_TRUST_CRL_KIND, id))
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
		    "no truststore crl '%s'", id);
	else if ((rc = hkms_store_delete(tr->st, HKMS_TRUST_CRL_KIND, id,
	    err)) == HKMS_OK)
		rc = trust_journal_append(tr, "crl_removed", id, no_thumbs,
		    err);
	hkms_store_end(tr->st);
	json_decref(no_thumbs);
	return rc;
}

enum hkms_rc
hkms_trust_crl_find(struct hkms_trust *tr, X509 *issuer, X509_CRL **crl,
    json_t **meta, struct hkms_err *err)
{
	enum hkms_rc rc;
	X509_CRL *c = NULL;
	json_t *m = NULL;
	char id[33];

	if (tr == NULL || issuer == NULL || crl == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*crl = NULL;
	if ((rc = hkms_trust_crl_id(issuer, id, err)) != HKMS_OK)
		return rc;
	if ((c = stored_crl(tr->st, id, &m)) == NULL ||
	    X509_NAME_cmp(X509_CRL_get_issuer(c),
	    X509_get_subject_name(issuer)) != 0 ||
	    X509_CRL_verify(c, X509_get0_pubkey(issuer)) != 1) {
		ERR_clear_error();
		X509_CRL_free(c);
		json_decref(m);
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
		    "no crl of this CA in the truststore");
	}
	*crl = c;
	if (meta != NULL)
		*meta = m;
	else
		json_decref(m);
	return HKMS_OK;
}
