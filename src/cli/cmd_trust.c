/*
 * hkms trust import|list|show|export|delete|pin|verify|watch: the
 * truststore verbs. Each parses its options, calls src/ops/truststore.c and
 * prints the result; none needs the token.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hkms/certio.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/util.h"

static const char *const list_cols[] = { "alias", "kind", "status",
    "certificates", "not_after", "subject", NULL };

static enum hkms_rc
read_input(const char *path, unsigned char **data, size_t *len,
    struct hkms_err *err)
{
	return hkms_read_file(path, HKMS_CERTIO_MAX_INPUT, data, len, err);
}

static enum hkms_rc
read_password(const char *path, struct hkms_secret **out,
    struct hkms_err *err)
{
	if (path == NULL)
		return HKMS_OK;
	return hkms_secret_from_file(path, "password", out, err);
}

static void
print_list(FILE *out, json_t *arr)
{
	if (json_array_size(arr) == 0)
		fprintf(out, "(the truststore is empty)\n");
	else
		hkms_cli_table(out, arr, list_cols);
}

static void
print_show(FILE *out, json_t *o)
{
	static const char *const top[] = { "alias", "kind", "status",
	    "created", "updated", "source_format" };
	static const char *const per[] = { "subject", "issuer", "serial",
	    "not_before", "not_after", "status", "is_ca", "self_signed",
	    "fingerprint_sha1", "fingerprint_sha256", "thumbprint" };
	json_t *certs = json_object_get(o, "certificates"), *c, *v, *pin;
	size_t i, k;
	char *s;

	for (k = 0; k < sizeof(top) / sizeof(top[0]); k++) {
		v = json_object_get(o, top[k]);
		fprintf(out, "%-19s %s\n", top[k], json_is_string(v) ?
		    json_string_value(v) : "-");
	}
	if ((pin = json_object_get(o, "pin")) != NULL) {
		s = json_dumps(pin, JSON_COMPACT);
		fprintf(out, "%-19s %s\n", "pin", s ? s : "?");
		free(s);
	}
	for (i = 0; i < json_array_size(certs); i++) {
		c = json_array_get(certs, i);
		fprintf(out, "\ncertificate %zu\n", i + 1);
		for (k = 0; k < sizeof(per) / sizeof(per[0]); k++) {
			v = json_object_get(c, per[k]);
			if (json_is_boolean(v))
				fprintf(out, "  %-19s %s\n", per[k],
				    json_is_true(v) ? "yes" : "no");
			else
				fprintf(out, "  %-19s %s\n", per[k],
				    json_is_string(v) ? json_string_value(v) :
				    "-");
		}
	}
}

/* One path element's revocation status (issue 14a). */
static void
print_revocation(FILE *out, json_t *rv)
{
	const char *src = json_string_value(json_object_get(rv, "source"));

	if (!json_is_object(rv))
		return;
	fprintf(out, "     revocation %s", json_string_value(json_object_get(
	    rv, "status")));
	if (json_is_string(json_object_get(rv, "ca")))
		fprintf(out, " (revocation index of CA '%s')",
		    json_string_value(json_object_get(rv, "ca")));
	else if (json_is_string(json_object_get(rv, "crl")))
		fprintf(out, " (truststore crl %s)", json_string_value(
		    json_object_get(rv, "crl")));
	else if (src != NULL || json_is_string(json_object_get(rv, "why")))
		fprintf(out, " (%s)", json_is_string(json_object_get(rv,
		    "why")) ? json_string_value(json_object_get(rv, "why")) :
		    src);
	fprintf(out, "\n");
}

