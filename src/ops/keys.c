/*
 * Key operations: generate, list, show, delete and import keys in the
 * token, each audited. The token layer does the PKCS#11 work; this file
 * adds policy (in-use checks), JSON results and the audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/store.h"

void
hkms_ops_audit(struct hkms_ops_ctx *c, const char *op, const char *object,
    enum hkms_rc rc, const struct hkms_err *err, json_t *detail)
{
	struct hkms_err aerr = { 0 };
	json_t *d = detail ? json_incref(detail) : json_object();

	if (c->store == NULL) {
		json_decref(d);
		return;
	}
	if (rc != HKMS_OK && err != NULL && d != NULL) {
		json_object_set_new(d, "error", json_string(hkms_err_code(err)));
		json_object_set_new(d, "message", json_string(err->detail));
	}
	/* An audit failure is reported on stderr by the faces through the
	 * operation's own result when it matters; here it must not mask the
	 * operation's error. */
	if (hkms_audit_append(c->store, c->actor ? c->actor : "unknown", op,
	    object ? object : "", rc == HKMS_OK ? "ok" : "error", d,
	    &aerr) != HKMS_OK)
		fprintf(stderr, "{\"warning\":{\"code\":\"audit_failed\","
		    "\"message\":\"%s\"}}\n", aerr.detail);
	json_decref(d);
}

static int
tribool(json_t *o, const char *k, int v)
{
	if (v < 0)
		return json_object_set_new(o, k, json_null());
	return json_object_set_new(o, k, json_boolean(v));
}

static json_t *
key_json(const struct hkms_key_info *ki)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(ki->name));
	json_object_set_new(o, "id", json_string(ki->id_hex));
	json_object_set_new(o, "uri", json_string(ki->uri));
	json_object_set_new(o, "type", json_string(
	    hkms_hsm_key_type_name(ki->type)));
	json_object_set_new(o, "bits", json_integer(ki->bits));
	tribool(o, "sensitive", ki->sensitive);
	tribool(o, "extractable", ki->extractable);
	tribool(o, "always_sensitive", ki->always_sensitive);
	tribool(o, "never_extractable", ki->never_extractable);
	tribool(o, "private", ki->is_private);
	tribool(o, "token", ki->is_token);
	tribool(o, "sign", ki->can_sign);
	tribool(o, "decrypt", ki->can_decrypt);
	return o;
}

static enum hkms_rc
need_hsm(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	if (c == NULL || c->hsm == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no token open");
	return HKMS_OK;
}

/* Names of certificates (and CAs) in the store whose key is name. */
static json_t *
used_by(struct hkms_ops_ctx *c, const char *name)
{
	static const char *kinds[] = { "certs", "cas", "service", NULL };
	json_t *users = json_array(), *list, *it;
	struct hkms_err e;
	size_t i, k;

	for (k = 0; c->store != NULL && kinds[k] != NULL; k++) {
		if (hkms_store_list(c->store, kinds[k], &list, &e) != HKMS_OK)
			continue;
		json_array_foreach(list, i, it) {
			const char *key = json_string_value(
			    json_object_get(it, "key"));

			if (key != NULL && strcmp(key, name) == 0)
				json_array_append_new(users, json_sprintf(
				    "%s/%s", kinds[k], json_string_value(
				    json_object_get(it, "name"))));
		}
		json_decref(list);
	}
	return users;
}

static enum hkms_rc
show(struct hkms_ops_ctx *c, const struct hkms_key_info *ki, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	EVP_PKEY *pub = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	long n;
	json_t *o = key_json(ki);
	char ref[140];

	snprintf(ref, sizeof(ref), "id:%s", ki->id_hex);
	if ((rc = hkms_hsm_key_public(c->hsm, ki->id_len ? ref : ki->name,
	    &pub, err)) != HKMS_OK)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PUBKEY(bio, pub)) {
		rc = hkms_err_crypto(err, "cannot encode public key");
		goto out;
	}
	n = BIO_get_mem_data(bio, &pem);
	json_object_set_new(o, "public_key_pem", json_stringn(pem, (size_t)n));
	json_object_set_new(o, "used_by", used_by(c, ki->name));
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(o);
	BIO_free(bio);
	EVP_PKEY_free(pub);
	return rc;
}

enum hkms_rc
hkms_ops_key_generate(struct hkms_ops_ctx *c, const char *name,
    const char *type, json_t **out, struct hkms_err *err)
{
	struct hkms_key_info ki;
	enum hkms_key_type t;
	enum hkms_rc rc;
	json_t *d;

	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_type_parse(type, &t, err)) == HKMS_OK &&
	    (rc = hkms_hsm_key_generate(c->hsm, name, t, &ki, err)) == HKMS_OK)
		rc = show(c, &ki, out, err);
	d = json_pack("{s:s}", "type", type ? type : "");
	if (rc == HKMS_OK)
		json_object_set_new(d, "id", json_string(ki.id_hex));
	hkms_ops_audit(c, "key.generate", name, rc, err, d);
	json_decref(d);
	return rc;
}

enum hkms_rc
hkms_ops_key_list(struct hkms_ops_ctx *c, json_t **out, struct hkms_err *err)
{
	struct hkms_key_info *keys = NULL;
	size_t n = 0, i;
	enum hkms_rc rc;
	json_t *arr;

	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_list(c->hsm, &keys, &n, err)) != HKMS_OK)
		return rc;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, key_json(&keys[i]));
	free(keys);
	*out = arr;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_key_show(struct hkms_ops_ctx *c, const char *ref, json_t **out,
    struct hkms_err *err)
{
	struct hkms_key_info ki;
	enum hkms_rc rc;

	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_find(c->hsm, ref, &ki, err)) != HKMS_OK)
		return rc;
	return show(c, &ki, out, err);
}

enum hkms_rc
hkms_ops_key_delete(struct hkms_ops_ctx *c, const char *ref, int force,
    struct hkms_err *err)
{
	struct hkms_key_info ki;
	enum hkms_rc rc;
	json_t *users = NULL, *d = NULL;

	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_find(c->hsm, ref, &ki, err)) != HKMS_OK)
		goto out;
	users = used_by(c, ki.name);
	if (json_array_size(users) > 0 && !force) {
		char *list = json_dumps(users, JSON_COMPACT);

		rc = hkms_err_setc(err, HKMS_E_IN_USE, "key_in_use",
		    "key '%s' is used by %s; use --force to delete it anyway",
		    ki.name, list ? list : "certificates");
		free(list);
		goto out;
	}
	rc = hkms_hsm_key_delete(c->hsm, ref, err);
out:
	d = json_pack("{s:b}", "force", force);
	hkms_ops_audit(c, "key.delete", ref, rc, err, d);
	json_decref(d);
	json_decref(users);
	return rc;
}

enum hkms_rc
hkms_ops_key_import(struct hkms_ops_ctx *c, const char *name,
    const unsigned char *data, size_t len, const char *passphrase,
    json_t **out, struct hkms_err *err)
{
	struct hkms_key_info ki;
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	enum hkms_rc rc;

	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_certio_parse_key(data, len, passphrase, &key, &certs,
	    err)) != HKMS_OK)
		goto out;
	rc = hkms_hsm_key_import(c->hsm, name, key, &ki, err);
	/* the software copy is gone as soon as the token has it */
	EVP_PKEY_free(key);
	key = NULL;
	if (rc == HKMS_OK)
		rc = show(c, &ki, out, err);
out:
	hkms_ops_audit(c, "key.import", name, rc, err, NULL);
	hkms_certio_chain_free(certs);
	return rc;
}
