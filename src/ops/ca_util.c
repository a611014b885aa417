/*
 * Helpers of the CA operations (ca_int.h): loading a CA record, key
 * references, the record's time fields, the chain handed out and the
 * signing call. Used by cas.c, ca_issue.c and ca_revoke.c; this file
 * calls no operation, so the call graph is one way: operations ->
 * helpers.
 */
#include <pthread.h>
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

static void
ca_names(struct ca *ca, const char *name)
{
	snprintf(ca->name, sizeof(ca->name), "%s", name);
	snprintf(ca->issued_kind, sizeof(ca->issued_kind), "issued/%s", name);
	snprintf(ca->revoked_kind, sizeof(ca->revoked_kind), "revoked/%s",
	    name);
	snprintf(ca->crl_kind, sizeof(ca->crl_kind), "crl/%s", name);
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

/* Read and parse CA name's record (no cache). */
static enum hkms_rc
ca_read(struct hkms_ops_ctx *c, const char *name, int active,
    struct ca **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	const char *type;
	char *pem = NULL;

	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	ca_names(ca, name);
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

/* ---- the service's CA cache ----------------------------------------- */

/*
 * Parsing a CA's record and chain is a good part of an issuance (OpenSSL
 * decodes each certificate's public key through its decoders), so the
 * service keeps the parsed CAs, each under the change stamp of its record
 * file (hkms_store_stamp: every write of a record is a new file). A load
 * stats the record; an equal stamp hands out a copy of the cached CA (its
 * meta deep-copied, its chain new references to the same, read-only
 * certificates), a changed or missing one reads the record again. Only
 * active CAs (type "ca") are kept. Thread-safe: one mutex around the list;
 * parsing happens outside it.
 */
#define CA_CACHE_MAX 32

struct ca_cached {
	struct ca *ca;
	struct hkms_store_stamp stamp;
	struct ca_cached *next;
};

struct ops_ca_cache {
	pthread_mutex_t mu;
	struct ca_cached *head;		/* most recently used first */
	size_t n;
};

struct ops_ca_cache *
ops_ca_cache_new(void)
{
	struct ops_ca_cache *cc = calloc(1, sizeof(*cc));

	if (cc != NULL)
		pthread_mutex_init(&cc->mu, NULL);
	return cc;
}

void
ops_ca_cache_free(struct ops_ca_cache *cc)
{
	struct ca_cached *e, *nx;

	if (cc == NULL)
		return;
	for (e = cc->head; e != NULL; e = nx) {
		nx = e->next;
		ca_free(e->ca);
		free(e);
	}
	pthread_mutex_destroy(&cc->mu);
	free(cc);
}

/* A private copy of a cached CA; NULL if out of memory. */
static struct ca *
ca_copy(const struct ca *src)
{
	struct ca *ca = calloc(1, sizeof(*ca));
	int i;

	if (ca == NULL)
		return NULL;
	ca_names(ca, src->name);
	if ((ca->meta = json_deep_copy(src->meta)) == NULL ||
	    (ca->chain = sk_X509_new_null()) == NULL)
		goto fail;
	for (i = 0; i < sk_X509_num(src->chain); i++) {
		X509 *x = sk_X509_value(src->chain, i);

		if (!X509_up_ref(x))
			goto fail;
		if (!sk_X509_push(ca->chain, x)) {
			X509_free(x);
			goto fail;
		}
	}
	ca->cert = sk_X509_value(ca->chain, 0);
	ca->key = json_string_value(json_object_get(ca->meta, "key"));
	return ca;
fail:
	ca_free(ca);
	return NULL;
}

/* The cached copy of name with stamp st, or NULL (a miss). */
static struct ca *
cache_get(struct ops_ca_cache *cc, const char *name,
    const struct hkms_store_stamp *st)
{
	struct ca_cached *e, **pp;
	struct ca *ca = NULL;

	pthread_mutex_lock(&cc->mu);
	for (pp = &cc->head; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->ca->name, name) != 0)
			continue;
		if (!hkms_store_stamp_same(&e->stamp, st))
			break;
		ca = ca_copy(e->ca);
		if (pp != &cc->head) {	/* to the front */
			*pp = e->next;
			e->next = cc->head;
			cc->head = e;
		}
		break;
	}
	pthread_mutex_unlock(&cc->mu);
	return ca;
}

/* Keep a copy of ca (just read, with stamp st) in place of name's entry. */
static void
cache_put(struct ops_ca_cache *cc, const struct ca *ca,
    const struct hkms_store_stamp *st)
{
	struct ca_cached *e, **pp, *ne;

	if (ca->chain == NULL || (ne = calloc(1, sizeof(*ne))) == NULL)
		return;
	if ((ne->ca = ca_copy(ca)) == NULL) {
		free(ne);
		return;
	}
	ne->stamp = *st;
	pthread_mutex_lock(&cc->mu);
	for (pp = &cc->head; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->ca->name, ca->name) == 0) {
			*pp = e->next;
			ca_free(e->ca);
			free(e);
			cc->n--;
			break;
		}
	ne->next = cc->head;
	cc->head = ne;
	if (++cc->n > CA_CACHE_MAX) {	/* drop the least recently used */
		for (pp = &cc->head; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		ca_free((*pp)->ca);
		free(*pp);
		*pp = NULL;
		cc->n--;
	}
	pthread_mutex_unlock(&cc->mu);
}

enum hkms_rc
ca_load(struct hkms_ops_ctx *c, const char *name, int active,
    struct ca **out, struct hkms_err *err)
{
	struct ops_ca_cache *cc = ops_service_ca_cache(c->service);
	struct hkms_store_stamp st, st2;
	enum hkms_rc rc;
	struct ca *ca;

	if ((rc = ca_name_check(name, err)) != HKMS_OK)
		return rc;
	if (hkms_store_stamp(c->store, CA_KIND, name, &st) != 0)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "ca_not_found",
		    "no CA '%s'", name);
	if (cc != NULL && (ca = cache_get(cc, name, &st)) != NULL) {
		*out = ca;
		return HKMS_OK;
	}
	if ((rc = ca_read(c, name, active, &ca, err)) != HKMS_OK)
		return rc;
	/* cached only if the record did not change while it was read */
	if (cc != NULL && hkms_store_stamp(c->store, CA_KIND, name, &st2) ==
	    0 && hkms_store_stamp_same(&st, &st2))
		cache_put(cc, ca, &st);
	*out = ca;
	return HKMS_OK;
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
