/*
 * hkms audit verify: check the hash chain of the audit log.
 * hkms store check: check the whole data directory (records, PEMs, audit).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hkms/ops.h"

static int
audit_verify(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *report = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'J')
			cli->json = 1;
		else if (ch == 'h') {
			printf("usage: hkms audit verify\nCheck every record of "
			    "the audit log against the hash chain and the "
			    "stored head. Exit 0 when it holds.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'audit verify'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms audit verify");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_audit_verify(&c, &report, &err) != HKMS_OK) {
		json_decref(report);
		return hkms_cli_fail(cli, &err);
	}
	return hkms_cli_output(cli, report, NULL);
}

static int
store_check(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *report = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'J')
			cli->json = 1;
		else if (ch == 'h') {
			printf("usage: hkms store check\nCheck the data directory "
			    "without changing it (not even recovery runs): every "
			    "record parses, every PEM matches its record, no "
			    "temp file is taken as data, no symlink is in the "
			    "layout, and the audit log verifies; would_recover "
			    "lists what the next command's recovery will do. "
			    "Exit 0 when it holds.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'store check'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms store check");
	/* read-only: no recovery, no lock file, nothing created */
	cli->store_check = 1;
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_store_check(&c, &report, &err) != HKMS_OK) {
		/* the report names every problem; the error the first */
		if (report != NULL) {
			char *s = json_dumps(report, JSON_COMPACT);

			if (s != NULL)
				fprintf(stdout, "%s\n", s);
			free(s);
		}
		json_decref(report);
		return hkms_cli_fail(cli, &err);
	}
	return hkms_cli_output(cli, report, NULL);
}

int
hkms_cmd_store(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "check", store_check, "check the data directory's consistency" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "store", verbs, argc - 1, argv + 1);
}

int
hkms_cmd_audit(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "verify", audit_verify, "verify the audit log's hash chain" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "audit", verbs, argc - 1, argv + 1);
}
