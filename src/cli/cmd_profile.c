/*
 * hkms profile list|show|create|delete: the certificate profiles (built-in
 * and the custom files of profiles_dir), as GET|POST /v1/profiles and
 * GET|DELETE /v1/profiles/{name} give them.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hkms/ops.h"
#include "hkms/util.h"

static const char *const profile_cols[] = { "name", "builtin", "ca",
    "default_days", "max_days", "key_usage", "extended_key_usage", NULL };

static void
print_profiles(FILE *out, json_t *arr)
{
	hkms_cli_table(out, arr, profile_cols);
}

static int
profile_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms profile list\nList the certificate "
			    "profiles: built-in, then the custom ones.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'profile list'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms profile list");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_CONFIG_ONLY, &c, &err) != HKMS_OK ||
	    hkms_ops_profile_list(&c, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_profiles);
}

static int
profile_show(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms profile show NAME\nShow a profile "
			    "in the custom profile schema (docs/x509.md).\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'profile show'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms profile show NAME");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_CONFIG_ONLY, &c, &err) != HKMS_OK ||
	    hkms_ops_profile_show(&c, argv[optind], &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

/* ---- create, delete (issue 13b) ---------------------------------- */

static int
profile_create(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' }, HKMS_CLI_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *file = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:h", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'h') {
			printf("usage: hkms profile create NAME --file "
			    "PROFILE.json\nAdd a custom profile (the schema "
			    "of 'profile show', docs/x509.md): checked\n"
			    "strictly, then written to profiles_dir as "
			    "NAME.json.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'profile "
			    "create'");
	}
	if (optind + 1 != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms profile create NAME "
		    "--file PROFILE.json");
	if (hkms_read_file(file, 64 * 1024, &data, &len, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_profile_create(&c, argv[optind], (const char *)data, len,
	    &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, NULL);
	free(data);
	return rc;
}

static int
profile_delete(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'F' }, HKMS_CLI_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch, force = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'F')
			force = 1;
		else if (ch == 'h') {
			printf("usage: hkms profile delete NAME [--force]\n"
			    "Delete a custom profile; --force also when a "
			    "client is granted it or a\nCA's policy names "
			    "it. Built-in profiles cannot be deleted.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'profile "
			    "delete'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms profile delete NAME "
		    "[--force]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_profile_delete(&c, argv[optind], force, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

int
hkms_cmd_profile(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "list", profile_list, "list certificate profiles" },
		{ "show", profile_show, "show a certificate profile" },
		{ "create", profile_create, "add a custom profile from a JSON file" },
		{ "delete", profile_delete, "delete a custom profile" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "profile", verbs, argc - 1, argv + 1);
}
