/*
 * EST, RFC 7030 (docs/est.md): which CAs serve it and with which profile
 * (state/est/<ca>), the one-time enrollment passwords an operator makes
 * for first enrollment (secrets/est-tokens/<id>: a salted PBKDF2 hash,
 * never the password), and the four EST operations the routes of
 * src/http/routes_est.c call.
 *
 * An enrollment is authenticated here and then issued by
 * hkms_ops_ca_sign(), the same operation as `ca sign` (policy, profile,
 * audit, group commit), under a principal made for it: a user granted
 * sign on this CA with the EST profile only, whose audit actor names the
 * password ("est-token:<id>") or the certificate ("est-client:<sha256>").
 *
 * Single use: a password is claimed under the store's data lock (status
 * active -> claimed, threads and processes exclude each other there), so
 * of two concurrent enrollments exactly one goes on to issue; it becomes
 * used (with the serial) after the issuance, or active again when the
 * issuance failed. A crash between claim and result leaves it claimed,
 * which counts as used: the operator makes a new one.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/clients.h"
#include "hkms/log.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "ca_int.h"
#include "ops_int.h"

#define EST_KIND "state/est"
#define TOKEN_KIND "secrets/est-tokens"
#define TOKEN_ITER 10000	/* the password has 144 random bits: the
				 * hash only keeps a copy of the store from
				 * being a list of passwords */
#define TOKEN_DAYS_DEFAULT 7
#define TOKEN_DAYS_MAX 365
#define SALT_LEN 16
#define HASH_LEN 32
#define PASS_BYTES 18
#define EST_BODY_MAX (64 * 1024)

/* ---- base64 ---------------------------------------------------------- */

static int
b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode base64 with any white space between the characters and the
 * padding optional (a '=' only at the end). *out malloc'd. -1: bad. */
static int
b64_decode(const unsigned char *in, size_t len, unsigned char **out,
    size_t *olen)
{
	unsigned char *o;
	unsigned acc = 0;
	size_t i, n = 0, pad = 0;
	int bits = 0, v;

	if ((o = malloc(len / 4 * 3 + 3)) == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n')
			continue;
		if (in[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64val(in[i])) < 0)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* leftover bits must be zero and fewer than a byte; padding (when
	 * given) must complete the last quantum */
	if (bits >= 6 || acc != 0 || pad > 2 || (pad > 0 && (bits / 2) !=
	    (int)pad))
		goto bad;
	*out = o;
	*olen = n;
	return 0;
bad:
	OPENSSL_clear_free(o, len / 4 * 3 + 3);
	return -1;
}

/* base64 with a line break every 64 characters (RFC 2045 style, what EST
 * clients expect with Content-Transfer-Encoding: base64). */
static enum hkms_rc
b64_encode(const unsigned char *in, size_t len, char **out, size_t *olen,
    struct hkms_err *err)
{
	size_t cap = (len + 2) / 3 * 4 + len / 48 + 2, n = 0, i, chunk;
	char *o = malloc(cap + 1);

	if (o == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	for (i = 0; i < len; i += chunk) {
		chunk = len - i < 48 ? len - i : 48;
		n += (size_t)EVP_EncodeBlock((unsigned char *)o + n, in + i,
		    (int)chunk);
		o[n++] = '\n';
	}
	o[n] = '\0';
	*out = o;
	*olen = n;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_est_body_decode(const unsigned char *body, size_t len,
    unsigned char **der, size_t *der_len, struct hkms_err *err)
{
	const unsigned char *p;
	unsigned char *d = NULL;
	X509_REQ *r = NULL;
	struct hkms_err e = { 0 };
	size_t n = 0;

	if (der == NULL || der_len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*der = NULL;
	*der_len = 0;
	if (body == NULL || len == 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "est_bad_request",
		    "the request body is empty: base64 of a DER PKCS#10 "
		    "is required");
	if (len > EST_BODY_MAX)
		return hkms_err_setc(err, HKMS_E_INVALID, "est_bad_request",
		    "the request body is larger than %d bytes", EST_BODY_MAX);
	if (b64_decode(body, len, &d, &n) != 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "est_bad_request",
		    "the request body is not base64");
	if (n == 0) {
		free(d);
		return hkms_err_setc(err, HKMS_E_INVALID, "est_bad_request",
		    "the request body holds no base64");
	}
	/* a whole DER PKCS#10, nothing after it (PEM is not EST), that the
	 * CSR parser of ca sign takes too */
	p = d;
	if (d[0] != 0x30 || (r = d2i_X509_REQ(NULL, &p, (long)n)) == NULL ||
	    (size_t)(p - d) != n) {
		X509_REQ_free(r);
		free(d);
		ERR_clear_error();
		return hkms_err_setc(err, HKMS_E_INVALID, "est_bad_request",
		    "the request body is not base64 of one DER PKCS#10");
	}
	X509_REQ_free(r);
	r = NULL;
	if (hkms_x509_csr_parse(d, n, &r, &e) != HKMS_OK) {
		free(d);
		return hkms_err_setc(err, HKMS_E_INVALID, "est_bad_request",
		    "the request body is not a usable PKCS#10: %s", e.detail);
	}
	X509_REQ_free(r);
	*der = d;
	*der_len = n;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_est_basic_parse(const char *header, char **user, char **pass,
    struct hkms_err *err)
{
	unsigned char *dec = NULL;
	const char *p;
	size_t n = 0;
	char *colon;

	if (user == NULL || pass == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*user = *pass = NULL;
	if (header == NULL || strncasecmp(header, "Basic", 5) != 0 ||
	    (header[5] != ' ' && header[5] != '\t'))
		return hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "the authorization is not HTTP Basic");
	for (p = header + 5; *p == ' ' || *p == '\t'; p++)
		;
	if (strlen(p) > 1024 || b64_decode((const unsigned char *)p,
	    strlen(p), &dec, &n) != 0)
		return hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "the Basic credentials are not base64");
	if (memchr(dec, '\0', n) != NULL || (colon = memchr(dec, ':', n)) ==
	    NULL) {
		OPENSSL_clear_free(dec, n);
		return hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "the Basic credentials are not user:password");
	}
	*user = strndup((char *)dec, (size_t)(colon - (char *)dec));
	*pass = strndup(colon + 1, n - (size_t)(colon + 1 - (char *)dec));
	OPENSSL_clear_free(dec, n);
	if (*user == NULL || *pass == NULL) {
		free(*user);
		if (*pass != NULL)
			OPENSSL_clear_free(*pass, strlen(*pass));
		*user = *pass = NULL;
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	return HKMS_OK;
}

/* ---- small helpers ------------------------------------------------- */

static json_t *
now_json(void)
{
	char buf[32];

	return json_string(hkms_time_str((int64_t)time(NULL), buf));
}

static int
unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		hi = isxdigit((unsigned char)s[2 * i]) ? (isdigit((unsigned
		    char)s[2 * i]) ? s[2 * i] - '0' : (tolower((unsigned
		    char)s[2 * i]) - 'a' + 10)) : -1;
		lo = isxdigit((unsigned char)s[2 * i + 1]) ? (isdigit(
		    (unsigned char)s[2 * i + 1]) ? s[2 * i + 1] - '0' :
		    (tolower((unsigned char)s[2 * i + 1]) - 'a' + 10)) : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi * 16 + lo);
	}
	return 0;
}

static enum hkms_rc
pass_hash(const char *pass, const unsigned char *salt, int iter,
    unsigned char out[HASH_LEN], struct hkms_err *err)
{
	if (PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), salt, SALT_LEN, iter,
	    EVP_sha256(), HASH_LEN, out) != 1)
		return hkms_err_set(err, HKMS_E_CRYPTO, "cannot hash the "
		    "enrollment password");
	return HKMS_OK;
}

