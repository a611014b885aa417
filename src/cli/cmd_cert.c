/*
 * hkms cert self-sign|import|list|show|export|rename|delete|renew: the
 * certificates of token keys. Each verb parses its options and calls one
 * operation of src/ops/certs.c; `import` prints its checks, and when one
 * fails the JSON error on stderr carries them as "checks".
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hkms/certio.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/util.h"

static const char *const list_cols[] = { "name", "type", "status",
    "common_name", "not_after", "days_left", "key", "used_by", NULL };
static const char *const check_cols[] = { "name", "pass", "reason", NULL };

/* A positive number of days (0 allowed when zero_ok). */
static int
parse_days(const char *s, int zero_ok, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < (zero_ok ? 0 : 1) ||
	    v > 36500)
		return 0;
	*out = (int)v;
	return 1;
}

static int
cert_self_sign(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "new-key", required_argument, NULL, 'n' },
		{ "subject", required_argument, NULL, 's' },
		{ "san", required_argument, NULL, 'a' },
		{ "profile", required_argument, NULL, 'p' },
		{ "days", required_argument, NULL, 'D' },
		{ "digest", required_argument, NULL, 'd' },
		{ "out-file", required_argument, NULL, 'o' },
		HKMS_CLI_EXT_OPTS,
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_cert_req req;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *outfile = NULL, *pem;
	json_t *out = NULL;
	int ch;

	int e;
	memset(&req, 0, sizeof(req));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "k:n:s:a:p:D:d:o:h", lo)) !=
	    -1) {
		switch (ch) {
		case 'k':
			req.key = optarg;
			break;
		case 'n':
			req.new_key = optarg;
			break;
		case 's':
			req.subject = optarg;
			break;
		case 'a':
			req.san = optarg;
			break;
		case 'p':
			req.profile = optarg;
			break;
		case 'D':
			if (!parse_days(optarg, 0, &req.days))
				return hkms_cli_usage(cli, "--days must be a "
				    "number of days (1..36500)");
			break;
		case 'd':
			req.digest = optarg;
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'h':
			printf("usage: hkms cert self-sign NAME (--key KEY | "
			    "--new-key TYPE) --subject S [--san ...]\n"
			    "         [--profile P] [--days N] [--digest D] "
			    "[--out-file F]\n"
			    "Make a self-signed certificate for a token key "
			    "under a leaf profile\n(default tls-server) and "
			    "keep it as record NAME.\n" HKMS_CLI_EXT_HELP);
			return HKMS_EXIT_OK;
		default:
			if ((e = hkms_cli_ext_opt(cli, ch, optarg, &req.ext)) >
			    0)
				break;
			if (e < 0)
				return HKMS_EXIT_USAGE;
			return hkms_cli_usage(cli, "bad option for 'cert "
			    "self-sign'");
		}
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms cert self-sign NAME "
		    "--key KEY --subject S");
	req.name = argv[optind];
	if (req.subject == NULL)
		return hkms_cli_usage(cli, "--subject is required");
	if (req.key == NULL && req.new_key == NULL)
		return hkms_cli_usage(cli, "--key or --new-key is required");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_self_sign(&c, &req, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	pem = json_string_value(json_object_get(out, "pem"));
	if (outfile != NULL)
		return hkms_cli_output_file(cli, outfile, pem, strlen(pem),
		    "pem", out);
	return hkms_cli_output(cli, out, NULL);
}

static void
print_import(FILE *out, json_t *res)
{
	json_t *cert = json_object_get(res, "certificate");

	hkms_cli_table(out, json_object_get(res, "checks"), check_cols);
	if (!json_is_true(json_object_get(res, "ok")))
		fprintf(out, "\nrefused: a check failed; nothing was changed\n");
	else if (json_is_true(json_object_get(res, "what_if")))
		fprintf(out, "\nwhat-if: all checks pass; nothing was changed\n");
	else if (cert != NULL)
		fprintf(out, "\nimported '%s' for key '%s'%s\n",
		    json_string_value(json_object_get(res, "name")),
		    json_string_value(json_object_get(res, "key")),
		    json_is_true(json_object_get(res, "key_imported")) ?
		    " (the key was written into the token)" : "");
}

/* A failed check: the usual JSON error, plus the checks. */
static int
fail_checks(struct hkms_cli *cli, const struct hkms_err *err, json_t *res)
{
	int rc;

	if (res == NULL)
		return hkms_cli_fail(cli, err);
	rc = hkms_cli_fail_checks(cli, err, json_object_get(res, "checks"));
	if (!cli->json)
		print_import(stdout, res);
	return rc;
}

static void
wipe_free(unsigned char *p, size_t len)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, len);
		free(p);
	}
}

