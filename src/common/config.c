/*
 * Configuration file: INI through libinih, into struct hkms_config.
 * Unknown keys are errors so a typo never silently falls back to a default.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "hkms/config.h"
#include "hkms/log.h"
#include "hkms/util.h"

#define CONFIG_MAX (256 * 1024)

struct parse_state {
	struct hkms_config *cfg;
	struct hkms_err *err;
	int failed;
};

static int
set_str(char **dst, const char *v)
{
	char *n = strdup(v);

	if (n == NULL)
		return 0;
	free(*dst);
	*dst = n;
	return 1;
}

static int
set_long(long *dst, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return 0;
	*dst = n;
	return 1;
}

static int
set_int(int *dst, const char *v, long min, long max)
{
	long n;

	if (!set_long(&n, v, min, max))
		return 0;
	*dst = (int)n;
	return 1;
}

/* A duration: digits with an optional unit s, m, h or d (seconds by
 * default), within lo..hi seconds ([crl], issue 14a). */
static int
set_duration(long *dst, const char *v, long lo, long hi)
{
	char *end;
	long n, mul = 1;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return 0;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mul = 60, end++;
	else if (*end == 'h')
		mul = 3600, end++;
	else if (*end == 'd')
		mul = 86400, end++;
	if (*end != '\0' || n > hi / mul || n * mul < lo)
		return 0;
	*dst = n * mul;
	return 1;
}

/* 64 lower-case hex digits (a SHA-256 fingerprint) */
static int
hex64(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= '0' && v[i] <= '9') ||
		    (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
	return i == 64;
}

/* [acme] (issue 17a): a string into a fixed buffer; a boolean */
static int
set_buf(char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return 0;
	snprintf(dst, size, "%s", v);
	return 1;
}

static int
set_bool(int *dst, const char *v)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
	    strcmp(v, "1") == 0)
		*dst = 1;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
	    strcmp(v, "0") == 0)
		*dst = 0;
	else
		return 0;
	return 1;
}