/* The default EST CA (the paths without a CA label): its settings. */
static enum hkms_rc
est_default(struct hkms_ops_ctx *c, json_t **out, struct hkms_err *err)
{
	json_t *list = NULL, *e;
	enum hkms_rc rc;
	size_t i;

	if ((rc = hkms_store_list(c->store, EST_KIND, &list, err)) != HKMS_OK)
		return rc;
	json_array_foreach(list, i, e) {
		if (json_is_true(json_object_get(e, "default")) &&
		    json_string_value(json_object_get(e, "ca")) != NULL &&
		    hkms_store_exists(c->store, CA_KIND, json_string_value(
		    json_object_get(e, "ca")))) {
			*out = json_incref(e);
			json_decref(list);
			return HKMS_OK;
		}
	}
	json_decref(list);
	return hkms_err_setc(err, HKMS_E_NOT_FOUND, "est_not_enabled",
	    "no CA is the default EST CA (the path names none)");
}

/* The EST settings of ca (NULL: of the default EST CA; its name is the
 * settings' "ca"): HKMS_E_NOT_FOUND "ca_not_found" for no CA,
 * "est_not_enabled" for a CA without EST. */
static enum hkms_rc
est_settings(struct hkms_ops_ctx *c, const char *ca, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (ca == NULL)
		return est_default(c, out, err);
	if ((rc = ca_name_check(ca, err)) != HKMS_OK)
		return rc;
	if (!hkms_store_exists(c->store, CA_KIND, ca))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "ca_not_found",
		    "no CA '%s'", ca);
	if (!hkms_store_exists(c->store, EST_KIND, ca))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "est_not_enabled",
		    "EST is not enabled on CA '%s'", ca);
	return hkms_store_get(c->store, EST_KIND, ca, out, NULL, err);
}

static const char *
token_status(json_t *t, int64_t now)
{
	const char *s = json_string_value(json_object_get(t, "status"));
	int64_t ex = ca_parse_time(json_string_value(json_object_get(t,
	    "expires")));

	if (s == NULL)
		return "damaged";
	if (strcmp(s, "active") == 0 && (ex < 0 || ex <= now))
		return "expired";
	return s;
}

/* A token record as shown: never the salt or hash. */
static json_t *
token_public(json_t *t)
{
	json_t *o = json_deep_copy(t);

	if (o == NULL)
		return NULL;
	json_object_del(o, "salt");
	json_object_del(o, "hash");
	json_object_del(o, "iter");
	json_object_set_new(o, "status", json_string(token_status(t,
	    (int64_t)time(NULL))));
	return o;
}

static char *san_str(GENERAL_NAMES *g);

/* ---- enabling -------------------------------------------------------- */

/* Under the data lock: no CA but keep is the default EST CA any more. */
static enum hkms_rc
clear_default(struct hkms_ops_ctx *c, const char *keep, struct hkms_err *err)
{
	json_t *list = NULL, *e;
	enum hkms_rc rc;
	const char *name;
	size_t i;

	if ((rc = hkms_store_list(c->store, EST_KIND, &list, err)) != HKMS_OK)
		return rc;
	json_array_foreach(list, i, e) {
		name = json_string_value(json_object_get(e, "name"));
		if (name == NULL || strcmp(name, keep) == 0 ||
		    !json_is_true(json_object_get(e, "default")))
			continue;
		json_object_set_new(e, "default", json_false());
		if ((rc = hkms_store_put(c->store, EST_KIND, name, e, NULL,
		    err)) != HKMS_OK)
			break;
	}
	json_decref(list);
	return rc;
}

enum hkms_rc
hkms_ops_est_enable(struct hkms_ops_ctx *c,
    const struct hkms_ops_est_enable_req *req, json_t **out,
    struct hkms_err *err)
{
	struct hkms_x509_profile *prof = NULL;
	char path[128];
	enum hkms_rc rc;
	json_t *rec = NULL, *d;
	int locked = 0;

