/*
 * The operator's side of ACME: enable a CA (its leaf profile, an ACME
 * name policy, whether an external account binding is required),
 * disable it, show the settings. A setting is one record, kind "acme",
 * named after the CA, written atomically; the server reads it on every
 * ACME request, so a change needs no restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "acme_int.h"
#include "ca_int.h"
#include "ops_int.h"

static json_t *
counts(struct hkms_ops_ctx *c, const char *ca, json_t *setting)
{
	json_t *o = json_deep_copy(setting), *all = NULL, *it;
	char kind[80];
	size_t i, acc = 0, ord = 0, val = 0;
	struct hkms_err e = { 0 };

	if (o == NULL)
		return NULL;
	json_object_del(o, "schema");
	json_object_del(o, "name");
	snprintf(kind, sizeof(kind), "acme/%s", ca);
	if (hkms_store_list_readable(c->store, kind, &all, NULL, &e) ==
	    HKMS_OK)
		json_array_foreach(all, i, it) {
			const char *n = json_string_value(json_object_get(it,
			    "name"));

			if (n == NULL)
				continue;
			if (strncmp(n, "a-", 2) == 0)
				acc++;
			if (strncmp(n, "o-", 2) == 0) {
				ord++;
				if (json_object_get(it, "serial") != NULL)
					val++;
			}
		}
	json_decref(all);
	json_object_set_new(o, "accounts", json_integer((json_int_t)acc));
	json_object_set_new(o, "orders", json_integer((json_int_t)ord));
	json_object_set_new(o, "certificates", json_integer((json_int_t)val));
	return o;
}

enum hkms_rc
hkms_ops_acme_enable(struct hkms_ops_ctx *c, const char *ca_name,
    const char *profile, const char *policy, size_t policy_len,
    int eab_required, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	struct hkms_x509_profile *prof = NULL;
	json_t *pol = NULL, *rec = NULL;

	OPS_AUTHORIZE(c, "acme.enable", ca_name, profile, err);
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (profile == NULL || profile[0] == '\0') {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "profile is required (e.g. tls-server)");
		goto out;
	}
	if ((rc = ca_load(c, ca_name, 1, &ca, err)) != HKMS_OK ||
	    (rc = hkms_x509_profile_get(profile, c->cfg ?
	    c->cfg->profiles_dir : NULL, &prof, err)) != HKMS_OK)
		goto out;
	if (hkms_x509_profile_is_ca(prof)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "profile must be a leaf profile, not '%s'", profile);
		goto out;
	}
	if (policy != NULL && policy_len > 0 && (rc = ca_policy_parse(policy,
	    policy_len, &pol, err)) != HKMS_OK)
		goto out;
	rec = json_pack("{s:s,s:s,s:b,s:b,s:o}", "ca", ca->name, "profile",
	    profile, "eab_required", eab_required, "enabled", 1, "enabled_at",
	    ca_now_json());
	if (rec == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (pol != NULL)
		json_object_set(rec, "policy", pol);
	if ((rc = hkms_store_put(c->store, "acme", ca->name, rec, NULL,
	    err)) != HKMS_OK)
		goto out;
	if (out != NULL)
		*out = counts(c, ca->name, rec);
	rc = HKMS_OK;
out:
	{
		json_t *d = json_pack("{s:s?,s:b}", "profile", profile,
		    "eab_required", eab_required);

		hkms_ops_audit(c, "acme.enable", ca_name ? ca_name : "", rc,
		    err, d);
		json_decref(d);
	}
	hkms_x509_profile_free(prof);
	json_decref(pol);
	json_decref(rec);
	ca_free(ca);
	return rc;
}

enum hkms_rc
hkms_ops_acme_disable(struct hkms_ops_ctx *c, const char *ca,
    json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *rec = NULL;

	OPS_AUTHORIZE(c, "acme.disable", ca, NULL, err);
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (ca == NULL || !hkms_name_valid(ca) || (rc = hkms_store_get(
	    c->store, "acme", ca, &rec, NULL, err)) == HKMS_E_NOT_FOUND) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_enabled",
		    "ACME is not enabled for CA '%s'", ca ? ca : "");
		goto out;
	}
	if (rc != HKMS_OK)
		goto out;
	json_object_set_new(rec, "enabled", json_false());
	json_object_set_new(rec, "disabled_at", ca_now_json());
	if ((rc = hkms_store_put(c->store, "acme", ca, rec, NULL, err)) !=
	    HKMS_OK)
		goto out;
	if (out != NULL)
		*out = counts(c, ca, rec);
	rc = HKMS_OK;
out:
	hkms_ops_audit(c, "acme.disable", ca ? ca : "", rc, err, NULL);
	json_decref(rec);
	return rc;
}

enum hkms_rc
hkms_ops_acme_status(struct hkms_ops_ctx *c, const char *ca, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *all = NULL, *it, *list;
	size_t i;

	OPS_AUTHORIZE(c, "acme.status", ca, NULL, err);
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (ca != NULL) {
		if (!hkms_name_valid(ca) || (rc = hkms_store_get(c->store,
		    "acme", ca, &all, NULL, err)) == HKMS_E_NOT_FOUND)
			return hkms_err_setc(err, HKMS_E_NOT_FOUND,
			    "acme_not_enabled", "ACME was never enabled for "
			    "CA '%s'", ca);
		if (rc != HKMS_OK)
			return rc;
		*out = counts(c, ca, all);
		json_decref(all);
		return *out ? HKMS_OK : hkms_err_set(err, HKMS_E_NOMEM,
		    "out of memory");
	}
	if ((rc = hkms_store_list(c->store, "acme", &all, err)) != HKMS_OK)
		return rc;
	list = json_array();
	json_array_foreach(all, i, it)
		json_array_append_new(list, counts(c, json_string_value(
		    json_object_get(it, "name")), it));
	json_decref(all);
	*out = list;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_acme_eab_create(struct hkms_ops_ctx *c, const char *ca,
    const char *kid, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	unsigned char key[32], r[16];
	char id[33], kind[80], *k64 = NULL, *sealed = NULL;
	json_t *setting = NULL, *rec = NULL;
	size_t i;

	OPS_AUTHORIZE(c, "acme.eab_create", ca, NULL, err);
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (ca == NULL || !hkms_name_valid(ca) || strlen(ca) > 59 ||
	    hkms_store_get(c->store, "acme", ca, &setting, NULL, err) !=
	    HKMS_OK) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "acme_not_enabled",
		    "ACME was never enabled for CA '%s'", ca ? ca : "");
		goto out;
	}
	if (kid == NULL) {
		if (RAND_bytes(r, sizeof(r)) != 1) {
			rc = hkms_err_crypto(err, "cannot draw a key id");
			goto out;
		}
		for (i = 0; i < sizeof(r); i++)
			snprintf(id + 2 * i, 3, "%02x", r[i]);
		kid = id;
	} else if (!hkms_name_valid(kid)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "kid must be a name (letters, digits, '.', '_', '-')");
		goto out;
	}
	snprintf(kind, sizeof(kind), "secrets/acme.%s", ca);
	if (hkms_store_exists(c->store, kind, kid)) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "already_exists",
		    "external account key '%s' exists", kid);
		goto out;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		rc = hkms_err_crypto(err, "cannot draw a MAC key");
		goto out;
	}
	/* stored sealed by the token's seal key, never in clear: a token
	 * without AES-GCM fails here (token_mechanism) */
	if ((rc = acme_eab_seal(c, ca, kid, key, sizeof(key), &sealed,
	    err)) != HKMS_OK)
		goto out;
	if ((k64 = acme_b64url_encode(key, sizeof(key))) == NULL ||
	    (rec = json_pack("{s:s,s:s,s:s,s:o}", "kid", kid,
	    "hmac_key_sealed", sealed, "seal", "aes-256-gcm",
	    "created", ca_now_json())) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_store_put(c->store, kind, kid, rec, NULL, err)) !=
	    HKMS_OK)
		goto out;
	/* the key is shown this once */
	*out = json_pack("{s:s,s:s,s:s}", "ca", ca, "kid", kid, "hmac_key",
	    k64);
	rc = HKMS_OK;
out:
	{
		json_t *d = json_pack("{s:s?}", "kid", kid);

		hkms_ops_audit(c, "acme.eab_create", ca ? ca : "", rc, err, d);
		json_decref(d);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (k64 != NULL)
		OPENSSL_cleanse(k64, strlen(k64));
	free(k64);
	free(sealed);
	json_decref(rec);
	json_decref(setting);
	return rc;
}
