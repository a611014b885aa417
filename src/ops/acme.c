/*
 * The ACME server (RFC 8555) of a CA: accounts, orders, authorizations,
 * challenges, finalize, certificate download, revocation, key change.
 *
 * Every request comes in as one hkms_ops_acme() call from the HTTP face
 * (src/http/routes_acme.c). The JWS is checked first (acme_jws.c,
 * §6.2): the url, a nonce of this process used once (acme_nonce.c), jwk
 * (newAccount, revokeCert) or the kid of a valid account, and the
 * signature. State lives in the store, kind "acme/<ca>": accounts
 * "a-<id>", the account of a key "k-<thumbprint>", orders "o-<id>",
 * authorizations "z-<id>", the order of an issued serial "s-<serial>";
 * the setting of a CA in kind "acme", name <ca>. Each record is written
 * atomically (hkms_store_put: temp, fsync, rename); a read-modify-write
 * runs under state_mu, so a validation worker and a request never lose
 * each other's change. Only the server writes ACME objects; the CLI only
 * writes a CA's setting.
 *
 * finalize calls hkms_ops_ca_sign, the operation of `ca sign`, with a
 * principal that may sign with this CA and the ACME profile only and
 * with the account as actor: policy, profile, name constraints, group
 * commit and audit are that operation's. Validation runs in a worker
 * pool (acme_validate.c); clients poll.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "acme_int.h"
#include "ca_int.h"
#include "ops_int.h"

#define ORDER_LIFETIME (7 * 86400)
#define AUTHZ_LIFETIME (7 * 86400)
#define MAX_IDENTIFIERS 100
#define REQUEUE_S 30		/* a validation older than this is lost */
#define NBUCKETS 10

static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;

/* Lifetime of new orders and authorizations. Test hook (test builds
 * only, HKMS_TEST_HOOKS): HKMS_ACME_TEST_LIFETIME=<seconds> shortens both
 * so that a test sees them expire. */
static int64_t
lifetime(int64_t def)
{
#ifdef HKMS_TEST_HOOKS
	const char *v = getenv("HKMS_ACME_TEST_LIFETIME");

	if (v != NULL && atoi(v) > 0)
		return atoi(v);
#endif
	return def;
}

/* metrics */
static pthread_mutex_t met_mu = PTHREAD_MUTEX_INITIALIZER;
static const double buckets[NBUCKETS] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10 };
static unsigned long long met_orders, met_finalized, met_b[NBUCKETS],
    met_count;
static double met_sum;

/* One request being served. */
struct acme {
	struct hkms_ops_ctx *c;
	const struct hkms_acme_req *req;
	struct hkms_acme_resp *resp;
	char kind[80];			/* "acme/<ca>" */
	json_t *setting;		/* the CA's ACME setting */
	struct acme_jws jws;
	json_t *acct;			/* the account (kid requests) */
	char acct_id[40];
	char actor[128];
};

static enum hkms_rc
malformed(struct hkms_err *err, const char *what)
{
	return hkms_err_setc(err, HKMS_E_INVALID, "acme_malformed",
	    "malformed request: %s", what);
}

static void
rand_id(char out[33])
{
	unsigned char r[16];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		abort();	/* no CSPRNG: nothing here can go on */
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static char *
rand_token(void)
{
	unsigned char r[32];

	if (RAND_bytes(r, sizeof(r)) != 1)
		abort();
	return acme_b64url_encode(r, sizeof(r));
}

static json_t *
time_json(int64_t t)
{
	char buf[32];

	return json_string(hkms_time_str(t, buf));
}

static int64_t
jtime(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? ca_parse_time(s) : 0;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* base + "/acme/<ca>/" + what [+ "/" + id] */
static json_t *
url_json(struct acme *a, const char *what, const char *id)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s/acme/%s/%s%s%s", a->req->base,
	    a->req->ca, what, id ? "/" : "", id ? id : "");
	return json_string(buf);
}

static void
set_url(char *dst, size_t size, struct acme *a, const char *what,
    const char *id)
{
	snprintf(dst, size, "%s/acme/%s/%s%s%s", a->req->base, a->req->ca,
	    what, id ? "/" : "", id ? id : "");
}

static void
add_link(struct acme *a, const char *what, const char *id, const char *rel)
{
	char u[700];
	size_t n = strlen(a->resp->link);

	set_url(u, sizeof(u), a, what, id);
	snprintf(a->resp->link + n, sizeof(a->resp->link) - n, "%s<%s>;"
	    "rel=\"%s\"", n ? ", " : "", u, rel);
}

/* ---- records ------------------------------------------------------- */

static enum hkms_rc
get_rec(struct acme *a, char prefix, const char *id, json_t **out,
    struct hkms_err *err)
{
	char name[80];

	if (id == NULL || strlen(id) > 64 || !hkms_name_valid(id))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "no such ACME object");
	snprintf(name, sizeof(name), "%c-%s", prefix, id);
	if (!hkms_name_valid(name))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "no such ACME object");
	if (hkms_store_get(a->c->store, a->kind, name, out, NULL, err) ==
	    HKMS_E_NOT_FOUND)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "no such ACME object '%s'", id);
	return *out ? HKMS_OK : err->rc;
}

static enum hkms_rc
put_rec(struct acme *a, char prefix, const char *id, json_t *rec,
    struct hkms_err *err)
{
	char name[96];

	snprintf(name, sizeof(name), "%c-%.64s", prefix, id);
	return hkms_store_put(a->c->store, a->kind, name, rec, NULL, err);
}

static enum hkms_rc
load_setting(struct hkms_ops_ctx *c, const char *ca, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	*out = NULL;
	if (ca == NULL || !hkms_name_valid(ca))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_enabled",
		    "ACME is not enabled for this CA");
	rc = hkms_store_get(c->store, "acme", ca, out, NULL, err);
	if (rc == HKMS_E_NOT_FOUND || (rc == HKMS_OK &&
	    !json_is_true(json_object_get(*out, "enabled")))) {
		json_decref(*out);
		*out = NULL;
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_enabled",
		    "ACME is not enabled for CA '%s'", ca);
	}
	return rc;
}

/* ---- objects as the RFC shows them --------------------------------- */

static const char *
authz_status(json_t *z, int64_t now)
{
	const char *st = jstr(z, "status");

	if (st != NULL && strcmp(st, "pending") == 0 && jtime(z, "expires") <
	    now)
		return "expired";
	return st ? st : "invalid";
}

/* An order's status from its authorizations (§7.1.6). */
static const char *
order_status(struct acme *a, json_t *o, int64_t now)
{
	const char *st = jstr(o, "status");
	struct hkms_err e;
	json_t *it, *z;
	size_t i;
	int all_valid = 1;

	if (st == NULL)
		return "invalid";
	if (strcmp(st, "valid") == 0 || strcmp(st, "processing") == 0 ||
	    strcmp(st, "invalid") == 0)
		return st;
	if (jtime(o, "expires") < now)
		return "invalid";
	json_array_foreach(json_object_get(o, "authorizations"), i, it) {
		const char *zs;

		memset(&e, 0, sizeof(e));
		if (get_rec(a, 'z', json_string_value(it), &z, &e) != HKMS_OK)
			return "invalid";
		zs = authz_status(z, now);
		if (strcmp(zs, "valid") != 0)
			all_valid = 0;
		if (strcmp(zs, "invalid") == 0 || strcmp(zs, "expired") == 0 ||
		    strcmp(zs, "deactivated") == 0 ||
		    strcmp(zs, "revoked") == 0) {
			json_decref(z);
			return "invalid";
		}
		json_decref(z);
	}
	return all_valid ? "ready" : "pending";
}

