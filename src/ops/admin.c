/*
 * Administration operations (include/hkms/ops.h, "token, audit and store
 * administration"): token list and init, audit verify, store check, and
 * init (the embedded default set-up). They were CLI code calling the
 * token and store layers directly; as operations they are what the
 * server's routes call too, and token init is audited.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/clients.h"
#include "ops_int.h"

static void
opts_from(const struct hkms_config *cfg, struct hkms_hsm_opts *o)
{
	o->module = cfg->module;
	o->label = cfg->label;
	o->serial = cfg->serial;
	o->softhsm2_conf = cfg->softhsm2_conf;
	o->lock_file = NULL;
	o->lock_create = 0;
}

static json_t *
token_json(const struct hkms_token_info *t)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:b}",
	    "slot", (json_int_t)t->slot_id, "label", t->label,
	    "serial", t->serial, "manufacturer", t->manufacturer,
	    "model", t->model, "initialized", t->initialized,
	    "pin_count_low", t->pin_count_low,
	    "pin_final_try", t->pin_final_try, "pin_locked", t->pin_locked);
}

enum hkms_rc
hkms_ops_token_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	struct hkms_token_info *toks = NULL;
	struct hkms_hsm_opts o;
	enum hkms_rc rc;
	size_t n = 0, i;
	json_t *arr;

	OPS_AUTHORIZE(c, "token.list", NULL, NULL, err);
	if (c == NULL || c->cfg == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = hkms_config_check_token(c->cfg, err)) != HKMS_OK)
		return rc;
	opts_from(c->cfg, &o);
	if ((rc = hkms_hsm_token_list(&o, &toks, &n, err)) != HKMS_OK)
		return rc;
	if ((arr = json_array()) == NULL) {
		free(toks);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		json_array_append_new(arr, token_json(&toks[i]));
	free(toks);
	*out = arr;
	return HKMS_OK;
}

/* The audit line of token init, into the data dir when there is one (a
 * token may be initialised before any store exists). Unsealed: the audit
 * key lives in a token, possibly the one just made empty; the next sealed
 * line covers it. */
static void
audit_token_init(struct hkms_ops_ctx *c, const char *label, enum hkms_rc rc,
    struct hkms_err *err)
{
	struct hkms_err ae = { 0 };
	struct hkms_store *st = c->store;
	struct stat sb;
	json_t *d;
	size_t n;

