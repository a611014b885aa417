/*
 * Thumbprints address certificates and truststore entries everywhere
 * names do (issue 13b): "sha256:<64 hex>" (the SHA-256 of the DER, as
 * show and list print it; upper or lower case) given where a certificate
 * name or a truststore alias goes is the record or entry holding that
 * certificate. Resolved at the top of the operation, so both faces, the
 * audit line and every message name the record itself.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/trust.h"
#include "ops_int.h"

int
ops_is_thumbprint(const char *ref)
{
	size_t i;

	if (ref == NULL || strncasecmp(ref, "sha256:", 7) != 0 ||
	    strlen(ref) != 7 + 64)
		return 0;
	for (i = 7; ref[i] != '\0'; i++)
		if (!isxdigit((unsigned char)ref[i]))
			return 0;
	return 1;
}

static void
lower_thumb(const char *ref, char out[HKMS_OPS_REF_SIZE])
{
	size_t i;

	memcpy(out, "sha256:", 7);
	for (i = 7; ref[i] != '\0' && i < HKMS_OPS_REF_SIZE - 1; i++)
		out[i] = (char)tolower((unsigned char)ref[i]);
	out[i] = '\0';
}

enum hkms_rc
ops_cert_ref(struct hkms_ops_ctx *c, const char **name,
    char buf[HKMS_OPS_REF_SIZE], struct hkms_err *err)
{
	static const char *const kinds[] = { "certs", "cas", NULL };
	char want[HKMS_OPS_REF_SIZE], first[HKMS_OPS_REF_SIZE] = "";
	json_t *list, *it;
	struct hkms_err e;
	size_t i, k, hits = 0;

	if (!ops_is_thumbprint(*name))
		return HKMS_OK;
	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	lower_thumb(*name, want);
	for (k = 0; kinds[k] != NULL; k++) {
		if (hkms_store_list(c->store, kinds[k], &list, &e) != HKMS_OK)
			continue;
		json_array_foreach(list, i, it) {
			const char *t = json_string_value(json_object_get(it,
			    "thumbprint"));
			const char *n = json_string_value(json_object_get(it,
			    "name"));

			if (t == NULL || n == NULL || strcasecmp(t, want) != 0)
				continue;
			if (hits++ == 0)
				snprintf(first, sizeof(first), "%s", n);
		}
		json_decref(list);
	}
	if (hits == 0)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "cert_not_found",
		    "no certificate with thumbprint %s", want);
	if (hits > 1)
		return hkms_err_setc(err, HKMS_E_INVALID,
		    "ambiguous_thumbprint", "thumbprint %s is the certificate "
		    "of %zu records ('%s', ...); name one", want, hits, first);
	snprintf(buf, HKMS_OPS_REF_SIZE, "%s", first);
	*name = buf;
	return HKMS_OK;
}

enum hkms_rc
ops_trust_ref(struct hkms_ops_ctx *c, const char **alias,
    char buf[HKMS_OPS_REF_SIZE], struct hkms_err *err)
{
	struct hkms_trust *tr = NULL;
	struct hkms_trust_snap *s = NULL;
	char want[HKMS_OPS_REF_SIZE];
	const char *a;
	enum hkms_rc rc;

	if (!ops_is_thumbprint(*alias))
		return HKMS_OK;
	lower_thumb(*alias, want);
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK ||
	    (rc = hkms_trust_snapshot(tr, &s, err)) != HKMS_OK)
		return rc;
	if ((a = hkms_trust_snap_find(s, want)) == NULL)
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "not_found",
		    "no truststore entry holds the certificate %s", want);
	else {
		snprintf(buf, HKMS_OPS_REF_SIZE, "%s", a);
		*alias = buf;
		rc = HKMS_OK;
	}
	hkms_trust_snap_free(s);
	return rc;
}
