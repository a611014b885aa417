/*
 * TEMPORARY STUB (issue 12, server branch): authentication and the
 * client CAs, until the clients helper's implementation of
 * include/hkms/clients.h lands. The lead deletes this file at merge.
 * Every presented certificate is refused (client_unknown), no
 * certificate is 401; the client CAs are every hkms CA's certificate.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "hkms/clients.h"
#include "hkms/ops.h"

enum hkms_rc
hkms_client_authenticate(struct hkms_service *svc,
    const unsigned char *const *der, const size_t *der_len, size_t n,
    struct hkms_client_principal *out, struct hkms_err *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0, i;

	(void)svc;
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return hkms_err_setc(err, HKMS_E_DENIED,
		    "client_certificate_required",
		    "a client certificate is required");
	if (EVP_Digest(der[0], der_len[0], md, &mdlen, EVP_sha256(),
	    NULL) == 1)
		for (i = 0; i < mdlen && i < 32; i++)
			snprintf(out->p.thumbprint + 2 * i, 3, "%02x", md[i]);
	return hkms_err_setc(err, HKMS_E_DENIED, "client_unknown",
	    "the client certificate is not registered");
}

void
hkms_client_principal_free(struct hkms_client_principal *cp)
{
	if (cp == NULL)
		return;
	json_decref(cp->reg);
	free(cp->perms);
	memset(cp, 0, sizeof(*cp));
}

/* every hkms CA's certificate, as the contract says */
enum hkms_rc
hkms_ops_client_cas_pem(struct hkms_ops_ctx *c, char **pem,
    struct hkms_err *err)
{
	json_t *list = NULL, *ca;
	unsigned char *d;
	size_t i, len, n = 0;
	char *s, *ns;
	enum hkms_rc rc;

	if ((s = strdup("")) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if ((rc = hkms_ops_ca_list(c, &list, err)) != HKMS_OK) {
		free(s);
		return rc;
	}
	json_array_foreach(list, i, ca) {
		const char *name = json_string_value(json_object_get(ca,
		    "name"));

		if (name == NULL || hkms_ops_cert_export(c, name, "pem", NULL,
		    &d, &len, err) != HKMS_OK)
			continue;
		if ((ns = realloc(s, n + len + 1)) != NULL) {
			s = ns;
			memcpy(s + n, d, len);
			n += len;
			s[n] = '\0';
		}
		free(d);
	}
	json_decref(list);
	*pem = s;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_client_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	(void)c;
	if ((*out = json_array()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}