static json_t *
account_json(struct acme *a, json_t *acct)
{
	json_t *o = json_pack("{s:s,s:O,s:o}", "status", jstr(acct, "status"),
	    "contact", json_object_get(acct, "contact") ?
	    json_object_get(acct, "contact") : json_array(), "orders",
	    url_json(a, "orders", jstr(acct, "id")));

	return o;
}

static json_t *
order_json(struct acme *a, json_t *o, int64_t now)
{
	json_t *out, *zs, *it;
	const char *st = order_status(a, o, now);
	size_t i;

	zs = json_array();
	json_array_foreach(json_object_get(o, "authorizations"), i, it)
		json_array_append_new(zs, url_json(a, "authz",
		    json_string_value(it)));
	out = json_pack("{s:s,s:O,s:O,s:o,s:o}", "status", st, "expires",
	    json_object_get(o, "expires"), "identifiers", json_object_get(o,
	    "identifiers"), "authorizations", zs, "finalize", url_json(a,
	    "order", NULL));
	if (out == NULL)
		return NULL;
	{
		char u[700];

		snprintf(u, sizeof(u), "%s/acme/%s/order/%s/finalize",
		    a->req->base, a->req->ca, jstr(o, "id"));
		json_object_set_new(out, "finalize", json_string(u));
	}
	if (strcmp(st, "valid") == 0)
		json_object_set_new(out, "certificate", url_json(a, "cert",
		    jstr(o, "id")));
	if (json_object_get(o, "error") != NULL)
		json_object_set(out, "error", json_object_get(o, "error"));
	return out;
}

static json_t *
chall_json(struct acme *a, json_t *z, json_t *ch)
{
	char id[120];
	json_t *o;

	snprintf(id, sizeof(id), "%s.%s", jstr(z, "id"), jstr(ch, "type"));
	o = json_pack("{s:s,s:o,s:s,s:s}", "type", jstr(ch, "type"), "url",
	    url_json(a, "chall", id), "status", jstr(ch, "status"), "token",
	    jstr(ch, "token"));
	if (o != NULL && json_object_get(ch, "validated") != NULL)
		json_object_set(o, "validated", json_object_get(ch,
		    "validated"));
	if (o != NULL && json_object_get(ch, "error") != NULL)
		json_object_set(o, "error", json_object_get(ch, "error"));
	return o;
}

static json_t *
authz_json(struct acme *a, json_t *z, int64_t now)
{
	json_t *o, *cs = json_array(), *it;
	size_t i;

	json_array_foreach(json_object_get(z, "challenges"), i, it)
		json_array_append_new(cs, chall_json(a, z, it));
	o = json_pack("{s:s,s:O,s:O,s:o}", "status", authz_status(z, now),
	    "expires", json_object_get(z, "expires"), "identifier",
	    json_object_get(z, "identifier"), "challenges", cs);
	if (o != NULL && json_is_true(json_object_get(z, "wildcard")))
		json_object_set_new(o, "wildcard", json_true());
	return o;
}

/* ---- the JWS ------------------------------------------------------- */

static enum hkms_rc
load_account(struct acme *a, const char *id, struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = get_rec(a, 'a', id, &a->acct, err)) != HKMS_OK) {
		if (rc == HKMS_E_NOT_FOUND)
			return hkms_err_setc(err, HKMS_E_DENIED,
			    "acme_account_does_not_exist", "no such account");
		return rc;
	}
	snprintf(a->acct_id, sizeof(a->acct_id), "%s", id);
	snprintf(a->actor, sizeof(a->actor), "acme:%s/%s", a->req->ca, id);
	a->c->actor = a->actor;
	return HKMS_OK;
}

/* §6.2-6.5: url, nonce, jwk or kid, signature. jwk_ok: the resource
 * takes a jwk (newAccount, revokeCert); kid_ok: it takes a kid. */
static enum hkms_rc
check_jws(struct acme *a, int jwk_ok, int kid_ok, struct hkms_err *err)
{
	struct acme_jws *j = &a->jws;
	EVP_PKEY *key = NULL;
	enum hkms_rc rc;
	char prefix[700];
	size_t n;

	if ((rc = acme_jws_parse(a->req->body, a->req->body_len, 1, 0, j,
	    err)) != HKMS_OK)
		return rc;
	if (a->req->url == NULL || strcmp(j->url, a->req->url) != 0)
		return hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "the JWS url does not name the resource it was sent to");
	if (!acme_nonce_use(j->nonce))
		return hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_nonce",
		    "the nonce is unknown or was used");
	if (j->jwk != NULL && !jwk_ok)
		return malformed(err, "this resource takes a kid, not a jwk");
	if (j->kid != NULL && !kid_ok)
		return malformed(err, "this resource takes a jwk, not a kid");
	if (j->kid != NULL) {
		set_url(prefix, sizeof(prefix), a, "acct", NULL);
		n = strlen(prefix);
		if (strncmp(j->kid, prefix, n) != 0 || j->kid[n] != '/')
			return hkms_err_setc(err, HKMS_E_DENIED,
			    "acme_account_does_not_exist", "the kid is not an "
			    "account URL of this server");
		if ((rc = load_account(a, j->kid + n + 1, err)) != HKMS_OK)
			return rc;
		if (strcmp(jstr(a->acct, "status"), "valid") != 0)
			return hkms_err_setc(err, HKMS_E_DENIED,
			    "acme_unauthorized", "the account is %s",
			    jstr(a->acct, "status"));
		rc = acme_jwk_key(json_object_get(a->acct, "jwk"), &key, err);
	} else
		rc = acme_jwk_key(j->jwk, &key, err);
	if (rc == HKMS_OK)
		rc = acme_jws_verify(j, key, err);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- directory, accounts ------------------------------------------- */

static enum hkms_rc
directory(struct acme *a, struct hkms_err *err)
{
	json_t *meta = json_object();

	(void)err;
	if (json_is_true(json_object_get(a->setting, "eab_required")))
		json_object_set_new(meta, "externalAccountRequired",
		    json_true());
	a->resp->json = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "newNonce",
	    url_json(a, "new-nonce", NULL), "newAccount", url_json(a,
	    "new-account", NULL), "newOrder", url_json(a, "new-order", NULL),
	    "revokeCert", url_json(a, "revoke-cert", NULL), "keyChange",
	    url_json(a, "key-change", NULL), "meta", meta);
	a->resp->status = 200;
	return HKMS_OK;
}

static enum hkms_rc
contacts_ok(json_t *v, struct hkms_err *err)
{
	json_t *it;
	size_t i;

	if (v == NULL)
		return HKMS_OK;
	if (!json_is_array(v) || json_array_size(v) > 10)
		return malformed(err, "contact must be an array of at most 10 "
		    "URLs");
	json_array_foreach(v, i, it) {
		const char *s = json_string_value(it);

		if (s == NULL || strncmp(s, "mailto:", 7) != 0 ||
		    strlen(s) > 256 || strchr(s, ',') != NULL)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_invalid_contact", "a contact must be one "
			    "mailto: URL");
	}
	return HKMS_OK;
}

/* The external account binding of a newAccount (§7.3.4): an HS256 JWS
 * by a MAC key the operator made (hkms_ops_acme_eab_create), kid the
 * key's id, url the outer url, no nonce, payload the outer jwk. A key
 * binds one account; *kid_out gets its id. */
static enum hkms_rc
check_eab(struct acme *a, json_t *eab, char kid_out[65],
    struct hkms_err *err)
{
	struct acme_jws e;
	enum hkms_rc rc;
	json_t *rec = NULL, *pl = NULL;
	struct hkms_secret *key = NULL;
	char *txt = NULL, kind[80];
	const char *kid;

