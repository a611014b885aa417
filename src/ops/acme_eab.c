/*
 * External account binding keys, sealed (docs/acme.md): the HMAC key an
 * operator makes is stored only as a blob sealed by the token's seal key
 * (AES-256-GCM, hkms_service_seal_data). The additional data names the
 * purpose, the CA and the kid, so a blob copied into another key's record
 * does not open. The clear key exists only in the caller's buffer at
 * creation (shown once) and in a locked, wiped hkms_secret when a
 * newAccount is checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"

#include "acme_int.h"
#include "ops_int.h"

#define EAB_PURPOSE "hkms/acme-eab"

enum hkms_rc
acme_eab_seal(struct hkms_ops_ctx *c, const char *ca, const char *kid,
    const unsigned char *key, size_t klen, char **sealed,
    struct hkms_err *err)
{
	char aad[256];
	size_t naad = ops_seal_aad(EAB_PURPOSE, ca, kid, aad,
	    sizeof(aad)), blen = 0;
	unsigned char *blob = NULL;
	enum hkms_rc rc;

	*sealed = NULL;
	if (naad == 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "ca and kid are too long");
	if ((rc = hkms_service_seal_data(c->service, key, klen, aad, naad,
	    &blob, &blen, err)) != HKMS_OK)
		return rc;
	*sealed = acme_b64url_encode(blob, blen);
	free(blob);
	return *sealed ? HKMS_OK : hkms_err_set(err, HKMS_E_NOMEM,
	    "out of memory");
}

enum hkms_rc
acme_eab_unseal(struct hkms_ops_ctx *c, const char *ca, const char *kid,
    const json_t *rec, struct hkms_secret **key, struct hkms_err *err)
{
	char aad[256];
	size_t naad = ops_seal_aad(EAB_PURPOSE, ca, kid, aad,
	    sizeof(aad)), blen = 0;
	const char *s = json_string_value(json_object_get(rec,
	    "hmac_key_sealed"));
	unsigned char *blob = NULL;
	enum hkms_rc rc;

	*key = NULL;
	if (naad == 0 || s == NULL || acme_b64url_decode(s, strlen(s), &blob,
	    &blen) != 0)
		return hkms_err_setc(err, HKMS_E_VERIFY, "seal_invalid",
		    "the external account key record holds no sealed key");
	rc = hkms_service_unseal_data(c->service, blob, blen, aad, naad, key,
	    err);
	free(blob);
	return rc;
}
