/*
 * The OCSP responder (RFC 6960): one answer per request, for every hkms
 * CA at once. The issuer is found by the request's CertID (its issuer
 * name and key hash, in the request's hash algorithm) among the CAs; the
 * status comes from that CA's indexes (revoked/<ca> first: the authority,
 * docs/ca.md; then issued/<ca>: good; else unknown); the answer is
 * signed in the token by the CA's own key (hkms_hsm_with_key, the path of
 * certificates and CRLs), never by a key in memory.
 *
 * A token signature per query would let a burst of queries (every TLS
 * client of a busy service) queue at the token. A request for one
 * certificate without a nonce is answered from a cache of signed
 * responses, keyed by the CertID's DER: a hit is served as long as less
 * than half of the response's validity passed, the CA record is the same
 * (its change stamp) and the status looked up again now is the one the
 * response says (two stats: a revocation shows on the next query, with a
 * fresh signature). Concurrent misses of one CertID sign once: the
 * others wait for that signature. When the token cannot sign, an answer
 * past half its validity but before its nextUpdate (same status, same CA
 * record) is served rather than tryLater. A nonce binds the response to one
 * request, so it is signed fresh (counted: hkms_ops_ocsp_metrics).
 *
 * The issuer index (CA names, with their certificates from the CA cache)
 * is re-read when the cas/ directory changes (its mtime).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "hkms/hsm.h"
#include "hkms/ocsp.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/x509.h"

#include "ca_int.h"
#include "ops_int.h"

/* ---- counters ---- */

enum ocsp_outcome {
	OUT_GOOD, OUT_REVOKED, OUT_UNKNOWN, OUT_MALFORMED, OUT_UNAUTHORIZED,
	OUT_TRY_LATER, OUT_INTERNAL, OUT_N
};

static const char *const outcome_names[OUT_N] = { "good", "revoked",
    "unknown", "malformed", "unauthorized", "try_later", "internal_error" };

static atomic_ullong n_requests[OUT_N];
static atomic_ullong n_signatures, n_sign_errors, n_cache_hits;

json_t *
hkms_ops_ocsp_metrics(void)
{
	json_t *o = json_object(), *r = json_object();
	int i;

	for (i = 0; i < OUT_N; i++)
		json_object_set_new(r, outcome_names[i], json_integer(
		    (json_int_t)atomic_load(&n_requests[i])));
	json_object_set_new(o, "requests", r);
	json_object_set_new(o, "signatures", json_integer((json_int_t)
	    atomic_load(&n_signatures)));
	json_object_set_new(o, "sign_errors", json_integer((json_int_t)
	    atomic_load(&n_sign_errors)));
	json_object_set_new(o, "cache_hits", json_integer((json_int_t)
	    atomic_load(&n_cache_hits)));
	return o;
}

/* ---- the issuer index ---- */

#define MAX_CAS 256

static pthread_mutex_t idx_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const void *svc;
	long long mtime_ns;
	int valid;
	size_t n;
	char names[MAX_CAS][65];
} idx;