	memset(&e, 0, sizeof(e));
	if (!json_is_object(eab) || (txt = json_dumps(eab, JSON_COMPACT)) ==
	    NULL)
		return malformed(err, "externalAccountBinding must be a JWS");
	if ((rc = acme_jws_parse((const unsigned char *)txt, strlen(txt), 0,
	    1, &e, err)) != HKMS_OK)
		goto out;
	kid = e.kid;
	if (kid == NULL || e.nonce != NULL || e.jwk != NULL ||
	    strcmp(e.url, a->jws.url) != 0) {
		rc = malformed(err, "the external account binding needs kid and "
		    "the outer url, and no nonce or jwk");
		goto out;
	}
	if (e.payload_len == 0 || (pl = json_loadb((const char *)e.payload,
	    e.payload_len, 0, NULL)) == NULL || !acme_jwk_equal(pl,
	    a->jws.jwk)) {
		rc = malformed(err, "the external account binding must sign "
		    "the account key");
		goto out;
	}
	snprintf(kind, sizeof(kind), "secrets/acme.%s", a->req->ca);
	if (!hkms_name_valid(kid) || hkms_store_get(a->c->store, kind, kid,
	    &rec, NULL, err) != HKMS_OK) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "unknown external account key");
		goto out;
	}
	if (json_object_get(rec, "account") != NULL) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "the external account key is bound to an account already");
		goto out;
	}
	/* the MAC key is sealed by the token (acme_eab.c); a blob that
	 * does not open (moved from another kid, damaged) is refused */
	if ((rc = acme_eab_unseal(a->c, a->req->ca, kid, rec, &key,
	    err)) != HKMS_OK) {
		if (rc == HKMS_E_VERIFY)
			rc = hkms_err_setc(err, HKMS_E_DENIED,
			    "acme_unauthorized", "the external account key "
			    "record does not open (sealed for another key, "
			    "or damaged)");
		goto out;
	}
	if ((rc = acme_jws_verify_mac(&e, (const unsigned char *)
	    hkms_secret_str(key), hkms_secret_len(key), err)) != HKMS_OK)
		goto out;
	snprintf(kid_out, 65, "%s", kid);
	rc = HKMS_OK;
out:
	hkms_secret_free(key);
	free(txt);
	json_decref(pl);
	json_decref(rec);
	acme_jws_free(&e);
	return rc;
}

/* Bind EAB key kid to account id (a key binds one account). */
static enum hkms_rc
bind_eab(struct acme *a, const char *kid, const char *id,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *rec = NULL;
	char kind[80];

	snprintf(kind, sizeof(kind), "secrets/acme.%s", a->req->ca);
	if ((rc = hkms_store_get(a->c->store, kind, kid, &rec, NULL, err)) !=
	    HKMS_OK)
		return rc;
	json_object_set_new(rec, "account", json_string(id));
	json_object_set_new(rec, "bound", time_json((int64_t)time(NULL)));
	rc = hkms_store_put(a->c->store, kind, kid, rec, NULL, err);
	json_decref(rec);
	return rc;
}

static enum hkms_rc
new_account(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *b = a->jws.body, *idx = NULL, *acct = NULL, *jwk = NULL;
	char tp[48], kname[64], id[33], eab_kid[65];
	int64_t now = (int64_t)time(NULL);

	if ((rc = check_jws(a, 1, 0, err)) != HKMS_OK)
		return rc;
	b = a->jws.body;
	if (b == NULL)
		return malformed(err, "newAccount needs a payload");
	if ((rc = acme_jwk_thumbprint(a->jws.jwk, tp, err)) != HKMS_OK)
		return rc;
	snprintf(kname, sizeof(kname), "k-%s", tp);
	pthread_mutex_lock(&state_mu);
	if (hkms_store_get(a->c->store, a->kind, kname, &idx, NULL, err) ==
	    HKMS_OK) {
		/* §7.3.1: the existing account, 200 with its Location */
		if ((rc = load_account(a, jstr(idx, "account"), err)) !=
		    HKMS_OK)
			goto out;
		a->resp->json = account_json(a, a->acct);
		a->resp->status = 200;
		set_url(a->resp->location, sizeof(a->resp->location), a,
		    "acct", a->acct_id);
		rc = HKMS_OK;
		goto out;
	}
	if (json_is_true(json_object_get(b, "onlyReturnExisting"))) {
		rc = hkms_err_setc(err, HKMS_E_DENIED,
		    "acme_account_does_not_exist", "no account for this key");
		goto out;
	}
	if ((rc = contacts_ok(json_object_get(b, "contact"), err)) != HKMS_OK)
		goto out;
	if (json_is_true(json_object_get(a->setting, "eab_required")) &&
	    json_object_get(b, "externalAccountBinding") == NULL) {
		rc = hkms_err_setc(err, HKMS_E_DENIED,
		    "acme_external_account_required", "this CA requires an "
		    "external account binding");
		goto out;
	}
	eab_kid[0] = '\0';
	if (json_object_get(b, "externalAccountBinding") != NULL &&
	    (rc = check_eab(a, json_object_get(b, "externalAccountBinding"),
	    eab_kid, err)) != HKMS_OK)
		goto out;
	rand_id(id);
	jwk = acme_jwk_canonical(a->jws.jwk);
	acct = json_pack("{s:s,s:s,s:o,s:s,s:O,s:o}", "id", id, "status",
	    "valid", "jwk", jwk, "thumbprint", tp, "contact",
	    json_object_get(b, "contact") ? json_object_get(b, "contact") :
	    json_array(), "created", time_json(now));
	jwk = NULL;
	if (acct == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (json_is_true(json_object_get(b, "termsOfServiceAgreed")))
		json_object_set_new(acct, "tos_agreed", json_true());
	if (eab_kid[0] != '\0') {
		json_object_set_new(acct, "eab_kid", json_string(eab_kid));
		/* the key is bound before the account exists: a crash in
		 * between spends the key, never binds it twice */
		if ((rc = bind_eab(a, eab_kid, id, err)) != HKMS_OK)
			goto out;
	}
	snprintf(a->actor, sizeof(a->actor), "acme:%s/%s", a->req->ca, id);
	a->c->actor = a->actor;
	/* the account first, then its key index: a crash between leaves an
	 * account nobody finds, never an index to nothing */
	if ((rc = put_rec(a, 'a', id, acct, err)) != HKMS_OK)
		goto out;
	json_decref(idx);
	idx = json_pack("{s:s}", "account", id);
	if ((rc = hkms_store_put(a->c->store, a->kind, kname, idx, NULL,
	    err)) != HKMS_OK)
		goto out;
	a->resp->json = account_json(a, acct);
	a->resp->status = 201;
	set_url(a->resp->location, sizeof(a->resp->location), a, "acct", id);
	rc = HKMS_OK;
out:
	pthread_mutex_unlock(&state_mu);
	if (a->resp->status == 201 || rc != HKMS_OK)
		hkms_ops_audit(a->c, "acme.new_account", a->req->ca, rc, err,
		    NULL);
	json_decref(idx);
	json_decref(acct);
	return rc;
}

static enum hkms_rc
account_update(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *b, *v;
	int changed = 0, deact = 0;

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK)
		return rc;
	if (a->req->id == NULL || strcmp(a->req->id, a->acct_id) != 0)
		return hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "an account may only change itself");
	b = a->jws.body;
	pthread_mutex_lock(&state_mu);
	json_decref(a->acct);
	a->acct = NULL;
	if ((rc = get_rec(a, 'a', a->acct_id, &a->acct, err)) != HKMS_OK)
		goto out;
	if (b != NULL && (v = json_object_get(b, "status")) != NULL) {
		if (!json_is_string(v) || strcmp(json_string_value(v),
		    "deactivated") != 0) {
			rc = malformed(err, "status may only become "
			    "deactivated");
			goto out;
		}
		json_object_set_new(a->acct, "status",
		    json_string("deactivated"));
		changed = deact = 1;
	}
	if (b != NULL && (v = json_object_get(b, "contact")) != NULL) {
		if ((rc = contacts_ok(v, err)) != HKMS_OK)
			goto out;
		json_object_set(a->acct, "contact", v);
		changed = 1;
	}
	if (changed && (rc = put_rec(a, 'a', a->acct_id, a->acct, err)) !=
	    HKMS_OK)
		goto out;
	a->resp->json = account_json(a, a->acct);
	a->resp->status = 200;
	rc = HKMS_OK;
