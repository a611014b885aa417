/*
 * hkms est status|enable|disable|token create|list|delete: EST (RFC 7030)
 * on a CA and its one-time enrollment passwords (docs/est.md), as
 * GET /v1/est, PUT|DELETE /v1/cas/{name}/est and /v1/est/tokens do.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hkms/ops.h"

static int
parse_days(const char *s, int max, int *out)
{
	char *end = NULL;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	v = strtol(s, &end, 10);
	if (end == NULL || *end != '\0' || v < 1 || v > max)
		return 0;
	*out = (int)v;
	return 1;
}

static const char *const status_cols[] = { "ca", "profile", "days",
    "default", "active_tokens", "url_path", NULL };

static void
print_status(FILE *out, json_t *o)
{
	if (json_is_array(o))
		hkms_cli_table(out, o, status_cols);
	else
		hkms_cli_kv(out, o);
}

static int
est_status(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS,
	    { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms est status [CA]\nShow which CAs "
			    "serve EST (/.well-known/est/CA/), with their "
			    "profile and active enrollment passwords.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'est status'");
	}
	if (optind + 1 < argc)
		return hkms_cli_usage(cli, "usage: hkms est status [CA]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_est_status(&c, optind < argc ? argv[optind] : NULL, &out,
	    &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_status);
}

static int
est_enable(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "days", required_argument, NULL, 'd' },
		{ "default", no_argument, NULL, 'D' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_est_enable_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	memset(&r, 0, sizeof(r));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "p:d:Dh", lo)) != -1) {
		switch (ch) {
		case 'p':
			r.profile = optarg;
			break;
		case 'D':
			r.make_default = 1;
			break;
		case 'd':
			if (!parse_days(optarg, HKMS_OPS_DAYS_MAX, &r.days))
				return hkms_cli_usage(cli, "--days must be "
				    "1..%d", HKMS_OPS_DAYS_MAX);
			break;
		case 'h':
			printf("usage: hkms est enable CA --profile PROFILE "
			    "[--days N] [--default]\nServe EST for CA at "
			    "/.well-known/est/CA/ on hkms serve; enrolled "
			    "certificates get PROFILE (a leaf profile) and N "
			    "days (default: the profile's). --default: also at "
			    "/.well-known/est/ (no CA label; one CA is the "
			    "default).\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'est enable'");
		}
	}
	if (optind + 1 != argc || r.profile == NULL)
		return hkms_cli_usage(cli, "usage: hkms est enable CA "
		    "--profile PROFILE [--days N] [--default]");
	r.ca = argv[optind];
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_est_enable(&c, &r, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

static int
est_disable(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS,
	    { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms est disable CA\nStop serving EST "
			    "for CA (its enrollment passwords are kept).\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'est disable'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms est disable CA");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_est_disable(&c, argv[optind], &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	if (cli->json)
		return hkms_cli_output(cli, json_pack("{s:s,s:b}", "ca",
		    argv[optind], "enabled", 0), NULL);
	printf("EST disabled on CA '%s'\n", argv[optind]);
	return HKMS_EXIT_OK;
}

/* the password once: human output names what to give the EST client */
static void
print_token(FILE *out, json_t *o)
{
	fprintf(out, "id:       %s\npassword: %s\nca:       %s\n"
	    "subject:  %s\nexpires:  %s\n"
	    "The password is shown only now: the EST client enrolls once with "
	    "HTTP Basic user '%s' and this password.\n",
	    json_string_value(json_object_get(o, "id")),
	    json_string_value(json_object_get(o, "password")),
	    json_string_value(json_object_get(o, "ca")),
	    json_string_value(json_object_get(o, "subject")),
	    json_string_value(json_object_get(o, "expires")),
	    json_string_value(json_object_get(o, "id")));
}

static int
token_create(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "subject", required_argument, NULL, 's' },
		{ "days", required_argument, NULL, 'd' },
		{ "san", required_argument, NULL, 'a' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_est_token_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL, *pw;
	int ch, ret;

	memset(&r, 0, sizeof(r));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:s:d:a:h", lo)) != -1) {
		switch (ch) {
		case 'c':
			r.ca = optarg;
			break;
		case 'a':
			r.san = optarg;
			break;
		case 's':
			r.subject = optarg;
			break;
		case 'd':
			if (!parse_days(optarg, 365, &r.days))
				return hkms_cli_usage(cli, "--days must be "
				    "1..365");
			break;
		case 'h':
			printf("usage: hkms est token create --ca CA "
			    "--subject SUBJECT [--san SANS] [--days N]\nMake "
			    "a one-time enrollment password for a first EST "
			    "enrollment on CA: the CSR must have SUBJECT "
			    "(\"/CN=dev1/O=Example\") and exactly the SANS "
			    "(\"DNS:dev1.example,IP:10.0.0.5\"; none without "
			    "--san); valid once, for N days (default 7). The "
			    "password is printed only now.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'est token "
			    "create'");
		}
	}
	if (optind != argc || r.ca == NULL || r.subject == NULL)
		return hkms_cli_usage(cli, "usage: hkms est token create --ca "
		    "CA --subject SUBJECT [--san SANS] [--days N]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_est_token_create(&c, &r, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	json_incref(out);
	ret = hkms_cli_output(cli, out, print_token);
	/* the password leaves this process only on stdout */
	pw = json_object_get(out, "password");
	if (json_string_value(pw) != NULL)
		OPENSSL_cleanse((char *)json_string_value(pw),
		    json_string_length(pw));
	json_decref(out);
	return ret;
}

static const char *const token_cols[] = { "id", "ca", "subject", "status",
    "expires", "serial", NULL };

static void
print_tokens(FILE *out, json_t *arr)
{
	hkms_cli_table(out, arr, token_cols);
}

static int
token_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *ca = NULL;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:h", lo)) != -1) {
		switch (ch) {
		case 'c':
			ca = optarg;
			break;
		case 'h':
			printf("usage: hkms est token list [--ca CA]\nList "
			    "the enrollment passwords (never the password): "
			    "status active, claimed, used or expired.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'est token "
			    "list'");
		}
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms est token list "
		    "[--ca CA]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_est_token_list(&c, ca, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_tokens);
}

static int
token_delete(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS,
	    { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms est token delete ID\nDelete an "
			    "enrollment password.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'est token "
		    "delete'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms est token delete ID");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_est_token_delete(&c, argv[optind], &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	if (cli->json)
		return hkms_cli_output(cli, json_pack("{s:s,s:b}", "id",
		    argv[optind], "deleted", 1), NULL);
	printf("enrollment password '%s' deleted\n", argv[optind]);
	return HKMS_EXIT_OK;
}

static int
est_token(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "create", token_create, "make a one-time enrollment password" },
		{ "list", token_list, "list enrollment passwords" },
		{ "delete", token_delete, "delete an enrollment password" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "est token", verbs, argc - 1, argv + 1);
}

int
hkms_cmd_est(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "status", est_status, "which CAs serve EST" },
		{ "enable", est_enable, "serve EST for a CA with a profile" },
		{ "disable", est_disable, "stop serving EST for a CA" },
		{ "token", est_token, "one-time enrollment passwords: create, "
		    "list, delete" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "est", verbs, argc - 1, argv + 1);
}
