/*
 * hkms key generate|list|show|delete|import
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/util.h"

#define KEY_FILE_MAX (1024 * 1024)

static const char *const key_cols[] = { "name", "type", "id", "sensitive",
    "extractable", NULL };

static void
print_keys(FILE *out, json_t *arr)
{
	hkms_cli_table(out, arr, key_cols);
}

static int
key_generate(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "type", required_argument, NULL, 't' }, HKMS_CLI_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *type = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "t:h", lo)) != -1) {
		if (ch == 't')
			type = optarg;
		else if (ch == 'h') {
			printf("usage: hkms key generate NAME --type "
			    "rsa:2048|rsa:3072|rsa:4096|ec:p256|ec:p384|ec:p521\n"
			    "Generate a key pair inside the token (sensitive, "
			    "never extractable).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'key generate'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms key generate NAME --type TYPE");
	if (type == NULL)
		return hkms_cli_usage(cli, "--type is required (e.g. ec:p256)");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_key_generate(&c, argv[optind], type, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

static int
key_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms key list\nList the keys in the "
			    "token.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'key list'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms key list");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_key_list(&c, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_keys);
}

static int
key_show(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms key show NAME|id:HEX\nShow a key: "
			    "its pkcs11: URI, public key and the attributes "
			    "read back from the token.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'key show'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms key show NAME");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_key_show(&c, argv[optind], &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

static int
key_delete(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' }, HKMS_CLI_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	int ch, force = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "fh", lo)) != -1) {
		if (ch == 'f')
			force = 1;
		else if (ch == 'h') {
			printf("usage: hkms key delete NAME [--force]\nDestroy "
			    "the key pair in the token; --force also when a "
			    "certificate uses it.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'key delete'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms key delete NAME [--force]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_key_delete(&c, argv[optind], force, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, json_pack("{s:s,s:b}", "name",
	    argv[optind], "deleted", 1), NULL);
}

static int
key_import(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *pfile = NULL;
	struct hkms_secret *pass = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:p:h", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'p')
			pfile = optarg;
		else if (ch == 'h') {
			printf("usage: hkms key import NAME --file KEY "
			    "[--passphrase-file P]\nWrite a PEM/PKCS#8/PKCS#12 "
			    "private key into the token as sensitive and "
			    "non-extractable.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'key import'");
	}
	if (optind + 1 != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms key import NAME --file "
		    "KEY [--passphrase-file P]");
	if ((pfile != NULL && hkms_secret_from_file(pfile, "passphrase",
	    &pass, &err) != HKMS_OK) ||
	    hkms_read_file(file, KEY_FILE_MAX, &data, &len, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_key_import(&c, argv[optind], data, len,
	    pass ? hkms_secret_str(pass) : NULL, &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, NULL);
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	hkms_secret_free(pass);
	return rc;
}

int
hkms_cmd_key(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "generate", key_generate, "generate a key pair in the token" },
		{ "list", key_list, "list keys" },
		{ "show", key_show, "show a key, its URI and attributes" },
		{ "delete", key_delete, "destroy a key pair" },
		{ "import", key_import, "import a private key into the token" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "key", verbs, argc - 1, argv + 1);
}
