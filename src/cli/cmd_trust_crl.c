/*
 * hkms trust crl import|list|delete (issue 14a): CRLs of outside CAs in
 * the truststore, which `hkms trust verify` checks certificates against
 * (docs/truststore.md "Revocation"). Each verb is one operation of
 * src/ops/revocation.c, like POST|GET|DELETE /v1/truststore/crls.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "hkms/ops.h"
#include "hkms/revocation.h"
#include "hkms/util.h"

#include "cli.h"

static const char *const crl_cols[] = { "id", "status", "number",
    "next_update", "entries", "issuer", NULL };

static int
help_or_bad(struct hkms_cli *cli, int ch, const char *verb,
    const char *usage)
{
	if (ch == 'h') {
		printf("usage: hkms trust crl %s\n", usage);
		return HKMS_EXIT_OK;
	}
	return hkms_cli_usage(cli, "bad option for 'trust crl %s'", verb);
}

static void
print_import(FILE *out, json_t *r)
{
	json_t *crl = json_object_get(r, "crl");

	fprintf(out, "%s crl %s of %s, number %s, next update %s, %lld "
	    "entries\n", json_is_true(json_object_get(r, "unchanged")) ?
	    "unchanged:" : json_is_string(json_object_get(r, "replaced")) ?
	    "replaced:" : "imported:", json_string_value(json_object_get(r,
	    "id")), json_string_value(json_object_get(crl, "issuer")),
	    json_string_value(json_object_get(crl, "number")) ?
	    json_string_value(json_object_get(crl, "number")) : "-",
	    json_string_value(json_object_get(crl, "next_update")),
	    (long long)json_integer_value(json_object_get(crl, "entries")));
}

static void
print_list(FILE *out, json_t *arr)
{
	if (json_array_size(arr) == 0)
		fprintf(out, "(no CRLs in the truststore)\n");
	else
		hkms_cli_table(out, arr, crl_cols);
}

static int
crl_import(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "import --file CRL\nImport a CRL (PEM "
	    "or DER) signed by a CA of the truststore; a newer CRL of the "
	    "same CA replaces the stored one.";
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *file = NULL;
	unsigned char *data = NULL;
	json_t *out = NULL;
	size_t len = 0;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:h", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else
			return help_or_bad(cli, ch, "import", usage);
	}
	if (optind != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms trust crl import "
		    "--file CRL");
	if (hkms_read_file(file, HKMS_CRL_MAX, &data, &len, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_trust_crl_import(&c, data, len, &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, print_import);
	free(data);
	return rc;
}

static int
crl_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS,
	    { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "list", "list\nList the CRLs of "
		    "the truststore: issuer, number, next update, status.");
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms trust crl list");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_trust_crl_list(&c, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_list);
}

static int
crl_delete(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS,
	    { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "delete", "delete ID\nRemove a "
		    "CRL from the truststore (ID as trust crl list shows).");
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms trust crl delete ID");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_trust_crl_delete(&c, argv[optind], &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, json_pack("{s:s,s:b}", "id",
	    argv[optind], "deleted", 1), NULL);
}

int
hkms_cmd_trust_crl(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "import", crl_import, "import a CRL of a truststore CA" },
		{ "list", crl_list, "list the truststore's CRLs" },
		{ "delete", crl_delete, "remove a CRL" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "trust crl", verbs, argc - 1, argv + 1);
}