/* The names of the CAs (a copy under idx_mu), re-read when cas/ changed. */
static enum hkms_rc
ca_names(struct hkms_ops_ctx *c, char (**out)[65], size_t *n,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct stat sb;
	char *dir = NULL;
	json_t *list = NULL, *it;
	long long mt = -1;
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	if ((rc = hkms_store_kind_path(c->store, CA_KIND, &dir, err)) !=
	    HKMS_OK)
		return rc;
	if (stat(dir, &sb) == 0)
		mt = (long long)sb.st_mtim.tv_sec * 1000000000LL +
		    sb.st_mtim.tv_nsec;
	free(dir);
	pthread_mutex_lock(&idx_mu);
	if (!idx.valid || idx.svc != c->service || idx.mtime_ns != mt) {
		pthread_mutex_unlock(&idx_mu);
		if (mt >= 0 && (rc = hkms_store_list(c->store, CA_KIND, &list,
		    err)) != HKMS_OK)
			return rc;
		pthread_mutex_lock(&idx_mu);
		idx.n = 0;
		json_array_foreach(list, i, it) {
			const char *name = json_string_value(json_object_get(
			    it, "name"));

			if (name == NULL || strlen(name) >= sizeof(idx.names[0])
			    || idx.n == MAX_CAS)
				continue;
			strcpy(idx.names[idx.n++], name);
		}
		idx.svc = c->service;
		idx.mtime_ns = mt;
		idx.valid = 1;
		json_decref(list);
	}
	if (idx.n > 0 && (*out = malloc(idx.n * sizeof(idx.names[0]))) ==
	    NULL) {
		pthread_mutex_unlock(&idx_mu);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	for (k = 0; k < idx.n; k++)
		memcpy((*out)[k], idx.names[k], sizeof(idx.names[0]));
	*n = idx.n;
	pthread_mutex_unlock(&idx_mu);
	return HKMS_OK;
}

/* The CA whose certificate is the issuer of id, or NULL (ca_free). */
static struct ca *
find_issuer(struct hkms_ops_ctx *c, OCSP_CERTID *id, struct hkms_err *err)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md_oid = NULL;
	ASN1_INTEGER *serial = NULL;
	char (*names)[65] = NULL;
	struct ca *ca = NULL;
	OCSP_CERTID *mine;
	const EVP_MD *md;
	struct hkms_err e;
	size_t i, n = 0;

	if (!OCSP_id_get0_info(&nh, &md_oid, &kh, &serial, id) ||
	    (md = EVP_get_digestbyobj(md_oid)) == NULL ||
	    ca_names(c, &names, &n, err) != HKMS_OK)
		return NULL;
	for (i = 0; i < n && ca == NULL; i++) {
		if (ca_load(c, names[i], 1, &ca, &e) != HKMS_OK) {
			ca = NULL;
			continue;
		}
		mine = OCSP_cert_id_new(md, X509_get_subject_name(ca->cert),
		    X509_get0_pubkey_bitstr(ca->cert), NULL);
		if (mine == NULL || OCSP_id_issuer_cmp(id, mine) != 0) {
			ca_free(ca);
			ca = NULL;
		}
		OCSP_CERTID_free(mine);
	}
	ERR_clear_error();
	free(names);
	return ca;
}

/* ---- status ---- */

struct answer {
	struct ca *ca;			/* NULL: no hkms CA */
	char serial[HKMS_X509_SERIAL_HEX_MAX];
	struct hkms_x509_ocsp_status st;
};

/* The status of serial (hex) now, from the CA's indexes. */
static void
look_up(struct hkms_ops_ctx *c, struct answer *a)
{
	enum hkms_x509_crl_reason r;
	struct hkms_err e;
	json_t *rv = NULL;

	a->st.status = V_OCSP_CERTSTATUS_UNKNOWN;
	a->st.reason = -1;
	a->st.revoked_at = 0;
	if (a->serial[0] == '\0')
		return;
	if (hkms_store_exists(c->store, a->ca->revoked_kind, a->serial)) {
		/* the revocation record is the authority; one we cannot
		 * read still means revoked (reason left out, time now is
		 * wrong: the record's mtime is not ours to guess) */
		a->st.status = V_OCSP_CERTSTATUS_REVOKED;
		a->st.revoked_at = (int64_t)time(NULL);
		if (hkms_store_get(c->store, a->ca->revoked_kind, a->serial,
		    &rv, NULL, &e) == HKMS_OK) {
			if (json_integer_value(json_object_get(rv,
			    "revoked_at_unix")) > 0)
				a->st.revoked_at = json_integer_value(
				    json_object_get(rv, "revoked_at_unix"));
			if (hkms_x509_crl_reason_parse(json_string_value(
			    json_object_get(rv, "reason")), &r, &e) ==
			    HKMS_OK)
				a->st.reason = (int)r;
		}
		json_decref(rv);
		return;
	}
	if (hkms_store_exists(c->store, a->ca->issued_kind, a->serial))
		a->st.status = V_OCSP_CERTSTATUS_GOOD;
}

static enum ocsp_outcome
outcome_of(int status)
{
	return status == V_OCSP_CERTSTATUS_GOOD ? OUT_GOOD :
	    status == V_OCSP_CERTSTATUS_REVOKED ? OUT_REVOKED : OUT_UNKNOWN;
}

/* ---- the cache of signed responses ---- */

#define CACHE_SLOTS 4096
#define CERTID_MAX 256
#define WAIT_S 10

struct slot {
	const void *svc;
	unsigned char id[CERTID_MAX];	/* the CertID's DER: the key */
	size_t idlen;
	int signing;			/* a thread is signing this key */
	int status;			/* what der says */
	struct hkms_store_stamp ca_stamp;
	char ca[65];
	int64_t refresh_at;		/* sign again from then on */
	int64_t expires;		/* der's nextUpdate */
	unsigned char *der;		/* the OCSPResponse, NULL = empty */
	size_t len;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cv = PTHREAD_COND_INITIALIZER;
static struct slot *cache;

static size_t
slot_of(const unsigned char *id, size_t n)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ id[i]) * 1099511628211ULL;
	return (size_t)(h % CACHE_SLOTS);
}

