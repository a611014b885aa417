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
#include "hkms/ops.h"
#include "hkms/secret.h"

static void
print_tokens(FILE *out, json_t *arr)
{
	static const char *const cols[] = { "slot", "label", "serial",
	    "manufacturer", "initialized", "pin_locked", NULL };

	hkms_cli_table(out, arr, cols);
}

static int
token_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *arr = NULL;
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
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_CONFIG_ONLY, &c, &err) != HKMS_OK ||
	    hkms_ops_token_list(&c, &arr, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
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
	struct hkms_ops_token_init_req req;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
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
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_CONFIG_ONLY, &c, &err) != HKMS_OK ||
	    pin_from(sf, "HKMS_SO_PIN", NULL, "SO PIN", &so, &err) != HKMS_OK ||
	    pin_from(pf, "HKMS_PIN", NULL, "user PIN", &pin, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.label = label;
	req.so_pin = so;
	req.pin = pin;
	if (hkms_ops_token_init(&c, &req, &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, NULL);
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

static void
print_init(FILE *out, json_t *o)
{
	json_t *ac = json_object_get(o, "admin_client");
	static const char *const keys[] = { "data_dir", "config", "module",
	    "token", "audit_key_sha256" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		fprintf(out, "%-17s %s\n", keys[i], json_is_string(
		    json_object_get(o, keys[i])) ? json_string_value(
		    json_object_get(o, keys[i])) : "-");
	fprintf(out, "%-17s %s\n", "created", json_is_true(json_object_get(o,
	    "created")) ? "yes" : "no (kept)");
	if (json_is_object(ac))
		fprintf(out, "admin client      %s (clearance admin, CA %s)%s\n"
		    "  PKCS#12         %s\n  passphrase file %s\n",
		    json_string_value(json_object_get(ac, "name")),
		    json_string_value(json_object_get(ac, "ca")),
		    json_is_true(json_object_get(ac, "created")) ? "" :
		    " (kept)", json_string_value(json_object_get(ac, "p12")),
		    json_string_value(json_object_get(ac,
		    "passphrase_file")));
}

/* HKMS_CONFIG names an existing config of another data dir than the
 * --data-dir given: the flag wins over the environment, and the new data
 * dir gets its own config (as without HKMS_CONFIG). HKMS_DATA_DIR does not:
 * as for every command, an existing config names the data dir. */
static int
env_config_elsewhere(const char *env, const char *data_dir)
{
	struct hkms_config *cfg = NULL;
	struct hkms_err e = { 0 };
	char *a, *b;
	int other;

	if (data_dir == NULL || access(env, F_OK) != 0)
		return 0;
	if (hkms_config_load(env, &cfg, &e) != HKMS_OK)
		return 0;	/* init reports it */
	a = cfg->data_dir ? realpath(cfg->data_dir, NULL) : NULL;
	b = realpath(data_dir, NULL);
	other = a == NULL || b == NULL || strcmp(a, b) != 0;
	free(a);
	free(b);
	hkms_config_free(cfg);
	return other;
}

int
hkms_cmd_init(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "label", required_argument, NULL, 'l' },
		{ "no-admin-client", no_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_init_req req = { NULL, NULL, NULL, 0, NULL };
	struct hkms_err err = { 0 };
	json_t *out = NULL;
	const char *env;
	int ch;

	while ((ch = getopt_long(argc, argv, "d:l:h", lo, NULL)) != -1) {
		if (ch == 'd')
			req.data_dir = optarg;
		else if (ch == 'l')
			req.label = optarg;
		else if (ch == 'N')
			req.no_admin_client = 1;
		else if (ch == 'J')
			cli->json = 1;
		else if (ch == 'h') {
			printf("usage: hkms init [--data-dir DIR] [--label L] "
			    "[--no-admin-client]\n"
			    "Create the embedded default: DIR (0700) with a "
			    "private SoftHSM2 token (random PINs in 0600 "
			    "files) and DIR/hkms.conf, and the bootstrap admin "
			    "client:\nDIR/admin-client.p12 (0600) and its "
			    "passphrase in DIR/admin-client.pass (not with\n"
			    "--no-admin-client; a later init without it adds "
			    "them).\nDefault DIR: "
			    "$HKMS_DATA_DIR, else ~/.local/state/hkms.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'init'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms init [--data-dir DIR]");
	req.actor = cli->actor;
	/* the config goes where every later command will look for it */
	req.config_path = cli->config_path;
	if (req.config_path == NULL && (env = getenv("HKMS_CONFIG")) != NULL &&
	    env[0] != '\0' && !env_config_elsewhere(env, req.data_dir))
		req.config_path = env;
	if (hkms_ops_init(&req, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_init);
}
