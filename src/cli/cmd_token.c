/*
 * hkms token list|init, and hkms init (the embedded default set-up).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/store.h"
#include "hkms/util.h"

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

static void
print_tokens(FILE *out, json_t *arr)
{
	static const char *const cols[] = { "slot", "label", "serial",
	    "manufacturer", "initialized", "pin_locked", NULL };

	hkms_cli_table(out, arr, cols);
}

static void
opts_from(const struct hkms_config *cfg, struct hkms_hsm_opts *o)
{
	o->module = cfg->module;
	o->label = cfg->label;
	o->serial = cfg->serial;
	o->softhsm2_conf = cfg->softhsm2_conf;
}

static int
token_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct hkms_token_info *toks = NULL;
	struct hkms_err err = { 0 };
	struct hkms_config *cfg;
	struct hkms_hsm_opts o;
	size_t n = 0, i;
	json_t *arr;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'J')
			cli->json = 1;
		else if (ch == 'h') {
			printf("usage: hkms token list\nList the tokens of the "
			    "configured PKCS#11 module (no login).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'token list'");
	}
	if (hkms_cli_config(cli, &cfg, &err) != HKMS_OK ||
	    hkms_config_check_token(cfg, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	opts_from(cfg, &o);
	if (hkms_hsm_token_list(&o, &toks, &n, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, token_json(&toks[i]));
	free(toks);
	return hkms_cli_output(cli, arr, print_tokens);
}

/* SO or user PIN: the named file if given, else the environment variable,
 * else the config's file. */
static enum hkms_rc
pin_from(const char *file, const char *env, const char *cfg_file,
    const char *what, struct hkms_secret **out, struct hkms_err *err)
{
	enum hkms_rc rc;

	if (file != NULL)
		return hkms_secret_from_file(file, what, out, err);
	if ((rc = hkms_secret_from_env(env, out, err)) != HKMS_E_NOT_FOUND)
		return rc;
	if (cfg_file != NULL && access(cfg_file, F_OK) == 0)
		return hkms_secret_from_file(cfg_file, what, out, err);
	return hkms_err_setc(err, HKMS_E_PIN, "pin_missing", "no %s given "
	    "(file option or %s)", what, env);
}

