/*
 * hkms service-cert get|create-csr|apply|apply-self-signed|status|trust:
 * the service's own TLS certificate, the appliance way (src/ops/
 * service_cert.c; the same operations as /v1/service/certificate...). A
 * running server presents a changed certificate to new connections within
 * a second or two, without a restart.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hkms/certio.h"
#include "hkms/ops.h"
#include "hkms/util.h"

static const char *const check_cols[] = { "name", "pass", "reason", NULL };

/* Write the object's PEM to path (or stdout). */
static int
put_pem(struct hkms_cli *cli, json_t *obj, const char *path)
{
	const char *pem = json_string_value(json_object_get(obj, "pem"));
	struct hkms_err err = { 0 };

	if (pem == NULL) {
		hkms_err_set(&err, HKMS_E_INTERNAL, "the result has no PEM");
		return hkms_cli_fail(cli, &err);
	}
	if (hkms_cli_write_out(path, pem, strlen(pem), &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return HKMS_EXIT_OK;
}

/* Without --out-file the PEM goes to stdout (also with --json: the PEM
 * is what get and create-csr make); with it the object is printed. */
static int
pem_or_object(struct hkms_cli *cli, json_t *out, const char *outfile)
{
	int ret;

	if (outfile == NULL && !cli->json) {
		ret = put_pem(cli, out, NULL);
		json_decref(out);
		return ret;
	}
	if (outfile != NULL && (ret = put_pem(cli, out, outfile)) !=
	    HKMS_EXIT_OK) {
		json_decref(out);
		return ret;
	}
	if (outfile != NULL && !cli->json) {
		printf("wrote %s (%s)\n", outfile, json_string_value(
		    json_object_get(out, "subject")));
		json_decref(out);
		return HKMS_EXIT_OK;
	}
	return hkms_cli_output(cli, out, NULL);
}

static int
svc_get(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out-file", required_argument, NULL, 'o' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *outfile = NULL;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "o:h", lo)) != -1) {
		if (ch == 'o')
			outfile = optarg;
		else if (ch == 'h') {
			printf("usage: hkms service-cert get [--out-file F]\n"
			    "The service's certificate (PEM, with its chain) "
			    "to stdout or F;\n--json prints the certificate "
			    "object with its history.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for "
			    "'service-cert get'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms service-cert get "
		    "[--out-file F]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN_IF_ANY, &c, &err) != HKMS_OK ||
	    hkms_ops_service_cert_get(&c, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return pem_or_object(cli, out, outfile);
}

static int
svc_csr(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out-file", required_argument, NULL, 'o' },
		{ "common-name", required_argument, NULL, 'n' },
		{ "organization", required_argument, NULL, 'O' },
		{ "organization-unit", required_argument, NULL, 'U' },
		{ "country", required_argument, NULL, 'C' },
		{ "state", required_argument, NULL, 'S' },
		{ "locality", required_argument, NULL, 'L' },
		{ "alternative-names", required_argument, NULL, 'a' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_service_csr_req req;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *outfile = NULL;
	json_t *out = NULL;
	int ch;

	memset(&req, 0, sizeof(req));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "o:n:O:U:C:S:L:a:h",
	    lo)) != -1) {
		switch (ch) {
		case 'o':
			outfile = optarg;
			break;
		case 'n':
			req.common_name = optarg;
			break;
		case 'O':
			req.organization = optarg;
			break;
		case 'U':
			req.organization_unit = optarg;
			break;
		case 'C':
			req.country = optarg;
			break;
		case 'S':
			req.state = optarg;
			break;
		case 'L':
			req.locality = optarg;
			break;
		case 'a':
			req.alternative_names = optarg;
			break;
		case 'h':
			printf("usage: hkms service-cert create-csr "
			    "[--out-file F] [--common-name CN]\n"
			    "         [--organization O] "
			    "[--organization-unit OU] [--country C]\n"
			    "         [--state ST] [--locality L] "
			    "[--alternative-names a,b,c]\n"
			    "A CSR for the service key, signed in the token. "
			    "Defaults: CN = the FQDN\n([server] hostname, "
			    "else the system's); SANs = the host name, the "
			    "FQDN and\nthe host's non-loopback addresses. An "
			    "alternative name that is an address\nis an IP "
			    "SAN, DNS:/IP:/email:/URI: are kept, the rest "
			    "are DNS names.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for "
			    "'service-cert create-csr'");
		}
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms service-cert "
		    "create-csr [--out-file F] [--common-name CN] ...");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_service_cert_csr(&c, &req, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return pem_or_object(cli, out, outfile);
}

static void
print_apply(FILE *out, json_t *res)
{
	json_t *cert = json_object_get(res, "certificate");

	hkms_cli_table(out, json_object_get(res, "checks"), check_cols);
	if (!json_is_true(json_object_get(res, "ok")))
		fprintf(out, "\nrefused: a check failed; the service keeps its "
		    "certificate\n");
	else if (json_is_true(json_object_get(res, "what_if")))
		fprintf(out, "\nwhat-if: all checks pass; nothing was "
		    "changed\n");
	else if (cert != NULL)
		fprintf(out, "\napplied: %s (issuer %s, serial %s); the "
		    "previous certificate is in the history\n",
		    json_string_value(json_object_get(cert, "subject")),
		    json_string_value(json_object_get(cert, "issuer")),
		    json_string_value(json_object_get(cert, "serial")));
}

static int
svc_apply(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca-file", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'f' },
		{ "what-if", no_argument, NULL, 'w' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *file = NULL, *cafile = NULL;
	unsigned char *data = NULL, *ca = NULL;
	size_t len = 0, calen = 0;
	json_t *out = NULL;
	enum hkms_rc rc;
	int ch, what_if = 0, ret;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:f:wh", lo)) != -1) {
		switch (ch) {
		case 'c':
			cafile = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'w':
			what_if = 1;
			break;
		case 'h':
			printf("usage: hkms service-cert apply --ca-file CA "
			    "--file CERT [--what-if]\n"
			    "Apply a CA-issued certificate (PEM or DER) to "
			    "the service. Checks: validity,\nkey_matches (the "
			    "service key), extended_key_usage (serverAuth), "
			    "chains_to_ca;\na failed check changes nothing "
			    "(check_failed:<check>). --what-if only checks.\n"
			    "The previous certificate goes into the "
			    "history.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for "
			    "'service-cert apply'");
		}
	}
	if (optind != argc || file == NULL || cafile == NULL)
		return hkms_cli_usage(cli, "usage: hkms service-cert apply "
		    "--ca-file CA --file CERT [--what-if]");
	if (hkms_read_file(file, HKMS_CERTIO_MAX_INPUT, &data, &len, &err) !=
	    HKMS_OK || hkms_read_file(cafile, HKMS_CERTIO_MAX_INPUT, &ca,
	    &calen, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK) {
		ret = hkms_cli_fail(cli, &err);
		goto out;
	}
	rc = hkms_ops_service_cert_apply(&c, data, len, ca, calen, what_if,
	    &out, &err);
	if (rc == HKMS_E_VERIFY && out != NULL) {
		ret = hkms_cli_fail_checks(cli, &err, json_object_get(out,
		    "checks"));
		if (!cli->json)
			print_apply(stdout, out);
	} else if (rc != HKMS_OK)
		ret = hkms_cli_fail(cli, &err);
	else {
		ret = hkms_cli_output(cli, out, print_apply);
		out = NULL;	/* consumed */
	}
out:
	json_decref(out);
	free(data);
	free(ca);
	return ret;
}

static void
print_self_signed(FILE *out, json_t *res)
{
	json_t *cert = json_object_get(res, "certificate");

	fprintf(out, "%s: %s (serial %s, key %s)\n", json_string_value(
	    json_object_get(res, "action")), json_string_value(
	    json_object_get(cert, "subject")), json_string_value(
	    json_object_get(cert, "serial")), json_string_value(
	    json_object_get(cert, "key")));
	if (json_object_get(res, "old_key") != NULL)
		fprintf(out, "old key '%s' %s\n", json_string_value(
		    json_object_get(res, "old_key")), json_is_true(
		    json_object_get(res, "old_key_deleted")) ? "deleted" :
		    "kept in the token");
}

static int
svc_self_signed(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rekey", no_argument, NULL, 'r' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch, rekey = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "rh", lo)) != -1) {
		if (ch == 'r')
			rekey = 1;
		else if (ch == 'h') {
			printf("usage: hkms service-cert apply-self-signed "
			    "[--rekey]\n"
			    "Serve a self-signed certificate: the previous "
			    "self-signed one from the history\n(the same "
			    "certificate), else a new one for the current "
			    "key. --rekey: a new key\nand a new certificate "
			    "(the old key stays in the token unless [server]\n"
			    "rekey_old_key = delete).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for "
			    "'service-cert apply-self-signed'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms service-cert "
		    "apply-self-signed [--rekey]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_service_cert_self_signed(&c, rekey, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_self_signed);
}

static void
print_status(FILE *out, json_t *st)
{
	static const char *const keys[] = { "subject", "issuer", "serial",
		"not_before", "not_after", "self_signed", "thumbprint",
		"trust", NULL };
	json_t *v;
	size_t i;

	for (i = 0; keys[i] != NULL; i++) {
		v = json_object_get(st, keys[i]);
		if (json_is_string(v))
			fprintf(out, "%-12s %s\n", keys[i],
			    json_string_value(v));
		else
			fprintf(out, "%-12s %s\n", keys[i], json_is_true(v) ?
			    "true" : json_is_false(v) ? "false" : "-");
	}
	if (json_is_string(json_object_get(st, "trust_reason")))
		fprintf(out, "%-12s %s\n", "reason", json_string_value(
		    json_object_get(st, "trust_reason")));
}

static int
svc_status_or_trust(struct hkms_cli *cli, int argc, char **argv, int pin)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf(pin ? "usage: hkms service-cert trust\nPin the "
			    "current service certificate: status says "
			    "trusted while it is\nthe one served and "
			    "valid.\n" : "usage: hkms service-cert status\n"
			    "Subject, issuer, validity, self-signed, and "
			    "trust: trusted when the\ncertificate is the "
			    "pinned one (service-cert trust) and valid now, "
			    "else\nuntrusted (reason not_pinned, changed or "
			    "expired).\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'service-cert %s'",
		    pin ? "trust" : "status");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms service-cert %s",
		    pin ? "trust" : "status");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	rc = pin ? hkms_ops_service_cert_trust(&c, &out, &err) :
	    hkms_ops_service_cert_status(&c, &out, &err);
	if (rc != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_status);
}

static int
svc_status(struct hkms_cli *cli, int argc, char **argv)
{
	return svc_status_or_trust(cli, argc, argv, 0);
}

static int
svc_trust(struct hkms_cli *cli, int argc, char **argv)
{
	return svc_status_or_trust(cli, argc, argv, 1);
}

int
hkms_cmd_service_cert(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "get", svc_get, "the service certificate (PEM)" },
		{ "create-csr", svc_csr, "a CSR for the service key (appliance defaults)" },
		{ "apply", svc_apply, "apply a CA-issued certificate (--what-if checks only)" },
		{ "apply-self-signed", svc_self_signed, "back to self-signed (--rekey: new key)" },
		{ "status", svc_status, "subject, issuer, validity, trust status" },
		{ "trust", svc_trust, "pin the current certificate" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "service-cert", verbs, argc - 1,
	    argv + 1);
}
