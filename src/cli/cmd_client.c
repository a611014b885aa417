/*
 * hkms client generate|add|list|show|edit|delete: the mTLS client
 * registrations (src/ops/clients.c). generate issues a client certificate
 * from an hkms CA and writes its PKCS#12 once, to a new 0600 file.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hkms/certio.h"
#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/util.h"

#define MAX_GRANTS 32
#define MAX_PROFILES 32

static const char *const list_cols[] = { "name", "clearance",
    "require_2fa", "totp_enrolled", "not_after", "subject", NULL };

/* The --allow-ca options: "CA" or "CA:PROFILE,PROFILE". */
struct grants {
	struct hkms_ops_client_grant g[MAX_GRANTS];
	char *buf[MAX_GRANTS];
	const char *prof[MAX_GRANTS][MAX_PROFILES];
	size_t n;
};

static void
grants_free(struct grants *gs)
{
	size_t i;

	for (i = 0; i < gs->n; i++)
		free(gs->buf[i]);
	gs->n = 0;
}

static int
grants_add(struct grants *gs, const char *arg)
{
	char *s, *colon, *tok, *save = NULL;
	size_t i = gs->n, np = 0;

	if (i >= MAX_GRANTS || (s = strdup(arg)) == NULL)
		return 0;
	gs->buf[i] = s;
	gs->n++;
	memset(&gs->g[i], 0, sizeof(gs->g[i]));
	gs->g[i].ca = s;
	if ((colon = strchr(s, ':')) != NULL) {
		*colon = '\0';
		for (tok = strtok_r(colon + 1, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if (np + 1 >= MAX_PROFILES)
				return 0;
			gs->prof[i][np++] = tok;
		}
		if (np == 0)
			return 0;
		gs->prof[i][np] = NULL;
		gs->g[i].profiles = gs->prof[i];
		gs->g[i].nprofiles = np;
	}
	return s[0] != '\0';
}

static void
print_show(FILE *out, json_t *o)
{
	static const char *const top[] = { "name", "clearance", "subject",
	    "issuer", "not_after", "created", "source", "ca" };
	json_t *v, *p;
	size_t i, k;

	for (k = 0; k < sizeof(top) / sizeof(top[0]); k++) {
		v = json_object_get(o, top[k]);
		fprintf(out, "%-14s %s\n", top[k], json_is_string(v) ?
		    json_string_value(v) : "-");
	}
	fprintf(out, "%-14s %s\n", "require_2fa",
	    json_is_true(json_object_get(o, "require_2fa")) ? "yes" : "no");
	fprintf(out, "%-14s %s\n", "totp_enrolled",
	    json_is_true(json_object_get(o, "totp_enrolled")) ? "yes" : "no");
	if ((v = json_object_get(o, "totp")) != NULL) {
		fprintf(out, "%-14s %s\n", "totp_secret", json_string_value(
		    json_object_get(v, "secret")));
		fprintf(out, "%-14s %s\n", "totp_uri", json_string_value(
		    json_object_get(v, "uri")));
		if (json_is_string(json_object_get(v, "qr_svg_file")))
			fprintf(out, "%-14s %s\n", "totp_qr_svg",
			    json_string_value(json_object_get(v,
			    "qr_svg_file")));
	}
	json_array_foreach(json_object_get(o, "thumbprints"), i, v)
		fprintf(out, "%-14s sha256:%s\n", i == 0 ? "thumbprints" : "",
		    json_string_value(v));
	json_array_foreach(json_object_get(o, "permissions"), i, p) {
		char *r = json_dumps(json_object_get(p, "rights"),
		    JSON_COMPACT);
		char *pr = json_dumps(json_object_get(p, "profiles"),
		    JSON_COMPACT | JSON_ENCODE_ANY);

		fprintf(out, "%-14s %s rights %s profiles %s\n", i == 0 ?
		    "permissions" : "", json_string_value(json_object_get(p,
		    "ca")), r ? r : "?", pr && strcmp(pr, "null") ? pr :
		    "any");
		free(r);
		free(pr);
	}
	if (json_is_string(json_object_get(o, "file")))
		fprintf(out, "%-14s %s\n", "file", json_string_value(
		    json_object_get(o, "file")));
}

static void
print_list(FILE *out, json_t *arr)
{
	if (json_array_size(arr) == 0)
		fprintf(out, "(no clients)\n");
	else
		hkms_cli_table(out, arr, list_cols);
}

/* The TOTP enrolment of an answer (issue 16a): its QR code written to a
 * new file qr (0600: it holds the seed) and left out of what is printed;
 * the secret and URI are printed, once. */
static enum hkms_rc
totp_out(json_t *out, const char *qr, struct hkms_err *err)
{
	json_t *t = json_object_get(out, "totp");
	const char *svg = json_string_value(json_object_get(t, "qr_svg"));
	enum hkms_rc rc = HKMS_OK;

	if (t == NULL || svg == NULL)
		return HKMS_OK;
	if (qr != NULL && (rc = hkms_cli_write_new(qr, svg, strlen(svg), 0600,
	    err)) == HKMS_OK)
		json_object_set_new(t, "qr_svg_file", json_string(qr));
	json_object_del(t, "qr_svg");
	return rc;
}

/* The QR file qr must be a new path, checked before the enrolment: the
 * seed is shown once, so a taken path found only after the registration
 * changed would leave a seed nobody has (hkms_cli_write_new refuses it
 * again, atomically). */
static enum hkms_rc
qr_check(const char *qr, struct hkms_err *err)
{
	struct stat sb;

	if (qr == NULL || (lstat(qr, &sb) != 0 && errno == ENOENT))
		return HKMS_OK;
	return hkms_err_setc(err, HKMS_E_EXISTS, "file_exists", "'%s' exists; "
	    "the QR code is written once, to a new file", qr);
}

static int
help_or_bad(struct hkms_cli *cli, int ch, const char *verb,
    const char *usage)
{
	if (ch == 'h') {
		printf("usage: hkms client %s\n", usage);
		return HKMS_EXIT_OK;
	}
	return hkms_cli_usage(cli, "bad option for 'client %s'", verb);
}

static int
parse_days(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 ||
	    v > HKMS_OPS_DAYS_MAX)
		return 0;
	*out = (int)v;
	return 1;
}

