/*
 * Profiles as objects (issue 13b): create and delete the custom profiles
 * of [store] profiles_dir (list and show are in listing.c). A profile is
 * parsed strictly before it is written (hkms_x509_profile_from_json: a
 * profile that would not load is never stored), written atomically
 * (temp, fsync, rename, fsync dir) under the data lock after its
 * write-ahead audit line, like every record (docs/store.md). Built-in
 * names are refused. A profile is in use while a registered client is
 * granted it or a CA's policy has rules for it; deleting a used one needs
 * force and the refusal names the users.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"
#include "ops_int.h"

static enum hkms_rc
profile_path(struct hkms_ops_ctx *c, const char *name, char **out,
    struct hkms_err *err)
{
	const char *dir = c->cfg ? c->cfg->profiles_dir : NULL;

	if (dir == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no profiles_dir "
		    "configured");
	if (hkms_x509_profiles_dir_check(dir, err) != HKMS_OK)
		return err != NULL ? err->rc : HKMS_E_DENIED;
	if (!hkms_name_valid(name))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "name '%.64s' is not a valid profile name", name ? name :
		    "");
	if (asprintf(out, "%s/%s.json", dir, name) < 0)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}

static int
is_builtin(struct hkms_ops_ctx *c, const char *name)
{
	struct hkms_x509_profile *p = NULL;
	struct hkms_err e;
	int b = 0;

	(void)c;
	/* built-ins are found without a directory */
	if (hkms_x509_profile_get(name, NULL, &p, &e) == HKMS_OK)
		b = hkms_x509_profile_builtin(p);
	hkms_x509_profile_free(p);
	return b;
}

enum hkms_rc
hkms_ops_profile_create(struct hkms_ops_ctx *c, const char *name,
    const char *text, size_t len, json_t **out, struct hkms_err *err)
{
	struct hkms_x509_profile *p = NULL;
	char *path = NULL, *canon = NULL;
	enum hkms_rc rc;
	json_t *d = NULL;
	int locked = 0;

	OPS_AUTHORIZE(c, "profile.create", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	if (text == NULL || len == 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "profile is required");
	if ((rc = profile_path(c, name, &path, err)) != HKMS_OK)
		goto out;
	if (is_builtin(c, name)) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "profile_exists",
		    "'%s' is a built-in profile", name);
		goto out;
	}
	/* strict: what would not load is never written; the file holds the
	 * canonical form (every field given) */
	if ((rc = hkms_x509_profile_from_json(name, text, len, &p, err)) !=
	    HKMS_OK || (rc = hkms_x509_profile_to_json(p, &canon, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (access(path, F_OK) == 0) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "profile_exists",
		    "profile '%s' exists; delete it first", name);
		goto out;
	}
	/* a data dir made before init made profiles/ */
	if (mkdir(c->cfg->profiles_dir, 0700) != 0 && errno != EEXIST) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot create '%s': %s",
		    c->cfg->profiles_dir, strerror(errno));
		goto out;
	}
	d = json_pack("{s:b}", "ca", hkms_x509_profile_is_ca(p));
	if ((rc = hkms_ops_audit_ahead(c, "profile.create", name, d, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_store_write_atomic(path, canon, strlen(canon), 0644,
	    err)) != HKMS_OK)
		goto out;
	rc = hkms_ops_profile_show(c, name, out, err);
out:
	if (locked)
		hkms_store_end(c->store);
	hkms_ops_audit(c, "profile.create", name ? name : "", rc, err, d);
	json_decref(d);
	hkms_x509_profile_free(p);
	free(canon);
	free(path);
	return rc;
}

/* who uses profile name: clients granted it, CA policies naming it */
static json_t *
profile_users(struct hkms_ops_ctx *c, const char *name)
{
	json_t *users = json_array(), *list = NULL, *it, *perm, *pr;
	struct hkms_err e;
	size_t i, j, k;

	if (hkms_store_list(c->store, "clients", &list, &e) == HKMS_OK) {
		json_array_foreach(list, i, it)
			json_array_foreach(json_object_get(it, "permissions"),
			    j, perm)
				json_array_foreach(json_object_get(perm,
				    "profiles"), k, pr)
					if (json_is_string(pr) && strcmp(
					    json_string_value(pr), name) == 0)
						json_array_append_new(users,
						    json_sprintf("client:%s",
						    json_string_value(
						    json_object_get(it,
						    "name"))));
		json_decref(list);
	}
	if (hkms_store_list(c->store, "cas", &list, &e) == HKMS_OK) {
		json_array_foreach(list, i, it)
			if (json_object_get(json_object_get(json_object_get(it,
			    "policy"), "profiles"), name) != NULL)
				json_array_append_new(users, json_sprintf(
				    "ca-policy:%s", json_string_value(
				    json_object_get(it, "name"))));
		json_decref(list);
	}
	return users;
}

enum hkms_rc
hkms_ops_profile_delete(struct hkms_ops_ctx *c, const char *name, int force,
    json_t **out, struct hkms_err *err)
{
	char *path = NULL, list[200] = "";
	json_t *users = NULL, *d = NULL, *u;
	enum hkms_rc rc;
	int locked = 0;
	size_t i, n;

	OPS_AUTHORIZE(c, "profile.delete", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	if ((rc = profile_path(c, name, &path, err)) != HKMS_OK)
		goto out;
	if (is_builtin(c, name)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_profile",
		    "'%s' is a built-in profile; it cannot be deleted", name);
		goto out;
	}
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (access(path, F_OK) != 0) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "unknown_profile",
		    "no profile '%s'", name);
		goto out;
	}
	users = profile_users(c, name);
	json_array_foreach(users, i, u) {
		n = strlen(list);
		snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
		    json_string_value(u));
	}
	if (json_array_size(users) > 0 && !force) {
		rc = hkms_err_setc(err, HKMS_E_IN_USE, "in_use", "profile '%s' "
		    "is used by %s; force deletes it anyway", name, list);
		goto out;
	}
	d = json_pack("{s:b,s:O}", "force", force, "used_by", users);
	if ((rc = hkms_ops_audit_ahead(c, "profile.delete", name, d, err)) !=
	    HKMS_OK)
		goto out;
	if (unlink(path) != 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot delete '%s': %s",
		    path, strerror(errno));
		goto out;
	}
	*out = json_pack("{s:s,s:b,s:O}", "name", name, "deleted", 1,
	    "used_by", users);
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	json_decref(d);
	d = json_pack("{s:b}", "force", force);
	if (users != NULL)
		json_object_set(d, "used_by", users);
	hkms_ops_audit(c, "profile.delete", name ? name : "", rc, err, d);
	json_decref(d);
	json_decref(users);
	free(path);
	return rc;
}
