/*
 * hkms acme enable|disable|status: the operator's side of the ACME
 * server (issue 17a; the protocol itself is served by hkms serve at
 * /acme/{ca}/directory). Design: docs/acme.md.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hkms/ops.h"
#include "hkms/util.h"

#define POLICY_INPUT_MAX (64 * 1024)

static const char *const acme_cols[] = { "ca", "enabled", "profile",
    "eab_required", "accounts", "orders", "certificates", NULL };

static void
print_status(FILE *out, json_t *obj)
{
	json_t *rows = json_is_array(obj) ? json_incref(obj) : json_pack("[O]",
	    obj);

	hkms_cli_table(out, rows, acme_cols);
	json_decref(rows);
}

static int
acme_enable(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "policy", required_argument, NULL, 'f' },
		{ "eab-required", no_argument, NULL, 'e' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *profile = NULL, *file = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int ch, rc, eab = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "p:f:eh", lo)) != -1) {
		if (ch == 'p')
			profile = optarg;
		else if (ch == 'f')
			file = optarg;
		else if (ch == 'e')
			eab = 1;
		else if (ch == 'h') {
			printf("usage: hkms acme enable CA --profile P "
			    "[--policy FILE] [--eab-required]\n"
			    "Serve ACME (RFC 8555) for CA at "
			    "/acme/CA/directory: certificates with profile P,\n"
			    "names limited by the CA's policy and by FILE (CA "
			    "policy format, docs/ca.md).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'acme "
			    "enable'");
	}
	if (optind + 1 != argc || profile == NULL)
		return hkms_cli_usage(cli, "usage: hkms acme enable CA "
		    "--profile P [--policy FILE] [--eab-required]");
	if ((file != NULL && hkms_read_file(file, POLICY_INPUT_MAX, &data,
	    &len, &err) != HKMS_OK) || hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN,
	    &c, &err) != HKMS_OK || hkms_ops_acme_enable(&c, argv[optind],
	    profile, (const char *)data, len, eab, &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, print_status);
	free(data);
	return rc;
}

static int
acme_disable(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS,
	    { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms acme disable CA\nStop serving ACME "
			    "for CA (accounts and orders are kept).\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'acme disable'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms acme disable CA");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_acme_disable(&c, argv[optind], &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_status);
}

static int
acme_status(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS,
	    { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms acme status [CA]\nThe ACME setting "
			    "of CA (or of every CA) with its accounts and "
			    "orders.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'acme status'");
	}
	if (optind + 1 < argc)
		return hkms_cli_usage(cli, "usage: hkms acme status [CA]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_acme_status(&c, optind < argc ? argv[optind] : NULL,
	    &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_status);
}

static int
acme_eab_create(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kid", required_argument, NULL, 'k' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *kid = NULL;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "k:h", lo)) != -1) {
		if (ch == 'k')
			kid = optarg;
		else if (ch == 'h') {
			printf("usage: hkms acme eab-create CA [--kid KID]\n"
			    "Make an external account binding key for CA: its "
			    "kid and HMAC key (base64url)\nare printed once; "
			    "give them to the ACME client (lego --eab --kid "
			    "--hmac,\ncertbot --eab-kid --eab-hmac-key).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'acme "
			    "eab-create'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms acme eab-create CA "
		    "[--kid KID]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_acme_eab_create(&c, argv[optind], kid, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

int
hkms_cmd_acme(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "enable", acme_enable, "serve ACME for a CA" },
		{ "disable", acme_disable, "stop serving ACME for a CA" },
		{ "status", acme_status, "show ACME settings and counts" },
		{ "eab-create", acme_eab_create, "make an external account "
		    "binding key" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "acme", verbs, argc - 1, argv + 1);
}
