/*
 * Helpers of the CA operations (ca_int.h): loading a CA record, key
 * references, the record's time fields, the chain handed out and the
 * signing call. Used by cas.c, ca_issue.c and ca_revoke.c; this file
 * calls no operation, so the call graph is one way: operations ->
 * helpers.
 */
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

#include "ca_int.h"
#include "ops_int.h"

enum hkms_rc
ca_need_hsm(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	if (c == NULL || c->hsm == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no token open");
	return HKMS_OK;
}

enum hkms_rc
ca_need_store(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	return HKMS_OK;
}

enum hkms_rc
ca_name_check(const char *name, struct hkms_err *err)
{
	if (name == NULL || !hkms_name_valid(name))
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid CA name '%s' (1..64 of A-Z a-z 0-9 . _ -, not "
		    "starting with '.' or '-')", name ? name : "");
	return HKMS_OK;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	json_decref(ca->meta);
	hkms_certio_chain_free(ca->chain);
	free(ca);
}

enum hkms_rc
ca_load(struct hkms_ops_ctx *c, const char *name, int active,
    struct ca **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	const char *type;
	char *pem = NULL;

	if ((rc = ca_name_check(name, err)) != HKMS_OK)
		return rc;
	if (!hkms_store_exists(c->store, CA_KIND, name))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "ca_not_found",
		    "no CA '%s'", name);
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	snprintf(ca->name, sizeof(ca->name), "%s", name);
	snprintf(ca->issued_kind, sizeof(ca->issued_kind), "issued/%s", name);
	snprintf(ca->revoked_kind, sizeof(ca->revoked_kind), "revoked/%s",
	    name);
	snprintf(ca->crl_kind, sizeof(ca->crl_kind), "crl/%s", name);
	if ((rc = hkms_store_get(c->store, CA_KIND, name, &ca->meta, &pem,
	    err)) != HKMS_OK)
		goto out;
	type = json_string_value(json_object_get(ca->meta, "type"));
	ca->key = json_string_value(json_object_get(ca->meta, "key"));
	if (type == NULL || ca->key == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
		    "CA record '%s' has no type or key", name);
		goto out;
	}
	if (strcmp(type, "ca-pending") == 0) {
		if (active) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "ca_pending",
			    "CA '%s' has no certificate yet: apply the "
			    "certificate its external CA signed first", name);
			goto out;
		}
	} else if (strcmp(type, "ca") != 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
		    "CA record '%s' has type '%s'", name, type);
		goto out;
	} else {
		if (pem == NULL) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
			    "CA record '%s' has no certificate", name);
			goto out;
		}
		if ((rc = hkms_certio_parse((const unsigned char *)pem,
		    strlen(pem), NULL, &ca->chain, NULL, err)) != HKMS_OK)
			goto out;
		ca->cert = sk_X509_value(ca->chain, 0);
	}
	*out = ca;
	ca = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	free(pem);
	ca_free(ca);
	return rc;
}

void
ca_key_ref(struct ca *ca, char *buf, size_t size)
{
	const char *id = json_string_value(json_object_get(ca->meta,
	    "key_id"));

	if (id != NULL && id[0] != '\0')
		snprintf(buf, size, "id:%s", id);
	else
		snprintf(buf, size, "%s", ca->key);
}

json_t *
ca_time_json(const ASN1_TIME *t)
{
	struct hkms_err e;
	int64_t v;
	char buf[32];

	if (t == NULL || hkms_certio_time(t, &v, &e) != HKMS_OK)
		return json_null();
	return json_string(hkms_time_str(v, buf));
}

int64_t
ca_parse_time(const char *s)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) ==
	    NULL || *end != '\0')
		return -1;
	return (int64_t)timegm(&tm);
}

json_t *
ca_now_json(void)
{
	char buf[32];

	return json_string(hkms_time_str((int64_t)time(NULL), buf));
}

json_t *
ca_cert_meta(X509 *x)
{
	/* the facts under the names of the one JSON shape */
	return ops_cert_record(x, NULL);
}

STACK_OF(X509) *
ca_leaf_chain(struct ca *ca, X509 *leaf)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	int i;

	if (sk == NULL || !X509_up_ref(leaf))
		goto fail;
	if (!sk_X509_push(sk, leaf)) {
		X509_free(leaf);
		goto fail;
	}
	for (i = 0; ca != NULL && i < sk_X509_num(ca->chain); i++) {
		X509 *x = sk_X509_value(ca->chain, i);

		if (!X509_up_ref(x))
			goto fail;
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto fail;
		}
	}
	return sk;
fail:
	hkms_certio_chain_free(sk);
	return NULL;
}

enum hkms_rc
ca_serial_norm(const char *in, char out[HKMS_X509_SERIAL_HEX_MAX],
    struct hkms_err *err)
{
	ASN1_INTEGER *a = NULL;
	enum hkms_rc rc;

	if (in == NULL || in[0] == '\0')
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "serial is required");
	if ((rc = hkms_x509_serial_from_hex(in, &a, err)) != HKMS_OK)
		return rc;
	rc = hkms_x509_serial_to_hex(a, out, err);
	ASN1_INTEGER_free(a);
	return rc;
}

enum hkms_rc
ca_sign_cert(struct hkms_ops_ctx *c, struct ca *ca, X509 *cert,
    const struct hkms_x509_profile *prof, struct hkms_err *err)
{
	char ref[160];

	ca_key_ref(ca, ref, sizeof(ref));
	return ops_sign_cert(c->hsm, ref, cert, ca->cert,
	    hkms_x509_digest_resolve(hkms_x509_profile_digest(prof),
	    X509_get0_pubkey(ca->cert)), err);
}