	if (st == NULL && (c->service == NULL || c->cfg->data_dir == NULL ||
	    stat(c->cfg->data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
	    hkms_service_store(c->service, &st, &ae) != HKMS_OK))
		return;
	d = json_pack("{s:s}", "module", c->cfg->module ? c->cfg->module : "");
	if (rc != HKMS_OK && err != NULL) {
		json_object_set_new(d, "error", json_string(hkms_err_code(err)));
		json_object_set_new(d, "message", json_string(err->detail));
	}
	hkms_service_count(c->service, "token.init", rc);
	if (hkms_audit_append_unsealed(st, c->actor ? c->actor : "unknown",
	    "token.init", label, rc == HKMS_OK ? "ok" : "error", d, &ae) !=
	    HKMS_OK && err != NULL && rc != HKMS_OK) {
		n = strlen(err->detail);
		snprintf(err->detail + n, sizeof(err->detail) - n,
		    " (audit: %.200s)", ae.detail);
	}
	json_decref(d);
}

enum hkms_rc
hkms_ops_token_init(struct hkms_ops_ctx *c,
    const struct hkms_ops_token_init_req *req, json_t **out,
    struct hkms_err *err)
{
	struct hkms_hsm_opts o;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "token.init", NULL, NULL, err);
	if (c == NULL || c->cfg == NULL || req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (req->label == NULL || req->label[0] == '\0')
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "label is required");
	if ((rc = hkms_config_check_token(c->cfg, err)) != HKMS_OK)
		return rc;
	opts_from(c->cfg, &o);
	rc = hkms_hsm_token_init(&o, req->label, req->so_pin, req->pin, err);
	audit_token_init(c, req->label, rc, err);
	if (rc != HKMS_OK)
		return rc;
	if ((*out = json_pack("{s:s,s:s,s:b}", "label", req->label, "module",
	    c->cfg->module, "initialized", 1)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_audit_verify(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	OPS_AUTHORIZE(c, "audit.verify", NULL, NULL, err);
	if (c == NULL || c->store == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	return hkms_store_audit_check(c->store, out, err);
}

enum hkms_rc
hkms_ops_store_check(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	struct hkms_err e = { 0 };
	json_t *report = NULL, *keys = NULL, *errs, *warns, *v;
	enum hkms_rc rc;
	size_t i;

	OPS_AUTHORIZE(c, "store.check", NULL, NULL, err);
	if (c == NULL || c->store == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	rc = hkms_store_check(c->store, &report, err);
	if (report == NULL)
		return rc;
	errs = json_object_get(report, "errors");
	warns = json_object_get(report, "warnings");
	/* the token's keys against the key records; a token that cannot be
	 * opened is a warning: the files were still checked */
	if (c->hsm == NULL && c->service != NULL)
		(void)hkms_service_hsm(c->service, &c->hsm, &e);
	if (c->hsm == NULL || hkms_ops_key_check(c, &keys, &e) != HKMS_OK) {
		json_array_append_new(warns, json_sprintf("token keys not "
		    "checked: %s", e.detail[0] ? e.detail : "no token"));
	} else {
		json_array_foreach(json_object_get(keys, "errors"), i, v)
			json_array_append(errs, v);
		json_array_foreach(json_object_get(keys, "warnings"), i, v)
			json_array_append(warns, v);
		json_object_set_new(report, "keys", keys);
		json_object_set_new(report, "ok",
		    json_boolean(json_array_size(errs) == 0));
		if (rc == HKMS_OK && json_array_size(errs) > 0)
			rc = hkms_err_setc(err, HKMS_E_VERIFY,
			    "store_inconsistent", "store check failed: %s",
			    json_string_value(json_array_get(errs, 0)));
	}
	*out = report;
	return rc;
}

/* ---- init ---- */

static enum hkms_rc
write_text(const char *dir, const char *name, const char *text,
    unsigned mode, struct hkms_err *err)
{
	char *path = NULL;
	enum hkms_rc rc;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	rc = hkms_store_write_atomic(path, text, strlen(text), mode, err);
	free(path);
	return rc;
}

/* path made absolute (its directory resolved; the file need not exist);
 * NULL when out of memory or the directory does not resolve */
static char *
abs_path(const char *path)
{
	char *dup = strdup(path), *slash, *dir, *out = NULL;

	if (dup == NULL)
		return NULL;
	slash = strrchr(dup, '/');
	if (slash != NULL)
		*slash = '\0';
	dir = realpath(slash == NULL ? "." : dup[0] ? dup : "/", NULL);
	if (dir != NULL && asprintf(&out, "%s/%s", strcmp(dir, "/") ? dir : "",
	    slash ? slash + 1 : dup) < 0)
		out = NULL;
	free(dir);
	free(dup);
	return out;
}

/* mkdir dir/sub 0700 unless it exists; either way it must be a real
 * directory, never a symlink (everything in the data dir is ours). */
static enum hkms_rc
mkdir_real(const char *dir, const char *sub, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_OK;
	char *path = NULL;
	struct stat sb;

	if (asprintf(&path, "%s/%s", dir, sub) < 0)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		rc = hkms_err_set(err, HKMS_E_IO, "cannot create directory "
		    "'%s': %s", path, strerror(errno));
	else if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing '%s': not a directory (a symbolic link?)", path);
	free(path);
	return rc;
}

/* The files init writes or keeps in the data dir are never symlinks. */
static enum hkms_rc
no_link(const char *path, struct hkms_err *err)
{
	struct stat sb;

	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing '%s': not a regular file (a symbolic link?)",
		    path);
	return HKMS_OK;
}

/* A random PIN of 32 hex digits in a 0600 file, unless the file exists. */
static enum hkms_rc
make_pin(const char *path, struct hkms_err *err)
{
	unsigned char raw[16];
	char hex[33];
	enum hkms_rc rc;

	if (access(path, F_OK) == 0)
		return HKMS_OK;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return hkms_err_set(err, HKMS_E_CRYPTO, "no random bytes");
	hkms_hex(raw, sizeof(raw), 0, hex);
	rc = hkms_store_write_atomic(path, hex, strlen(hex), 0600, err);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

/*
 * The audit key: a non-extractable EC P-256 key HKMS_AUDIT_KEY_LABEL in
 * the token signs audit.head (docs/store.md). Made once; the log is sealed
 * when the key is new, or when the key exists but the log is still empty
 * (an init interrupted between the two). An existing key with an
 * unsigned, non-empty log is left for audit verify to report. Runs on a
 * service opened on the config init just wrote.
 */
static enum hkms_rc
make_audit_key(const char *cfgpath, const char *actor, char fpr[65],
    struct hkms_err *err)
{
	struct hkms_service_opts so = { actor, 0, 0, 1, 0 };
	struct hkms_config *cfg = NULL;
	struct hkms_service *svc = NULL;
	struct hkms_key_info ki;
	struct hkms_store *st;
	struct hkms_hsm *h;
	json_t *rep = NULL;
	enum hkms_rc rc;
	int made = 0;

	if ((rc = hkms_config_load(cfgpath, &cfg, err)) != HKMS_OK ||
	    (rc = hkms_service_open(cfg, &so, &svc, err)) != HKMS_OK ||
	    (rc = hkms_service_hsm(svc, &h, err)) != HKMS_OK)
		goto out;
	rc = hkms_hsm_key_find(h, HKMS_AUDIT_KEY_LABEL, &ki, err);
	if (rc == HKMS_E_NOT_FOUND) {
		if ((rc = hkms_hsm_key_generate(h, HKMS_AUDIT_KEY_LABEL,
		    HKMS_KEY_EC_P256, &ki, err)) != HKMS_OK)
			goto out;
		made = 1;
	} else if (rc != HKMS_OK) {
		goto out;
	}
	if ((rc = hkms_service_store(svc, &st, err)) != HKMS_OK)
		goto out;
	if (!hkms_audit_sealed(st) && (made || (hkms_audit_verify(st, &rep,
	    NULL) != HKMS_OK && json_integer_value(json_object_get(rep,
	    "records")) == 0 && json_integer_value(json_object_get(rep,
	    "head_seq")) <= 0)) && (rc = hkms_audit_seal(st, actor ? actor :
	    "unknown", err)) != HKMS_OK)
		goto out;
	json_decref(rep);
	rep = NULL;
	if ((rc = hkms_audit_verify(st, &rep, err)) == HKMS_OK)
		snprintf(fpr, 65, "%s", json_string_value(json_object_get(rep,
		    "key_sha256")) ? json_string_value(json_object_get(rep,
		    "key_sha256")) : "");
out:
	json_decref(rep);
	hkms_service_close(svc);
	hkms_config_free(cfg);
	return rc;
}

/*
 * The bootstrap admin client: a local client CA HKMS_CLIENT_CA (EC P-256,
 * key in the token), an admin client certificate issued from it and
 * registered as client "admin" (clearance admin), its PKCS#12 written once
 * (0600) to <data>/admin-client.p12 with a random passphrase in
 * <data>/admin-client.pass (0600, written first). Idempotent: an existing
 * PKCS#12 is kept as it is. A registration without its PKCS#12 (an init
 * interrupted after the registration) is removed and its certificate
 * revoked: its key never left the process, so it is issued again. skip
 * (init --no-admin-client): nothing is made.
 */
static enum hkms_rc
make_admin_client(const char *cfgpath, const char *actor, const char *dir,
    int skip, char **p12path, char **passpath, int *made,
    struct hkms_err *err)
{
	struct hkms_service_opts so = { actor, 0, 0, 1, 0 };
	struct hkms_config *cfg = NULL;
	struct hkms_service *svc = NULL;
	struct hkms_principal local;
	struct hkms_ops_ctx c;
	struct hkms_secret *pass = NULL, *p12 = NULL;
	struct hkms_ops_client_req cr;
	struct hkms_err e2 = { 0 };
	json_t *res = NULL, *old = NULL, *rv = NULL;
	const char *serial;
	enum hkms_rc rc;

	*made = 0;
	if (asprintf(p12path, "%s/admin-client.p12", dir) < 0 ||
	    asprintf(passpath, "%s/admin-client.pass", dir) < 0)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if ((rc = no_link(*p12path, err)) != HKMS_OK ||
	    (rc = no_link(*passpath, err)) != HKMS_OK)
		return rc;
	if (skip || access(*p12path, F_OK) == 0)
		return HKMS_OK;
	if ((rc = make_pin(*passpath, err)) != HKMS_OK ||
	    (rc = hkms_secret_from_file(*passpath, "passphrase", &pass,
	    err)) != HKMS_OK)
		goto out;
	hkms_principal_local(&local, actor ? actor : "init");
	if ((rc = hkms_config_load(cfgpath, &cfg, err)) != HKMS_OK ||
	    (rc = hkms_service_open(cfg, &so, &svc, err)) != HKMS_OK ||
	    (rc = hkms_service_ctx(svc, &local, actor ? actor : "unknown",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, err)) !=
	    HKMS_OK)
		goto out;
	if (!hkms_store_exists(c.store, "cas", HKMS_CLIENT_CA)) {
		struct hkms_ops_ca_create_req ca;

		memset(&ca, 0, sizeof(ca));
		ca.name = HKMS_CLIENT_CA;
		ca.key_type = "ec:p256";
		ca.subject = "/CN=hkms clients";
		if ((rc = hkms_ops_ca_create(&c, &ca, &res, err)) != HKMS_OK)
			goto out;
		json_decref(res);
		res = NULL;
	}
	if (hkms_ops_client_show(&c, HKMS_ADMIN_CLIENT, &old, NULL) ==
	    HKMS_OK) {
		serial = json_string_value(json_object_get(old, "serial"));
		if ((rc = hkms_ops_client_delete(&c, HKMS_ADMIN_CLIENT,
		    err)) != HKMS_OK)
			goto out;
		if (serial != NULL)
			(void)hkms_ops_ca_revoke(&c, HKMS_CLIENT_CA, serial,
			    "cessationOfOperation", &rv, &e2);
	}
	memset(&cr, 0, sizeof(cr));
	cr.name = HKMS_ADMIN_CLIENT;
	cr.clearance = "admin";
	cr.ca = HKMS_CLIENT_CA;
	cr.subject = "/CN=hkms admin";
	cr.passphrase = pass;
	cr.destination = *p12path;
	if ((rc = hkms_ops_client_generate(&c, &cr, &res, &p12, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_store_write_atomic(*p12path, hkms_secret_str(p12),
	    hkms_secret_len(p12), 0600, err)) != HKMS_OK) {
		/* its key is lost: unregister and revoke */
		serial = json_string_value(json_object_get(res, "serial"));
		(void)hkms_ops_client_delete(&c, HKMS_ADMIN_CLIENT, &e2);
		if (serial != NULL)
			(void)hkms_ops_ca_revoke(&c, HKMS_CLIENT_CA, serial,
			    "cessationOfOperation", &rv, &e2);
		goto out;
	}
	*made = 1;
out:
	json_decref(res);
	json_decref(old);
	json_decref(rv);
	hkms_secret_free(p12);
	hkms_secret_free(pass);
	hkms_service_close(svc);
	hkms_config_free(cfg);
	return rc;
}

enum hkms_rc
hkms_ops_init(const struct hkms_ops_init_req *req, json_t **out,
    struct hkms_err *err)
{
	const char *label = req && req->label ? req->label : HKMS_DEFAULT_LABEL;
	char *dir = NULL, *tokdir = NULL, *conf = NULL, *hsmconf = NULL;
	char *userpin = NULL, *sopin = NULL, *text = NULL, *cfgpath = NULL;
	char *p12path = NULL, *passpath = NULL;
	int admin_made = 0;
	struct hkms_secret *pin = NULL, *so = NULL;
	struct hkms_token_info *toks = NULL;
	struct hkms_store *st = NULL;
	struct hkms_hsm_opts o;
	enum hkms_rc rc;
	size_t n = 0, i;
	int exists = 0;
	char fpr[65] = "";

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	/* a config that exists already names the data dir; a data_dir
	 * asked for beside it must be that one */
	if (req != NULL && req->config_path != NULL &&
	    access(req->config_path, F_OK) == 0) {
		struct hkms_config *old = NULL;
		char *a = NULL, *b = NULL;
		int same;

		if ((rc = hkms_config_load(req->config_path, &old, err)) !=
		    HKMS_OK)
			return rc;
		dir = old->data_dir ? strdup(old->data_dir) : NULL;
		hkms_config_free(old);
		if (dir == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		if (req->data_dir != NULL) {
			a = realpath(dir, NULL);
			b = realpath(req->data_dir, NULL);
			same = a != NULL && b != NULL && strcmp(a, b) == 0;
			free(a);
			free(b);
			if (!same) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "invalid_field", "data_dir '%s' is not "
				    "the data dir '%s' of the existing config "
				    "'%s'", req->data_dir, dir,
				    req->config_path);
				free(dir);
				return rc;
			}
		}
	} else if (req != NULL && req->data_dir != NULL) {
		if ((dir = strdup(req->data_dir)) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	} else if ((rc = hkms_config_default_data_dir(&dir, err)) != HKMS_OK)
		return rc;
	/* the module is dlopen'ed as us: it must be safe before anything */
	if ((rc = hkms_path_check_safe(HKMS_DEFAULT_MODULE, "PKCS#11 module",
	    0, err)) != HKMS_OK)
		goto out;
	/* 0700, or an existing dir only if it is ours */
	if ((rc = hkms_store_init_dir(dir, err)) != HKMS_OK)
		goto out;
	{
		char *abs = realpath(dir, NULL);

		if (abs != NULL) {
			free(dir);
			dir = abs;
		}
	}
	if (asprintf(&tokdir, "%s/token/tokens", dir) < 0 ||
	    asprintf(&conf, "%s/token/softhsm2.conf", dir) < 0 ||
	    asprintf(&userpin, "%s/token/user.pin", dir) < 0 ||
	    asprintf(&sopin, "%s/token/so.pin", dir) < 0 ||
	    (req != NULL && req->config_path != NULL ?
	    (cfgpath = abs_path(req->config_path)) == NULL :
	    asprintf(&cfgpath, "%s/hkms.conf", dir) < 0)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = mkdir_real(dir, "token", err)) != HKMS_OK ||
	    (rc = mkdir_real(dir, "token/tokens", err)) != HKMS_OK ||
	    (rc = mkdir_real(dir, "profiles", err)) != HKMS_OK ||
	    (rc = no_link(conf, err)) != HKMS_OK ||
	    (rc = no_link(userpin, err)) != HKMS_OK ||
	    (rc = no_link(sopin, err)) != HKMS_OK ||
	    (rc = no_link(cfgpath, err)) != HKMS_OK)
		goto out;
	if (asprintf(&hsmconf, "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n"
	    "slots.removable = false\n", tokdir) < 0) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (access(conf, F_OK) != 0 && (rc = write_text(dir,
	    "token/softhsm2.conf", hsmconf, 0600, err)) != HKMS_OK)
		goto out;
	if ((rc = make_pin(userpin, err)) != HKMS_OK ||
	    (rc = make_pin(sopin, err)) != HKMS_OK)
		goto out;
	o.module = HKMS_DEFAULT_MODULE;
	o.label = label;
	o.serial = NULL;
	o.softhsm2_conf = conf;
	if ((rc = hkms_hsm_token_list(&o, &toks, &n, err)) != HKMS_OK)
		goto out;
	for (i = 0; i < n; i++)
		if (toks[i].initialized && strcmp(toks[i].label, label) == 0)
			exists = 1;
	if (!exists && ((rc = hkms_secret_from_file(sopin, "SO PIN", &so,
	    err)) != HKMS_OK || (rc = hkms_secret_from_file(userpin, "PIN",
	    &pin, err)) != HKMS_OK || (rc = hkms_hsm_token_init(&o, label, so,
	    pin, err)) != HKMS_OK))
		goto out;
	if (access(cfgpath, F_OK) != 0) {
		if (asprintf(&text, "# hkms configuration (written by hkms "
		    "init)\n[token]\nmodule = %s\nlabel = %s\npin_file = %s\n"
		    "so_pin_file = %s\nsofthsm2_conf = %s\n\n[store]\n"
		    "data_dir = %s\n\n[server]\nlisten = %s\n",
		    HKMS_DEFAULT_MODULE, label, userpin, sopin, conf, dir,
		    HKMS_DEFAULT_LISTEN) < 0) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = hkms_store_write_atomic(cfgpath, text, strlen(text),
		    0644, err)) != HKMS_OK)
			goto out;
	}
	/* create the store layout now so the data dir is complete */
	if ((rc = hkms_store_open(dir, &st, err)) != HKMS_OK)
		goto out;
	hkms_store_close(st);
	st = NULL;
	if ((rc = make_audit_key(cfgpath, req ? req->actor : NULL, fpr,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = make_admin_client(cfgpath, req ? req->actor : NULL, dir,
	    req ? req->no_admin_client : 0, &p12path, &passpath, &admin_made,
	    err)) != HKMS_OK)
		goto out;
	if ((*out = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "data_dir", dir,
	    "config", cfgpath, "module", HKMS_DEFAULT_MODULE, "token", label,
	    "created", !exists, "audit_key_sha256", fpr)) == NULL ||
	    json_object_set_new(*out, "admin_client", access(p12path, F_OK) ==
	    0 ? json_pack("{s:s,s:s,s:s,s:s,s:b}", "p12", p12path,
	    "passphrase_file", passpath, "name", HKMS_ADMIN_CLIENT, "ca",
	    HKMS_CLIENT_CA, "created", admin_made) : json_null()) != 0) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	rc = HKMS_OK;
out:
	hkms_store_close(st);
	hkms_secret_free(pin);
	hkms_secret_free(so);
	free(toks);
	free(dir);
	free(tokdir);
	free(conf);
	free(hsmconf);
	free(userpin);
	free(sopin);
	free(text);
	free(cfgpath);
	free(p12path);
	free(passpath);
	return rc;
}