static int
slot_is(const struct slot *s, const void *svc, const unsigned char *id,
    size_t n)
{
	return s->svc == svc && s->idlen == n && memcmp(s->id, id, n) == 0;
}

/* ---- signing ---- */

struct ocsp_sign_arg {
	const struct hkms_x509_ocsp_status *st;
	size_t n;
	OCSP_REQUEST *req;
	int64_t this_update, next_update;
	X509 *cert;
	enum hkms_x509_digest digest;
	OCSP_BASICRESP *bs;		/* the last try's response */
};

/* idempotent: every try builds the same answers again and signs them
 * (a response is signed once, hkms_x509_ocsp_sign) */
static enum hkms_rc
ocsp_sign_fn(EVP_PKEY *key, void *arg, struct hkms_err *err)
{
	struct ocsp_sign_arg *a = arg;
	enum hkms_rc rc;

	OCSP_BASICRESP_free(a->bs);
	a->bs = NULL;
	if ((rc = hkms_x509_ocsp_basic_build(a->st, a->n, a->req,
	    a->this_update, a->next_update, &a->bs, err)) != HKMS_OK)
		return rc;
	return hkms_x509_ocsp_sign(a->bs, key, a->cert, a->digest, err);
}

/* Build and sign the answers (ca: the signer) into *der. */
static enum hkms_rc
sign_answers(struct hkms_ops_ctx *c, struct ca *ca,
    const struct hkms_x509_ocsp_status *st, size_t n, OCSP_REQUEST *req,
    int64_t now, unsigned char **der, size_t *len, struct hkms_err *err)
{
	struct ocsp_sign_arg a;
	enum hkms_rc rc;
	char ref[160];
	int validity = c->cfg && c->cfg->ocsp_validity_s > 0 ?
	    c->cfg->ocsp_validity_s : 4 * 3600;

	if (c->hsm == NULL)
		return hkms_err_set(err, HKMS_E_TOKEN_DOWN, "the token is not "
		    "open: the OCSP response cannot be signed");
	memset(&a, 0, sizeof(a));
	a.st = st;
	a.n = n;
	a.req = req;
	a.this_update = now;
	a.next_update = now + validity;
	a.cert = ca->cert;
	a.digest = hkms_x509_digest_resolve(HKMS_X509_DIGEST_AUTO,
	    X509_get0_pubkey(ca->cert));
	ca_key_ref(ca, ref, sizeof(ref));
	rc = hkms_hsm_with_key(c->hsm, ref, ocsp_sign_fn, &a, err);
	if (rc == HKMS_OK) {
		atomic_fetch_add(&n_signatures, 1);
		rc = hkms_x509_ocsp_response_der(OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    a.bs, der, len, err);
	} else
		atomic_fetch_add(&n_sign_errors, 1);
	OCSP_BASICRESP_free(a.bs);
	return rc;
}

/* ---- the operation ---- */

static enum hkms_rc
error_response(int status, unsigned char **resp, size_t *len,
    struct hkms_err *err)
{
	return hkms_x509_ocsp_response_der(status, NULL, resp, len, err);
}

/* One certificate, no nonce: from the cache, or signed and cached. */
static enum hkms_rc
answer_cached(struct hkms_ops_ctx *c, struct answer *a, OCSP_REQUEST *req,
    int64_t now, unsigned char **resp, size_t *len, int *hit,
    struct hkms_err *err)
{
	unsigned char idbuf[CERTID_MAX], *p = idbuf, *der = NULL;
	struct hkms_store_stamp cs;
	struct timespec until;
	enum hkms_rc rc;
	struct slot *s;
	size_t dlen = 0, k;
	int n, validity = c->cfg && c->cfg->ocsp_validity_s > 0 ?
	    c->cfg->ocsp_validity_s : 4 * 3600;