	OPS_AUTHORIZE(c, "est.enable", req ? req->ca : NULL, req ?
	    req->profile : NULL, err);
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = ca_name_check(req->ca, err)) != HKMS_OK)
		goto out;
	if (req->profile == NULL || req->profile[0] == '\0') {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "profile is required (e.g. tls-client)");
		goto out;
	}
	if ((rc = ops_days_check(req->days, HKMS_OPS_DAYS_MAX, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_x509_profile_get(req->profile, c->cfg ?
	    c->cfg->profiles_dir : NULL, &prof, err)) != HKMS_OK)
		goto out;
	if (hkms_x509_profile_is_ca(prof)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_profile",
		    "profile '%s' makes CA certificates; EST issues leaf "
		    "certificates", req->profile);
		goto out;
	}
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (!hkms_store_exists(c->store, CA_KIND, req->ca)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "ca_not_found",
		    "no CA '%s'", req->ca);
		goto out;
	}
	snprintf(path, sizeof(path), "/.well-known/est/%s/", req->ca);
	rec = json_pack("{s:s,s:s,s:i,s:o,s:s,s:s,s:b}", "ca", req->ca,
	    "profile", req->profile, "days", req->days, "enabled_at",
	    now_json(), "enabled_by", c->actor ? c->actor : "unknown",
	    "url_path", path, "default", req->make_default ? 1 : 0);
	if (rec == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	d = json_pack("{s:s,s:i,s:b}", "profile", req->profile, "days",
	    req->days, "default", req->make_default ? 1 : 0);
	rc = hkms_ops_audit_ahead(c, "est.enable", req->ca, d, err);
	json_decref(d);
	if (rc != HKMS_OK || (req->make_default && (rc = clear_default(c,
	    req->ca, err)) != HKMS_OK) || (rc = hkms_store_put(c->store,
	    EST_KIND, req->ca, rec, NULL, err)) != HKMS_OK)
		goto out;
	*out = rec;
	rec = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	d = json_pack("{s:s?}", "profile", req->profile);
	hkms_ops_audit(c, "est.enable", req->ca ? req->ca : "", rc, err, d);
	json_decref(d);
	json_decref(rec);
	hkms_x509_profile_free(prof);
	return rc;
}