static void
print_verify(FILE *out, json_t *r)
{
	json_t *path = json_object_get(r, "path"), *e;
	size_t i;

	if (json_is_true(json_object_get(r, "ok"))) {
		fprintf(out, "ok: the chain holds (purpose %s%s%s%s%s)\n",
		    json_string_value(json_object_get(r, "purpose")),
		    json_is_string(json_object_get(r, "host")) ? ", host " : "",
		    json_is_string(json_object_get(r, "host")) ?
		    json_string_value(json_object_get(r, "host")) : "",
		    json_is_string(json_object_get(r, "profile")) ?
		    ", profile " : "",
		    json_is_string(json_object_get(r, "profile")) ?
		    json_string_value(json_object_get(r, "profile")) : "");
		for (i = 0; i < json_array_size(path); i++) {
			e = json_array_get(path, i);
			fprintf(out, "  %zu: %s  %s%s%s\n", i,
			    json_string_value(json_object_get(e, "subject")),
			    json_string_value(json_object_get(e,
			    "thumbprint")),
			    json_is_string(json_object_get(e, "alias")) ?
			    "  alias " : "",
			    json_is_string(json_object_get(e, "alias")) ?
			    json_string_value(json_object_get(e, "alias")) :
			    "");
			print_revocation(out, json_object_get(e,
			    "revocation"));
		}
		e = json_object_get(json_object_get(r, "revocation"),
		    "warnings");
		for (i = 0; i < json_array_size(e); i++)
			fprintf(out, "warning: %s\n", json_string_value(
			    json_array_get(e, i)));
		return;
	}
	e = json_object_get(r, "error");
	fprintf(out, "FAILED: %s%s%s at depth %lld: %s\n",
	    json_string_value(json_object_get(e, "code")),
	    json_is_string(json_object_get(e, "rule")) ? " rule " : "",
	    json_is_string(json_object_get(e, "rule")) ?
	    json_string_value(json_object_get(e, "rule")) : "",
	    (long long)json_integer_value(json_object_get(e, "depth")),
	    json_string_value(json_object_get(e, "message")));
}

static int
help_or_bad(struct hkms_cli *cli, int ch, const char *verb,
    const char *usage)
{
	if (ch == 'h') {
		printf("usage: hkms trust %s\n", usage);
		return HKMS_EXIT_OK;
	}
	return hkms_cli_usage(cli, "bad option for 'trust %s'", verb);
}

static int
trust_import(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "password-file", required_argument, NULL, 'p' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "import ALIAS --file F "
	    "[--password-file P]\nTrust the certificates of F (PEM, DER, "
	    "PKCS#7 or PKCS#12) under ALIAS.";
	struct hkms_ops_trust_import_req req = { 0 };
	const char *file = NULL, *pfile = NULL;
	struct hkms_secret *pass = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	json_t *out = NULL;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:p:h", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'p')
			pfile = optarg;
		else
			return help_or_bad(cli, ch, "import", usage);
	}
	if (optind + 1 != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms trust import ALIAS "
		    "--file F [--password-file P]");
	req.alias = argv[optind];
	if (read_password(pfile, &pass, &err) != HKMS_OK ||
	    read_input(file, &data, &req.len, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.data = data;
	req.password = pass ? hkms_secret_str(pass) : NULL;
	if (hkms_ops_trust_import(&c, &req, &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, NULL);
out:
	/* a PKCS#12 may hold a private key */
	if (data != NULL)
		OPENSSL_clear_free(data, req.len + 1);
	hkms_secret_free(pass);
	return rc;
}

static int
trust_list(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "list", "list\nList the "
		    "truststore entries and their status.");
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms trust list");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_trust_list(&c, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_list);
}

static int
trust_show(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "show", "show ALIAS\nShow an "
		    "entry: issuer, subject, serial, validity, thumbprints, "
		    "CA or not, and its status.");
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms trust show ALIAS");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_trust_show(&c, argv[optind], &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, out, print_show);
}