out:
	pthread_mutex_unlock(&state_mu);
	if (changed)
		hkms_ops_audit(a->c, deact ? "acme.deactivate" :
		    "acme.update_account", a->req->ca, rc, err, NULL);
	return rc;
}

static enum hkms_rc
account_orders(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *all = NULL, *list, *it;
	size_t i;

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK)
		return rc;
	if (a->req->id == NULL || strcmp(a->req->id, a->acct_id) != 0)
		return hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "the orders of another account");
	if ((rc = hkms_store_list_readable(a->c->store, a->kind, &all, NULL,
	    err)) != HKMS_OK)
		return rc;
	list = json_array();
	json_array_foreach(all, i, it) {
		const char *n = jstr(it, "name");

		if (n != NULL && strncmp(n, "o-", 2) == 0 &&
		    jstr(it, "account") != NULL &&
		    strcmp(jstr(it, "account"), a->acct_id) == 0)
			json_array_append_new(list, url_json(a, "order",
			    n + 2));
	}
	json_decref(all);
	a->resp->json = json_pack("{s:o}", "orders", list);
	a->resp->status = 200;
	return HKMS_OK;
}

/* keyChange (§7.3.5): the outer JWS by the account (kid), its payload a
 * JWS by the new key (jwk) over {account, oldKey} with the same url. */
static enum hkms_rc
key_change(struct acme *a, struct hkms_err *err)
{
	struct acme_jws in;
	enum hkms_rc rc;
	EVP_PKEY *key = NULL;
	json_t *idx = NULL, *kid;
	char tp[48], kname[64], oldname[64], acct_url[700];

	memset(&in, 0, sizeof(in));
	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK)
		return rc;
	if ((rc = acme_jws_parse(a->jws.payload, a->jws.payload_len, 0, 0,
	    &in, err)) != HKMS_OK)
		goto out;
	if (in.jwk == NULL) {
		rc = malformed(err, "the inner JWS of keyChange needs a jwk");
		goto out;
	}
	if (strcmp(in.url, a->jws.url) != 0) {
		rc = malformed(err, "the inner JWS url differs from the outer");
		goto out;
	}
	if ((rc = acme_jwk_key(in.jwk, &key, err)) != HKMS_OK ||
	    (rc = acme_jws_verify(&in, key, err)) != HKMS_OK)
		goto out;
	set_url(acct_url, sizeof(acct_url), a, "acct", a->acct_id);
	kid = json_object_get(in.body, "account");
	if (in.body == NULL || !json_is_string(kid) ||
	    strcmp(json_string_value(kid), acct_url) != 0 ||
	    !acme_jwk_equal(json_object_get(in.body, "oldKey"),
	    json_object_get(a->acct, "jwk"))) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "keyChange must name this account and its current key");
		goto out;
	}
	if ((rc = acme_jwk_thumbprint(in.jwk, tp, err)) != HKMS_OK)
		goto out;
	snprintf(kname, sizeof(kname), "k-%s", tp);
	snprintf(oldname, sizeof(oldname), "k-%s", jstr(a->acct,
	    "thumbprint"));
	pthread_mutex_lock(&state_mu);
	if (hkms_store_exists(a->c->store, a->kind, kname)) {
		pthread_mutex_unlock(&state_mu);
		if (hkms_store_get(a->c->store, a->kind, kname, &idx, NULL,
		    err) == HKMS_OK && jstr(idx, "account") != NULL)
			set_url(a->resp->location, sizeof(a->resp->location),
			    a, "acct", jstr(idx, "account"));
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "acme_conflict",
		    "the new key belongs to an account already");
		goto out;
	}
	idx = json_pack("{s:s}", "account", a->acct_id);
	json_object_set_new(a->acct, "jwk", acme_jwk_canonical(in.jwk));
	json_object_set_new(a->acct, "thumbprint", json_string(tp));
	/* new index, account, then the old index goes: a crash leaves the
	 * old key able to find the account at worst for a while */
	if ((rc = hkms_store_put(a->c->store, a->kind, kname, idx, NULL,
	    err)) == HKMS_OK &&
	    (rc = put_rec(a, 'a', a->acct_id, a->acct, err)) == HKMS_OK)
		hkms_store_delete(a->c->store, a->kind, oldname, NULL);
	pthread_mutex_unlock(&state_mu);
	if (rc == HKMS_OK) {
		a->resp->json = account_json(a, a->acct);
		a->resp->status = 200;
	}
	hkms_ops_audit(a->c, "acme.key_change", a->req->ca, rc, err, NULL);
out:
	EVP_PKEY_free(key);
	json_decref(idx);
	acme_jws_free(&in);
	return rc;
}

/* ---- orders -------------------------------------------------------- */

/* A dns identifier the CA's and the ACME setting's policy accept. */
static enum hkms_rc
identifier_ok(struct acme *a, struct ca *ca, const char *name,
    struct hkms_err *err)
{
	const char *prof = jstr(a->setting, "profile");
	enum hkms_rc rc;

	if (hkms_x509_dns_check(name, strlen(name), 1, NULL) != HKMS_OK)
		return hkms_err_setc(err, HKMS_E_POLICY,
		    "acme_rejected_identifier", "'%.255s' is not a valid dns "
		    "name", name);
	if ((rc = ca_policy_name_ok(json_object_get(a->setting, "policy"),
	    prof, name, err)) != HKMS_OK ||
	    (rc = ca_policy_name_ok(json_object_get(ca->meta, "policy"), prof,
	    name, err)) != HKMS_OK)
		return hkms_err_setc(err, HKMS_E_POLICY,
		    "acme_rejected_identifier", "%s", err->detail);
	return HKMS_OK;
}

static json_t *
new_authz(struct acme *a, const char *name, const char *order, int64_t now,
    char id[33])
{
	static const char *const types[] = { "http-01", "dns-01",
	    "tls-alpn-01" };
	json_t *z, *cs = json_array();
	int wild = strncmp(name, "*.", 2) == 0;
	size_t i;

	rand_id(id);
	for (i = 0; i < 3; i++) {
		char *tok;

		if (wild && strcmp(types[i], "dns-01") != 0)
			continue;
		tok = rand_token();
		json_array_append_new(cs, json_pack("{s:s,s:s,s:s}", "type",
		    types[i], "status", "pending", "token", tok));
		free(tok);
	}
	z = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s},s:o,s:o,s:b}", "id", id,
	    "account", a->acct_id, "order", order, "status", "pending",
	    "identifier", "type", "dns", "value", wild ? name + 2 : name,
	    "expires", time_json(now + lifetime(AUTHZ_LIFETIME)), "challenges", cs,
	    "wildcard", wild);
	return z;
}

