/*
 * hkms ca create|apply|list|show|policy|sign|issued|revoke|crl|issue-client:
 * certificate authorities whose keys live in the token. Each verb parses
 * its options and calls one operation of src/ops/cas.c and friends;
 * nothing here decides policy. Design: docs/ca.md.
 */
#include <errno.h>
#include <sys/stat.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#define INPUT_MAX (2 * 1024 * 1024)

static const char *const ca_cols[] = { "name", "type", "common_name", "parent",
    "path_len", "not_after", "key", NULL };
static const char *const issued_cols[] = { "serial", "status", "common_name",
    "profile", "not_after", "days_left", "requester", NULL };

/* An integer in lo..hi. */
static int
parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return 0;
	*out = (int)v;
	return 1;
}

/* Human output of a result without its PEM blobs. */
static void
print_summary(FILE *out, json_t *obj)
{
	json_t *o = json_copy(obj);

	json_object_del(o, "pem");
	json_object_del(o, "p7b");
	json_object_del(o, "csr_pem");
	hkms_cli_kv(out, o);
	json_decref(o);
}

static void
print_cas(FILE *out, json_t *arr)
{
	hkms_cli_table(out, arr, ca_cols);
}

static void
print_issued(FILE *out, json_t *arr)
{
	hkms_cli_table(out, arr, issued_cols);
}

static void
print_policy(FILE *out, json_t *obj)
{
	json_t *p = json_object_get(obj, "policy");

	/* a table for people like every verb; --json gives the document */
	if (!json_is_object(p) || json_object_size(p) == 0) {
		fprintf(out, "policy  none (the CA signs what its profiles "
		    "allow)\n");
		return;
	}
	hkms_cli_kv(out, p);
}

/* Blob key of obj to path (--out-file: the written record is printed,
 * obj stolen) or to stdout (obj stolen) */
static int
write_text(struct hkms_cli *cli, const char *path, json_t *obj,
    const char *key)
{
	struct hkms_err err = { 0 };
	const char *s = json_string_value(json_object_get(obj, key));
	int rc;

	if (s == NULL) {
		hkms_err_set(&err, HKMS_E_INTERNAL, "no %s in the result", key);
		json_decref(obj);
		return hkms_cli_fail(cli, &err);
	}
	if (path != NULL)
		return hkms_cli_output_file(cli, path, s, strlen(s),
		    strcmp(key, "p7b") == 0 ? "p7b" : "pem", obj);
	rc = hkms_cli_write_out(NULL, s, strlen(s), &err) == HKMS_OK ?
	    HKMS_EXIT_OK : hkms_cli_fail(cli, &err);
	json_decref(obj);
	return rc;
}

/* ---- create -------------------------------------------------------- */