static int
on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *ps = user;
	struct hkms_config *c = ps->cfg;
	int ok = -1;	/* -1 unknown key, 0 bad value, 1 fine */

	if (ps->failed)
		return 0;
	if (strcmp(section, "token") == 0) {
		if (strcmp(name, "module") == 0) ok = set_str(&c->module, value);
		else if (strcmp(name, "label") == 0) ok = set_str(&c->label, value);
		else if (strcmp(name, "serial") == 0) ok = set_str(&c->serial, value);
		else if (strcmp(name, "pin_file") == 0) ok = set_str(&c->pin_file, value);
		else if (strcmp(name, "so_pin_file") == 0) ok = set_str(&c->so_pin_file, value);
		else if (strcmp(name, "softhsm2_conf") == 0) ok = set_str(&c->softhsm2_conf, value);
	} else if (strcmp(section, "store") == 0) {
		if (strcmp(name, "data_dir") == 0) ok = set_str(&c->data_dir, value);
		else if (strcmp(name, "profiles_dir") == 0) ok = set_str(&c->profiles_dir, value);
		else if (strcmp(name, "crl_dir") == 0) ok = set_str(&c->crl_dir, value);
	} else if (strcmp(section, "server") == 0) {
		if (strcmp(name, "listen") == 0) ok = set_str(&c->listen, value);
		else if (strcmp(name, "threads") == 0) ok = set_int(&c->threads, value, 0, 256);
		else if (strcmp(name, "io_threads") == 0) ok = set_int(&c->io_threads, value, 0, 64);
		else if (strcmp(name, "admin_thumbprints") == 0) ok = set_str(&c->admin_thumbprints, value);
		else if (strcmp(name, "key_type") == 0) ok = set_str(&c->server_key_type, value);
		else if (strcmp(name, "unseal_socket") == 0) ok = set_str(&c->unseal_socket, value);
		else if (strcmp(name, "hostname") == 0) ok = set_str(&c->server_hostname, value);
	} else if (strcmp(section, "audit") == 0) {
		if (strcmp(name, "key_sha256") == 0)
			ok = hex64(value) && set_str(&c->audit_key_sha256,
			    value);
	} else if (strcmp(section, "log") == 0) {
		enum hkms_log_level lv;

		if (strcmp(name, "level") == 0 &&
		    (ok = hkms_log_level_parse(value, &lv, NULL) == HKMS_OK))
			c->log_level = (int)lv;
	} else if (strcmp(section, "limits") == 0) {
		if (strcmp(name, "max_body") == 0) ok = set_long(&c->max_body, value, 1024, 64L * 1024 * 1024);
		else if (strcmp(name, "max_connections") == 0) ok = set_int(&c->max_connections, value, 1, 65536);
		else if (strcmp(name, "per_ip") == 0) ok = set_int(&c->per_ip, value, 1, 65536);
		else if (strcmp(name, "timeout_s") == 0) ok = set_int(&c->timeout_s, value, 1, 3600);
		else if (strcmp(name, "connection_memory") == 0) ok = set_long(&c->connection_memory, value, 8192, 16L * 1024 * 1024);
	}
	/* service certificate (issue 13a) */
	if (ok == -1 && strcmp(section, "server") == 0 &&
	    strcmp(name, "rekey_old_key") == 0) {
		ok = strcmp(value, "keep") == 0 || strcmp(value, "delete") == 0;
		c->server_rekey_delete = strcmp(value, "delete") == 0;
	} else if (ok == -1 && strcmp(section, "store") == 0 &&
	    strcmp(name, "cert_history") == 0)
		ok = set_int(&c->cert_history, value, 1, 1000);

	/* profiles, import, in use (issue 13b) */

	/* [crl] re-signing (issue 14a, revocation) */
	if (strcmp(section, "crl") == 0) {
		if (strcmp(name, "resign_before") == 0) ok = set_duration(&c->crl_resign_before, value, 0, 3650L * 86400);
		else if (strcmp(name, "resign_days") == 0) ok = set_int(&c->crl_resign_days, value, 0, 3650);
		else if (strcmp(name, "check_interval") == 0) ok = set_duration(&c->crl_check_s, value, 1, 86400);
	}
	/* revocation, CRLs, OCSP, public_listen (issue 14a) */
	if (strcmp(section, "server") == 0 &&
	    strcmp(name, "public_listen") == 0)
		ok = set_str(&c->public_listen, value);
	else if (strcmp(section, "ocsp") == 0 &&
	    strcmp(name, "validity_s") == 0)
		ok = set_int(&c->ocsp_validity_s, value, 60, 7 * 86400);

	/* path validation (issue 14b) */

	/* [acme] (issue 17a) */
	if (strcmp(section, "acme") == 0) {
		if (strcmp(name, "resolve") == 0) ok = set_buf(c->acme_resolve, sizeof(c->acme_resolve), value);
		else if (strcmp(name, "dns_resolver") == 0) ok = set_buf(c->acme_dns_resolver, sizeof(c->acme_dns_resolver), value);
		else if (strcmp(name, "base_url") == 0) ok = strncmp(value, "https://", 8) == 0 && set_buf(c->acme_base_url, sizeof(c->acme_base_url), value);
		else if (strcmp(name, "http01_port") == 0) ok = set_int(&c->acme_http01_port, value, 1, 65535);
		else if (strcmp(name, "tlsalpn01_port") == 0) ok = set_int(&c->acme_tlsalpn01_port, value, 1, 65535);
		else if (strcmp(name, "allow_loopback") == 0) ok = set_bool(&c->acme_allow_loopback, value);
		else if (strcmp(name, "allow_private") == 0) {
			int v = 0;

			if ((ok = set_bool(&v, value)) == 1)
				c->acme_refuse_private = !v;
		}
	}

	/* [est] (issue 17b) */

	/* [console] sessions and TOTP (issue 16a) */
	if (strcmp(section, "console") == 0 &&
	    strcmp(name, "session_s") == 0)
		ok = set_int(&c->console_session_s, value, 1, 86400);

	/* [console] static files (issue 16b) */
	if (ok == -1 && strcmp(section, "console") == 0 &&
	    strcmp(name, "enabled") == 0) {
		int v = 1;

		if ((ok = set_bool(&v, value)) == 1)
			c->console_disabled = !v;
	}

	if (ok == -1) {
		hkms_err_setc(ps->err, HKMS_E_INVALID, "config_unknown_key",
		    "unknown config key '%s' in section [%.32s]", name, section);
		ps->failed = 1;
		return 0;
	}
	if (ok == 0) {
		hkms_err_setc(ps->err, HKMS_E_INVALID, "config_bad_value",
		    "bad value for config key '%s' in section [%.32s]", name,
		    section);
		ps->failed = 1;
		return 0;
	}
	return 1;
}

static struct hkms_config *
config_new(void)
{
	struct hkms_config *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->threads = 0;
	c->io_threads = 0;
	c->log_level = -1;	/* not set */
	c->max_body = 1048576;
	c->max_connections = 512;
	c->per_ip = 64;
	c->timeout_s = 30;
	c->connection_memory = 65536;
	c->ocsp_validity_s = 4 * 3600;
	c->crl_check_s = 60;
	c->console_session_s = 900;
	return c;
}

static char *
join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