static enum hkms_rc
new_order(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	json_t *ids, *it, *norm = NULL, *zids = NULL, *o = NULL, *z;
	char oid[33], zid[33], lower[256];
	int64_t now = (int64_t)time(NULL);
	size_t i, k;

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK)
		return rc;
	ids = json_object_get(a->jws.body, "identifiers");
	if (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_array_size(ids) > MAX_IDENTIFIERS) {
		rc = malformed(err, "identifiers must be an array of 1..100");
		goto out;
	}
	if (json_object_get(a->jws.body, "notBefore") != NULL ||
	    json_object_get(a->jws.body, "notAfter") != NULL) {
		rc = malformed(err, "notBefore and notAfter are not supported "
		    "(the profile sets the lifetime)");
		goto out;
	}
	if ((rc = ca_load(a->c, a->req->ca, 1, &ca, err)) != HKMS_OK)
		goto out;
	norm = json_array();
	json_array_foreach(ids, i, it) {
		const char *t = jstr(it, "type"), *v = jstr(it, "value");

		if (t == NULL || v == NULL) {
			rc = malformed(err, "an identifier needs type and "
			    "value");
			goto out;
		}
		if (strcmp(t, "dns") != 0) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_unsupported_identifier", "identifier type "
			    "'%.32s' is not supported (dns)", t);
			goto out;
		}
		if (strlen(v) >= sizeof(lower)) {
			rc = hkms_err_setc(err, HKMS_E_POLICY,
			    "acme_rejected_identifier", "name too long");
			goto out;
		}
		for (k = 0; v[k] != '\0'; k++)
			lower[k] = (v[k] >= 'A' && v[k] <= 'Z') ? v[k] + 32 :
			    v[k];
		lower[k] = '\0';
		if ((rc = identifier_ok(a, ca, lower, err)) != HKMS_OK)
			goto out;
		for (k = 0; k < json_array_size(norm); k++)
			if (strcmp(jstr(json_array_get(norm, k), "value"),
			    lower) == 0)
				break;
		if (k == json_array_size(norm))
			json_array_append_new(norm, json_pack("{s:s,s:s}",
			    "type", "dns", "value", lower));
	}
	rand_id(oid);
	zids = json_array();
	json_array_foreach(norm, i, it) {
		if ((z = new_authz(a, jstr(it, "value"), oid, now, zid)) ==
		    NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		rc = put_rec(a, 'z', zid, z, err);
		json_decref(z);
		if (rc != HKMS_OK)
			goto out;
		json_array_append_new(zids, json_string(zid));
	}
	o = json_pack("{s:s,s:s,s:s,s:o,s:O,s:O,s:o}", "id", oid, "account",
	    a->acct_id, "status", "pending", "expires", time_json(now +
	    lifetime(ORDER_LIFETIME)), "identifiers", norm, "authorizations", zids,
	    "created", time_json(now));
	if (o == NULL || (rc = put_rec(a, 'o', oid, o, err)) != HKMS_OK) {
		if (o == NULL)
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	a->resp->json = order_json(a, o, now);
	a->resp->status = 201;
	set_url(a->resp->location, sizeof(a->resp->location), a, "order",
	    oid);
	pthread_mutex_lock(&met_mu);
	met_orders++;
	pthread_mutex_unlock(&met_mu);
	rc = HKMS_OK;
out:
	{
		json_t *d = json_pack("{s:O?}", "identifiers", norm);

		if (rc == HKMS_OK)
			json_object_set_new(d, "order", json_string(oid));
		hkms_ops_audit(a->c, "acme.new_order", a->req->ca, rc, err, d);
		json_decref(d);
	}
	ca_free(ca);
	json_decref(norm);
	json_decref(zids);
	json_decref(o);
	return rc;
}

static enum hkms_rc
owned(struct acme *a, json_t *rec, struct hkms_err *err)
{
	const char *acct = jstr(rec, "account");

	if (acct == NULL || strcmp(acct, a->acct_id) != 0)
		return hkms_err_setc(err, HKMS_E_DENIED, "acme_unauthorized",
		    "the object belongs to another account");
	return HKMS_OK;
}

static enum hkms_rc
order_get(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *o = NULL;

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK ||
	    (rc = get_rec(a, 'o', a->req->id, &o, err)) != HKMS_OK ||
	    (rc = owned(a, o, err)) != HKMS_OK)
		goto out;
	a->resp->json = order_json(a, o, (int64_t)time(NULL));
	a->resp->status = 200;
out:
	json_decref(o);
	return rc;
}

static enum hkms_rc
authz_get(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *z = NULL, *v;
	int changed = 0, requeue = 0;

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK)
		return rc;
	pthread_mutex_lock(&state_mu);
	if ((rc = get_rec(a, 'z', a->req->id, &z, err)) != HKMS_OK ||
	    (rc = owned(a, z, err)) != HKMS_OK)
		goto out;
	if (a->jws.body != NULL && (v = json_object_get(a->jws.body,
	    "status")) != NULL) {
		if (!json_is_string(v) || strcmp(json_string_value(v),
		    "deactivated") != 0) {
			rc = malformed(err, "status may only become "
			    "deactivated");
			goto out;
		}
		json_object_set_new(z, "status", json_string("deactivated"));
		if ((rc = put_rec(a, 'z', a->req->id, z, err)) != HKMS_OK)
			goto out;
		changed = 1;
	}
	/* a validation lost with its process (a crash, a restart while it
	 * was queued) is queued again when the client polls after
	 * REQUEUE_S: a challenge never stays processing for good */
	if (json_object_get(z, "validating") != NULL &&
	    (int64_t)time(NULL) - json_integer_value(json_object_get(z,
	    "validating_since")) > REQUEUE_S) {
		json_object_set_new(z, "validating_since", json_integer(
		    (json_int_t)time(NULL)));
		if (put_rec(a, 'z', a->req->id, z, err) == HKMS_OK)
			requeue = 1;
	}
	a->resp->json = authz_json(a, z, (int64_t)time(NULL));
	a->resp->status = 200;
	rc = HKMS_OK;
out:
	pthread_mutex_unlock(&state_mu);
	if (requeue && acme_validate_queue(a->c->service, a->req->ca,
	    a->req->id, err) != HKMS_OK)
		hkms_err_clear(err);
	if (changed)
		hkms_ops_audit(a->c, "acme.deactivate_authz", a->req->ca, rc,
		    err, NULL);
	json_decref(z);
	return rc;
}

/* "<authz>.<type>" */
static enum hkms_rc
chall_post(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *z = NULL, *ch = NULL, *it;
	struct hkms_err e2 = { 0 };
	char zid[80];
	const char *dot, *type;
	size_t i;
	int queue = 0;

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK)
		return rc;
	if (a->req->id == NULL || (dot = strchr(a->req->id, '.')) == NULL ||
	    (size_t)(dot - a->req->id) >= sizeof(zid))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "no such challenge");
	snprintf(zid, sizeof(zid), "%.*s", (int)(dot - a->req->id),
	    a->req->id);
	type = dot + 1;
	pthread_mutex_lock(&state_mu);
	if ((rc = get_rec(a, 'z', zid, &z, err)) != HKMS_OK ||
	    (rc = owned(a, z, err)) != HKMS_OK)
		goto out;
	json_array_foreach(json_object_get(z, "challenges"), i, it)
		if (strcmp(jstr(it, "type"), type) == 0)
			ch = it;
	if (ch == NULL) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "no such challenge");
		goto out;
	}
	/* a payload (even {}) asks for validation; POST-as-GET only reads */
	if (a->jws.body != NULL && strcmp(jstr(ch, "status"), "pending") ==
	    0 && strcmp(authz_status(z, (int64_t)time(NULL)), "pending") ==
	    0) {
		json_object_set_new(ch, "status", json_string("processing"));
		json_object_set_new(z, "validating", json_string(type));
		json_object_set_new(z, "validating_since", json_integer(
		    (json_int_t)time(NULL)));
		if ((rc = put_rec(a, 'z', zid, z, err)) != HKMS_OK)
			goto out;
		queue = 1;
	}
	a->resp->json = chall_json(a, z, ch);
	a->resp->status = 200;
	add_link(a, "authz", zid, "up");
	rc = HKMS_OK;