static int
trust_export(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "out-file", required_argument, NULL, 'o' },
		{ "password-file", required_argument, NULL, 'p' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "export ALIAS [--format "
	    "pem|der|p7b|p7b-der|p12] [--out-file F] [--password-file P]\n"
	    "Write the certificates of ALIAS (PEM by default; DER holds the "
	    "first one only).";
	struct hkms_ops_trust_export_req req = { 0 };
	const char *outf = NULL, *pfile = NULL;
	struct hkms_secret *pass = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	size_t len = 0;
	int ch, rc = HKMS_EXIT_OK;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "F:o:p:h", lo)) != -1) {
		if (ch == 'F')
			req.format = optarg;
		else if (ch == 'o')
			outf = optarg;
		else if (ch == 'p')
			pfile = optarg;
		else
			return help_or_bad(cli, ch, "export", usage);
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms trust %s", usage);
	req.alias = argv[optind];
	if (read_password(pfile, &pass, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.password = pass ? hkms_secret_str(pass) : NULL;
	if (hkms_ops_trust_export(&c, &req, &data, &len, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else if (outf != NULL)
		rc = hkms_cli_output_file(cli, outf, data, len, req.format ?
		    req.format : "pem", json_pack("{s:s}", "alias", req.alias));
	else if (hkms_cli_write_out(NULL, data, len, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
out:
	free(data);
	hkms_secret_free(pass);
	return rc;
}

static int
trust_delete(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = { HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "h", lo)) != -1)
		return help_or_bad(cli, ch, "delete", "delete ALIAS\nRemove "
		    "an entry and all its certificates.");
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms trust delete ALIAS");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_trust_delete(&c, argv[optind], &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return hkms_cli_output(cli, json_pack("{s:s,s:b}", "alias",
	    argv[optind], "deleted", 1), NULL);
}

static int
trust_pin(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "pin ALIAS --file CERT [--force]\n"
	    "Trust the certificate a peer presents: a self-signed one, or the\n"
	    "issuing CA when CERT holds the peer's chain. --force replaces a\n"
	    "different pinned certificate.";
	struct hkms_ops_trust_pin_req req = { 0 };
	const char *file = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	json_t *out = NULL;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:Fh", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'F')
			req.force = 1;
		else
			return help_or_bad(cli, ch, "pin", usage);
	}
	if (optind + 1 != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms trust pin ALIAS --file "
		    "CERT [--force]");
	req.alias = argv[optind];
	if (read_input(file, &data, &req.len, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.data = data;
	if (hkms_ops_trust_pin(&c, &req, &out, &err) != HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, NULL);
out:
	free(data);
	return rc;
}

static int
trust_verify(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "chain", required_argument, NULL, 'c' },
		{ "purpose", required_argument, NULL, 'P' },
		{ "host", required_argument, NULL, 'H' },
		{ "at", required_argument, NULL, 'a' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "profile", required_argument, NULL, 'R' },
		{ "max-depth", required_argument, NULL, 'D' },
		{ "revocation", required_argument, NULL, 'V' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "verify --chain F [--purpose "
	    "server|client|any] [--host NAME] [--at UNIXTIME] [--profile "
	    "rfc5280|webpki|openssl] [--max-depth N]\n"
	    "              [--revocation require|prefer|off]\nVerify a chain "
	    "(leaf first) against the truststore; exit 0 when it holds.";
	struct hkms_ops_trust_verify_req req = { 0 };
	const char *file = NULL, *pfile = NULL;
	struct hkms_secret *pass = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	json_t *out = NULL;
	enum hkms_rc vrc;
	char *end;
	long lv;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "c:P:H:a:p:R:D:V:h",
	    lo)) != -1) {
		if (ch == 'V') {
			req.revocation = optarg;
		} else if (ch == 'R') {
			req.profile = optarg;
		} else if (ch == 'D') {
			errno = 0;
			lv = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    lv < 1 || lv > 32)
				return hkms_cli_usage(cli, "--max-depth takes "
				    "a number from 1 to 32, not '%s'", optarg);
			req.max_depth = (int)lv;
		} else if (ch == 'c') {
			file = optarg;
		} else if (ch == 'P') {
			req.purpose = optarg;
		} else if (ch == 'H') {
			req.host = optarg;
		} else if (ch == 'a') {
			errno = 0;
			req.at = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    req.at < 0)
				return hkms_cli_usage(cli, "--at takes a Unix "
				    "time in seconds, not '%s'", optarg);
		} else if (ch == 'p') {
			pfile = optarg;
		} else {
			return help_or_bad(cli, ch, "verify", usage);
		}
	}
	if (optind != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms trust verify --chain F "
		    "[--purpose server|client|any] [--host NAME] "
		    "[--at UNIXTIME] [--profile rfc5280|webpki|openssl] "
		    "[--max-depth N]");
	if (read_password(pfile, &pass, &err) != HKMS_OK ||
	    read_input(file, &data, &req.len, &err) != HKMS_OK ||
	    hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK) {
		rc = hkms_cli_fail(cli, &err);
		goto out;
	}
	req.chain = data;
	req.password = pass ? hkms_secret_str(pass) : NULL;
	vrc = hkms_ops_trust_verify(&c, &req, &out, &err);
	if (vrc == HKMS_OK) {
		rc = hkms_cli_output(cli, out, print_verify);
	} else if (vrc == HKMS_E_VERIFY && out != NULL) {
		/* the verdict on stdout, the failed check on stderr */
		(void)hkms_cli_output(cli, out, print_verify);
		rc = hkms_cli_fail(cli, &err);
	} else {
		rc = hkms_cli_fail(cli, &err);
	}