enum hkms_rc
hkms_config_default_data_dir(char **out, struct hkms_err *err)
{
	const char *v;
	char *p = NULL;

	*out = NULL;
	if ((v = getenv("HKMS_DATA_DIR")) != NULL && *v != '\0')
		p = strdup(v);
	else if ((v = getenv("XDG_STATE_HOME")) != NULL && *v == '/')
		p = join(v, "hkms");
	else if ((v = getenv("HOME")) != NULL && *v == '/') {
		if (asprintf(&p, "%s/.local/state/hkms", v) < 0)
			p = NULL;
	} else {
		/* never a shared fallback such as /tmp: a service without a
		 * home must be told where its data lives */
		return hkms_err_setc(err, HKMS_E_INVALID, "no_data_dir",
		    "no data dir: set HKMS_DATA_DIR, data_dir in the config "
		    "file, or HOME");
	}
	if (p == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	*out = p;
	return HKMS_OK;
}

/* A path under the data dir (its directory resolved) must not be a
 * symlink: everything there is opened without following links. */
static enum hkms_rc
no_link_in_data_dir(const char *path, const char *what, const char *data_dir,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_OK;
	char *dir = NULL, *rdir = NULL, *rdata = NULL, *slash;
	struct stat sb;
	size_t n;

	if (path == NULL || data_dir == NULL || lstat(path, &sb) != 0 ||
	    !S_ISLNK(sb.st_mode))
		return HKMS_OK;
	if ((dir = strdup(path)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, strlen(dir) + 1, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	rdir = realpath(dir, NULL);
	rdata = realpath(data_dir, NULL);
	if (rdir != NULL && rdata != NULL && (n = strlen(rdata)) > 0 &&
	    strncmp(rdir, rdata, n) == 0 && (rdir[n] == '\0' ||
	    rdir[n] == '/'))
		rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing %s '%s': a symbolic link in the data dir", what,
		    path);
	free(dir);
	free(rdir);
	free(rdata);
	return rc;
}

/* The embedded token's directories, when they exist, are real ones. */
static enum hkms_rc
token_dirs_real(const char *data_dir, struct hkms_err *err)
{
	static const char *const subs[] = { "token", "token/tokens" };
	enum hkms_rc rc = HKMS_OK;
	struct stat sb;
	char *p;
	size_t i;

	for (i = 0; i < 2 && rc == HKMS_OK; i++) {
		if ((p = join(data_dir, subs[i])) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		if (lstat(p, &sb) == 0 && !S_ISDIR(sb.st_mode))
			rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
			    "refusing '%s': not a directory (a symbolic "
			    "link?)", p);
		free(p);
	}
	return rc;
}

enum hkms_rc
hkms_config_check_token(const struct hkms_config *cfg, struct hkms_err *err)
{
	const char *const files[] = { cfg ? cfg->pin_file : NULL,
	    cfg ? cfg->so_pin_file : NULL };
	const char *const names[] = { "PIN file", "SO PIN file" };
	enum hkms_rc rc;
	size_t i;

	if (cfg == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no config");
	/* a bare name would be looked up in the library search path */
	if (cfg->module == NULL || strchr(cfg->module, '/') == NULL)
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing PKCS#11 module '%s': not a path",
		    cfg->module ? cfg->module : "");
	/* a missing one is the loader's to report (module_load) */
	rc = hkms_path_check_safe(cfg->module, "PKCS#11 module", 0, err);
	if (rc == HKMS_E_NOT_FOUND)
		hkms_err_clear(err);
	else if (rc != HKMS_OK)
		return rc;
	if (cfg->data_dir != NULL &&
	    (rc = token_dirs_real(cfg->data_dir, err)) != HKMS_OK)
		return rc;
	if (cfg->softhsm2_conf != NULL && ((rc = no_link_in_data_dir(
	    cfg->softhsm2_conf, "SoftHSM2 config", cfg->data_dir, err)) !=
	    HKMS_OK || (rc = hkms_path_check_safe(cfg->softhsm2_conf,
	    "SoftHSM2 config", 0, err)) != HKMS_OK))
		return rc;
	/* PIN files only when they exist: HKMS_PIN may stand in for them */
	for (i = 0; i < 2; i++) {
		if (files[i] == NULL || access(files[i], F_OK) != 0)
			continue;
		if ((rc = no_link_in_data_dir(files[i], names[i],
		    cfg->data_dir, err)) != HKMS_OK ||
		    (rc = hkms_path_check_safe(files[i], names[i], 0, err)) !=
		    HKMS_OK)
			return rc;
	}
	return HKMS_OK;
}

/* Fill every unset option with its default. Paths derived from data_dir
 * follow the layout written by `hkms init`. */
static enum hkms_rc
config_defaults(struct hkms_config *c, struct hkms_err *err)
{
	char *conf = NULL;

	enum hkms_rc rc;

	if (c->data_dir == NULL && (rc = hkms_config_default_data_dir(
	    &c->data_dir, err)) != HKMS_OK)
		return rc;
	if (c->module == NULL && (c->module = strdup(HKMS_DEFAULT_MODULE)) == NULL)
		goto nomem;
	if (c->label == NULL && c->serial == NULL &&
	    (c->label = strdup(HKMS_DEFAULT_LABEL)) == NULL)
		goto nomem;
	if (c->pin_file == NULL &&
	    (c->pin_file = join(c->data_dir, "token/user.pin")) == NULL)
		goto nomem;
	if (c->so_pin_file == NULL &&
	    (c->so_pin_file = join(c->data_dir, "token/so.pin")) == NULL)
		goto nomem;
	if (c->profiles_dir == NULL &&
	    (c->profiles_dir = join(c->data_dir, "profiles")) == NULL)
		goto nomem;
	if (c->crl_dir == NULL &&
	    (c->crl_dir = join(c->data_dir, "crl")) == NULL)
		goto nomem;
	if (c->listen == NULL && (c->listen = strdup(HKMS_DEFAULT_LISTEN)) == NULL)
		goto nomem;
	/* The embedded token's private SoftHSM2 config, when it exists and
	 * the user has not chosen one: never the system's token dir. */
	if (c->softhsm2_conf == NULL && getenv("SOFTHSM2_CONF") == NULL) {
		if ((conf = join(c->data_dir, "token/softhsm2.conf")) == NULL)
			goto nomem;
		if (access(conf, R_OK) == 0) {
			c->softhsm2_conf = conf;
			conf = NULL;
		}
	}
	free(conf);
	return HKMS_OK;
nomem:
	return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
}

enum hkms_rc
hkms_config_parse(const char *text, struct hkms_config **out,
    struct hkms_err *err)
{
	struct parse_state ps = { NULL, err, 0 };
	int line;

	if ((ps.cfg = config_new()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	line = ini_parse_string(text, on_entry, &ps);
	if (line != 0) {
		if (!ps.failed)
			hkms_err_setc(err, HKMS_E_INVALID, "config_syntax",
			    "config syntax error on line %d", line);
		else if (err != NULL && line > 0) {
			size_t n = strlen(err->detail);

			snprintf(err->detail + n, sizeof(err->detail) - n,
			    " (line %d)", line);
		}
		hkms_config_free(ps.cfg);
		return HKMS_E_INVALID;
	}
	*out = ps.cfg;
	return HKMS_OK;
}

enum hkms_rc
hkms_config_load(const char *path, struct hkms_config **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_config *c = NULL;
	unsigned char *text = NULL;
	char *dflt = NULL, *ddir = NULL;
	size_t len;

	if (path == NULL && (path = getenv("HKMS_CONFIG")) != NULL &&
	    *path == '\0')
		path = NULL;
	if (path == NULL) {
		if ((rc = hkms_config_default_data_dir(&ddir, err)) !=
		    HKMS_OK)
			goto out;
		if ((dflt = join(ddir, "hkms.conf")) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		if (access(dflt, F_OK) == 0 || errno != ENOENT)
			path = dflt;
	}
	if (path != NULL) {
		if (access(path, F_OK) != 0 && errno == ENOENT) {
			rc = hkms_err_setc(err, HKMS_E_NOT_FOUND,
			    "config_missing", "config file '%s' does not "
			    "exist", path);
			goto out;
		}
		if ((rc = hkms_path_check_safe(path, "config file", 0, err)) !=
		    HKMS_OK)
			goto out;
		if ((rc = hkms_read_file(path, CONFIG_MAX, &text, &len,
		    err)) != HKMS_OK) {
			if (rc == HKMS_E_NOT_FOUND)
				hkms_err_setc(err, rc, "config_missing",
				    "config file '%s' does not exist", path);
			goto out;
		}
		if (strlen((char *)text) != len) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "config_syntax", "config file '%s' holds a NUL "
			    "byte", path);
			goto out;
		}
		if ((rc = hkms_config_parse((char *)text, &c, err)) != HKMS_OK)
			goto out;
		if ((c->path = strdup(path)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	} else if ((c = config_new()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = config_defaults(c, err)) != HKMS_OK)
		goto out;
	if (c->path != NULL && (rc = no_link_in_data_dir(c->path,
	    "config file", c->data_dir, err)) != HKMS_OK)
		goto out;
	*out = c;
	c = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	hkms_config_free(c);
	free(text);
	free(dflt);
	free(ddir);
	return rc;
}

void
hkms_config_free(struct hkms_config *c)
{
	if (c == NULL)
		return;
	free(c->module);
	free(c->label);
	free(c->serial);
	free(c->pin_file);
	free(c->so_pin_file);
	free(c->softhsm2_conf);
	free(c->data_dir);
	free(c->profiles_dir);
	free(c->crl_dir);
	free(c->listen);
	free(c->admin_thumbprints);
	free(c->server_key_type);
	free(c->unseal_socket);
	free(c->server_hostname);
	free(c->public_listen);
	free(c->audit_key_sha256);
	free(c->path);
	free(c);
}