static int
token_init(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "so-pin-file", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *label = NULL, *pf = NULL, *sf = NULL;
	struct hkms_secret *pin = NULL, *so = NULL;
	struct hkms_err err = { 0 };
	struct hkms_config *cfg;
	struct hkms_hsm_opts o;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "l:p:s:h", lo, NULL)) != -1) {
		if (ch == 'l')
			label = optarg;
		else if (ch == 'p')
			pf = optarg;
		else if (ch == 's')
			sf = optarg;
		else if (ch == 'J')
			cli->json = 1;
		else if (ch == 'h') {
			printf("usage: hkms token init --label L [--pin-file F] "
			    "[--so-pin-file F]\nInitialise a free token slot. "
			    "PINs come from the files or HKMS_PIN / "
			    "HKMS_SO_PIN, never from argv.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'token init'");
	}
	if (label == NULL || optind != argc)
		return hkms_cli_usage(cli, "usage: hkms token init --label L");
	if (hkms_cli_config(cli, &cfg, &err) != HKMS_OK ||
	    hkms_config_check_token(cfg, &err) != HKMS_OK ||
	    pin_from(sf, "HKMS_SO_PIN", NULL, "SO PIN", &so, &err) != HKMS_OK ||
	    pin_from(pf, "HKMS_PIN", NULL, "user PIN", &pin, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	opts_from(cfg, &o);
	if (hkms_hsm_token_init(&o, label, so, pin, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, json_pack("{s:s,s:s,s:b}", "label",
		    label, "module", cfg->module, "initialized", 1), NULL);
out:
	hkms_secret_free(pin);
	hkms_secret_free(so);
	return rc;
}

int
hkms_cmd_token(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "list", token_list, "list the module's tokens" },
		{ "init", token_init, "initialise a token" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "token", verbs, argc - 1, argv + 1);
}

/* ---- hkms init ---- */

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
 * unsigned, non-empty log is left for 'audit verify' to report.
 */
static enum hkms_rc
make_audit_key(struct hkms_cli *cli, const char *cfgpath, char fpr[65],
    struct hkms_err *err)
{
	struct hkms_key_info ki;
	struct hkms_store *st;
	struct hkms_hsm *h;
	json_t *rep = NULL;
	enum hkms_rc rc;
	int made = 0;

	cli->config_path = cfgpath;
	if ((rc = hkms_cli_hsm(cli, &h, err)) != HKMS_OK)
		return rc;
	rc = hkms_hsm_key_find(h, HKMS_AUDIT_KEY_LABEL, &ki, err);
	if (rc == HKMS_E_NOT_FOUND) {
		if ((rc = hkms_hsm_key_generate(h, HKMS_AUDIT_KEY_LABEL,
		    HKMS_KEY_EC_P256, &ki, err)) != HKMS_OK)
			return rc;
		made = 1;
	} else if (rc != HKMS_OK) {
		return rc;
	}
	if ((rc = hkms_cli_store(cli, &st, err)) != HKMS_OK)
		return rc;
	if (!hkms_audit_sealed(st) && (made || (hkms_audit_verify(st, &rep,
	    NULL) != HKMS_OK && json_integer_value(json_object_get(rep,
	    "records")) == 0 && json_integer_value(json_object_get(rep,
	    "head_seq")) <= 0)) && (rc = hkms_audit_seal(st, cli->actor ?
	    cli->actor : "unknown", err)) != HKMS_OK) {
		json_decref(rep);
		return rc;
	}
	json_decref(rep);
	rep = NULL;
	if ((rc = hkms_audit_verify(st, &rep, err)) == HKMS_OK)
		snprintf(fpr, 65, "%s", json_string_value(json_object_get(rep,
		    "key_sha256")) ? json_string_value(json_object_get(rep,
		    "key_sha256")) : "");
	json_decref(rep);
	return rc;
}

int
hkms_cmd_init(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "label", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *label = HKMS_DEFAULT_LABEL;
	char *dir = NULL, *tokdir = NULL, *conf = NULL, *hsmconf = NULL;
	char *userpin = NULL, *sopin = NULL, *text = NULL, *cfgpath = NULL;
	struct hkms_secret *pin = NULL, *so = NULL;
	struct hkms_token_info *toks = NULL;
	struct hkms_store *st = NULL;
	struct hkms_err err = { 0 };
	struct hkms_hsm_opts o;
	size_t n = 0, i;
	int ch, rc = HKMS_EXIT_FAIL, exists = 0;
	char fpr[65] = "";

	while ((ch = getopt_long(argc, argv, "d:l:h", lo, NULL)) != -1) {
		if (ch == 'd')
		{
			free(dir);
			dir = strdup(optarg);
		}
		else if (ch == 'l')
			label = optarg;
		else if (ch == 'J')
			cli->json = 1;
		else if (ch == 'h') {
			printf("usage: hkms init [--data-dir DIR] [--label L]\n"
			    "Create the embedded default: DIR (0700) with a "
			    "private SoftHSM2 token (random PINs in 0600 "
			    "files) and DIR/hkms.conf.\nDefault DIR: "
			    "$HKMS_DATA_DIR, else ~/.local/state/hkms.\n");
			free(dir);
			return HKMS_EXIT_OK;
		} else {
			free(dir);
			return hkms_cli_usage(cli, "bad option for 'init'");
		}
	}
	if (optind != argc) {
		free(dir);
		return hkms_cli_usage(cli, "usage: hkms init [--data-dir DIR]");
	}
	if (dir == NULL && hkms_config_default_data_dir(&dir, &err) !=
	    HKMS_OK)
		goto fail;
	/* the module is dlopen'ed as us: it must be safe before anything */
	if (hkms_path_check_safe(HKMS_DEFAULT_MODULE, "PKCS#11 module", 0,
	    &err) != HKMS_OK)
		goto fail;
	/* 0700, or an existing dir only if it is ours */
	if (hkms_store_init_dir(dir, &err) != HKMS_OK)
		goto fail;
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
	    asprintf(&cfgpath, "%s/hkms.conf", dir) < 0) {
		hkms_err_set(&err, HKMS_E_NOMEM, "out of memory");
		goto fail;
	}
	if (mkdir_real(dir, "token", &err) != HKMS_OK ||
	    mkdir_real(dir, "token/tokens", &err) != HKMS_OK ||
	    no_link(conf, &err) != HKMS_OK || no_link(userpin, &err) !=
	    HKMS_OK || no_link(sopin, &err) != HKMS_OK ||
	    no_link(cfgpath, &err) != HKMS_OK)
		goto fail;
	if (asprintf(&hsmconf, "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n"
	    "slots.removable = false\n", tokdir) < 0) {
		hkms_err_set(&err, HKMS_E_NOMEM, "out of memory");
		goto fail;
	}
	if (access(conf, F_OK) != 0 &&
	    write_text(dir, "token/softhsm2.conf", hsmconf, 0600, &err) != HKMS_OK)
		goto fail;
	if (make_pin(userpin, &err) != HKMS_OK || make_pin(sopin, &err) !=
	    HKMS_OK)
		goto fail;
	o.module = HKMS_DEFAULT_MODULE;
	o.label = label;
	o.serial = NULL;
	o.softhsm2_conf = conf;
	if (hkms_hsm_token_list(&o, &toks, &n, &err) != HKMS_OK)
		goto fail;
	for (i = 0; i < n; i++)
		if (toks[i].initialized && strcmp(toks[i].label, label) == 0)
			exists = 1;
	if (!exists) {
		if (hkms_secret_from_file(sopin, "SO PIN", &so, &err) != HKMS_OK ||
		    hkms_secret_from_file(userpin, "PIN", &pin, &err) != HKMS_OK ||
		    hkms_hsm_token_init(&o, label, so, pin, &err) != HKMS_OK)
			goto fail;
	}
	if (access(cfgpath, F_OK) != 0) {
		if (asprintf(&text, "# hkms configuration (written by hkms "
		    "init)\n[token]\nmodule = %s\nlabel = %s\npin_file = %s\n"
		    "so_pin_file = %s\nsofthsm2_conf = %s\n\n[store]\n"
		    "data_dir = %s\n\n[server]\nlisten = %s\n",
		    HKMS_DEFAULT_MODULE, label, userpin, sopin, conf, dir,
		    HKMS_DEFAULT_LISTEN) < 0) {
			hkms_err_set(&err, HKMS_E_NOMEM, "out of memory");
			goto fail;
		}
		if (write_text(dir, "hkms.conf", text, 0644, &err) != HKMS_OK)
			goto fail;
	}
	/* create the store layout now so the data dir is complete */
	if (hkms_store_open(dir, &st, &err) != HKMS_OK)
		goto fail;
	hkms_store_close(st);
	st = NULL;
	if (make_audit_key(cli, cfgpath, fpr, &err) != HKMS_OK)
		goto fail;
	rc = hkms_cli_output(cli, json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}",
	    "data_dir", dir, "config", cfgpath, "module", HKMS_DEFAULT_MODULE,
	    "token", label, "created", !exists, "audit_key_sha256", fpr),
	    NULL);
	goto out;
fail:
	rc = hkms_cli_fail(cli, &err);
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
	return rc;
}