static int
ca_create(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "key-type", required_argument, NULL, 't' },
		{ "subject", required_argument, NULL, 's' },
		{ "parent", required_argument, NULL, 'p' },
		{ "path-len", required_argument, NULL, 'l' },
		{ "permit-dns", required_argument, NULL, 'd' },
		{ "exclude-dns", required_argument, NULL, 'D' },
		{ "permit-ip", required_argument, NULL, 'i' },
		{ "exclude-ip", required_argument, NULL, 'I' },
		{ "days", required_argument, NULL, 'n' },
		{ "external", no_argument, NULL, 'x' },
		{ "out-file", required_argument, NULL, 'o' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_ca_create_req req;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char **v[4] = { NULL, NULL, NULL, NULL };
	size_t nv[4] = { 0, 0, 0, 0 }, k;
	const char *outfile = NULL;
	json_t *out = NULL;
	int ch, rc, slot;

	memset(&req, 0, sizeof(req));
	for (k = 0; k < 4; k++)
		if ((v[k] = calloc((size_t)argc + 1, sizeof(*v[k]))) == NULL) {
			rc = hkms_cli_usage(cli, "out of memory");
			goto out;
		}
	while ((ch = hkms_cli_getopt(cli, argc, argv, "t:s:p:l:d:D:i:I:n:xo:h",
	    lo)) != -1) {
		slot = -1;
		switch (ch) {
		case 't':
			req.key_type = optarg;
			break;
		case 's':
			req.subject = optarg;
			break;
		case 'p':
			req.parent = optarg;
			break;
		case 'l':
			if (!parse_int(optarg, 0, 32, &req.path_len)) {
				rc = hkms_cli_usage(cli, "--path-len must be "
				    "0..32");
				goto out;
			}
			req.has_path_len = 1;
			break;
		case 'd':
			slot = 0;
			break;
		case 'D':
			slot = 1;
			break;
		case 'i':
			slot = 2;
			break;
		case 'I':
			slot = 3;
			break;
		case 'n':
			if (!parse_int(optarg, 1, 36500, &req.days)) {
				rc = hkms_cli_usage(cli, "--days must be "
				    "1..36500");
				goto out;
			}
			break;
		case 'x':
			req.external = 1;
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'h':
			printf("usage: hkms ca create NAME --key-type TYPE "
			    "--subject S [--parent CA] [--path-len N]\n"
			    "         [--permit-dns D]... [--exclude-dns D]... "
			    "[--permit-ip CIDR]... [--exclude-ip CIDR]...\n"
			    "         [--days N] [--out-file F]\n"
			    "       hkms ca create NAME --key-type TYPE "
			    "--subject S --external [--path-len N] "
			    "--out-file CSR\n"
			    "Make a CA whose key is generated in the token: a "
			    "self-signed root, an\nintermediate signed by "
			    "hkms CA --parent, or (--external) a key and a "
			    "CSR for\nan outside CA; finish that one with "
			    "'hkms ca apply'. Name constraints are\ncritical. "
			    "--out-file gets the CA certificate chain (or the "
			    "CSR).\n");
			rc = HKMS_EXIT_OK;
			goto out;
		default:
			rc = hkms_cli_usage(cli, "bad option for 'ca create'");
			goto out;
		}
		if (slot >= 0)
			v[slot][nv[slot]++] = optarg;
	}
	if (optind + 1 != argc) {
		rc = hkms_cli_usage(cli, "usage: hkms ca create NAME "
		    "--key-type TYPE --subject S [--parent CA]");
		goto out;
	}
	req.name = argv[optind];
	req.permit_dns = v[0];
	req.exclude_dns = v[1];
	req.permit_ip = v[2];
	req.exclude_ip = v[3];
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_create(&c, &req, &out, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	if (outfile != NULL || (req.external && !cli->json))
		rc = write_text(cli, outfile, out, req.external ? "csr_pem" :
		    "pem");
	else
		rc = hkms_cli_output(cli, out, print_summary);
out:
	for (k = 0; k < 4; k++)
		free(v[k]);
	return rc;
}

/* ---- apply, list, show, policy ------------------------------------- */

static int
ca_apply(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "ca-file", required_argument, NULL, 'c' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *file = NULL, *cafile = NULL;
	unsigned char *cert = NULL, *chain = NULL;
	size_t clen = 0, chlen = 0;
	json_t *out = NULL;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:c:h", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'c')
			cafile = optarg;
		else if (ch == 'h') {
			printf("usage: hkms ca apply NAME --file CERT "
			    "--ca-file PARENTCHAIN\n"
			    "Give an externally signed CA (made with 'ca "
			    "create --external') its\ncertificate: it must "
			    "carry the CA's token key, be CA:TRUE, valid now, "
			    "and\nchain to the certificates in --ca-file.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'ca apply'");
	}
	if (optind + 1 != argc || file == NULL || cafile == NULL)
		return hkms_cli_usage(cli, "usage: hkms ca apply NAME --file "
		    "CERT --ca-file PARENTCHAIN");
	if (hkms_read_file(file, INPUT_MAX, &cert, &clen, &err) != HKMS_OK ||
	    hkms_read_file(cafile, INPUT_MAX, &chain, &chlen, &err) !=
	    HKMS_OK || hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_apply(&c, argv[optind], cert, clen, chain, chlen,
	    &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, print_summary);
	free(cert);
	free(chain);
	return rc;
}

static int
ca_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms ca list\nList the CAs.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'ca list'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms ca list");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_list(&c, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_cas);
}

static int
ca_show(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms ca show NAME\nShow a CA: its "
			    "record, certificate, constraints and policy.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'ca show'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms ca show NAME");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_show(&c, argv[optind], &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

static int
ca_policy(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "clear", no_argument, NULL, 'c' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *file = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int ch, rc, clear = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:ch", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'c')
			clear = 1;
		else if (ch == 'h') {
			printf("usage: hkms ca policy NAME [--file POLICY.json "
			    "| --clear]\n"
			    "Show, set or clear the signing policy of a CA "
			    "(allowed names, IP ranges,\nlifetimes, key types "
			    "per profile; schema in docs/ca.md).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'ca policy'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms ca policy NAME [--file "
		    "POLICY.json | --clear]");
	if ((file != NULL && hkms_read_file(file, INPUT_MAX, &data, &len,
	    &err) != HKMS_OK) || hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_policy(&c, argv[optind], (const char *)data, len,
	    clear, &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, print_policy);
	free(data);
	return rc;
}

/* ---- sign ---------------------------------------------------------- */

static int
ca_sign(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'p' },
		{ "csr", required_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'n' },
		{ "subject", required_argument, NULL, 's' },
		{ "san", required_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'f' },
		{ "out-file", required_argument, NULL, 'o' },
		HKMS_CLI_EXT_OPTS,
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_ca_sign_req req;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *csrfile = NULL, *outfile = NULL;
	unsigned char *csr = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int ch, rc;

	int e;
	memset(&req, 0, sizeof(req));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:p:r:n:s:a:f:o:h", lo)) !=
	    -1) {
		switch (ch) {
		case 'c':
			req.ca = optarg;
			break;
		case 'p':
			req.profile = optarg;
			break;
		case 'r':
			csrfile = optarg;
			break;
		case 'n':
			if (!parse_int(optarg, 1, 36500, &req.days))
				return hkms_cli_usage(cli, "--days must be "
				    "1..36500");
			break;
		case 's':
			req.subject = optarg;
			break;
		case 'a':
			req.san = optarg;
			break;
		case 'f':
			req.format = optarg;
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'h':
			printf("usage: hkms ca sign --ca NAME --profile P "
			    "--csr FILE [--days N] [--subject S]\n"
			    "         [--san LIST] [--format pem|p7b] "
			    "[--out-file F]\n"
			    "Sign a CSR under a leaf profile: the CSR's "
			    "signature and key are checked,\nits subject and "
			    "SANs (or the overrides) must pass the CA's "
			    "policy and name\nconstraints, and the profile "
			    "alone decides the extensions. The result is\n"
			    "the certificate followed by the CA chain to the "
			    "root (PEM) or a PKCS#7.\n" HKMS_CLI_EXT_HELP);
			return HKMS_EXIT_OK;
		default:
			if ((e = hkms_cli_ext_opt(cli, ch, optarg, &req.ext)) >
			    0)
				break;
			if (e < 0)
				return HKMS_EXIT_USAGE;
			return hkms_cli_usage(cli, "bad option for 'ca sign'");
		}
	}
	if (optind != argc || req.ca == NULL || req.profile == NULL ||
	    csrfile == NULL)
		return hkms_cli_usage(cli, "usage: hkms ca sign --ca NAME "
		    "--profile P --csr FILE");
	if (hkms_read_file(csrfile, INPUT_MAX, &csr, &len, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK) {
		free(csr);
		return hkms_cli_fail(cli, &err);
	}
	req.csr = csr;
	req.csr_len = len;
	rc = hkms_ops_ca_sign(&c, &req, &out, &err);
	free(csr);
	if (rc != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	if (outfile != NULL || !cli->json)
		return write_text(cli, outfile, out, json_object_get(out,
		    "p7b") ? "p7b" : "pem");
	return hkms_cli_output(cli, out, print_summary);
}

/* ---- issued, revoke, crl ------------------------------------------- */

static int
ca_issued(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "expiring-within", required_argument, NULL, 'e' },
		{ "status", required_argument, NULL, 's' },
		{ "serial", required_argument, NULL, 'S' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *ca = NULL, *status = NULL, *serial = NULL;
	json_t *out = NULL;
	int ch, within = -1;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:e:s:S:h", lo)) != -1) {
		switch (ch) {
		case 'c':
			ca = optarg;
			break;
		case 'e':
			if (!parse_int(optarg, 0, 36500, &within))
				return hkms_cli_usage(cli, "--expiring-within "
				    "must be 0..36500 days");
			break;
		case 's':
			status = optarg;
			break;
		case 'S':
			serial = optarg;
			break;
		case 'h':
			printf("usage: hkms ca issued --ca NAME "
			    "[--expiring-within DAYS] "
			    "[--status valid|revoked|expired]\n"
			    "       hkms ca issued --ca NAME --serial HEX\n"
			    "List the certificates a CA issued, or show one "
			    "(with its PEM).\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'ca issued'");
		}
	}
	if (optind != argc || ca == NULL)
		return hkms_cli_usage(cli, "usage: hkms ca issued --ca NAME");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	if (serial != NULL) {
		if (hkms_ops_ca_issued_show(&c, ca, serial, &out, &err) !=
		    HKMS_OK)
			return hkms_cli_fail(cli, &err);
		return hkms_cli_output(cli, out, NULL);
	}
	if (hkms_ops_ca_issued(&c, ca, within, status, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_issued);
}

static int
ca_revoke(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "serial", required_argument, NULL, 'S' },
		{ "reason", required_argument, NULL, 'r' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *ca = NULL, *serial = NULL, *reason = NULL;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:S:r:h", lo)) != -1) {
		switch (ch) {
		case 'c':
			ca = optarg;
			break;
		case 'S':
			serial = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'h':
			printf("usage: hkms ca revoke --ca NAME --serial HEX "
			    "[--reason R]\n"
			    "Revoke a certificate the CA issued (for good: "
			    "revocations are never undone).\nReasons: "
			    "unspecified keyCompromise cACompromise "
			    "affiliationChanged superseded\n"
			    "cessationOfOperation certificateHold "
			    "privilegeWithdrawn aACompromise.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'ca revoke'");
		}
	}
	if (optind != argc || ca == NULL || serial == NULL)
		return hkms_cli_usage(cli, "usage: hkms ca revoke --ca NAME "
		    "--serial HEX [--reason R]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_revoke(&c, ca, serial, reason, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

static int
ca_crl(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "days", required_argument, NULL, 'n' },
		{ "out-file", required_argument, NULL, 'o' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *ca = NULL, *outfile = NULL;
	json_t *out = NULL;
	int ch, days = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:n:o:h", lo)) != -1) {
		switch (ch) {
		case 'c':
			ca = optarg;
			break;
		case 'n':
			if (!parse_int(optarg, 1, 3650, &days))
				return hkms_cli_usage(cli, "--days must be "
				    "1..3650");
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'h':
			printf("usage: hkms ca crl --ca NAME [--days N] "
			    "[--out-file F]\n"
			    "Make a CRL of every revocation (next update in "
			    "N days, default 7), signed\nby the CA's token "
			    "key, and publish it to <crl_dir>/NAME.crl (DER) "
			    "and\nNAME.crl.pem. --out-file gets a PEM copy.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'ca crl'");
		}
	}
	if (optind != argc || ca == NULL)
		return hkms_cli_usage(cli, "usage: hkms ca crl --ca NAME "
		    "[--days N] [--out-file F]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_crl(&c, ca, days, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	if (outfile != NULL || !cli->json)
		return write_text(cli, outfile, out, "pem");
	return hkms_cli_output(cli, out, print_summary);
}

/* ---- issue-client -------------------------------------------------- */

static int
ca_issue_client(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "subject", required_argument, NULL, 's' },
		{ "san", required_argument, NULL, 'a' },
		{ "out-file", required_argument, NULL, 'o' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "days", required_argument, NULL, 'n' },
		{ "key-type", required_argument, NULL, 't' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_ca_client_req req;
	struct hkms_secret *pass = NULL, *p12 = NULL;
	struct hkms_err err = { 0 }, e2 = { 0 };
	struct hkms_ops_ctx c;
	const char *pfile = NULL, *file = NULL, *serial;
	struct stat sb;
	json_t *out = NULL, *rv = NULL;
	int ch, rc;

	memset(&req, 0, sizeof(req));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:s:a:o:P:n:t:h", lo)) != -1) {
		switch (ch) {
		case 'c':
			req.ca = optarg;
			break;
		case 's':
			req.subject = optarg;
			break;
		case 'a':
			req.san = optarg;
			break;
		case 'o':
			file = optarg;
			break;
		case 'P':
			pfile = optarg;
			break;
		case 'n':
			if (!parse_int(optarg, 1, HKMS_OPS_DAYS_MAX, &req.days))
				return hkms_cli_usage(cli, "--days must be "
				    "1..36500");
			break;
		case 't':
			req.key_type = optarg;
			break;
		case 'h':
			printf("usage: hkms ca issue-client --ca NAME "
			    "--subject S --out-file F.p12\n"
			    "         --passphrase-file P [--san LIST] "
			    "[--days N] [--key-type ec:p256]\n"
			    "Make a client certificate (profile tls-client, "
			    "5 years by default, never\npast the CA) with a "
			    "software key made in memory, and write key, "
			    "certificate\nand CA chain once to a new "
			    "passphrase-protected PKCS#12 (AES-256, mode\n"
			    "0600). The key is kept nowhere else; the "
			    "certificate is in the issued index.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'ca "
			    "issue-client'");
		}
	}
	if (optind != argc || req.ca == NULL || req.subject == NULL ||
	    file == NULL || pfile == NULL)
		return hkms_cli_usage(cli, "usage: hkms ca issue-client --ca "
		    "NAME --subject S --out-file F.p12 --passphrase-file P");
	if (hkms_secret_from_file(pfile, "passphrase", &pass, &err) !=
	    HKMS_OK || hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	/* the key is handed out once: refuse a taken path before issuing
	 * (hkms_cli_write_new refuses it again, atomically) */
	if (lstat(file, &sb) == 0 || errno != ENOENT) {
		hkms_err_setc(&err, HKMS_E_EXISTS, "file_exists", "'%s' "
		    "exists; the PKCS#12 is written once, to a new file", file);
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.passphrase = pass;
	req.destination = file;
	if (hkms_ops_ca_issue_client(&c, &req, &out, &p12, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	if (hkms_cli_write_new(file, hkms_secret_str(p12), hkms_secret_len(p12),
	    0600, &err) != HKMS_OK) {
		/* issued and recorded, but its key is lost: revoke it so the
		 * certificate can never be used */
		serial = json_string_value(json_object_get(out, "serial"));
		if (serial != NULL && hkms_ops_ca_revoke(&c, req.ca, serial,
		    "cessationOfOperation", &rv, &e2) == HKMS_OK)
			snprintf(err.detail + strlen(err.detail),
			    sizeof(err.detail) - strlen(err.detail),
			    "; certificate %.40s revoked", serial);
		json_decref(rv);
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	rc = hkms_cli_output_written(cli, file, hkms_secret_len(p12), "p12",
	    out);
	out = NULL;	/* hkms_cli_output_written took it */
out:
	json_decref(out);
	hkms_secret_free(p12);
	hkms_secret_free(pass);
	return rc;
}

/* ---- delete (issue 13b) ------------------------------------------ */

static int
ca_delete(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' }, HKMS_CLI_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch, force = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "fh", lo)) != -1) {
		if (ch == 'f')
			force = 1;
		else if (ch == 'h') {
			printf("usage: hkms ca delete NAME [--force]\n"
			    "Delete a CA's record (certificate and chain). "
			    "Refused while it has unexpired,\nunrevoked issued "
			    "certificates, child CAs, or is the server's client "
			    "CA,\nunless --force. Issued and revocation "
			    "records, the CRL and the token key\nstay (key "
			    "delete removes the key).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'ca delete'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms ca delete NAME "
		    "[--force]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_delete(&c, argv[optind], force, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

static int
ca_renew(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rekey", no_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'n' }, HKMS_CLI_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch, rekey = 0, days = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "rn:h", lo)) != -1) {
		if (ch == 'r')
			rekey = 1;
		else if (ch == 'n') {
			if (!parse_int(optarg, 1, 36500, &days))
				return hkms_cli_usage(cli, "--days must be "
				    "1..36500");
		} else if (ch == 'h') {
			printf("usage: hkms ca renew NAME [--rekey] [--days N]"
			    "\nA new certificate for the CA: same subject, "
			    "path length and name\nconstraints, issued by its "
			    "parent (or self-signed for a root), for the\n"
			    "same key or with --rekey a new one of the same "
			    "type (the old key is kept).\nThe lifetime it had "
			    "unless --days; the previous certificates stay in\n"
			    "the record.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'ca renew'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms ca renew NAME "
		    "[--rekey] [--days N]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_ca_renew(&c, argv[optind], rekey, days, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_summary);
}

int
hkms_cmd_ca(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "create", ca_create, "make a root, intermediate or externally signed CA" },
		{ "apply", ca_apply, "give an externally signed CA its certificate" },
		{ "list", ca_list, "list CAs" },
		{ "show", ca_show, "show a CA" },
		{ "policy", ca_policy, "show, set or clear a CA's signing policy" },
		{ "delete", ca_delete, "delete a CA (--force when it is in use)" },
		{ "renew", ca_renew, "renew a CA's certificate (--rekey: a new key)" },
		{ "sign", ca_sign, "sign a CSR under a profile" },
		{ "issued", ca_issued, "list (or show) the certificates a CA issued" },
		{ "revoke", ca_revoke, "revoke an issued certificate" },
		{ "crl", ca_crl, "make and publish a CRL" },
		{ "issue-client", ca_issue_client, "client certificate + key in a PKCS#12, once" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "ca", verbs, argc - 1, argv + 1);
}
