/*
 * The one JSON shape of a certificate (docs/certificates.md "JSON shape"):
 * what every operation returns wherever a certificate appears (cert show
 * and list, ca show and list, ca sign, issue-client and issued, import
 * results) and what the records keep of it. The X.509 facts come from one
 * function, hkms_certio_describe() (hkms_certio_describe_req() for a
 * CSR); this file adds the record's context under fixed names, so the
 * same fact has the same name everywhere.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hkms/certio.h"
#include "hkms/util.h"

#include "ops_int.h"

/* Every fact key of the shape, for an object whose PEM cannot be read. */
static const char *const fact_keys[] = { "common_name", "subject", "san",
	"country", "state", "city", "organization", "organizational_unit",
	"email", "issuer", "serial", "version", "signature_algorithm",
	"digest_algorithm", "key_type", "key_bits", "curve", "not_before",
	"not_after", "lifetime_days", "days_left", "fingerprint_sha1",
	"fingerprint_sha256", "thumbprint", "subject_key_id",
	"authority_key_id", "self_signed", "is_ca", "path_len", "key_usage",
	"extended_key_usage", "status", NULL };

/* The facts a record keeps beside its PEM (for filters and audit lines
 * that do not parse it). */
static const char *const record_keys[] = { "common_name", "subject", "san",
	"issuer", "serial", "not_before", "not_after", "digest_algorithm",
	"key_type", "key_bits", "curve", "thumbprint", "self_signed", "is_ca",
	NULL };

/* Context always present (null or [] when the record has none). */
static const char *const context_keys[] = { "source", "profile", "key",
	"key_uri", "created", NULL };

/* Context copied when the record has it. */
static const char *const optional_keys[] = { "ca", "parent", "requester",
	"issued_at", "revoked_at", "reason", "csr_created", "renewed",
	"previous_thumbprint", "previous_key", "applied", NULL };

static enum hkms_rc
facts(X509 *x, X509_REQ *req, int64_t now, json_t **out, struct hkms_err *err)
{
	size_t i;

	if (x != NULL)
		return hkms_certio_describe(x, now, out, err);
	if (req != NULL)
		return hkms_certio_describe_req(req, out, err);
	if ((*out = json_object()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	for (i = 0; fact_keys[i] != NULL; i++)
		json_object_set_new(*out, fact_keys[i], json_null());
	json_object_set_new(*out, "pem", json_null());
	return HKMS_OK;
}

/* The record facts of describe output d (borrowed). */
static json_t *
record_of(json_t *d)
{
	json_t *m;
	size_t i;

	if ((m = json_object()) == NULL)
		return NULL;
	/* a CSR has no issuer, serial or dates: not written as nulls */
	for (i = 0; record_keys[i] != NULL; i++)
		if (!json_is_null(json_object_get(d, record_keys[i])))
			json_object_set(m, record_keys[i], json_object_get(d,
			    record_keys[i]));
	return m;
}

json_t *
ops_cert_record(X509 *x, X509_REQ *req)
{
	struct hkms_err e;
	json_t *d = NULL, *m;

	if (facts(x, req, 0, &d, &e) != HKMS_OK)
		return NULL;
	m = record_of(d);
	json_decref(d);
	return m;
}

json_t *
ops_cert_record_facts(json_t *facts)
{
	return facts != NULL ? record_of(facts) : NULL;
}

/* The object from describe output d (consumed) and meta. */
static enum hkms_rc
object_of(json_t *d, X509_REQ *req, json_t *meta, const char *name,
    const char *type, json_t **out, struct hkms_err *err)
{
	json_t *o, *v;
	const char *st;
	size_t i;

	if ((o = json_object()) == NULL) {
		json_decref(d);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	if (name == NULL)
		name = json_string_value(json_object_get(meta, "name"));
	if (type == NULL)
		type = json_string_value(json_object_get(meta, "type"));
	json_object_set_new(o, "name", name ? json_string(name) : json_null());
	json_object_set_new(o, "type", json_string(type ? type :
	    req != NULL ? "csr" : "certificate"));
	json_object_update(o, d);
	json_decref(d);
	/* the revocation a CA recorded outranks the dates */
	st = json_string_value(json_object_get(meta, "status"));
	if ((st != NULL && strcmp(st, "revoked") == 0) ||
	    json_is_string(json_object_get(meta, "revoked_at")))
		json_object_set_new(o, "status", json_string("revoked"));
	for (i = 0; context_keys[i] != NULL; i++) {
		v = json_object_get(meta, context_keys[i]);
		json_object_set(o, context_keys[i], v ? v : json_null());
	}
	v = json_object_get(meta, "used_by");
	json_object_set_new(o, "used_by", json_is_array(v) ? json_copy(v) :
	    json_array());
	for (i = 0; optional_keys[i] != NULL; i++)
		if ((v = json_object_get(meta, optional_keys[i])) != NULL)
			json_object_set(o, optional_keys[i], v);
	/* pem last, so a human listing ends with it */
	if ((v = json_object_get(o, "pem")) != NULL) {
		json_incref(v);
		json_object_del(o, "pem");
		json_object_set_new(o, "pem", v);
	}
	*out = o;
	return HKMS_OK;
}

enum hkms_rc
ops_cert_object_facts(json_t *facts, json_t *meta, const char *name,
    const char *type, json_t **out, struct hkms_err *err)
{
	json_t *d = json_copy(facts);

	if (d == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return object_of(d, NULL, meta, name, type, out, err);
}

enum hkms_rc
ops_cert_object(X509 *x, X509_REQ *req, json_t *meta, const char *name,
    const char *type, int64_t now, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *d = NULL;

	if (now == 0)
		now = (int64_t)time(NULL);
	if ((rc = facts(x, req, now, &d, err)) != HKMS_OK)
		return rc;
	return object_of(d, req, meta, name, type, out, err);
}

enum hkms_rc
ops_cert_object_pem(const char *pem, json_t *meta, const char *name,
    const char *type, int64_t now, json_t **out, struct hkms_err *err)
{
	STACK_OF(X509) *certs = NULL;
	X509_REQ *req = NULL;
	enum hkms_rc rc;
	struct hkms_err e;
	size_t len = pem ? strlen(pem) : 0;

	if (pem != NULL && strstr(pem, "-----BEGIN CERTIFICATE REQUEST") ==
	    NULL && strstr(pem, "-----BEGIN NEW CERTIFICATE REQUEST") ==
	    NULL && hkms_certio_parse((const unsigned char *)pem, len, NULL,
	    &certs, NULL, &e) == HKMS_OK)
		rc = ops_cert_object(sk_X509_value(certs, 0), NULL, meta, name,
		    type, now, out, err);
	else if (pem != NULL && hkms_x509_csr_parse((const unsigned char *)pem,
	    len, &req, &e) == HKMS_OK)
		rc = ops_cert_object(NULL, req, meta, name, type, now, out,
		    err);
	else	/* unreadable: the context, facts null */
		rc = ops_cert_object(NULL, NULL, meta, name, type, now, out,
		    err);
	if (rc == HKMS_OK && certs != NULL)
		json_object_set_new(*out, "chain_length",
		    json_integer(sk_X509_num(certs)));
	hkms_certio_chain_free(certs);
	X509_REQ_free(req);
	return rc;
}
