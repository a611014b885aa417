/*
 * hkms: the command line face. Global options, then a subcommand from the
 * table below; each subcommand lives in cmd_<name>.c and calls src/ops.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"

static const struct hkms_cli_cmd commands[] = {
	{ "init", hkms_cmd_init, "create the embedded default: data dir, SoftHSM2 token, config" },
	{ "token", hkms_cmd_token, "list or initialise tokens" },
	{ "key", hkms_cmd_key, "generate, list, show, delete or import keys in the token" },
	{ "audit", hkms_cmd_audit, "verify or show the audit log" },
	{ "store", hkms_cmd_store, "check the data directory" },
	{ "csr", hkms_cmd_csr, "create CSRs signed in the token, verify CSRs" },
	{ "cert", hkms_cmd_cert, "self-sign, import, list, show, export, rename, delete, renew certificates" },
	{ "trust", hkms_cmd_trust, "import, list, pin, verify and watch the truststore" },
	{ "ca", hkms_cmd_ca, "certificate authorities: create, sign, issued, revoke, crl, issue-client" },
	{ "profile", hkms_cmd_profile, "list or show certificate profiles" },
	{ "serve", hkms_cmd_serve, "serve the HTTPS JSON API (the TLS key in the token)" },
	{ "unseal", hkms_cmd_unseal, "give a sealed server the token PIN over its UNIX socket" },
	{ "client", hkms_cmd_client, "mTLS clients: generate, add, list, show, edit, delete" },
	/* issue 13a */
	{ "service-cert", hkms_cmd_service_cert, "the service's own certificate: get, create-csr, apply, apply-self-signed, status, trust" },
	/* EST (issue 17b) */
	{ "est", hkms_cmd_est, "EST (RFC 7030) on a CA: enable, disable, status, one-time enrollment passwords" },
	/* issue 17a */
	{ "acme", hkms_cmd_acme, "ACME (RFC 8555) for a CA: enable, disable, status" },
	{ NULL, NULL, NULL }
};

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: hkms [--config FILE] [--json] COMMAND ...\n\n"
	    "Hardware key management: keys stay in the PKCS#11 token.\n\n"
	    "commands:\n");
	for (i = 0; commands[i].name != NULL; i++)
		fprintf(out, "  %-12s %s\n", commands[i].name,
		    commands[i].help);
	fprintf(out, "\noptions:\n"
	    "  --config FILE  config file (also HKMS_CONFIG)\n"
	    "  --json         machine-readable output\n"
	    "  --version      print the version\n\n"
	    "The token PIN comes from HKMS_PIN or the config's pin_file, "
	    "never from argv.\nRun 'hkms COMMAND --help' for details.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct hkms_cli cli;
	struct passwd *pw;
	char actor[96], user[64];
	int ch, rc;
	size_t i;

	/* before anything reads a secret or starts a thread */
	hkms_secret_process_init();
	memset(&cli, 0, sizeof(cli));
	pw = getpwuid(getuid());
	snprintf(user, sizeof(user), "%s", pw ? pw->pw_name : "unknown");
	snprintf(actor, sizeof(actor), "cli:%s", user);
	cli.actor = actor;
	hkms_principal_local(&cli.principal, user);
	/* getopt prints nothing: every error is one JSON object on stderr */
	opterr = 0;
	/* '+': stop at the first non-option, the subcommand */
	while ((ch = getopt_long(argc, argv, "+c:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'j':
			cli.json = 1;
			break;
		case 'h':
			usage(stdout);
			return HKMS_EXIT_OK;
		case 'V':
#ifdef HKMS_TEST_HOOKS
			printf("hkms 0.1.0 (test build: test hooks compiled in, "
			    "not for production)\n");
#else
			printf("hkms 0.1.0\n");
#endif
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(&cli, "unknown option; see "
			    "'hkms --help'");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return hkms_cli_usage(&cli, "no command given");
	}
	rc = -1;
	for (i = 0; commands[i].name != NULL; i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			/* subcommands see argv[0] = their verb or group */
			optind = 0;
			rc = commands[i].fn(&cli, argc, argv);
			break;
		}
	}
	if (commands[i].name == NULL)
		rc = hkms_cli_usage(&cli, "unknown command '%s'; see "
		    "'hkms --help'", argv[0]);
	hkms_ops_acme_stop();	/* issue 17a: no validation outlives it */
	hkms_service_close(cli.svc);
	hkms_config_free(cli.cfg);
	hkms_secret_env_release();
	return rc;
}