enum hkms_rc
hkms_ops_est_disable(struct hkms_ops_ctx *c, const char *ca,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	int locked = 0;

	OPS_AUTHORIZE(c, "est.disable", ca, NULL, err);
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = ca_name_check(ca, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (!hkms_store_exists(c->store, EST_KIND, ca)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "est_not_enabled",
		    "EST is not enabled on CA '%s'", ca);
		goto out;
	}
	if ((rc = hkms_ops_audit_ahead(c, "est.disable", ca, NULL, err)) !=
	    HKMS_OK || (rc = hkms_store_delete(c->store, EST_KIND, ca,
	    err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	hkms_ops_audit(c, "est.disable", ca ? ca : "", rc, err, NULL);
	return rc;
}

static size_t
active_tokens(json_t *tokens, const char *ca, int64_t now)
{
	size_t i, n = 0;
	json_t *t;

	json_array_foreach(tokens, i, t) {
		if (strcmp(json_string_value(json_object_get(t, "ca")) ?
		    json_string_value(json_object_get(t, "ca")) : "", ca) ==
		    0 && strcmp(token_status(t, now), "active") == 0)
			n++;
	}
	return n;
}

enum hkms_rc
hkms_ops_est_status(struct hkms_ops_ctx *c, const char *ca, json_t **out,
    struct hkms_err *err)
{
	json_t *list = NULL, *tokens = NULL, *one = NULL, *e;
	int64_t now = (int64_t)time(NULL);
	enum hkms_rc rc;
	size_t i;

	OPS_AUTHORIZE(c, "est.status", ca, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_list(c->store, TOKEN_KIND, &tokens, err)) !=
	    HKMS_OK)
		goto out;
	if (ca != NULL) {
		if ((rc = est_settings(c, ca, &one, err)) != HKMS_OK)
			goto out;
		json_object_set_new(one, "active_tokens", json_integer(
		    (json_int_t)active_tokens(tokens, ca, now)));
		*out = one;
		one = NULL;	/* transferred */
		rc = HKMS_OK;
		goto out;
	}
	if ((rc = hkms_store_list(c->store, EST_KIND, &list, err)) != HKMS_OK)
		goto out;
	json_array_foreach(list, i, e) {
		json_object_del(e, "name");
		json_object_set_new(e, "active_tokens", json_integer(
		    (json_int_t)active_tokens(tokens,
		    json_string_value(json_object_get(e, "ca")) ?
		    json_string_value(json_object_get(e, "ca")) : "", now)));
	}
	*out = list;
	list = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(list);
	json_decref(tokens);
	json_decref(one);
	return rc;
}

/* ---- enrollment passwords ------------------------------------------ */

enum hkms_rc
hkms_ops_est_token_create(struct hkms_ops_ctx *c,
    const struct hkms_ops_est_token_req *req, json_t **out,
    struct hkms_err *err)
{
	unsigned char rnd[6], salt[SALT_LEN], hash[HASH_LEN], pw[PASS_BYTES];
	char id[20], salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
	char pass[PASS_BYTES * 4 / 3 + 4], exp[32], *subj = NULL;
	char *san = NULL;
	GENERAL_NAMES *gens = NULL;
	X509_NAME *name = NULL;
	json_t *rec = NULL, *res = NULL, *d = NULL, *cfg = NULL;
	int days, locked = 0;
	enum hkms_rc rc;
	size_t i;

	OPS_AUTHORIZE(c, "est.token_create", req ? req->ca : NULL, NULL, err);
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	days = req->days ? req->days : TOKEN_DAYS_DEFAULT;
	if (req->ca == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "ca is required");
		goto out;
	}
	if ((rc = ops_days_check(req->days, TOKEN_DAYS_MAX, err)) != HKMS_OK)
		goto out;
	if (req->subject == NULL || req->subject[0] == '\0') {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "subject is required (the subject the CSR must have)");
		goto out;
	}
	/* the subject in its canonical form: what the CSR is compared to */
	if ((rc = hkms_x509_name_parse(req->subject, &name, err)) != HKMS_OK ||
	    (rc = hkms_x509_name_format(name, &subj, err)) != HKMS_OK)
		goto out;
	/* the SANs the password grants, in canonical form: a password is
	 * for its names only, not for any name the profile would copy */
	if (req->san != NULL && req->san[0] != '\0') {
		if ((rc = hkms_x509_san_parse(req->san, &gens, err)) !=
		    HKMS_OK)
			goto out;
		if ((san = san_str(gens)) == NULL) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
			    "san cannot be formatted");
			goto out;
		}
	}
	if ((rc = est_settings(c, req->ca, &cfg, err)) != HKMS_OK)
		goto out;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 || RAND_bytes(salt,
	    sizeof(salt)) != 1 || RAND_bytes(pw, sizeof(pw)) != 1) {
		rc = hkms_err_set(err, HKMS_E_CRYPTO, "no random bytes");
		goto out;
	}
	memcpy(id, "est-", 4);
	hkms_hex(rnd, sizeof(rnd), 0, id + 4);
	/* base64url without padding: no ':' (Basic), no '/' or '+' */
	EVP_EncodeBlock((unsigned char *)pass, pw, sizeof(pw));
	for (i = 0; pass[i] != '\0'; i++)
		if (pass[i] == '+')
			pass[i] = '-';
		else if (pass[i] == '/')
			pass[i] = '_';
	if ((rc = pass_hash(pass, salt, TOKEN_ITER, hash, err)) != HKMS_OK)
		goto out;
	hkms_hex(salt, sizeof(salt), 0, salt_hex);
	hkms_hex(hash, sizeof(hash), 0, hash_hex);
	hkms_time_str((int64_t)time(NULL) + (int64_t)days * CA_DAY, exp);
	rec = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:i}", "id",
	    id, "ca", req->ca, "subject", subj, "san", san ? san : "",
	    "created", now_json(), "expires", exp, "created_by", c->actor ?
	    c->actor : "unknown", "status", "active", "salt", salt_hex, "hash",
	    hash_hex, "iter", TOKEN_ITER);
	if (rec == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	d = json_pack("{s:s,s:s,s:s,s:s}", "token", id, "subject", subj,
	    "san", san ? san : "", "expires", exp);
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = hkms_ops_audit_ahead(c, "est.token_create", req->ca, d,
	    err)) != HKMS_OK || (rc = hkms_store_put(c->store, TOKEN_KIND, id,
	    rec, NULL, err)) != HKMS_OK)
		goto out;
	if ((res = token_public(rec)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(res, "password", json_string(pass));
	*out = res;
	res = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	hkms_ops_audit(c, "est.token_create", req->ca ? req->ca : "", rc, err,
	    d);
	OPENSSL_cleanse(pass, sizeof(pass));
	OPENSSL_cleanse(pw, sizeof(pw));
	json_decref(d);
	json_decref(rec);
	json_decref(res);
	json_decref(cfg);
	X509_NAME_free(name);
	GENERAL_NAMES_free(gens);
	free(subj);
	free(san);
	return rc;
}

enum hkms_rc
hkms_ops_est_token_list(struct hkms_ops_ctx *c, const char *ca,
    json_t **out, struct hkms_err *err)
{
	json_t *list = NULL, *res = NULL, *t, *o;
	enum hkms_rc rc;
	size_t i;

	OPS_AUTHORIZE(c, "est.token_list", ca, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_list(c->store, TOKEN_KIND, &list, err)) !=
	    HKMS_OK)
		goto out;
	if ((res = json_array()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(list, i, t) {
		if (ca != NULL && (json_string_value(json_object_get(t,
		    "ca")) == NULL || strcmp(json_string_value(
		    json_object_get(t, "ca")), ca) != 0))
			continue;
		if ((o = token_public(t)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		json_object_del(o, "name");
		json_array_append_new(res, o);
	}
	*out = res;
	res = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(list);
	json_decref(res);
	return rc;
}

static enum hkms_rc
token_id_check(const char *id, struct hkms_err *err)
{
	if (id == NULL || strncmp(id, "est-", 4) != 0 || !hkms_name_valid(id))
		return hkms_err_setc(err, HKMS_E_NOT_FOUND,
		    "est_token_not_found", "no enrollment password '%.80s'",
		    id ? id : "");
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_est_token_delete(struct hkms_ops_ctx *c, const char *id,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *t = NULL;
	const char *ca = "";
	int locked = 0;

	OPS_AUTHORIZE(c, "est.token_delete", NULL, NULL, err);
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = token_id_check(id, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (!hkms_store_exists(c->store, TOKEN_KIND, id)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND,
		    "est_token_not_found", "no enrollment password '%s'", id);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, TOKEN_KIND, id, &t, NULL, err)) !=
	    HKMS_OK)
		goto out;
	if (json_string_value(json_object_get(t, "ca")) != NULL)
		ca = json_string_value(json_object_get(t, "ca"));
	if ((rc = hkms_ops_audit_ahead(c, "est.token_delete", ca, NULL,
	    err)) != HKMS_OK || (rc = hkms_store_delete(c->store, TOKEN_KIND,
	    id, err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	{
		json_t *d = json_pack("{s:s}", "token", id ? id : "");

		hkms_ops_audit(c, "est.token_delete", ca, rc, err, d);
		json_decref(d);
	}
	json_decref(t);
	return rc;
}

/* ---- cacerts, csrattrs --------------------------------------------- */

static enum hkms_rc
p7_b64(STACK_OF(X509) *certs, char **out, size_t *len, struct hkms_err *err)
{
	unsigned char *der = NULL;
	size_t n = 0;
	enum hkms_rc rc;

	if ((rc = hkms_certio_encode(certs, HKMS_CERTIO_FMT_P7B_DER, NULL,
	    &der, &n, err)) != HKMS_OK)
		return rc;
	rc = b64_encode(der, n, out, len, err);
	free(der);
	return rc;
}

enum hkms_rc
hkms_ops_est_cacerts(struct hkms_ops_ctx *c, const char *ca_name,
    char **out, size_t *len, struct hkms_err *err)
{
	struct ca *ca = NULL;
	json_t *cfg = NULL;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "est.cacerts", ca_name, NULL, err);
	if (out == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = est_settings(c, ca_name, &cfg, err)) != HKMS_OK ||
	    (rc = ca_load(c, json_string_value(json_object_get(cfg, "ca")), 1,
	    &ca, err)) != HKMS_OK)
		goto out;
	rc = p7_b64(ca->chain, out, len, err);
out:
	ca_free(ca);
	json_decref(cfg);
	return rc;
}

/* one DER OBJECT IDENTIFIER of nid appended to buf (at most cap) */
static int
put_oid(unsigned char *buf, size_t *n, size_t cap, int nid)
{
	ASN1_OBJECT *o = OBJ_nid2obj(nid);
	unsigned char *p;
	int l;

	if (o == NULL || (l = i2d_ASN1_OBJECT(o, NULL)) <= 0 ||
	    *n + (size_t)l > cap)
		return -1;
	p = buf + *n;
	i2d_ASN1_OBJECT(o, &p);
	*n += (size_t)l;
	return 0;
}

enum hkms_rc
hkms_ops_est_csrattrs(struct hkms_ops_ctx *c, const char *ca,
    char **out, size_t *len, struct hkms_err *err)
{
	struct hkms_x509_profile *prof = NULL;
	unsigned char body[96], der[100];
	size_t n = 0;
	json_t *cfg = NULL;
	enum hkms_rc rc;
	int nid;

	OPS_AUTHORIZE(c, "est.csrattrs", ca, NULL, err);
	if (out == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = est_settings(c, ca, &cfg, err)) != HKMS_OK ||
	    (rc = hkms_x509_profile_get(json_string_value(json_object_get(cfg,
	    "profile")), c->cfg ? c->cfg->profiles_dir : NULL, &prof, err)) !=
	    HKMS_OK)
		goto out;
	switch (hkms_x509_profile_digest(prof)) {
	case HKMS_X509_SHA384:
		nid = NID_sha384;
		break;
	case HKMS_X509_SHA512:
		nid = NID_sha512;
		break;
	default:
		nid = NID_sha256;
		break;
	}
	/* CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID: the digest the
	 * CSR should be signed with, and subjectAltName when the profile
	 * copies the CSR's SANs */
	if (put_oid(body, &n, sizeof(body), nid) != 0 ||
	    (hkms_x509_profile_allow_san_from_csr(prof) && put_oid(body, &n,
	    sizeof(body), NID_subject_alt_name) != 0)) {
		rc = hkms_err_set(err, HKMS_E_INTERNAL, "cannot encode the "
		    "CSR attributes");
		goto out;
	}
	der[0] = 0x30;
	der[1] = (unsigned char)n;
	memcpy(der + 2, body, n);
	rc = b64_encode(der, n + 2, out, len, err);
out:
	hkms_x509_profile_free(prof);
	json_decref(cfg);
	return rc;
}

/* ---- enrollment ---------------------------------------------------- */

/* The audit of an enrollment that did not get to the issuance (or its
 * outcome after it): op est.enroll / est.reenroll with who and why. */
static void
enroll_audit(struct hkms_ops_ctx *c, const char *op, const char *ca,
    enum hkms_rc rc, struct hkms_err *err, const char *token,
    const char *client, const char *serial)
{
	json_t *d = json_object();

	if (token != NULL)
		json_object_set_new(d, "token", json_string(token));
	if (client != NULL)
		json_object_set_new(d, "client", json_string(client));
	if (serial != NULL)
		json_object_set_new(d, "serial", json_string(serial));
	hkms_ops_audit(c, op, ca ? ca : "", rc, err, d);
	json_decref(d);
}

/* Change the token's status under the data lock. want: the status it
 * must have now (NULL: any). */
static enum hkms_rc
token_set(struct hkms_ops_ctx *c, const char *id, const char *want,
    const char *status, const char *serial, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *t = NULL;
	const char *s;

	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_get(c->store, TOKEN_KIND, id, &t, NULL, err)) !=
	    HKMS_OK)
		goto out;
	s = token_status(t, (int64_t)time(NULL));
	if (want != NULL && strcmp(s, want) != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "enrollment password '%s' is %s", id, s);
		goto out;
	}
	json_object_set_new(t, "status", json_string(status));
	if (strcmp(status, "claimed") == 0)
		json_object_set_new(t, "claimed_at", now_json());
	if (strcmp(status, "used") == 0) {
		json_object_set_new(t, "used_at", now_json());
		json_object_set_new(t, "serial", json_string(serial ? serial :
		    ""));
	}
	if (strcmp(status, "active") == 0)
		json_object_del(t, "claimed_at");
	rc = hkms_store_put(c->store, TOKEN_KIND, id, t, NULL, err);
out:
	hkms_store_end(c->store);
	json_decref(t);
	return rc;
}

