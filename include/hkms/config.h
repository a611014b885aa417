/*
 * hkms configuration: an INI file (libinih) with the sections of DESIGN.md.
 * Every key is optional; the defaults serve the embedded SoftHSM2 set-up.
 */
#ifndef HKMS_CONFIG_H
#define HKMS_CONFIG_H

#include "hkms/error.h"

#define HKMS_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define HKMS_DEFAULT_LABEL "hkms"
#define HKMS_DEFAULT_LISTEN "127.0.0.1:8443"

struct hkms_config {
	/* [token] */
	char *module;		/* PKCS#11 module path */
	char *label;		/* token label (or serial below) */
	char *serial;
	char *pin_file;		/* user PIN file, 0600; HKMS_PIN overrides */
	char *so_pin_file;	/* SO PIN file for token init; HKMS_SO_PIN */
	char *softhsm2_conf;	/* exported as SOFTHSM2_CONF if set */
	/* [store] */
	char *data_dir;
	char *profiles_dir;	/* custom profile files; default data_dir/profiles */
	char *crl_dir;		/* CRLs are published here; default data_dir/crl */
	/* [server] */
	char *listen;
	int threads;		/* hkms serve's handler workers; 0 = 8 per
				 * core, 16..64 */
	int io_threads;		/* its libmicrohttpd I/O threads (TLS,
				 * reading, writing); 0 = one per core */
	char *admin_thumbprints;
	char *server_key_type;	/* key type of a new service key (key_type;
				 * NULL = ec:p256) */
	char *unseal_socket;	/* NULL = <data_dir>/run/unseal.sock */
	char *server_hostname;	/* hostname: the service certificate's
				 * FQDN; NULL = the system's */
	/* [audit] */
	char *audit_key_sha256;	/* pinned audit key fingerprint (hex) */
	/* [log] */
	int log_level;		/* enum hkms_log_level; -1 = not set (the
				 * service's default: warn, or off for a
				 * quiet face) */
	/* [limits] */
	long max_body;
	int max_connections;
	int per_ip;
	int timeout_s;
	long connection_memory;	/* per-connection memory (bytes) */
	/* service certificate (issue 13a) */
	int server_rekey_delete;	/* [server] rekey_old_key = delete: a
				 * service-cert rekey destroys the old key
				 * (default keep: history can restore it) */
	int cert_history;	/* [store] cert_history: previous versions
				 * kept per certificate, 1..1000; 0 = the
				 * default, 20 */

	/* profiles, import, in use (issue 13b) */

	/* [crl] CRL re-signing by the server (issue 14a, revocation) */
	long crl_resign_before;	/* seconds; 0 = off */
	int crl_resign_days;	/* lifetime of a re-signed CRL; 0 = as before */
	long crl_check_s;	/* how often the server looks (default 60) */
	/* revocation, CRLs, OCSP, public_listen (issue 14a) */
	char *public_listen;	/* [server] public_listen: plain HTTP for the
				 * public routes only; NULL = none */
	int ocsp_validity_s;	/* [ocsp] validity_s: nextUpdate -
				 * thisUpdate of an OCSP response */

	/* path validation (issue 14b) */

	/* [acme] (issue 17a): where challenge validation may go
	 * (docs/acme.md); fixed buffers, "" = unset */
	char acme_resolve[64];		/* resolve: every name to this address
					 * (tests) */
	char acme_dns_resolver[128];	/* dns_resolver: HOST:PORT for dns-01 */
	char acme_base_url[256];	/* base_url: "https://ca.example:8443";
					 * "" = https://<Host header> */
	int acme_http01_port;		/* http01_port; 0 = 80 */
	int acme_tlsalpn01_port;	/* tlsalpn01_port; 0 = 443 */
	int acme_allow_loopback;	/* allow_loopback = true */
	int acme_refuse_private;	/* allow_private = false */

	/* [est] (issue 17b) */

	/* [console] sessions and TOTP (issue 16a) */
	int console_session_s;	/* [console] session_s: a session's
				 * lifetime (default 900) */

	/* [console] static files (issue 16b) */
	int console_disabled;		/* enabled = false: no /ui/ nor / */

	/* where the config was read from, NULL if none */
	char *path;
};

/** Default data directory: $HKMS_DATA_DIR, else $XDG_STATE_HOME/hkms, else
 *  $HOME/.local/state/hkms (both only when absolute). Never a shared
 *  fallback: with none of them set this fails (HKMS_E_INVALID, code
 *  "no_data_dir"). The caller frees *out. */
enum hkms_rc hkms_config_default_data_dir(char **out, struct hkms_err *err);

/** Refuse a path hkms trusts unless it is safe (src/common/safepath.c):
 *  resolved (symlinks followed), it is a directory (want_dir) or regular
 *  file owned by root or the effective user and not writable by group or
 *  others, and so is every directory above it, except that a group- or
 *  world-writable directory with the sticky bit (/tmp) is accepted.
 *  HKMS_E_DENIED (code "unsafe_path") names path, what it is ("data dir",
 *  "config file", "PKCS#11 module", ...) and the offending object;
 *  HKMS_E_NOT_FOUND when it does not exist. Thread-safe. */
enum hkms_rc hkms_path_check_safe(const char *path, const char *what,
    int want_dir, struct hkms_err *err);

/** hkms_path_check_safe() on what the token layer will load or read for
 *  cfg: the module (dlopen'ed), softhsm2_conf when set and the PIN files
 *  when they exist; inside the data dir none of them may be a symlink and
 *  <data>/token, <data>/token/tokens must be real directories. Call it
 *  before hkms_hsm_open(). */
enum hkms_rc hkms_config_check_token(const struct hkms_config *cfg,
    struct hkms_err *err);

/** Load the config. path: explicit file (must exist), or NULL to use
 *  $HKMS_CONFIG, else <default data dir>/hkms.conf if present, else only
 *  defaults. The file must pass hkms_path_check_safe(), and inside the
 *  data dir it must not be a symlink (code "unsafe_path"). Unknown
 *  sections or keys are an error naming them. Defaults
 *  derived from data_dir are filled in after reading. The caller frees
 *  the result with hkms_config_free(). */
enum hkms_rc hkms_config_load(const char *path, struct hkms_config **out,
    struct hkms_err *err);

/** Parse config text (used by load and by the fuzzer). */
enum hkms_rc hkms_config_parse(const char *text, struct hkms_config **out,
    struct hkms_err *err);

void hkms_config_free(struct hkms_config *cfg);

#endif
