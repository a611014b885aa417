/*
 * hkms profile list|show: the certificate profiles (built-in and the
 * custom files of profiles_dir), as GET /v1/profiles[/{name}] gives them.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hkms/ops.h"

static const char *const profile_cols[] = { "name", "builtin", "ca",
    "default_days", "max_days", NULL };

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

int
hkms_cmd_profile(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "list", profile_list, "list certificate profiles" },
		{ "show", profile_show, "show a certificate profile" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "profile", verbs, argc - 1, argv + 1);
}