/* Check user:pass against the token record; *tok: the record. Every
 * refusal is est_auth_failed; err says why (for the audit line). */
static enum hkms_rc
token_check(struct hkms_ops_ctx *c, const char *ca, const char *id,
    const char *pass, json_t **tok, struct hkms_err *err)
{
	unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	json_t *t = NULL;
	enum hkms_rc rc;
	const char *s;
	int iter;

	if (id == NULL || strncmp(id, "est-", 4) != 0 ||
	    !hkms_name_valid(id) || !hkms_store_exists(c->store, TOKEN_KIND,
	    id)) {
		/* the same work as a wrong password: the answer's timing
		 * does not tell which ids exist */
		memset(salt, 0, sizeof(salt));
		(void)pass_hash(pass, salt, TOKEN_ITER, got, err);
		OPENSSL_cleanse(got, sizeof(got));
		return hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "no enrollment password '%.80s'", id ? id : "");
	}
	if ((rc = hkms_store_get(c->store, TOKEN_KIND, id, &t, NULL, err)) !=
	    HKMS_OK)
		return rc;
	iter = (int)json_integer_value(json_object_get(t, "iter"));
	if (unhex(json_string_value(json_object_get(t, "salt")), salt,
	    sizeof(salt)) != 0 || unhex(json_string_value(json_object_get(t,
	    "hash")), want, sizeof(want)) != 0 || iter < 1 ||
	    iter > 10000000) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
		    "enrollment password record '%s' is damaged", id);
		goto out;
	}
	if ((rc = pass_hash(pass, salt, iter, got, err)) != HKMS_OK)
		goto out;
	if (CRYPTO_memcmp(want, got, sizeof(got)) != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "wrong password for enrollment password '%s'", id);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(t, "ca")) ?
	    json_string_value(json_object_get(t, "ca")) : "", ca) != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "enrollment password '%s' is not for CA '%s'", id, ca);
		goto out;
	}
	s = token_status(t, (int64_t)time(NULL));
	if (strcmp(s, "active") != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_auth_failed",
		    "enrollment password '%s' is %s", id, s);
		goto out;
	}
	*tok = t;
	t = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	OPENSSL_cleanse(got, sizeof(got));
	json_decref(t);
	return rc;
}