static int
cert_import(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "profile", required_argument, NULL, 'p' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "what-if", no_argument, NULL, 'w' },
		{ "replace", no_argument, NULL, 'r' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "trust", no_argument, NULL, 'T' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_cert_import_req req;
	const char *keyfile = NULL;
	unsigned char *kdata = NULL;
	size_t klen = 0;
	struct hkms_secret *pass = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *file = NULL, *cafile = NULL, *pfile = NULL;
	unsigned char *data = NULL, *ca = NULL;
	size_t len = 0, calen = 0;
	json_t *out = NULL;
	enum hkms_rc rc;
	int ch, ret;

	memset(&req, 0, sizeof(req));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:c:k:p:P:wrh", lo)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'c':
			cafile = optarg;
			break;
		case 'k':
			req.key = optarg;
			break;
		case 'p':
			req.profile = optarg;
			break;
		case 'P':
			pfile = optarg;
			break;
		case 'w':
			req.what_if = 1;
			break;
		case 'r':
			req.replace = 1;
			break;
		case 'K':
			keyfile = optarg;
			break;
		case 'T':
			req.trust = 1;
			break;
		case 'h':
			printf("usage: hkms cert import NAME --file CERT "
			    "[--key-file KEY.pem] [--ca-file CA] [--key KEY]\n"
			    "         [--profile P] [--passphrase-file P] "
			    "[--trust] [--what-if] [--replace]\n"
			    "--key-file: the private key in a file of its own "
			    "(PEM or PKCS#8, encrypted\nwith the passphrase); "
			    "--trust: also add the certificate to the "
			    "truststore\n(alias NAME) in the same "
			    "operation.\n"
			    "Apply a certificate issued elsewhere for a token "
			    "key, or import a private\nkey with its "
			    "certificate (PEM, PKCS#8, PKCS#12) into the "
			    "token. Checks:\nvalidity, key_matches, "
			    "extended_key_usage (--profile: default "
			    "tls-server =\nserverAuth, tls-client = "
			    "clientAuth, any = none), chains_to_ca (with\n"
			    "--ca-file). --what-if only checks. --replace "
			    "applies onto an existing\ncertificate NAME "
			    "(kept in its history: cert restore).\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'cert "
			    "import'");
		}
	}
	if (optind + 1 != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms cert import NAME --file "
		    "CERT [--ca-file CA] [--key KEY] [--what-if]");
	req.name = argv[optind];
	if ((pfile != NULL && hkms_secret_from_file(pfile, "passphrase",
	    &pass, &err) != HKMS_OK) ||
	    hkms_read_file(file, HKMS_CERTIO_MAX_INPUT, &data, &len, &err) !=
	    HKMS_OK ||
	    (cafile != NULL && hkms_read_file(cafile, HKMS_CERTIO_MAX_INPUT,
	    &ca, &calen, &err) != HKMS_OK) ||
	    (keyfile != NULL && hkms_read_file(keyfile,
	    HKMS_CERTIO_MAX_INPUT, &kdata, &klen, &err) != HKMS_OK) ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK) {
		ret = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.data = data;
	req.len = len;
	req.ca = ca;
	req.ca_len = calen;
	req.key_data = kdata;
	req.key_len = klen;
	req.passphrase = pass ? hkms_secret_str(pass) : NULL;
	rc = hkms_ops_cert_import(&c, &req, &out, &err);
	if (rc == HKMS_E_VERIFY)
		ret = fail_checks(cli, &err, out);
	else if (rc != HKMS_OK)
		ret = hkms_cli_fail(cli, &err);
	else {
		ret = hkms_cli_output(cli, out, print_import);
		out = NULL;	/* consumed */
	}
out:
	json_decref(out);
	/* the file may hold a private key */
	wipe_free(data, len);
	wipe_free(kdata, klen);
	free(ca);
	hkms_secret_free(pass);
	return ret;
}

static void
print_list(FILE *out, json_t *rows)
{
	hkms_cli_table(out, rows, list_cols);
}

