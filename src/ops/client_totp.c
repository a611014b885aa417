/*
 * TOTP seeds of client registrations (issue 16a; docs/api.md, "Sessions
 * and second factor"). A seed is 20 random bytes; it is stored only as a
 * blob sealed by the token's seal key (AES-256-GCM,
 * hkms_service_seal_data) in "totp_sealed" of clients/<name>.json, with
 * additional data naming the purpose, the client and the enrolment's
 * random "totp_id": a blob copied into another registration, or an old
 * one put back after a re-enrolment, does not open. The clear seed
 * exists in the enrolment answer once (base32, otpauth URI, QR code) and
 * in a locked, wiped secret while a code is checked.
 *
 * "totp_last_step" in the same record is the replay guard: the last time
 * step whose code opened a session (session.c writes it under the data
 * lock before it answers, so a code opens at most one session, across
 * processes and restarts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "ca_int.h"
#include "clients_int.h"
#include "ops_int.h"

#define TOTP_PURPOSE "hkms/client-totp"

static char *
b64(const unsigned char *d, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, d, (int)n);
	return out;
}

/* URI-escape a client name for the otpauth label (names are [A-Za-z0-9
 * ._-] already: hkms_name_valid; escape anything else anyway) */
static void
label_escape(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s != '\0' && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

enum hkms_rc
ops_totp_enrol(struct hkms_ops_ctx *c, const char *name, json_t *rec,
    json_t **answer, struct hkms_err *err)
{
	unsigned char seed[HKMS_TOTP_SEED_LEN], idb[8], *blob = NULL;
	char id[17], aad[256], label[200], *secret = NULL, *uri = NULL,
	    *svg = NULL, *sealed = NULL;
	size_t naad, blen = 0;
	enum hkms_rc rc;

	*answer = NULL;
	if (RAND_bytes(seed, sizeof(seed)) != 1 ||
	    RAND_bytes(idb, sizeof(idb)) != 1)
		return hkms_err_set(err, HKMS_E_CRYPTO, "cannot make a TOTP "
		    "seed: no random bytes");
	hkms_hex(idb, sizeof(idb), 0, id);
	if ((naad = ops_seal_aad(TOTP_PURPOSE, name, id, aad,
	    sizeof(aad))) == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "name is too long");
		goto out;
	}
	if ((rc = hkms_service_seal_data(c->service, seed, sizeof(seed), aad,
	    naad, &blob, &blen, err)) != HKMS_OK)
		goto out;
	label_escape(name, label, sizeof(label));
	if ((sealed = b64(blob, blen)) != NULL &&
	    (secret = hkms_totp_base32(seed, sizeof(seed))) != NULL &&
	    asprintf(&uri, "otpauth://totp/hkms:%s?secret=%s&issuer=hkms&"
	    "algorithm=SHA1&digits=%d&period=%d", label, secret,
	    HKMS_TOTP_DIGITS, HKMS_TOTP_PERIOD) < 0)
		uri = NULL;	/* asprintf leaves it undefined */
	if (uri != NULL)
		svg = hkms_totp_qr_svg(uri);
	if (svg == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "cannot encode the TOTP "
		    "seed: out of memory");
		goto out;
	}
	json_object_set_new(rec, "totp_sealed", json_string(sealed));
	json_object_set_new(rec, "totp_id", json_string(id));
	json_object_set_new(rec, "totp_enrolled_at", ca_now_json());
	json_object_del(rec, "totp_last_step");
	*answer = json_pack("{s:s,s:s,s:s}", "secret", secret, "uri", uri,
	    "qr_svg", svg);
	rc = *answer ? HKMS_OK : hkms_err_set(err, HKMS_E_NOMEM,
	    "out of memory");
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	if (secret != NULL)
		OPENSSL_clear_free(secret, strlen(secret));
	if (uri != NULL)
		OPENSSL_clear_free(uri, strlen(uri));
	if (svg != NULL)
		OPENSSL_clear_free(svg, strlen(svg));
	free(sealed);
	free(blob);
	return rc;
}

enum hkms_rc
ops_totp_unseal(struct hkms_ops_ctx *c, const char *name, const json_t *rec,
    struct hkms_secret **seed, struct hkms_err *err)
{
	const char *s = json_string_value(json_object_get(rec, "totp_sealed"));
	const char *id = json_string_value(json_object_get(rec, "totp_id"));
	unsigned char *blob = NULL;
	char aad[256];
	size_t naad, n, m;
	int r;
	enum hkms_rc rc;

	*seed = NULL;
	if (s == NULL || id == NULL)
		return hkms_err_setc(err, HKMS_E_EXISTS, "totp_not_enrolled",
		    "client '%s' has no TOTP seed enrolled", name);
	n = strlen(s);
	if ((naad = ops_seal_aad(TOTP_PURPOSE, name, id, aad,
	    sizeof(aad))) == 0 || n == 0 || n % 4 != 0 ||
	    (blob = malloc(n / 4 * 3 + 1)) == NULL)
		return hkms_err_setc(err, HKMS_E_VERIFY, "seal_invalid",
		    "the TOTP seed of client '%s' is damaged", name);
	r = EVP_DecodeBlock(blob, (const unsigned char *)s, (int)n);
	m = r < 0 ? 0 : (size_t)r;
	if (m > 0 && s[n - 1] == '=')
		m--;
	if (m > 0 && s[n - 2] == '=')
		m--;
	if (r < 0)
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "seal_invalid",
		    "the TOTP seed of client '%s' is damaged", name);
	else
		rc = hkms_service_unseal_data(c->service, blob, m, aad, naad,
		    seed, err);
	free(blob);
	return rc;
}

void
ops_totp_view(json_t *v)
{
	int on = json_is_string(json_object_get(v, "totp_sealed"));

	json_object_del(v, "totp_sealed");
	json_object_del(v, "totp_id");
	json_object_del(v, "totp_last_step");
	json_object_set_new(v, "totp_enrolled", json_boolean(on));
}

enum hkms_rc
hkms_ops_client_totp(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	json_t *meta = NULL, *ans = NULL, *d = NULL;
	enum hkms_rc rc;
	int locked = 0;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	OPS_AUTHORIZE(c, "client.totp", NULL, NULL, err);
	d = json_pack("{s:s}", "action", "enrol");
	if ((rc = ops_client_name_check(name, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = ops_client_get(c, name, &meta, err)) != HKMS_OK)
		goto out;
	if ((rc = ops_totp_enrol(c, name, meta, &ans, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_ops_audit_ahead(c, "client.totp", name, d, err)) !=
	    HKMS_OK || (rc = hkms_store_put(c->store, CLIENT_KIND, name, meta,
	    NULL, err)) != HKMS_OK)
		goto out;
	/* sessions opened with the old seed end (other processes' tables:
	 * at their next lookup, by the new totp_id) */
	ops_session_end_client(name);
	*out = json_pack("{s:s,s:O}", "name", name, "totp", ans);
	if (*out == NULL)
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	if (locked)
		hkms_store_end(c->store);
	rc = hkms_ops_audit(c, "client.totp", name ? name : "", rc, err, d);
	if (rc != HKMS_OK) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(ans);
	json_decref(meta);
	json_decref(d);
	return rc;
}