/* The SANs of a certificate or CSR in hkms_x509_san_format syntax ("" for
 * none); malloc'd. */
static char *
san_str(GENERAL_NAMES *g)
{
	struct hkms_err e = { 0 };
	char *s = NULL;

	if (g == NULL || sk_GENERAL_NAME_num(g) == 0)
		return strdup("");
	if (hkms_x509_san_format(g, &s, &e) != HKMS_OK)
		return NULL;
	return s;
}

/* The presented leaf, when it is a valid, unrevoked certificate that ca
 * issued: *leaf (new), thumb. */
static enum hkms_rc
cert_of_ca(struct hkms_ops_ctx *c, struct ca *ca,
    const struct hkms_ops_est_enroll_req *req, X509 **leaf,
    char thumb[HKMS_CERTIO_THUMB_SIZE], struct hkms_err *err)
{
	const unsigned char *p = req->peer_der[0];
	char hex[HKMS_X509_SERIAL_HEX_MAX];
	EVP_PKEY *capub;
	X509 *x = NULL;
	json_t *rec = NULL;
	enum hkms_rc rc;
	struct hkms_err e = { 0 };

	if ((x = d2i_X509(NULL, &p, (long)req->peer_len[0])) == NULL) {
		ERR_clear_error();
		return hkms_err_setc(err, HKMS_E_DENIED, "est_cert_refused",
		    "the presented certificate does not parse");
	}
	if ((rc = hkms_certio_thumbprint(x, thumb, err)) != HKMS_OK)
		goto out;
	/* the hex alone, as in "client:<sha256>" */
	if (strncmp(thumb, "sha256:", 7) == 0)
		memmove(thumb, thumb + 7, strlen(thumb + 7) + 1);
	capub = X509_get0_pubkey(ca->cert);
	if (X509_check_issued(ca->cert, x) != X509_V_OK || capub == NULL ||
	    X509_verify(x, capub) != 1) {
		ERR_clear_error();
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_cert_refused",
		    "the presented certificate was not issued by CA '%s'",
		    ca->name);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_cert_refused",
		    "the presented certificate is expired or not yet valid");
		goto out;
	}
	/* the issued index knows it, and the revocation index does not */
	if (hkms_x509_serial_to_hex(X509_get0_serialNumber(x), hex, &e) !=
	    HKMS_OK || hkms_store_get(c->store, ca->issued_kind, hex, &rec,
	    NULL, &e) != HKMS_OK) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_cert_refused",
		    "the presented certificate is not in the issued index of "
		    "CA '%s'", ca->name);
		goto out;
	}
	if (hkms_store_exists(c->store, ca->revoked_kind, hex) ||
	    strcmp(json_string_value(json_object_get(rec, "status")) ?
	    json_string_value(json_object_get(rec, "status")) : "",
	    "revoked") == 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_cert_refused",
		    "the presented certificate (serial %s) is revoked", hex);
		goto out;
	}
	*leaf = x;
	x = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(rec);
	X509_free(x);
	return rc;
}

/* RFC 7030 section 4.2.2: the CSR repeats the certificate's subject and
 * subjectAltName. */
static enum hkms_rc
reenroll_match(X509 *old, X509_REQ *csr, struct hkms_err *err)
{
	GENERAL_NAMES *og = NULL, *ng = NULL;
	char *os = NULL, *ns = NULL;
	enum hkms_rc rc;

	if (X509_NAME_cmp(X509_get_subject_name(old),
	    X509_REQ_get_subject_name(csr)) != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_reenroll_mismatch",
		    "the CSR's subject is not the presented certificate's");
		goto out;
	}
	og = X509_get_ext_d2i(old, NID_subject_alt_name, NULL, NULL);
	if ((rc = hkms_x509_csr_get_san(csr, &ng, err)) != HKMS_OK)
		goto out;
	os = san_str(og);
	ns = san_str(ng);
	if (os == NULL || ns == NULL || strcmp(os, ns) != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_reenroll_mismatch",
		    "the CSR's SANs (%.80s) are not the presented "
		    "certificate's (%.80s)", ns ? ns : "?", os ? os : "?");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	GENERAL_NAMES_free(og);
	GENERAL_NAMES_free(ng);
	free(os);
	free(ns);
	return rc;
}

