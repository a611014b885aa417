/*
 * hkms audit verify: check the hash chain of the audit log.
 * hkms audit show [--since SEQ] [--limit N]: print audit lines.
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

static void
print_lines(FILE *out, json_t *page)
{
	json_t *line;
	size_t i;
	char *s;

	json_array_foreach(json_object_get(page, "lines"), i, line) {
		s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fprintf(out, "%s\n", s ? s : "{}");
		free(s);
	}
	if (json_is_integer(json_object_get(page, "next")))
		fprintf(out, "# more: --since %lld\n", (long long)
		    json_integer_value(json_object_get(page, "next")));
}

static int
parse_ll(const char *s, long long lo, long long hi, long long *out)
{
	char *end = NULL;
	long long v;

	if (*s < '0' || *s > '9')
		return 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

static int
audit_show(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	long long since = 0, limit = 100;
	json_t *out = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:l:h", lo, NULL)) != -1) {
		if (ch == 'J')
			cli->json = 1;
		else if (ch == 's') {
			if (!parse_ll(optarg, 0, 0x7fffffffffffffffLL, &since))
				return hkms_cli_usage(cli, "--since must be a "
				    "sequence number");
		} else if (ch == 'l') {
			if (!parse_ll(optarg, 1, HKMS_OPS_AUDIT_PAGE_MAX, &limit))
				return hkms_cli_usage(cli, "--limit must be "
				    "1..%d", HKMS_OPS_AUDIT_PAGE_MAX);
		} else if (ch == 'h') {
			printf("usage: hkms audit show [--since SEQ] [--limit N]"
			    "\nPrint audit lines from sequence number SEQ on "
			    "(default 0), at most N\n(default 100, at most "
			    "%d); the last line says where to go on.\n",
			    HKMS_OPS_AUDIT_PAGE_MAX);
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'audit show'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms audit show [--since SEQ]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_audit_show(&c, since, (size_t)limit, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_lines);
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
		/* the report names every problem, printed as on success
		 * (a table, or JSON with --json); the error the first */
		if (report != NULL)
			(void)hkms_cli_output(cli, report, NULL);
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
		{ "show", audit_show, "print audit lines from a sequence number on" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "audit", verbs, argc - 1, argv + 1);
}
