/*
 * The CLI face: shared state and output helpers for the cmd_<name>.c files.
 * A command parses its arguments, calls an operation in src/ops, and prints
 * the result: a human table by default, JSON with --json. Every failure is
 * a JSON error object on stderr and a non-zero exit.
 */
#ifndef HKMS_CLI_H
#define HKMS_CLI_H

#include <sys/types.h>
#include <getopt.h>
#include <stdio.h>

#include <jansson.h>

#include "hkms/config.h"
#include "hkms/error.h"

#include "hkms/service.h"

struct hkms_cli {
	int json;			/* --json */
	const char *config_path;	/* --config, may be NULL */
	struct hkms_config *cfg;	/* loaded on first use */
	struct hkms_service *svc;	/* opened on first use; owns the
					 * token and the store */
	int store_check;		/* open the store read-only */
	const char *actor;		/* audit actor, "cli:<user>" */
	struct hkms_principal principal;	/* the local operator */
};

/* exit codes */
#define HKMS_EXIT_OK 0
#define HKMS_EXIT_FAIL 1
#define HKMS_EXIT_USAGE 2

/** A subcommand of the table in main.c. */
struct hkms_cli_cmd {
	const char *name;
	int (*fn)(struct hkms_cli *cli, int argc, char **argv);
	const char *help;
};

/** Dispatch argv[0] (a verb) among cmds; prints help for --help/-h/none. */
int hkms_cli_dispatch(struct hkms_cli *cli, const char *group,
    const struct hkms_cli_cmd *cmds, int argc, char **argv);

/** Print err as {"error":{"code","message"}} on stderr; returns the exit
 *  code (HKMS_EXIT_USAGE for invalid arguments, else HKMS_EXIT_FAIL). */
int hkms_cli_fail(struct hkms_cli *cli, const struct hkms_err *err);

/** hkms_cli_fail() with the checks of a verify or import result (borrowed,
 *  may be NULL) in the envelope (hkms_err_json). */
int hkms_cli_fail_checks(struct hkms_cli *cli, const struct hkms_err *err,
    json_t *checks);

/** Usage error: code "usage", exit HKMS_EXIT_USAGE. */
int hkms_cli_usage(struct hkms_cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Print obj: JSON (indented) with --json, else human(stdout, obj), or a
 *  key: value listing when human is NULL. Steals the reference to obj.
 *  Returns HKMS_EXIT_OK. */
int hkms_cli_output(struct hkms_cli *cli, json_t *obj,
    void (*human)(FILE *out, json_t *obj));

/** Human table of an array of objects, columns named by keys (NULL-ended).
 *  Values that are not strings are printed as JSON. */
void hkms_cli_table(FILE *out, json_t *rows, const char *const *cols);

/** Key: value listing of an object (nested values as compact JSON). */
void hkms_cli_kv(FILE *out, json_t *obj);

/** Lazily load the config (--config, HKMS_CONFIG, default). */
enum hkms_rc hkms_cli_config(struct hkms_cli *cli, struct hkms_config **cfg,
    struct hkms_err *err);

/** Lazily open the service on the config (hkms_service_open). */
enum hkms_rc hkms_cli_service(struct hkms_cli *cli,
    struct hkms_service **svc, struct hkms_err *err);

/** The options every verb takes, for its struct option table. */
#define HKMS_CLI_COMMON_OPTS { "json", no_argument, NULL, 'J' }, \
	{ "help", no_argument, NULL, 'h' }

/** getopt_long() that handles --json (sets cli->json) itself: returns the
 *  next other option character, 'h' for --help, '?' on error, -1 at the
 *  end. Needs <getopt.h>. */
int hkms_cli_getopt(struct hkms_cli *cli, int argc, char **argv,
    const char *shortopts, const struct option *longopts);

struct hkms_ops_ctx;

#define HKMS_CLI_CONFIG_ONLY 0	/* config, no store (token list, init) */
#define HKMS_CLI_NO_TOKEN HKMS_SERVICE_NEED_STORE
#define HKMS_CLI_TOKEN (HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN)
				/* open the token, fail without it */
#define HKMS_CLI_TOKEN_IF_ANY (HKMS_SERVICE_NEED_STORE | \
	HKMS_SERVICE_WANT_TOKEN)	/* open it if it can be (show: the
				 * key's URI is a bonus, not a need) */