/* The first certificate of a ca sign result, as a base64 PKCS#7. */
static enum hkms_rc
result_p7(json_t *res, char **out, size_t *len, struct hkms_err *err)
{
	const char *pem = json_string_value(json_object_get(res, "pem"));
	STACK_OF(X509) *one = NULL;
	X509 *x = NULL;
	BIO *b = NULL;
	enum hkms_rc rc;

	if (pem == NULL || (b = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    (one = sk_X509_new_null()) == NULL || !sk_X509_push(one, x)) {
		rc = hkms_err_set(err, HKMS_E_INTERNAL, "cannot read the "
		    "issued certificate");
		goto out;
	}
	rc = p7_b64(one, out, len, err);
out:
	ERR_clear_error();
	sk_X509_free(one);
	X509_free(x);
	BIO_free(b);
	return rc;
}

/* Issue csr by ca sign under a principal granted exactly this CA and
 * profile, with actor. *serial malloc'd. */
static enum hkms_rc
issue(struct hkms_ops_ctx *c, const char *ca, json_t *cfg,
    const unsigned char *der, size_t der_len, const char *name,
    const char *actor, char **out, size_t *len, char **serial,
    struct hkms_err *err)
{
	const char *profile = json_string_value(json_object_get(cfg,
	    "profile"));
	const char *profiles[2] = { profile, NULL };
	struct hkms_permission perm;
	struct hkms_principal p;
	struct hkms_ops_ca_sign_req sr;
	struct hkms_ops_ctx ic = *c;
	json_t *res = NULL;
	enum hkms_rc rc;

	memset(&perm, 0, sizeof(perm));
	perm.ca = ca;
	perm.rights = HKMS_PERM_SIGN;
	perm.profiles = profiles;
	memset(&p, 0, sizeof(p));
	p.kind = HKMS_PRINCIPAL_CLIENT;
	p.name = name;
	p.clearance = HKMS_CLEARANCE_USER;
	p.perms = &perm;
	p.nperms = 1;
	ic.principal = &p;
	ic.actor = actor;
	ic.audit_seq = 0;
	memset(&sr, 0, sizeof(sr));
	sr.ca = ca;
	sr.profile = profile;
	sr.csr = der;
	sr.csr_len = der_len;
	sr.days = (int)json_integer_value(json_object_get(cfg, "days"));
	if ((rc = hkms_ops_ca_sign(&ic, &sr, &res, err)) != HKMS_OK)
		goto out;
	if ((rc = result_p7(res, out, len, err)) != HKMS_OK)
		goto out;
	*serial = strdup(json_string_value(json_object_get(res, "serial")) ?
	    json_string_value(json_object_get(res, "serial")) : "");
	rc = HKMS_OK;
out:
	json_decref(res);
	return rc;
}

/* Enrollment with a one-time password. */
static enum hkms_rc
enroll_token(struct hkms_ops_ctx *c, const struct hkms_ops_est_enroll_req *req,
    json_t *cfg, const unsigned char *der, size_t der_len, X509_REQ *csr,
    char **out, size_t *len, char **tok_id, char **serial,
    struct hkms_err *err)
{
	char *user = NULL, *pass = NULL, actor[80], *csan = NULL;
	GENERAL_NAMES *gens = NULL;
	const char *gsan;
	X509_NAME *want = NULL;
	json_t *tok = NULL;
	enum hkms_rc rc, rc2;
	struct hkms_err e2 = { 0 };

	if ((rc = hkms_ops_est_basic_parse(req->authorization, &user, &pass,
	    err)) != HKMS_OK)
		return rc;
	*tok_id = strdup(user);
	rc = token_check(c, req->ca, user, pass, &tok, err);
	OPENSSL_clear_free(pass, strlen(pass));
	if (rc != HKMS_OK)
		goto out;
	if (hkms_x509_name_parse(json_string_value(json_object_get(tok,
	    "subject")), &want, err) != HKMS_OK ||
	    X509_NAME_cmp(want, X509_REQ_get_subject_name(csr)) != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_subject_mismatch",
		    "the CSR's subject is not %s, the subject of enrollment "
		    "password '%s'", json_string_value(json_object_get(tok,
		    "subject")), user);
		goto out;
	}
	/* and exactly the SANs it grants (none unless it names some) */
	if ((rc = hkms_x509_csr_get_san(csr, &gens, err)) != HKMS_OK)
		goto out;
	gsan = json_string_value(json_object_get(tok, "san"));
	if ((csan = san_str(gens)) == NULL || strcmp(csan, gsan ? gsan : "") !=
	    0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_subject_mismatch",
		    "the CSR's SANs (%.80s) are not those of enrollment "
		    "password '%s' (%.80s)", csan && csan[0] ? csan : "none",
		    user, gsan && gsan[0] ? gsan : "none");
		goto out;
	}
	/* single use: claimed under the data lock; a concurrent claim of
	 * the same password finds it claimed */
	if ((rc = token_set(c, user, "active", "claimed", NULL, err)) !=
	    HKMS_OK)
		goto out;
	snprintf(actor, sizeof(actor), "est-token:%s", user);
	rc = issue(c, req->ca, cfg, der, der_len, user, actor, out, len,
	    serial, err);
	/* used with its serial, or given back */
	rc2 = token_set(c, user, "claimed", rc == HKMS_OK ? "used" : "active",
	    rc == HKMS_OK ? *serial : NULL, &e2);
	if (rc == HKMS_OK && rc2 != HKMS_OK)
		hkms_log_err(hkms_service_log(c->service), HKMS_LOG_ERROR,
		    "est.enroll", &e2, NULL);