static int
cert_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "expiring-within", required_argument, NULL, 'e' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch, within = -1;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "e:h", lo)) != -1) {
		if (ch == 'e') {
			if (!parse_days(optarg, 1, &within))
				return hkms_cli_usage(cli, "--expiring-within "
				    "must be a number of days (0..36500)");
		} else if (ch == 'h') {
			printf("usage: hkms cert list [--expiring-within DAYS]"
			    "\nList certificates, CSRs and CAs; with "
			    "--expiring-within only certificates\nthat expire "
			    "within DAYS days (expired ones included).\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'cert list'");
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms cert list "
		    "[--expiring-within DAYS]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_list(&c, within, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_list);
}

static int
cert_show(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms cert show NAME\nEvery field of a "
			    "certificate (or CSR, or CA): names, DN, SANs, "
			    "key,\nvalidity, thumbprints, issuer, the key's "
			    "pkcs11: URI, used_by and the PEM.\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'cert show'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms cert show NAME");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN_IF_ANY, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_show(&c, argv[optind], &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

static int
cert_export(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "out-file", required_argument, NULL, 'o' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_secret *pass = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *format = "pem", *outfile = NULL, *pfile = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	int ch, ret;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "F:o:P:h", lo)) != -1) {
		if (ch == 'F')
			format = optarg;
		else if (ch == 'o')
			outfile = optarg;
		else if (ch == 'P')
			pfile = optarg;
		else if (ch == 'h') {
			printf("usage: hkms cert export NAME [--format "
			    "pem|der|p7b|p7b-der|p12] [--out-file F]\n"
			    "         [--passphrase-file P]\n"
			    "Write the certificate (and the chain it came "
			    "with). p12 holds certificates\nonly, encrypted "
			    "with the passphrase if one is given; no private "
			    "key of a token\nkey is ever exported.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'cert export'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms cert export NAME "
		    "[--format F] [--out-file F]");
	if ((pfile != NULL && hkms_secret_from_file(pfile, "passphrase",
	    &pass, &err) != HKMS_OK) ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_export(&c, argv[optind], format, pass ?
	    hkms_secret_str(pass) : NULL, &data, &len, &err) != HKMS_OK)
		ret = hkms_cli_fail(cli, &err);
	else if (outfile != NULL)
		ret = hkms_cli_output_file(cli, outfile, data, len, format,
		    json_pack("{s:s}", "name", argv[optind]));
	else if (hkms_cli_write_out(NULL, data, len, &err) != HKMS_OK)
		ret = hkms_cli_fail(cli, &err);
	else
		ret = HKMS_EXIT_OK;
	free(data);
	hkms_secret_free(pass);
	return ret;
}

static int
cert_rename(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1) {
		if (ch == 'h') {
			printf("usage: hkms cert rename OLD NEW\nRename a "
			    "certificate or CSR record (not while something "
			    "uses it).\n");
			return HKMS_EXIT_OK;
		}
		return hkms_cli_usage(cli, "bad option for 'cert rename'");
	}
	if (optind + 2 != argc)
		return hkms_cli_usage(cli, "usage: hkms cert rename OLD NEW");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_rename(&c, argv[optind], argv[optind + 1], &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, json_pack("{s:s,s:s}", "name",
	    argv[optind + 1], "renamed_from", argv[optind]), NULL);
}

static int
cert_delete(struct hkms_cli *cli, int argc, char **argv)
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
			printf("usage: hkms cert delete NAME [--force]\nDelete "
			    "a certificate or CSR record (its key stays in the "
			    "token);\n--force also when something uses it.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'cert delete'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms cert delete NAME "
		    "[--force]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_delete(&c, argv[optind], force, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, json_pack("{s:s,s:b}", "name",
	    argv[optind], "deleted", 1), NULL);
}

static int
cert_renew(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rekey", no_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'D' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch, rekey = 0, days = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "rD:h", lo)) != -1) {
		if (ch == 'r')
			rekey = 1;
		else if (ch == 'D') {
			if (!parse_days(optarg, 0, &days))
				return hkms_cli_usage(cli, "--days must be a "
				    "number of days (1..36500)");
		} else if (ch == 'h') {
			printf("usage: hkms cert renew NAME [--rekey] [--days "
			    "N]\nRe-issue a self-signed certificate with the "
			    "same subject, SANs and profile,\nwith the same key "
			    "or (--rekey) a new key of the same type. The old "
			    "key\nstays in the token.\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'cert renew'");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms cert renew NAME "
		    "[--rekey] [--days N]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_renew(&c, argv[optind], rekey, days, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

/* hkms cert restore NAME [--version N] (issue 13a) */
static int
cert_restore(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "version", required_argument, NULL, 'v' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch, version = 0;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "v:h", lo)) != -1) {
		switch (ch) {
		case 'v':
			if (!parse_days(optarg, 0, &version) || version < 1)
				return hkms_cli_usage(cli, "--version must be "
				    "a version number (cert show lists them)");
			break;
		case 'h':
			printf("usage: hkms cert restore NAME [--version N]\n"
			    "Make a previous version of a certificate current "
			    "again (default: the newest\nin its history, "
			    "which cert show lists). The current one goes "
			    "into the history.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'cert "
			    "restore'");
		}
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms cert restore NAME "
		    "[--version N]");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_cert_restore(&c, argv[optind], version, &out, &err) !=
	    HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, NULL);
}

int
hkms_cmd_cert(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "self-sign", cert_self_sign, "self-signed certificate for a token key" },
		{ "import", cert_import, "apply a certificate issued elsewhere (or key + cert)" },
		{ "list", cert_list, "list certificates, CSRs and CAs" },
		{ "show", cert_show, "show every field of a certificate" },
		{ "export", cert_export, "write a certificate as pem, der, p7b or p12" },
		{ "rename", cert_rename, "rename a certificate" },
		{ "delete", cert_delete, "delete a certificate (not its key)" },
		{ "renew", cert_renew, "re-issue a self-signed certificate" },
		{ "restore", cert_restore, "make a previous version current again" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "cert", verbs, argc - 1, argv + 1);
}