out:
	pthread_mutex_unlock(&state_mu);
	if (queue && (rc = acme_validate_queue(a->c->service, a->req->ca, zid,
	    err)) != HKMS_OK) {
		json_decref(a->resp->json);
		a->resp->json = NULL;
		/* not queued: the challenge is pending again, for the
		 * client's retry after rateLimited */
		pthread_mutex_lock(&state_mu);
		json_decref(z);
		z = NULL;
		if (get_rec(a, 'z', zid, &z, &e2) == HKMS_OK) {
			json_array_foreach(json_object_get(z, "challenges"), i,
			    it)
				if (strcmp(jstr(it, "type"), type) == 0 &&
				    strcmp(jstr(it, "status"), "processing") ==
				    0)
					json_object_set_new(it, "status",
					    json_string("pending"));
			json_object_del(z, "validating");
			json_object_del(z, "validating_since");
			put_rec(a, 'z', zid, z, &e2);
		}
		pthread_mutex_unlock(&state_mu);
	}
	if (queue && rc == HKMS_OK)
		a->resp->retry_after = 1;
	json_decref(z);
	return rc;
}

/* The validation worker's part (acme_validate.c calls it, no lock held):
 * run the challenge the authorization is validating and record its
 * outcome; the authorization is valid as soon as one challenge is. */
void
acme_validation_done(struct hkms_service *svc, const char *ca,
    const char *zid)
{
	struct hkms_ops_ctx c;
	struct acme a;
	struct hkms_acme_req rq;
	struct hkms_err e = { 0 }, ve = { 0 };
	json_t *z = NULL, *acct = NULL, *ch = NULL, *it;
	char ka[200], actor[128], op[64], type[16];
	const char *t;
	enum hkms_rc vrc;
	size_t i;
	int pending;

	memset(&a, 0, sizeof(a));
	memset(&rq, 0, sizeof(rq));
	rq.ca = ca;
	a.req = &rq;
	snprintf(a.kind, sizeof(a.kind), "acme/%s", ca);
	if (hkms_service_ctx(svc, NULL, "acme-validator",
	    HKMS_SERVICE_NEED_STORE, &c, &e) != HKMS_OK)
		return;
	a.c = &c;
	if (get_rec(&a, 'z', zid, &z, &e) != HKMS_OK ||
	    (t = jstr(z, "validating")) == NULL || strlen(t) >= sizeof(type) ||
	    get_rec(&a, 'a', jstr(z, "account"), &acct, &e) != HKMS_OK)
		goto out;
	/* a copy: z is read again below */
	snprintf(type, sizeof(type), "%s", t);
	json_array_foreach(json_object_get(z, "challenges"), i, it)
		if (strcmp(jstr(it, "type"), type) == 0)
			ch = it;
	if (ch == NULL)
		goto out;
	snprintf(ka, sizeof(ka), "%s.%s", jstr(ch, "token"), jstr(acct,
	    "thumbprint"));
	snprintf(actor, sizeof(actor), "acme:%s/%s", ca, jstr(acct, "id"));
	c.actor = actor;
	vrc = acme_validate_run(c.cfg, type, jstr(json_object_get(z,
	    "identifier"), "value"), jstr(ch, "token"), ka, &ve);
	snprintf(op, sizeof(op), "acme.challenge.%s", type);
	/* record under the lock, on a fresh read */
	pthread_mutex_lock(&state_mu);
	json_decref(z);
	z = NULL;
	ch = NULL;
	if (get_rec(&a, 'z', zid, &z, &e) == HKMS_OK) {
		json_array_foreach(json_object_get(z, "challenges"), i, it)
			if (strcmp(jstr(it, "type"), type) == 0)
				ch = it;
	}
	if (ch != NULL && strcmp(jstr(ch, "status"), "processing") == 0) {
		json_object_del(z, "validating");
		json_object_del(z, "validating_since");
		/* an authorization deactivated (or expired) meanwhile
		 * keeps that status: a late outcome changes the challenge
		 * only */
		pending = strcmp(authz_status(z, (int64_t)time(NULL)),
		    "pending") == 0;
		if (vrc == HKMS_OK) {
			json_object_set_new(ch, "status", json_string("valid"));
			json_object_set_new(ch, "validated",
			    time_json((int64_t)time(NULL)));
			if (pending)
				json_object_set_new(z, "status",
				    json_string("valid"));
		} else {
			json_object_set_new(ch, "status",
			    json_string("invalid"));
			json_object_set_new(ch, "error", json_pack(
			    "{s:s,s:s,s:i}", "type", hkms_acme_problem_type(
			    &ve), "detail", ve.detail, "status", 400));
			if (pending)
				json_object_set_new(z, "status",
				    json_string("invalid"));
		}
		put_rec(&a, 'z', zid, z, &e);
	}
	pthread_mutex_unlock(&state_mu);
	{
		json_t *d = json_pack("{s:s,s:s,s:s}", "authorization", zid,
		    "type", type, "identifier", jstr(json_object_get(z,
		    "identifier"), "value"));

		hkms_ops_audit(&c, op, ca, vrc, &ve, d);
		json_decref(d);
	}
out:
	json_decref(z);
	json_decref(acct);
}

/* ---- finalize, certificate ----------------------------------------- */

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The CSR names exactly the order's identifiers: its dns SANs (and a
 * CN, when it has one, among them); nothing else (§7.4). */
static enum hkms_rc
csr_names_match(X509_REQ *csr, json_t *ids, struct hkms_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES *gens = NULL;
	const char *have[MAX_IDENTIFIERS + 1], *want[MAX_IDENTIFIERS + 1];
	char *own[MAX_IDENTIFIERS + 1];
	size_t nh = 0, nw = 0, i, no = 0;
	enum hkms_rc rc = HKMS_OK;
	X509_NAME *subj = X509_REQ_get_subject_name(csr);
	int idx, k;
	json_t *it;

	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (k = 0; gens != NULL && k < sk_GENERAL_NAME_num(gens); k++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
		const unsigned char *d;
		int len;

		if (g->type != GEN_DNS || nh >= MAX_IDENTIFIERS) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_csr",
			    "the CSR may only name the order's dns names");
			goto out;
		}
		d = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || memchr(d, 0, (size_t)len) != NULL ||
		    (own[no] = strndup((const char *)d, (size_t)len)) ==
		    NULL) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_csr",
			    "the CSR has a bad dns name");
			goto out;
		}
		for (i = 0; own[no][i]; i++)
			if (own[no][i] >= 'A' && own[no][i] <= 'Z')
				own[no][i] += 32;
		have[nh++] = own[no++];
	}
	json_array_foreach(ids, i, it)
		want[nw++] = jstr(it, "value");
	/* a CN must be one of the names */
	idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, idx));
		unsigned char *u = NULL;
		int len = ASN1_STRING_to_UTF8(&u, cn), found = 0;

		for (i = 0; len > 0 && i < nw; i++)
			if ((size_t)len == strlen(want[i]) &&
			    strncasecmp((char *)u, want[i], (size_t)len) == 0)
				found = 1;
		OPENSSL_free(u);
		if (!found) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_csr",
			    "the CSR's common name is not one of the order's "
			    "identifiers");
			goto out;
		}
	}
	qsort(have, nh, sizeof(have[0]), cmp_str);
	qsort(want, nw, sizeof(want[0]), cmp_str);
	/* duplicates in the CSR are tolerated, gaps are not */
	{
		size_t u = 0;

		for (i = 0; i < nh; i++)
			if (u == 0 || strcmp(have[i], have[u - 1]) != 0)
				have[u++] = have[i];
		nh = u;
	}
	if (nh != nw)
		goto mismatch;
	for (i = 0; i < nw; i++)
		if (strcmp(have[i], want[i]) != 0)
			goto mismatch;
	goto out;