out:
	X509_NAME_free(want);
	GENERAL_NAMES_free(gens);
	free(csan);
	json_decref(tok);
	free(user);
	return rc;
}

/* Re-enrollment (or enrollment by a registered client) with the TLS
 * client certificate. */
static enum hkms_rc
enroll_cert(struct hkms_ops_ctx *c, const struct hkms_ops_est_enroll_req *req,
    json_t *cfg, const unsigned char *der, size_t der_len, X509_REQ *csr,
    char **out, size_t *len, char *thumb, char **serial,
    struct hkms_err *err)
{
	struct hkms_client_principal cp;
	struct ca *ca = NULL;
	X509 *leaf = NULL;
	char actor[96];
	enum hkms_rc rc;

	memset(&cp, 0, sizeof(cp));
	if (req->reenroll) {
		if ((rc = ca_load(c, req->ca, 1, &ca, err)) != HKMS_OK ||
		    (rc = cert_of_ca(c, ca, req, &leaf, thumb, err)) !=
		    HKMS_OK || (rc = reenroll_match(leaf, csr, err)) !=
		    HKMS_OK)
			goto out;
		snprintf(actor, sizeof(actor), "est-client:%s", thumb);
		rc = issue(c, req->ca, cfg, der, der_len, thumb, actor, out,
		    len, serial, err);
		goto out;
	}
	/* enroll with a certificate: a registered hkms client, which
	 * ca sign authorizes by its own grants */
	if ((rc = hkms_client_authenticate(c->service, req->peer_der,
	    req->peer_len, req->npeer, &cp, err)) != HKMS_OK)
		goto out;
	snprintf(thumb, HKMS_CERTIO_THUMB_SIZE, "%s", cp.p.thumbprint);
	{
		struct hkms_ops_ctx ic = *c;
		struct hkms_ops_ca_sign_req sr;
		json_t *res = NULL;

		ic.principal = &cp.p;
		ic.actor = cp.actor;
		ic.audit_seq = 0;
		memset(&sr, 0, sizeof(sr));
		sr.ca = req->ca;
		sr.profile = json_string_value(json_object_get(cfg,
		    "profile"));
		sr.csr = der;
		sr.csr_len = der_len;
		sr.days = (int)json_integer_value(json_object_get(cfg,
		    "days"));
		rc = hkms_ops_ca_sign(&ic, &sr, &res, err);
		if (rc == HKMS_OK && (rc = result_p7(res, out, len, err)) ==
		    HKMS_OK)
			*serial = strdup(json_string_value(json_object_get(res,
			    "serial")) ? json_string_value(json_object_get(res,
			    "serial")) : "");
		json_decref(res);
	}
out:
	hkms_client_principal_free(&cp);
	X509_free(leaf);
	ca_free(ca);
	return rc;
}

static int
is_pkcs10(const char *ct)
{
	size_t n = strlen("application/pkcs10");

	if (ct == NULL)
		return 0;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/pkcs10", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

enum hkms_rc
hkms_ops_est_enroll(struct hkms_ops_ctx *c,
    const struct hkms_ops_est_enroll_req *req0, char **out, size_t *len,
    struct hkms_err *err)
{
	const char *op = req0 && req0->reenroll ? "est.reenroll" :
	    "est.enroll";
	struct hkms_ops_est_enroll_req rq, *req = &rq;
	char thumb[HKMS_CERTIO_THUMB_SIZE] = "", *tok_id = NULL;
	char *serial = NULL;
	unsigned char *der = NULL;
	size_t der_len = 0;
	X509_REQ *csr = NULL;
	json_t *cfg = NULL;
	enum hkms_rc rc;
	const unsigned char *p;
	int basic;

	OPS_AUTHORIZE(c, op, req0 ? req0->ca : NULL, NULL, err);
	if (req0 == NULL || out == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	rq = *req0;
	if ((rc = ca_need_hsm(c, err)) != HKMS_OK ||
	    (rc = est_settings(c, req0->ca, &cfg, err)) != HKMS_OK)
		goto out;
	/* the CA the path named, or the default EST CA */
	rq.ca = json_string_value(json_object_get(cfg, "ca"));
	basic = req->authorization != NULL && !req->reenroll;
	if (!basic && req->npeer == 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "est_auth_required",
		    req->reenroll ? "re-enrollment needs the certificate "
		    "being renewed as the TLS client certificate" :
		    "enrollment needs HTTP Basic with an enrollment password "
		    "or a client certificate");
		goto out;
	}
	if (!is_pkcs10(req->content_type)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "est_bad_media_type",
		    "the request body must be application/pkcs10 (base64 of "
		    "a DER PKCS#10)");
		goto out;
	}
	if ((rc = hkms_ops_est_body_decode(req->body, req->body_len, &der,
	    &der_len, err)) != HKMS_OK)
		goto out;
	p = der;
	if ((csr = d2i_X509_REQ(NULL, &p, (long)der_len)) == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "est_bad_request",
		    "the request body is not a PKCS#10");
		goto out;
	}
	if (basic)
		rc = enroll_token(c, req, cfg, der, der_len, csr, out, len,
		    &tok_id, &serial, err);
	else
		rc = enroll_cert(c, req, cfg, der, der_len, csr, out, len,
		    thumb, &serial, err);
out:
	ERR_clear_error();
	enroll_audit(c, op, req->ca, rc, err, tok_id,
	    thumb[0] ? thumb : NULL, serial);
	free(tok_id);
	free(serial);
	free(der);
	X509_REQ_free(csr);
	json_decref(cfg);
	return rc;
}
