/*
 * Read-only listings both faces serve: certificate profiles (built-in and
 * the custom files of [store] profiles_dir) and the audit log by sequence
 * number, a bounded page at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hkms/ops.h"
#include "hkms/x509.h"
#include "ops_int.h"

static const char *
profiles_dir(const struct hkms_ops_ctx *c)
{
	return c != NULL && c->cfg != NULL ? c->cfg->profiles_dir : NULL;
}

static json_t *
profile_row(const struct hkms_x509_profile *p)
{
	json_t *o = json_pack("{s:s,s:b,s:b,s:i,s:i}",
	    "name", hkms_x509_profile_name(p),
	    "builtin", hkms_x509_profile_builtin(p),
	    "ca", hkms_x509_profile_is_ca(p),
	    "default_days", hkms_x509_profile_default_days(p),
	    "max_days", hkms_x509_profile_max_days(p));
	json_t *def = NULL;
	char *text = NULL;
	struct hkms_err e;

	/* the extensions a certificate of it gets (issue 13b) */
	if (o != NULL && hkms_x509_profile_to_json(p, &text, &e) == HKMS_OK &&
	    (def = json_loads(text, 0, NULL)) != NULL) {
		json_object_set(o, "key_usage", json_object_get(def,
		    "key_usage"));
		json_object_set(o, "extended_key_usage", json_object_get(def,
		    "extended_key_usage"));
		json_object_set(o, "basic_constraints", json_object_get(def,
		    "basic_constraints"));
		json_object_set(o, "aki", json_object_get(def, "aki"));
		json_object_set(o, "ski", json_object_get(def, "ski"));
	}
	json_decref(def);
	free(text);
	return o;
}

enum hkms_rc
hkms_ops_profile_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	struct hkms_x509_profile *p = NULL;
	char **names = NULL;
	enum hkms_rc rc;
	json_t *arr, *row;
	size_t i;

	OPS_AUTHORIZE(c, "profile.list", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((rc = hkms_x509_profile_list(profiles_dir(c), &names, NULL,
	    err)) != HKMS_OK)
		return rc;
	if ((arr = json_array()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; names[i] != NULL; i++) {
		if ((rc = hkms_x509_profile_get(names[i], profiles_dir(c), &p,
		    err)) != HKMS_OK)
			goto out;
		row = profile_row(p);
		hkms_x509_profile_free(p);
		p = NULL;
		if (row == NULL || json_array_append_new(arr, row) != 0) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = arr;
	arr = NULL;
out:
	json_decref(arr);
	hkms_x509_strv_free(names);
	return rc;
}

enum hkms_rc
hkms_ops_profile_show(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	struct hkms_x509_profile *p = NULL;
	json_t *o = NULL, *def = NULL;
	char *text = NULL;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "profile.show", NULL, NULL, err);
	if (out == NULL || name == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "name is required");
	*out = NULL;
	if ((rc = hkms_x509_profile_get(name, profiles_dir(c), &p, err)) !=
	    HKMS_OK)
		return rc;
	if ((rc = hkms_x509_profile_to_json(p, &text, err)) != HKMS_OK)
		goto out;
	if ((o = profile_row(p)) == NULL || (def = json_loads(text, 0,
	    NULL)) == NULL || json_object_set_new(o, "profile", def) != 0) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	*out = o;
	o = NULL;
out:
	json_decref(o);
	free(text);
	hkms_x509_profile_free(p);
	return rc;
}

enum hkms_rc
hkms_ops_audit_show(struct hkms_ops_ctx *c, long long since, size_t limit,
    json_t **out, struct hkms_err *err)
{
	json_t *lines = NULL, *j, *o = NULL;
	char *path = NULL, *line = NULL;
	size_t cap = 0, n;
	long long seq, next = -1;
	enum hkms_rc rc = HKMS_OK;
	FILE *f = NULL;
	ssize_t len;

	OPS_AUTHORIZE(c, "audit.show", NULL, NULL, err);
	if (out == NULL || c == NULL || c->cfg == NULL ||
	    c->cfg->data_dir == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if (limit == 0 || limit > HKMS_OPS_AUDIT_PAGE_MAX)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "limit must be 1..%d", HKMS_OPS_AUDIT_PAGE_MAX);
	n = strlen(c->cfg->data_dir) + sizeof("/audit.log");
	if ((path = malloc(n)) == NULL || (lines = json_array()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	snprintf(path, n, "%s/audit.log", c->cfg->data_dir);
	if ((f = fopen(path, "re")) == NULL && errno != ENOENT) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot read the audit log: "
		    "%s", strerror(errno));
		goto out;
	}
	while (f != NULL && (len = getline(&line, &cap, f)) > 0) {
		/* a torn last line (a crash) is no record yet */
		if (line[len - 1] != '\n')
			break;
		if ((j = json_loadb(line, (size_t)len, 0, NULL)) == NULL) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
			    "the audit log has a line that does not parse; "
			    "run audit verify");
			goto out;
		}
		seq = json_integer_value(json_object_get(j, "seq"));
		if (seq < since) {
			json_decref(j);
			continue;
		}
		if (json_array_size(lines) == limit) {
			next = seq;
			json_decref(j);
			break;
		}
		if (json_array_append_new(lines, j) != 0) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	}
	o = json_pack("{s:O,s:o}", "lines", lines, "next", next >= 0 ?
	    json_integer(next) : json_null());
	if (o == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	*out = o;
out:
	if (f != NULL)
		fclose(f);
	free(line);
	free(path);
	json_decref(lines);
	return rc;
}