mismatch:
	rc = hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_csr", "the CSR's "
	    "dns names differ from the order's identifiers");
out:
	for (i = 0; i < no; i++)
		free(own[i]);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

static void
latency(double s)
{
	size_t i;

	pthread_mutex_lock(&met_mu);
	for (i = 0; i < NBUCKETS; i++)
		if (s <= buckets[i])
			met_b[i]++;
	met_count++;
	met_sum += s;
	met_finalized++;
	pthread_mutex_unlock(&met_mu);
}

static enum hkms_rc
finalize(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *o = NULL, *out = NULL, *idx = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	X509_REQ *csr = NULL;
	const char *csr64, *st, *profile = jstr(a->setting, "profile");
	const char *profs[2] = { profile, NULL };
	struct hkms_permission perm;
	struct hkms_principal p;
	struct hkms_ops_ctx sc;
	struct hkms_ops_ca_sign_req sr;
	struct timespec t0, t1;
	char sname[80];
	int64_t now = (int64_t)time(NULL);

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK)
		return rc;
	csr64 = jstr(a->jws.body, "csr");
	if (csr64 == NULL)
		return malformed(err, "finalize needs csr");
	if (acme_b64url_decode(csr64, strlen(csr64), &der, &derlen) != 0 ||
	    derlen == 0) {
		free(der);
		return hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_csr",
		    "csr is not base64url DER");
	}
	pthread_mutex_lock(&state_mu);
	if ((rc = get_rec(a, 'o', a->req->id, &o, err)) != HKMS_OK ||
	    (rc = owned(a, o, err)) != HKMS_OK)
		goto unlock;
	st = order_status(a, o, now);
	if (strcmp(st, "ready") != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "acme_order_not_ready",
		    "the order is %s, not ready", st);
		goto unlock;
	}
	/* processing while the CA signs: a second finalize is refused */
	json_object_set_new(o, "status", json_string("processing"));
	if ((rc = put_rec(a, 'o', a->req->id, o, err)) != HKMS_OK)
		goto unlock;
	pthread_mutex_unlock(&state_mu);

	if ((rc = hkms_x509_csr_parse(der, derlen, &csr, err)) != HKMS_OK) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_csr", "%s",
		    err->detail);
		goto back;
	}
	if ((rc = csr_names_match(csr, json_object_get(o, "identifiers"),
	    err)) != HKMS_OK)
		goto back;
	/* the operation of ca sign, as a principal that may sign with this
	 * CA and this profile only */
	memset(&perm, 0, sizeof(perm));
	perm.ca = a->req->ca;
	perm.rights = HKMS_PERM_SIGN;
	perm.profiles = profs;
	memset(&p, 0, sizeof(p));
	p.kind = HKMS_PRINCIPAL_CLIENT;
	p.name = a->actor;
	p.clearance = HKMS_CLEARANCE_USER;
	p.perms = &perm;
	p.nperms = 1;
	sc = *a->c;
	sc.principal = &p;
	sc.actor = a->actor;
	memset(&sr, 0, sizeof(sr));
	sr.ca = a->req->ca;
	sr.profile = profile;
	sr.csr = der;
	sr.csr_len = derlen;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = hkms_ops_ca_sign(&sc, &sr, &out, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != HKMS_OK) {
		if (rc == HKMS_E_POLICY)
			rc = hkms_err_setc(err, HKMS_E_POLICY,
			    "acme_rejected_identifier", "%s", err->detail);
		else if (rc == HKMS_E_INVALID || rc == HKMS_E_VERIFY)
			rc = hkms_err_setc(err, HKMS_E_INVALID, "acme_bad_csr",
			    "%s", err->detail);
		goto back;
	}
	latency((double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	pthread_mutex_lock(&state_mu);
	json_object_set_new(o, "status", json_string("valid"));
	json_object_set(o, "serial", json_object_get(out, "serial"));
	json_object_set(o, "certificate_pem", json_object_get(out, "pem"));
	rc = put_rec(a, 'o', a->req->id, o, err);
	idx = json_pack("{s:s,s:s}", "order", a->req->id, "account",
	    a->acct_id);
	snprintf(sname, sizeof(sname), "s-%s", jstr(out, "serial"));
	if (rc == HKMS_OK && hkms_name_valid(sname))
		rc = hkms_store_put(a->c->store, a->kind, sname, idx, NULL,
		    err);
	if (rc != HKMS_OK)
		goto unlock;
	a->resp->json = order_json(a, o, now);
	a->resp->status = 200;
	set_url(a->resp->location, sizeof(a->resp->location), a, "order",
	    a->req->id);
	goto unlock;
back:
	/* nothing was issued: the order is ready again */
	pthread_mutex_lock(&state_mu);
	{
		struct hkms_err e2 = { 0 };

		json_object_set_new(o, "status", json_string("ready"));
		put_rec(a, 'o', a->req->id, o, &e2);
	}
unlock:
	pthread_mutex_unlock(&state_mu);
	json_decref(o);
	json_decref(out);
	json_decref(idx);
	X509_REQ_free(csr);
	free(der);
	return rc;
}

static enum hkms_rc
cert_get(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *o = NULL;
	const char *pem;

	if ((rc = check_jws(a, 0, 1, err)) != HKMS_OK ||
	    (rc = get_rec(a, 'o', a->req->id, &o, err)) != HKMS_OK ||
	    (rc = owned(a, o, err)) != HKMS_OK)
		goto out;
	if ((pem = jstr(o, "certificate_pem")) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "the order has no certificate");
		goto out;
	}
	if ((a->resp->pem = strdup(pem)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	a->resp->status = 200;
	add_link(a, "directory", NULL, "index");
	rc = HKMS_OK;
out:
	json_decref(o);
	return rc;
}

/* ---- revocation (§7.6) --------------------------------------------- */

static enum hkms_rc
revoke(struct acme *a, struct hkms_err *err)
{
	enum hkms_rc rc;
	const char *c64;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t derlen = 0;
	X509 *x = NULL;
	EVP_PKEY *jk = NULL;
	struct ca *ca = NULL;
	ASN1_INTEGER *sn;
	char hex[HKMS_X509_SERIAL_HEX_MAX], sname[80];
	json_t *idx = NULL, *v, *d = NULL;
	json_int_t reason = 0;

	if ((rc = check_jws(a, 1, 1, err)) != HKMS_OK)
		return rc;
	c64 = jstr(a->jws.body, "certificate");
	if (c64 == NULL)
		return malformed(err, "revokeCert needs certificate");
	if ((v = json_object_get(a->jws.body, "reason")) != NULL) {
		reason = json_integer_value(v);
		if (!json_is_integer(v) || reason < 0 || reason > 10 ||
		    reason == 7 || reason == 2 || reason == 8)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "acme_bad_revocation_reason", "reason must be an "
			    "RFC 5280 reason code (0-6, 9, 10) a subscriber "
			    "may give");
	}
	if (acme_b64url_decode(c64, strlen(c64), &der, &derlen) != 0 ||
	    (p = der, x = d2i_X509(NULL, &p, (long)derlen)) == NULL) {
		rc = malformed(err, "certificate is not base64url DER");
		goto out;
	}
	if ((rc = ca_load(a->c, a->req->ca, 1, &ca, err)) != HKMS_OK)
		goto out;
	if (X509_check_issued(ca->cert, x) != X509_V_OK ||
	    X509_verify(x, X509_get0_pubkey(ca->cert)) != 1) {
		ERR_clear_error();
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "the certificate was not issued by this CA");
		goto out;
	}
	sn = X509_get_serialNumber(x);
	if ((rc = hkms_x509_serial_to_hex(sn, hex, err)) != HKMS_OK)
		goto out;
	if (a->jws.jwk != NULL) {
		/* signed by the certificate's own key */
		if ((rc = acme_jwk_key(a->jws.jwk, &jk, err)) != HKMS_OK)
			goto out;
		if (EVP_PKEY_eq(jk, X509_get0_pubkey(x)) != 1) {
			rc = hkms_err_setc(err, HKMS_E_DENIED,
			    "acme_unauthorized", "the jwk is not the "
			    "certificate's key");
			goto out;
		}
		snprintf(a->actor, sizeof(a->actor), "acme:%s/certificate-key",
		    a->req->ca);
		a->c->actor = a->actor;
	} else {
		snprintf(sname, sizeof(sname), "s-%s", hex);
		if (hkms_store_get(a->c->store, a->kind, sname, &idx, NULL,
		    err) != HKMS_OK || jstr(idx, "account") == NULL ||
		    strcmp(jstr(idx, "account"), a->acct_id) != 0) {
			rc = hkms_err_setc(err, HKMS_E_DENIED,
			    "acme_unauthorized", "the account did not order "
			    "this certificate");
			goto out;
		}
	}
	d = json_pack("{s:s,s:s}", "serial", hex, "reason",
	    hkms_x509_crl_reason_name((enum hkms_x509_crl_reason)reason));
	rc = ca_revoke_one(a->c, ca, hex, (enum hkms_x509_crl_reason)reason, d,
	    NULL, err);
	if (rc == HKMS_E_EXISTS)
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "acme_already_revoked",
		    "the certificate is revoked already");
	hkms_ops_audit(a->c, "ca.revoke", a->req->ca, rc, err, d);
	if (rc != HKMS_OK)
		goto out;
	a->resp->status = 200;
	rc = HKMS_OK;