out:
	free(data);
	hkms_secret_free(pass);
	return rc;
}

struct watch_state {
	long count;	/* events left to print; < 0 = unlimited */
};

static int
emit_line(json_t *ev, void *arg)
{
	struct watch_state *ws = arg;
	char *s = json_dumps(ev, JSON_COMPACT);

	printf("%s\n", s ? s : "{}");
	free(s);
	fflush(stdout);
	return ws->count > 0 && --ws->count == 0;
}

static int
trust_watch(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	static const char usage[] = "watch [--count N] [--timeout SECONDS]\n"
	    "Print each truststore change as one JSON line "
	    "{\"event\":\"added|removed|changed\",\"alias\":...}\n"
	    "as soon as it is seen (made by any process).";
	struct watch_state ws = { -1 };
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	long timeout = -1;
	char *end;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "n:t:h", lo)) != -1) {
		if (ch == 'n' || ch == 't') {
			long v = strtol(optarg, &end, 10);

			if (*end != '\0' || end == optarg || v <= 0 ||
			    v > 2000000L)
				return hkms_cli_usage(cli, "--%s takes a "
				    "positive number", ch == 'n' ? "count" :
				    "timeout");
			if (ch == 'n')
				ws.count = v;
			else
				timeout = v;
		} else {
			return help_or_bad(cli, ch, "watch", usage);
		}
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms trust %s", usage);
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_NO_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_trust_watch(&c, timeout < 0 ? -1 : (int)(timeout * 1000),
	    emit_line, &ws, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return HKMS_EXIT_OK;
}

int
hkms_cmd_trust(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "import", trust_import, "trust the certificates of a file under an alias" },
		{ "list", trust_list, "list truststore entries" },
		{ "show", trust_show, "show an entry and its status" },
		{ "export", trust_export, "write an entry's certificates" },
		{ "delete", trust_delete, "remove an entry" },
		{ "pin", trust_pin, "trust the certificate a peer presents" },
		{ "verify", trust_verify, "verify a chain against the truststore" },
		{ "watch", trust_watch, "print changes as JSON lines as they happen" },
		/* issue 14a */
		{ "crl", hkms_cmd_trust_crl, "import, list or delete CRLs of truststore CAs" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "trust", verbs, argc - 1, argv + 1);
}
