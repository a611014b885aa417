/*
 * In use means in use (issue 13b): who uses a certificate, computed from
 * what is there now, never from a flag someone had to remember to set. A
 * recorded flag goes stale the moment another process changes the config,
 * registers a client or starts the server; computing it on every show,
 * list, rename and delete is always right and costs a few stats and one
 * listing of the clients.
 *
 * Users of a certificate record NAME:
 *   service            NAME is the HTTPS server's certificate (hkms-service)
 *   config:server.admin_thumbprints   its thumbprint is an admin in config
 *   client:<name>      a registered mTLS client presents it
 *   whatever the record's used_by lists (older records)
 * A CA's key is used by the CA (keys.c used_by), a CA by the certificates
 * it issued (ca_delete).
 */
#include <string.h>

#include <jansson.h>

#include "hkms/config.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "ops_int.h"

#define SERVICE_CERT "hkms-service"

/* thumbprint without "sha256:" and lower case, in out (65 bytes) */
static void
bare_thumb(const char *t, char *out)
{
	size_t i;

	if (strncmp(t, "sha256:", 7) == 0)
		t += 7;
	for (i = 0; i < 64 && t[i] != '\0'; i++)
		out[i] = (char)(t[i] >= 'A' && t[i] <= 'F' ? t[i] + 32 : t[i]);
	out[i] = '\0';
}

static int
list_has_thumb(const char *list, const char *thumb)
{
	char buf[65], item[80];
	const char *p = list, *q;
	size_t n;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		q = strchr(p, ',');
		n = q ? (size_t)(q - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n > 0 && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			bare_thumb(item, buf);
			if (strcmp(buf, thumb) == 0)
				return 1;
		}
		p = q;
	}
	return 0;
}

json_t *
ops_cert_users(struct hkms_ops_ctx *c, const char *name, json_t *meta)
{
	json_t *users = json_array(), *list = NULL, *it, *t;
	const char *tp = json_string_value(json_object_get(meta, "thumbprint"));
	struct hkms_err e;
	char thumb[65] = "", other[65];
	size_t i, j;

	json_array_foreach(json_object_get(meta, "used_by"), i, it)
		if (json_is_string(it))
			json_array_append(users, it);
	if (name != NULL && strcmp(name, SERVICE_CERT) == 0)
		json_array_append_new(users, json_string("service"));
	if (tp == NULL)
		return users;
	bare_thumb(tp, thumb);
	if (c->cfg != NULL && c->cfg->admin_thumbprints != NULL &&
	    list_has_thumb(c->cfg->admin_thumbprints, thumb))
		json_array_append_new(users,
		    json_string("config:server.admin_thumbprints"));
	if (c->store != NULL &&
	    hkms_store_list(c->store, "clients", &list, &e) == HKMS_OK) {
		json_array_foreach(list, i, it)
			json_array_foreach(json_object_get(it, "thumbprints"),
			    j, t) {
				if (!json_is_string(t))
					continue;
				bare_thumb(json_string_value(t), other);
				if (strcmp(other, thumb) == 0) {
					json_array_append_new(users,
					    json_sprintf("client:%s",
					    json_string_value(json_object_get(
					    it, "name"))));
					break;
				}
			}
		json_decref(list);
	}
	return users;
}

void
ops_cert_set_users(struct hkms_ops_ctx *c, const char *name, json_t *meta,
    json_t *o)
{
	json_t *u = ops_cert_users(c, name, meta);

	json_object_set_new(o, "in_use", json_boolean(json_array_size(u) > 0));
	json_object_set_new(o, "used_by", u);
}

/* not about use, but the other small helper of issue 13b's ops */
enum hkms_rc
ops_profile_narrow(const struct hkms_x509_ext_choice *ch,
    struct hkms_x509_profile **prof, struct hkms_err *err)
{
	struct hkms_x509_profile *n = NULL;
	enum hkms_rc rc;

	if (!hkms_x509_ext_choice_set(ch))
		return HKMS_OK;
	if ((rc = hkms_x509_profile_narrow(*prof, ch, &n, err)) != HKMS_OK)
		return rc;
	hkms_x509_profile_free(*prof);
	*prof = n;
	return HKMS_OK;
}
