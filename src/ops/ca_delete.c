/*
 * ca delete (issue 13b). A CA is in use while it has issued certificates
 * that are neither expired nor revoked (their relying parties still chain
 * to it), while another CA has it as parent, and while it is the client CA
 * of the HTTPS server; computed now, like a certificate's users
 * (inuse.c). Deleting a used CA needs force, and the refusal names the
 * users. Admin clearance (authz.c row ca.delete).
 *
 * What goes: the CA record (its certificate and chain), in one store
 * delete under the data lock after the write-ahead audit line (crash-safe
 * as every record: docs/store.md). What stays: the issued and revocation
 * records (a revocation must never disappear, and the issued index keeps
 * the history) and the published CRL; and the CA's token key, which is
 * now in use by nothing and is deleted with key delete: a key is never
 * destroyed as a side effect.
 */
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "hkms/ops.h"
#include "hkms/store.h"
#include "ca_int.h"
#include "ops_int.h"

#define CLIENT_CA "hkms-clients"

/* unexpired, unrevoked certificates CA name issued */
static size_t
live_issued(struct hkms_ops_ctx *c, const char *name)
{
	char ik[96], rk[96];
	json_t *list = NULL, *rev = NULL, *it;
	struct hkms_err e;
	int64_t now = (int64_t)time(NULL), na;
	size_t i, n = 0;
	const char *s, *serial;

	snprintf(ik, sizeof(ik), "issued/%s", name);
	snprintf(rk, sizeof(rk), "revoked/%s", name);
	if (hkms_store_list(c->store, ik, &list, &e) != HKMS_OK)
		return 0;
	(void)hkms_store_list(c->store, rk, &rev, &e);
	json_array_foreach(list, i, it) {
		size_t j;
		json_t *r;
		int revoked = 0;

		s = json_string_value(json_object_get(it, "status"));
		serial = json_string_value(json_object_get(it, "serial"));
		na = ca_parse_time(json_string_value(json_object_get(it,
		    "not_after")));
		if (s != NULL && strcmp(s, "revoked") == 0)
			continue;
		/* the revocation index is the authority */
		json_array_foreach(rev, j, r) {
			const char *rs = json_string_value(json_object_get(r,
			    "serial"));

			if (serial != NULL && rs != NULL &&
			    strcasecmp(rs, serial) == 0)
				revoked = 1;
		}
		if (!revoked && (na < 0 || na >= now))
			n++;
	}
	json_decref(list);
	json_decref(rev);
	return n;
}

json_t *
ops_ca_users(struct hkms_ops_ctx *c, const char *name)
{
	json_t *users = json_array(), *list = NULL, *it;
	struct hkms_err e;
	size_t i, n;

	if ((n = live_issued(c, name)) > 0)
		json_array_append_new(users, json_sprintf("issued:%zu "
		    "unexpired, unrevoked certificate%s", n, n == 1 ? "" :
		    "s"));
	if (hkms_store_list(c->store, CA_KIND, &list, &e) == HKMS_OK) {
		json_array_foreach(list, i, it) {
			const char *p = json_string_value(json_object_get(it,
			    "parent"));

			if (p != NULL && strcmp(p, name) == 0)
				json_array_append_new(users, json_sprintf(
				    "ca:%s", json_string_value(
				    json_object_get(it, "name"))));
		}
		json_decref(list);
	}
	if (strcmp(name, CLIENT_CA) == 0)
		json_array_append_new(users, json_string("service:client-ca"));
	return users;
}

static void
join(json_t *users, char *buf, size_t size)
{
	json_t *u;
	size_t i, n;

	buf[0] = '\0';
	json_array_foreach(users, i, u) {
		n = strlen(buf);
		snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
		    json_string_value(u));
	}
}

enum hkms_rc
hkms_ops_ca_delete(struct hkms_ops_ctx *c, const char *name, int force,
    json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *users = NULL, *d = NULL, *meta = NULL;
	char list[200];
	int locked = 0;

	OPS_AUTHORIZE(c, "ca.delete", name, NULL, err);
	if ((rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = ca_name_check(name, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (!hkms_store_exists(c->store, CA_KIND, name)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "ca_not_found",
		    "no CA '%s'", name);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, CA_KIND, name, &meta, NULL,
	    err)) != HKMS_OK)
		goto out;
	users = ops_ca_users(c, name);
	join(users, list, sizeof(list));
	if (json_array_size(users) > 0 && !force) {
		rc = hkms_err_setc(err, HKMS_E_IN_USE, "in_use", "CA '%s' is "
		    "used by %s; force deletes it anyway", name, list);
		goto out;
	}
	d = json_pack("{s:b,s:O}", "force", force, "used_by", users);
	if ((rc = hkms_ops_audit_ahead(c, "ca.delete", name, d, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_store_delete(c->store, CA_KIND, name, err)) != HKMS_OK)
		goto out;
	*out = json_pack("{s:s,s:b,s:O,s:O}", "name", name, "deleted", 1,
	    "used_by", users, "key_kept", json_object_get(meta, "key") ?
	    json_object_get(meta, "key") : json_null());
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	json_decref(d);
	d = json_pack("{s:b,s:O}", "force", force, "used_by", users ? users :
	    json_null());
	rc = hkms_ops_audit(c, "ca.delete", name, rc, err, d);
	json_decref(d);
	json_decref(users);
	json_decref(meta);
	return rc;
}