	*hit = 0;
	if ((n = i2d_OCSP_CERTID(a->st.id, NULL)) <= 0 || n > CERTID_MAX ||
	    hkms_store_stamp(c->store, CA_KIND, a->ca->name, &cs) != 0)
		return sign_answers(c, a->ca, &a->st, 1, req, now, resp, len,
		    err);
	i2d_OCSP_CERTID(a->st.id, &p);
	k = slot_of(idbuf, (size_t)n);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	pthread_mutex_lock(&cache_mu);
	if (cache == NULL && (cache = calloc(CACHE_SLOTS, sizeof(*cache))) ==
	    NULL) {
		pthread_mutex_unlock(&cache_mu);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	s = &cache[k];
	/* another thread signs this CertID: wait for its answer */
	while (s->signing && slot_is(s, c->service, idbuf, (size_t)n))
		if (pthread_cond_timedwait(&cache_cv, &cache_mu, &until) != 0)
			break;
	if (!s->signing && s->der != NULL &&
	    slot_is(s, c->service, idbuf, (size_t)n) &&
	    s->status == a->st.status && now < s->refresh_at &&
	    strcmp(s->ca, a->ca->name) == 0 &&
	    hkms_store_stamp_same(&s->ca_stamp, &cs)) {
		if ((*resp = malloc(s->len)) == NULL) {
			pthread_mutex_unlock(&cache_mu);
			return hkms_err_set(err, HKMS_E_NOMEM,
			    "out of memory");
		}
		memcpy(*resp, s->der, s->len);
		*len = s->len;
		*hit = 1;
		pthread_mutex_unlock(&cache_mu);
		atomic_fetch_add(&n_cache_hits, 1);
		return HKMS_OK;
	}
	if (s->signing) {
		/* the slot is busy with another CertID (or the wait timed
		 * out): sign without caching */
		pthread_mutex_unlock(&cache_mu);
		return sign_answers(c, a->ca, &a->st, 1, req, now, resp, len,
		    err);
	}
	/* claim the slot for this CertID and sign outside the lock; an
	 * answer past its refresh time but before its nextUpdate, for the
	 * same status and CA, is kept: served if the token cannot sign */
	if (s->der != NULL && !(slot_is(s, c->service, idbuf, (size_t)n) &&
	    s->status == a->st.status && now < s->expires &&
	    strcmp(s->ca, a->ca->name) == 0 &&
	    hkms_store_stamp_same(&s->ca_stamp, &cs))) {
		free(s->der);
		s->der = NULL;
		s->len = 0;
	}
	s->svc = c->service;
	memcpy(s->id, idbuf, (size_t)n);
	s->idlen = (size_t)n;
	s->signing = 1;
	pthread_mutex_unlock(&cache_mu);
	rc = sign_answers(c, a->ca, &a->st, 1, req, now, &der, &dlen, err);
	pthread_mutex_lock(&cache_mu);
	s->signing = 0;
	if (rc == HKMS_OK && slot_is(s, c->service, idbuf, (size_t)n)) {
		free(s->der);
		s->len = 0;
		if ((s->der = malloc(dlen)) != NULL) {
			memcpy(s->der, der, dlen);
			s->len = dlen;
			s->status = a->st.status;
			s->ca_stamp = cs;
			snprintf(s->ca, sizeof(s->ca), "%s", a->ca->name);
			s->refresh_at = now + validity / 2;
			s->expires = now + validity;
		}
	} else if (rc != HKMS_OK && rc != HKMS_E_NOMEM && s->der != NULL &&
	    slot_is(s, c->service, idbuf, (size_t)n) &&
	    (*resp = malloc(s->len)) != NULL) {
		/* the kept answer, still valid (checked at the claim) */
		memcpy(*resp, s->der, s->len);
		*len = s->len;
		*hit = 1;
		rc = HKMS_OK;
		atomic_fetch_add(&n_cache_hits, 1);
	}
	pthread_cond_broadcast(&cache_cv);
	pthread_mutex_unlock(&cache_mu);
	if (*hit) {
		free(der);
		return rc;
	}
	if (rc == HKMS_OK) {
		*resp = der;
		*len = dlen;
	}
	return rc;
}

enum hkms_rc
hkms_ops_ocsp_respond(struct hkms_ops_ctx *c, const unsigned char *der,
    size_t len, unsigned char **resp, size_t *resp_len, json_t **info,
    struct hkms_err *err)
{
	struct hkms_x509_ocsp_status st[HKMS_OCSP_MAX_SINGLE];
	struct answer a[HKMS_OCSP_MAX_SINGLE];
	enum ocsp_outcome outcome = OUT_INTERNAL;
	OCSP_REQUEST *req = NULL;
	struct hkms_err e = { 0 };
	int64_t now = (int64_t)time(NULL);
	enum hkms_rc rc;
	int i, n = 0, nonce = 0, hit = 0, status = -1;