static int
client_generate(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "clearance", required_argument, NULL, 'C' },
		{ "allow-ca", required_argument, NULL, 'a' },
		{ "days", required_argument, NULL, 'n' },
		{ "require-2fa", no_argument, NULL, '2' },
		{ "2fa", no_argument, NULL, '2' },
		{ "qr-svg", required_argument, NULL, 'Q' },
		{ "subject", required_argument, NULL, 's' },
		{ "out-file", required_argument, NULL, 'o' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "generate NAME --ca CA --clearance "
	    "admin|operator|user\n       [--allow-ca CA[:PROFILE,...]]... "
	    "[--days N] [--2fa [--qr-svg F.svg]] [--subject S]\n       "
	    "--out-file F.p12 --passphrase-file P\nIssue a client certificate from CA "
	    "(5 years by default, never past the CA)\nand register it as "
	    "client NAME in one step; key, certificate and chain are\n"
	    "written once to a new passphrase-protected PKCS#12 (mode 0600).";
	struct hkms_ops_client_req req;
	struct grants gs;
	struct hkms_secret *pass = NULL, *p12 = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *pfile = NULL, *file = NULL, *qr = NULL;
	struct stat sb;
	json_t *out = NULL;
	int ch, rc;

	memset(&req, 0, sizeof(req));
	memset(&gs, 0, sizeof(gs));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:C:a:n:2Q:s:o:P:h",
	    lo)) != -1) {
		switch (ch) {
		case 'c':
			req.ca = optarg;
			break;
		case 'C':
			req.clearance = optarg;
			break;
		case 'a':
			if (!grants_add(&gs, optarg)) {
				grants_free(&gs);
				return hkms_cli_usage(cli, "--allow-ca takes "
				    "CA or CA:PROFILE,... (at most %d)",
				    MAX_GRANTS);
			}
			break;
		case 'n':
			if (!parse_days(optarg, &req.days)) {
				grants_free(&gs);
				return hkms_cli_usage(cli, "--days must be "
				    "1..%d", HKMS_OPS_DAYS_MAX);
			}
			break;
		case '2':
			req.require_2fa = 1;
			break;
		case 'Q':
			qr = optarg;
			break;
		case 's':
			req.subject = optarg;
			break;
		case 'o':
			file = optarg;
			break;
		case 'P':
			pfile = optarg;
			break;
		default:
			grants_free(&gs);
			return help_or_bad(cli, ch, "generate", usage);
		}
	}
	if (optind + 1 != argc || req.ca == NULL || req.clearance == NULL ||
	    file == NULL || pfile == NULL) {
		grants_free(&gs);
		return hkms_cli_usage(cli, "usage: hkms client generate NAME "
		    "--ca CA --clearance C --out-file F.p12 --passphrase-file "
		    "P");
	}
	req.name = argv[optind];
	req.grants = gs.g;
	req.ngrants = gs.n;
	if (hkms_secret_from_file(pfile, "passphrase", &pass, &err) !=
	    HKMS_OK || hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) !=
	    HKMS_OK) {
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
	if (qr_check(qr, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.passphrase = pass;
	req.destination = file;
	if (hkms_ops_client_generate(&c, &req, &out, &p12, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	if (hkms_cli_write_new(file, hkms_secret_str(p12), hkms_secret_len(p12),
	    0600, &err) != HKMS_OK) {
		/* registered, but its key is lost: remove the registration
		 * and revoke the certificate so it can never be used */
		struct hkms_err e2 = { 0 };
		const char *serial = json_string_value(json_object_get(out,
		    "serial"));
		json_t *rv = NULL;

		(void)hkms_ops_client_delete(&c, req.name, &e2);
		if (serial != NULL && hkms_ops_ca_revoke(&c, req.ca, serial,
		    "cessationOfOperation", &rv, &e2) == HKMS_OK)
			snprintf(err.detail + strlen(err.detail),
			    sizeof(err.detail) - strlen(err.detail),
			    "; client removed, certificate %.40s revoked",
			    serial);
		json_decref(rv);
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	if (totp_out(out, qr, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	rc = hkms_cli_output_written(cli, file, hkms_secret_len(p12), "p12",
	    out);
	out = NULL;	/* taken */
out:
	json_decref(out);
	hkms_secret_free(p12);
	hkms_secret_free(pass);
	grants_free(&gs);
	return rc;
}

static int
client_add(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cert", required_argument, NULL, 'f' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "clearance", required_argument, NULL, 'C' },
		{ "allow-ca", required_argument, NULL, 'a' },
		{ "require-2fa", no_argument, NULL, '2' },
		{ "2fa", no_argument, NULL, '2' },
		{ "qr-svg", required_argument, NULL, 'Q' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "add NAME --cert F [--password-file P] "
	    "--clearance admin|operator|user\n       [--allow-ca "
	    "CA[:PROFILE,...]]... [--2fa [--qr-svg F.svg]]\nRegister the client "
	    "certificates of F (PEM, DER, PKCS#7 or PKCS#12; every one\n"
	    "must verify against an hkms CA and carry clientAuth) as client "
	    "NAME.";
	struct hkms_ops_client_req req;
	struct grants gs;
	const char *file = NULL, *pfile = NULL, *qr = NULL;
	struct hkms_secret *pass = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int ch, rc;

	memset(&req, 0, sizeof(req));
	memset(&gs, 0, sizeof(gs));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:p:C:a:2Q:h", lo)) !=
	    -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'p':
			pfile = optarg;
			break;
		case 'C':
			req.clearance = optarg;
			break;
		case 'a':
			if (!grants_add(&gs, optarg)) {
				grants_free(&gs);
				return hkms_cli_usage(cli, "--allow-ca takes "
				    "CA or CA:PROFILE,... (at most %d)",
				    MAX_GRANTS);
			}
			break;
		case '2':
			req.require_2fa = 1;
			break;
		case 'Q':
			qr = optarg;
			break;
		default:
			grants_free(&gs);
			return help_or_bad(cli, ch, "add", usage);
		}
	}
	if (optind + 1 != argc || file == NULL || req.clearance == NULL) {
		grants_free(&gs);
		return hkms_cli_usage(cli, "usage: hkms client add NAME --cert "
		    "F [--password-file P] --clearance C [--allow-ca ...]");
	}
	req.name = argv[optind];
	req.grants = gs.g;
	req.ngrants = gs.n;
	if ((pfile != NULL && hkms_secret_from_file(pfile, "password", &pass,
	    &err) != HKMS_OK) || hkms_read_file(file, HKMS_CERTIO_MAX_INPUT,
	    &data, &len, &err) != HKMS_OK || qr_check(qr, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, req.require_2fa ? HKMS_CLI_TOKEN :
	    HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.cert = data;
	req.cert_len = len;
	req.password = pass ? hkms_secret_str(pass) : NULL;
	if (hkms_ops_client_add(&c, &req, &out, &err) != HKMS_OK ||
	    totp_out(out, qr, &err) != HKMS_OK) {
		json_decref(out);
		rc = hkms_cli_fail(cli, &err);
	} else
		rc = hkms_cli_output(cli, out, print_show);
out:
	/* a PKCS#12 may hold a private key */
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	hkms_secret_free(pass);
	grants_free(&gs);
	return rc;
}

static int
client_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "list", "list\nList the client "
		    "registrations.");
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms client list");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_client_list(&c, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_list);
}

static int
client_show(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "show", "show NAME\nShow a client "
		    "registration.");
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms client show NAME");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_client_show(&c, argv[optind], &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_show);
}

static int
client_edit(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "clearance", required_argument, NULL, 'C' },
		{ "allow-ca", required_argument, NULL, 'a' },
		{ "no-allow-ca", no_argument, NULL, 'A' },
		{ "require-2fa", no_argument, NULL, '2' },
		{ "2fa", no_argument, NULL, '2' },
		{ "qr-svg", required_argument, NULL, 'Q' },
		{ "no-2fa", no_argument, NULL, '0' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "edit NAME [--clearance C] "
	    "[--allow-ca CA[:PROFILE,...]]... [--no-allow-ca]\n"
	    "       [--2fa [--qr-svg F.svg]|--no-2fa]\nChange a registration; "
	    "--allow-ca replaces every permission, --no-allow-ca\nremoves "
	    "them all.";
	struct hkms_ops_client_edit_req req;
	struct grants gs;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	const char *qr = NULL;
	int ch, rc, none = 0;

	memset(&req, 0, sizeof(req));
	memset(&gs, 0, sizeof(gs));
	req.require_2fa = -1;
	while ((ch = hkms_cli_getopt(cli, argc, argv, "C:a:A2Q:0h", lo)) != -1) {
		switch (ch) {
		case 'C':
			req.clearance = optarg;
			break;
		case 'a':
			if (!grants_add(&gs, optarg)) {
				grants_free(&gs);
				return hkms_cli_usage(cli, "--allow-ca takes "
				    "CA or CA:PROFILE,... (at most %d)",
				    MAX_GRANTS);
			}
			break;
		case 'A':
			none = 1;
			break;
		case '2':
			req.require_2fa = 1;
			break;
		case 'Q':
			qr = optarg;
			break;
		case '0':
			req.require_2fa = 0;
			break;
		default:
			grants_free(&gs);
			return help_or_bad(cli, ch, "edit", usage);
		}
	}
	if (optind + 1 != argc || (none && gs.n > 0)) {
		grants_free(&gs);
		return hkms_cli_usage(cli, "usage: hkms client edit NAME "
		    "[--clearance C] [--allow-ca ...]... [--require-2fa|"
		    "--no-2fa]");
	}
	req.set_grants = none || gs.n > 0;
	req.grants = gs.g;
	req.ngrants = gs.n;
	if (qr_check(qr, &err) != HKMS_OK || hkms_cli_ops_ctx(cli,
	    req.require_2fa == 1 ? HKMS_CLI_TOKEN : HKMS_CLI_NO_TOKEN, &c,
	    &err) != HKMS_OK ||
	    hkms_ops_client_edit(&c, argv[optind], &req, &out, &err) !=
	    HKMS_OK || totp_out(out, qr, &err) != HKMS_OK) {
		json_decref(out);
		rc = hkms_cli_fail(cli, &err);
	} else
		rc = hkms_cli_output(cli, out, print_show);
	grants_free(&gs);
	return rc;
}

static int
client_delete(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "delete", "delete NAME\nRemove a "
		    "client registration (its certificates stay valid; "
		    "revoke them\nwith 'hkms ca revoke' to refuse them "
		    "everywhere).");
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms client delete NAME");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_client_delete(&c, argv[optind], &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, json_pack("{s:s,s:b}", "name",
	    argv[optind], "deleted", 1), NULL);
}

static void
print_totp(FILE *out, json_t *o)
{
	json_t *t = json_object_get(o, "totp");
	const char *f = json_string_value(json_object_get(t, "qr_svg_file"));

	fprintf(out, "%-14s %s\n", "name", json_string_value(
	    json_object_get(o, "name")));
	fprintf(out, "%-14s %s\n", "totp_secret", json_string_value(
	    json_object_get(t, "secret")));
	fprintf(out, "%-14s %s\n", "totp_uri", json_string_value(
	    json_object_get(t, "uri")));
	if (f != NULL)
		fprintf(out, "%-14s %s\n", "totp_qr_svg", f);
}

/* hkms client totp NAME [--qr-svg F]: a new TOTP seed (issue 16a) */
static int
client_totp(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "qr-svg", required_argument, NULL, 'Q' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *qr = NULL;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "Q:h", lo)) != -1) {
		if (ch == 'Q') {
			qr = optarg;
			continue;
		}
		return help_or_bad(cli, ch, "totp", "totp NAME [--qr-svg "
		    "F.svg]\nEnrol a new TOTP seed for client NAME (the old "
		    "one stops working);\nprints the secret and its otpauth "
		    "URI once, the QR code goes to F.svg.");
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms client totp NAME "
		    "[--qr-svg F.svg]");
	if (qr_check(qr, &err) != HKMS_OK || hkms_cli_ops_ctx(cli,
	    HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_client_totp(&c, argv[optind], &out, &err) != HKMS_OK ||
	    totp_out(out, qr, &err) != HKMS_OK) {
		json_decref(out);
		return hkms_cli_fail(cli, &err);
	}
	return hkms_cli_output(cli, out, print_totp);
}

int
hkms_cmd_client(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "generate", client_generate, "issue a client certificate and register it (PKCS#12 once)" },
		{ "add", client_add, "register an existing client certificate or collection" },
		{ "list", client_list, "list client registrations" },
		{ "show", client_show, "show a client registration" },
		{ "edit", client_edit, "change clearance, permissions or 2FA" },
		{ "delete", client_delete, "remove a client registration" },
		{ "totp", client_totp, "enrol a new TOTP seed (2FA) for a client" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "client", verbs, argc - 1, argv + 1);
}