/** Fill an operation context through the service (hkms_service_ctx): the
 *  local operator, the actor, config, and store and token as need says
 *  (HKMS_CLI_CONFIG_ONLY, _NO_TOKEN, _TOKEN, _TOKEN_IF_ANY). */
enum hkms_rc hkms_cli_ops_ctx(struct hkms_cli *cli, int need_hsm,
    struct hkms_ops_ctx *c, struct hkms_err *err);

/** Write data to path atomically (mode 0644), or to stdout if path NULL. */
enum hkms_rc hkms_cli_write_out(const char *path, const void *data,
    size_t len, struct hkms_err *err);

/** Write data to a new file path with mode (0600 for a secret), once:
 *  written to a temporary file beside it, synced, then linked to path,
 *  which never follows a symlink and never replaces anything (an existing
 *  path: HKMS_E_EXISTS "file_exists"); the directory is synced too. */
enum hkms_rc hkms_cli_write_new(const char *path, const void *data,
    size_t len, mode_t mode, struct hkms_err *err);

/** The one --out-file convention (issue 13b): write data to path
 *  (hkms_cli_write_out), then print what was written: result (stolen, may
 *  be NULL) without its blobs (pem, p7b, csr_pem, p12) plus out_file,
 *  bytes and format: JSON with --json, key: value listing otherwise. */
int hkms_cli_output_file(struct hkms_cli *cli, const char *path,
    const void *data, size_t len, const char *format, json_t *result);

/** The written record alone, for a file the verb wrote itself (a
 *  PKCS#12 written once); result stolen. */
int hkms_cli_output_written(struct hkms_cli *cli, const char *path,
    size_t len, const char *format, json_t *result);

/** The extension switches of ca sign and cert self-sign (issue 13b), for
 *  a struct option table: --basic-constraints on|off, --aki on|off,
 *  --key-usage LIST|none, --extended-key-usage LIST|none. */
#define HKMS_CLI_EXT_BC 1001
#define HKMS_CLI_EXT_AKI 1002
#define HKMS_CLI_EXT_KU 1003
#define HKMS_CLI_EXT_EKU 1004
#define HKMS_CLI_EXT_OPTS \
	{ "basic-constraints", required_argument, NULL, HKMS_CLI_EXT_BC }, \
	{ "aki", required_argument, NULL, HKMS_CLI_EXT_AKI }, \
	{ "key-usage", required_argument, NULL, HKMS_CLI_EXT_KU }, \
	{ "extended-key-usage", required_argument, NULL, HKMS_CLI_EXT_EKU }
#define HKMS_CLI_EXT_HELP "  [--basic-constraints on|off] [--aki on|off] " \
	"[--key-usage LIST|none]\n  [--extended-key-usage LIST|none]: the " \
	"profile's extensions narrowed for this\n  certificate (within the " \
	"profile: off, or a subset of its usages)\n"

/** Take option ch (one of HKMS_CLI_EXT_*) into ext: 1 taken, 0 not an
 *  extension option, -1 a bad value (a usage error was printed; return
 *  HKMS_EXIT_USAGE). */
struct hkms_x509_ext_choice;
int hkms_cli_ext_opt(struct hkms_cli *cli, int ch, const char *arg,
    struct hkms_x509_ext_choice *ext);

/* Subcommands (one file each) */
int hkms_cmd_init(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_token(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_key(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_audit(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_store(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_csr(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_cert(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_trust(struct hkms_cli *cli, int argc, char **argv);
/* hkms trust crl ... (issue 14a, cmd_trust_crl.c) */
int hkms_cmd_trust_crl(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_ca(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_profile(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_serve(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_unseal(struct hkms_cli *cli, int argc, char **argv);
int hkms_cmd_client(struct hkms_cli *cli, int argc, char **argv);
/* issue 13a */
int hkms_cmd_service_cert(struct hkms_cli *cli, int argc, char **argv);
/* EST (issue 17b) */
int hkms_cmd_est(struct hkms_cli *cli, int argc, char **argv);
/* issue 17a */
int hkms_cmd_acme(struct hkms_cli *cli, int argc, char **argv);

#endif