out:
	json_decref(d);
	json_decref(idx);
	EVP_PKEY_free(jk);
	X509_free(x);
	ca_free(ca);
	free(der);
	return rc;
}

/* ---- the entry point ----------------------------------------------- */

enum hkms_rc
hkms_ops_acme(struct hkms_ops_ctx *c, const struct hkms_acme_req *req,
    struct hkms_acme_resp *resp, struct hkms_err *err)
{
	struct acme a;
	enum hkms_rc rc;
	const char *ep;

	OPS_AUTHORIZE(c, "acme.request", req ? req->ca : NULL, NULL, err);
	if (req == NULL || resp == NULL || req->endpoint == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	memset(resp, 0, sizeof(*resp));
	memset(&a, 0, sizeof(a));
	a.c = c;
	a.req = req;
	a.resp = resp;
	ep = req->endpoint;
	/* every answer carries a fresh nonce (§6.5), errors too */
	if ((rc = acme_nonce_new(resp->nonce, err)) != HKMS_OK)
		return rc;
	if ((rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = load_setting(c, req->ca, &a.setting, err)) != HKMS_OK)
		goto out;
	snprintf(a.kind, sizeof(a.kind), "acme/%s", req->ca);
	if (strcmp(ep, "directory") != 0)
		add_link(&a, "directory", NULL, "index");
	if (strcmp(ep, "directory") == 0)
		rc = directory(&a, err);
	else if (strcmp(ep, "new-nonce") == 0) {
		resp->status = req->head ? 200 : 204;
		rc = HKMS_OK;
	} else if (strcmp(ep, "new-account") == 0)
		rc = new_account(&a, err);
	else if (strcmp(ep, "acct") == 0)
		rc = account_update(&a, err);
	else if (strcmp(ep, "orders") == 0)
		rc = account_orders(&a, err);
	else if (strcmp(ep, "key-change") == 0)
		rc = key_change(&a, err);
	else if (strcmp(ep, "new-order") == 0)
		rc = new_order(&a, err);
	else if (strcmp(ep, "order") == 0)
		rc = order_get(&a, err);
	else if (strcmp(ep, "authz") == 0)
		rc = authz_get(&a, err);
	else if (strcmp(ep, "chall") == 0)
		rc = chall_post(&a, err);
	else if (strcmp(ep, "finalize") == 0)
		rc = finalize(&a, err);
	else if (strcmp(ep, "cert") == 0)
		rc = cert_get(&a, err);
	else if (strcmp(ep, "revoke-cert") == 0)
		rc = revoke(&a, err);
	else
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_found",
		    "no such ACME resource");
out:
	if (rc != HKMS_OK) {
		json_decref(resp->json);
		resp->json = NULL;
		free(resp->pem);
		resp->pem = NULL;
	}
	acme_jws_free(&a.jws);
	json_decref(a.acct);
	json_decref(a.setting);
	return rc;
}

void
hkms_acme_resp_free(struct hkms_acme_resp *r)
{
	if (r == NULL)
		return;
	json_decref(r->json);
	free(r->pem);
	memset(r, 0, sizeof(*r));
}

#define U "urn:ietf:params:acme:error:"

const char *
hkms_acme_problem_type(const struct hkms_err *err)
{
	static const struct {
		const char *code, *type;
	} map[] = {
		{ "acme_malformed", U "malformed" },
		{ "acme_bad_nonce", U "badNonce" },
		{ "acme_unauthorized", U "unauthorized" },
		{ "acme_account_does_not_exist", U "accountDoesNotExist" },
		{ "acme_bad_signature_algorithm", U "badSignatureAlgorithm" },
		{ "acme_bad_signature", U "malformed" },
		{ "acme_bad_public_key", U "badPublicKey" },
		{ "acme_rejected_identifier", U "rejectedIdentifier" },
		{ "acme_unsupported_identifier", U "unsupportedIdentifier" },
		{ "acme_bad_csr", U "badCSR" },
		{ "acme_order_not_ready", U "orderNotReady" },
		{ "acme_incorrect_response", U "incorrectResponse" },
		{ "acme_connection", U "connection" },
		{ "acme_dns", U "dns" },
		{ "acme_tls", U "tls" },
		{ "acme_rejected_target", U "rejectedIdentifier" },
		{ "acme_already_revoked", U "alreadyRevoked" },
		{ "acme_bad_revocation_reason", U "badRevocationReason" },
		{ "acme_external_account_required", U "externalAccountRequired" },
		{ "acme_invalid_contact", U "invalidContact" },
		{ "acme_not_found", U "malformed" },
		{ "acme_not_enabled", U "malformed" },
		{ "acme_conflict", U "malformed" },
		{ "acme_busy", U "rateLimited" },
		{ "policy_violation", U "rejectedIdentifier" },
		{ "too_large", U "malformed" },
		{ "acme_unsupported_media_type", U "malformed" },
		/* answered by the server before an ACME route runs */
		{ "route_not_found", U "malformed" },
		{ "method_not_allowed", U "malformed" },
		{ "too_many_requests", U "rateLimited" },
	};
	const char *code = hkms_err_code(err);
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].type;
	if (err->rc == HKMS_E_INVALID)
		return U "malformed";
	if (err->rc == HKMS_E_DENIED)
		return U "unauthorized";
	return U "serverInternal";
}

#undef U

json_t *
hkms_ops_acme_metrics(void)
{
	json_t *o, *b = json_array();
	size_t i;

	pthread_mutex_lock(&met_mu);
	for (i = 0; i < NBUCKETS; i++)
		json_array_append_new(b, json_pack("{s:f,s:I}", "le",
		    buckets[i], "count", (json_int_t)met_b[i]));
	o = json_pack("{s:I,s:I,s:{s:o,s:f,s:I}}", "orders",
	    (json_int_t)met_orders, "finalized", (json_int_t)met_finalized,
	    "issue_seconds", "buckets", b, "sum", met_sum, "count",
	    (json_int_t)met_count);
	pthread_mutex_unlock(&met_mu);
	return o;
}