	OPS_AUTHORIZE(c, "ocsp.respond", NULL, NULL, err);
	if (resp == NULL || resp_len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*resp = NULL;
	*resp_len = 0;
	if (info != NULL)
		*info = NULL;
	memset(a, 0, sizeof(a));
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (hkms_x509_ocsp_request_parse(der, len, &req, &e) != HKMS_OK) {
		outcome = OUT_MALFORMED;
		status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
		goto answer;
	}
	nonce = hkms_x509_ocsp_request_has_nonce(req);
	n = OCSP_request_onereq_count(req);
	/* every certificate of one request must have the same hkms CA: one
	 * response has one signer */
	for (i = 0; i < n; i++) {
		a[i].st.id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req,
		    i));
		if (i == 0)
			a[i].ca = find_issuer(c, a[i].st.id, &e);
		else if (a[0].ca != NULL) {
			OCSP_CERTID *mine = OCSP_cert_id_new(EVP_sha1(),
			    X509_get_subject_name(a[0].ca->cert),
			    X509_get0_pubkey_bitstr(a[0].ca->cert), NULL);
			struct ca *other = NULL;
			int same;

			/* same issuer hashes as the first, else look up */
			same = mine != NULL && OCSP_id_issuer_cmp(a[i].st.id,
			    mine) == 0;
			OCSP_CERTID_free(mine);
			if (!same && (other = find_issuer(c, a[i].st.id,
			    &e)) != NULL)
				same = strcmp(other->name, a[0].ca->name) == 0;
			ca_free(other);
			if (!same)
				break;
			a[i].ca = a[0].ca;
		}
		if (a[i].ca == NULL)
			break;
	}
	if (i < n) {
		outcome = OUT_UNAUTHORIZED;
		status = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
		goto answer;
	}
	for (i = 0; i < n; i++) {
		ASN1_INTEGER *serial = NULL;
		struct hkms_err se;

		(void)OCSP_id_get0_info(NULL, NULL, NULL, &serial,
		    a[i].st.id);
		if (serial == NULL || hkms_x509_serial_to_hex(serial,
		    a[i].serial, &se) != HKMS_OK)
			a[i].serial[0] = '\0';	/* no serial of ours */
		look_up(c, &a[i]);
		st[i] = a[i].st;
	}
	ERR_clear_error();
	if (c->hsm == NULL && (n > 1 || nonce)) {
		outcome = OUT_TRY_LATER;
		status = OCSP_RESPONSE_STATUS_TRYLATER;
		goto answer;
	}
	if (n == 1 && !nonce) {
		/* without the token only a cache hit can answer */
		rc = answer_cached(c, &a[0], req, now, resp, resp_len, &hit,
		    &e);
	} else
		rc = sign_answers(c, a[0].ca, st, (size_t)n, req, now, resp,
		    resp_len, &e);
	if (rc == HKMS_OK)
		outcome = outcome_of(a[0].st.status);
	else if (rc == HKMS_E_NOMEM) {
		hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	} else {
		hkms_log_err(c->service ? hkms_service_log(c->service) : NULL,
		    HKMS_LOG_ERROR, "ocsp.sign", &e, NULL);
		/* the token away, or refusing to sign (through libp11 a
		 * failed C_Sign is an OpenSSL error of the signature): the
		 * relying party may try again; anything else is ours */
		outcome = rc == HKMS_E_TOKEN_DOWN || rc == HKMS_E_TOKEN ||
		    rc == HKMS_E_PIN || rc == HKMS_E_CRYPTO ? OUT_TRY_LATER :
		    OUT_INTERNAL;
		status = outcome == OUT_TRY_LATER ?
		    OCSP_RESPONSE_STATUS_TRYLATER :
		    OCSP_RESPONSE_STATUS_INTERNALERROR;
	}
answer:
	if (*resp == NULL && (rc = error_response(status >= 0 ? status :
	    OCSP_RESPONSE_STATUS_INTERNALERROR, resp, resp_len, err)) !=
	    HKMS_OK)
		goto out;
	atomic_fetch_add(&n_requests[outcome], 1);
	if (info != NULL)
		*info = json_pack("{s:s,s:s?,s:s?,s:b,s:b}", "status",
		    outcome_names[outcome], "ca", a[0].ca ? a[0].ca->name :
		    NULL, "serial", a[0].serial[0] ? a[0].serial : NULL,
		    "cached", hit, "nonce", nonce);
	rc = HKMS_OK;
out:
	for (i = 0; i < n; i++)
		if (a[i].ca != NULL && (i == 0 || a[i].ca != a[0].ca))
			ca_free(a[i].ca);
	OCSP_REQUEST_free(req);
	return rc;
}
