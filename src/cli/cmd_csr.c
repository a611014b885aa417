/*
 * hkms csr create|verify: certificate signing requests signed in the token
 * (create) and a check of a CSR from elsewhere (verify). The records live
 * beside the certificates: `hkms cert list|show|export|delete` see them.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hkms/certio.h"
#include "hkms/ops.h"
#include "hkms/util.h"
#include "hkms/x509.h"

static int
csr_create(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "new-key", required_argument, NULL, 'n' },
		{ "subject", required_argument, NULL, 's' },
		{ "san", required_argument, NULL, 'a' },
		{ "digest", required_argument, NULL, 'd' },
		{ "out-file", required_argument, NULL, 'o' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_ops_cert_req req;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *outfile = NULL, *pem;
	json_t *out = NULL;
	int ch;

	memset(&req, 0, sizeof(req));
	while ((ch = hkms_cli_getopt(cli, argc, argv, "k:n:s:a:d:o:h", lo)) != -1) {
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
		case 'd':
			req.digest = optarg;
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'h':
			printf("usage: hkms csr create NAME (--key KEY | "
			    "--new-key TYPE) --subject /CN=a/O=b\n"
			    "         [--san DNS:a,IP:10.0.0.1,email:x@y,URI:u] "
			    "[--digest sha256|sha384|sha512]\n"
			    "         [--out-file F]\n"
			    "Make a CSR signed by a token key (with --new-key "
			    "a new key named --key or NAME)\nand keep it as "
			    "record NAME. The PEM goes to stdout or "
			    "--out-file.\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'csr create'");
		}
	}
	if (optind + 1 != argc)
		return hkms_cli_usage(cli, "usage: hkms csr create NAME (--key "
		    "KEY | --new-key TYPE) --subject S");
	req.name = argv[optind];
	if (req.subject == NULL)
		return hkms_cli_usage(cli, "--subject is required (e.g. "
		    "/CN=host.example)");
	if (req.key == NULL && req.new_key == NULL)
		return hkms_cli_usage(cli, "--key or --new-key is required");
	if (hkms_cli_ops_ctx(cli, HKMS_CLI_TOKEN, &c, &err) != HKMS_OK ||
	    hkms_ops_csr_create(&c, &req, &out, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	pem = json_string_value(json_object_get(out, "pem"));
	if (outfile != NULL)
		return hkms_cli_output_file(cli, outfile, pem, strlen(pem),
		    "pem", out);
	if (!cli->json && hkms_cli_write_out(NULL, pem, strlen(pem), &err) !=
	    HKMS_OK) {
		json_decref(out);
		return hkms_cli_fail(cli, &err);
	}
	if (!cli->json) {
		json_decref(out);
		return HKMS_EXIT_OK;
	}
	return hkms_cli_output(cli, out, NULL);
}

static int
csr_verify(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *file = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int ch, rc;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "f:h", lo)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'h') {
			printf("usage: hkms csr verify --file CSR\nCheck a CSR "
			    "(PEM or DER): its self-signature, key and digest "
			    "policy,\nsubject and SANs. Exit 0 when it holds."
			    "\n");
			return HKMS_EXIT_OK;
		} else
			return hkms_cli_usage(cli, "bad option for 'csr verify'");
	}
	if (optind != argc || file == NULL)
		return hkms_cli_usage(cli, "usage: hkms csr verify --file CSR");
	memset(&c, 0, sizeof(c));
	c.actor = cli->actor;
	if (hkms_read_file(file, HKMS_X509_CSR_MAX, &data, &len, &err) !=
	    HKMS_OK || hkms_ops_csr_verify(&c, data, len, &out, &err) !=
	    HKMS_OK)
		rc = hkms_cli_fail(cli, &err);
	else
		rc = hkms_cli_output(cli, out, NULL);
	free(data);
	return rc;
}

int
hkms_cmd_csr(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct hkms_cli_cmd verbs[] = {
		{ "create", csr_create, "make a CSR signed in the token" },
		{ "verify", csr_verify, "check a CSR's signature and policy" },
		{ NULL, NULL, NULL }
	};

	return hkms_cli_dispatch(cli, "csr", verbs, argc - 1, argv + 1);
}
