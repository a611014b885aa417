/*
 * Helpers shared by the CLI subcommands: output (tables or JSON), errors
 * as JSON on stderr (hkms_err_json, the envelope the server sends too),
 * and the lazily opened config and service (which owns token and store).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "cli.h"
#include "hkms/ops.h"
#include "hkms/service.h"

int
hkms_cli_fail_checks(struct hkms_cli *cli, const struct hkms_err *err,
    json_t *checks)
{
	struct hkms_err e = *err;
	json_t *o;
	char *s;

	(void)cli;
	/* a request field the operation refused is a flag here: the CLI's
	 * usage error */
	if (strcmp(hkms_err_code(&e), "invalid_field") == 0)
		snprintf(e.code, sizeof(e.code), "usage");
	o = hkms_err_json(&e, checks);
	s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	fprintf(stderr, "%s\n", s ? s : "{\"error\":{\"code\":\"internal_error\","
	    "\"message\":\"out of memory\"}}");
	free(s);
	json_decref(o);
	return e.rc == HKMS_E_INVALID && strcmp(hkms_err_code(&e),
	    "usage") == 0 ? HKMS_EXIT_USAGE : HKMS_EXIT_FAIL;
}

int
hkms_cli_fail(struct hkms_cli *cli, const struct hkms_err *err)
{
	return hkms_cli_fail_checks(cli, err, NULL);
}

int
hkms_cli_usage(struct hkms_cli *cli, const char *fmt, ...)
{
	struct hkms_err err = { HKMS_E_INVALID, "usage", "" };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.detail, sizeof(err.detail), fmt, ap);
	va_end(ap);
	return hkms_cli_fail(cli, &err);
}

static void
print_value(FILE *out, json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), out);
		return;
	}
	if (json_is_null(v) || v == NULL) {
		fputs("-", out);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	fputs(s ? s : "?", out);
	free(s);
}

/* an array of scalars, comma-joined; 0 when it holds objects or arrays */
static int
print_list(FILE *out, json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_object(v) || json_is_array(v))
			return 0;
	if (json_array_size(arr) == 0)
		fputs("-", out);
	json_array_foreach(arr, i, v) {
		if (i > 0)
			fputs(", ", out);
		print_value(out, v);
	}
	return 1;
}

static void
kv_indent(FILE *out, json_t *obj, int depth)
{
	const char *k;
	json_t *v;
	size_t w = 0;

	json_object_foreach(obj, k, v)
		if (strlen(k) > w)
			w = strlen(k);
	json_object_foreach(obj, k, v) {
		/* multi-line values (PEM) go below their key */
		if (json_is_string(v) && strchr(json_string_value(v), '\n')) {
			fprintf(out, "%*s%s:\n%s", depth * 2, "", k,
			    json_string_value(v));
			continue;
		}
		/* nested objects as indented keys, never a JSON blob */
		if (json_is_object(v) && json_object_size(v) > 0 &&
		    depth < 4) {
			fprintf(out, "%*s%s:\n", depth * 2, "", k);
			kv_indent(out, v, depth + 1);
			continue;
		}
		fprintf(out, "%*s%-*s  ", depth * 2, "", (int)w + 1, k);
		if (!json_is_array(v) || !print_list(out, v))
			print_value(out, v);
		fputc('\n', out);
	}
}

void
hkms_cli_kv(FILE *out, json_t *obj)
{
	kv_indent(out, obj, 0);
}

/* a table cell: strings as they are, "-" for nothing, arrays of scalars
 * comma-joined, anything else compact JSON; the caller frees it */
static char *
cell_text(json_t *v)
{
	char *s = NULL, *r;
	size_t i;
	json_t *x;

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (v == NULL || json_is_null(v) || (json_is_array(v) &&
	    json_array_size(v) == 0))
		return strdup("-");
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			char *one = json_is_string(x) ?
			    strdup(json_string_value(x)) :
			    json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);

			if (one == NULL || asprintf(&r, "%s%s%s", s ? s : "",
			    s ? "," : "", one) < 0)
				r = NULL;
			free(one);
			free(s);
			if ((s = r) == NULL)
				return NULL;
		}
		return s;
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

void
hkms_cli_table(FILE *out, json_t *rows, const char *const *cols)
{
	size_t ncols = 0, i, c, *w;
	json_t *row;
	char *s;

	while (cols[ncols] != NULL)
		ncols++;
	if ((w = calloc(ncols, sizeof(*w))) == NULL)
		return;
	for (c = 0; c < ncols; c++)
		w[c] = strlen(cols[c]);
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			json_t *v = json_object_get(row, cols[c]);
			size_t l;

			s = cell_text(v);
			l = s ? strlen(s) : 1;
			free(s);
			if (l > w[c])
				w[c] = l;
		}
	}
	for (c = 0; c < ncols; c++) {
		char up[64];
		size_t k;

		for (k = 0; cols[c][k] && k < sizeof(up) - 1; k++)
			up[k] = (char)(cols[c][k] >= 'a' && cols[c][k] <= 'z' ?
			    cols[c][k] - 32 : cols[c][k]);
		up[k] = '\0';
		fprintf(out, "%-*s%s", (int)w[c], up, c + 1 < ncols ? "  " : "\n");
	}
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			json_t *v = json_object_get(row, cols[c]);
			char *txt = NULL;
			const char *p;

			p = (txt = cell_text(v)) ? txt : "?";
			fprintf(out, "%-*s%s", (int)w[c], p,
			    c + 1 < ncols ? "  " : "\n");
			free(txt);
		}
	}
	free(w);
}

int
hkms_cli_output(struct hkms_cli *cli, json_t *obj,
    void (*human)(FILE *out, json_t *obj))
{
	char *s;

	if (cli->json) {
		s = json_dumps(obj, JSON_INDENT(2) | JSON_ENCODE_ANY);
		printf("%s\n", s ? s : "null");
		free(s);
	} else if (human != NULL)
		human(stdout, obj);
	else if (json_is_object(obj))
		hkms_cli_kv(stdout, obj);
	else {
		s = json_dumps(obj, JSON_INDENT(2) | JSON_ENCODE_ANY);
		printf("%s\n", s ? s : "null");
		free(s);
	}
	json_decref(obj);
	return fflush(stdout) == 0 ? HKMS_EXIT_OK : HKMS_EXIT_FAIL;
}

int
hkms_cli_output_written(struct hkms_cli *cli, const char *path, size_t len,
    const char *format, json_t *result)
{
	static const char *const blobs[] = { "pem", "p7b", "csr_pem", "p12",
	    "file", "out_file", "bytes", "format", NULL };
	json_t *o = json_is_object(result) ? json_deep_copy(result) :
	    json_object();
	size_t i;

	json_decref(result);
	for (i = 0; blobs[i] != NULL; i++)
		json_object_del(o, blobs[i]);
	json_object_set_new(o, "out_file", json_string(path));
	json_object_set_new(o, "bytes", json_integer((json_int_t)len));
	json_object_set_new(o, "format", json_string(format));
	return hkms_cli_output(cli, o, NULL);
}

int
hkms_cli_output_file(struct hkms_cli *cli, const char *path,
    const void *data, size_t len, const char *format, json_t *result)
{
	struct hkms_err err = { 0 };

	if (hkms_cli_write_out(path, data, len, &err) != HKMS_OK) {
		json_decref(result);
		return hkms_cli_fail(cli, &err);
	}
	return hkms_cli_output_written(cli, path, len, format, result);
}

static int
on_off(const char *arg)
{
	if (strcmp(arg, "on") == 0 || strcmp(arg, "true") == 0)
		return HKMS_X509_EXT_ON;
	if (strcmp(arg, "off") == 0 || strcmp(arg, "false") == 0)
		return HKMS_X509_EXT_OFF;
	return 0;
}

int
hkms_cli_ext_opt(struct hkms_cli *cli, int ch, const char *arg,
    struct hkms_x509_ext_choice *ext)
{
	switch (ch) {
	case HKMS_CLI_EXT_BC:
		if ((ext->basic_constraints = on_off(arg)) == 0)
			goto bad;
		return 1;
	case HKMS_CLI_EXT_AKI:
		if ((ext->aki = on_off(arg)) == 0)
			goto bad;
		return 1;
	case HKMS_CLI_EXT_KU:
		ext->key_usage = arg;
		return 1;
	case HKMS_CLI_EXT_EKU:
		ext->extended_key_usage = arg;
		return 1;
	}
	return 0;
bad:
	(void)hkms_cli_usage(cli, "--%s takes on or off", ch == HKMS_CLI_EXT_BC ?
	    "basic-constraints" : "aki");
	return -1;
}

enum hkms_rc
hkms_cli_config(struct hkms_cli *cli, struct hkms_config **cfg,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if (cli->cfg == NULL &&
	    (rc = hkms_config_load(cli->config_path, &cli->cfg, err)) != HKMS_OK)
		return rc;
	*cfg = cli->cfg;
	return HKMS_OK;
}

enum hkms_rc
hkms_cli_service(struct hkms_cli *cli, struct hkms_service **svc,
    struct hkms_err *err)
{
	struct hkms_service_opts o = { 0 };
	struct hkms_config *cfg;
	enum hkms_rc rc;

	if (cli->svc == NULL) {
		if ((rc = hkms_cli_config(cli, &cfg, err)) != HKMS_OK)
			return rc;
		o.actor = cli->actor;
		o.store_read_only = cli->store_check;
		o.log_quiet = 1;	/* errors are the envelope on stderr */
		if ((rc = hkms_service_open(cfg, &o, &cli->svc, err)) !=
		    HKMS_OK)
			return rc;
	}
	*svc = cli->svc;
	return HKMS_OK;
}

enum hkms_rc
hkms_cli_write_out(const char *path, const void *data, size_t len,
    struct hkms_err *err)
{
	return hkms_service_write_output(path, data, len, 0644, err);
}

enum hkms_rc
hkms_cli_write_new(const char *path, const void *data, size_t len,
    mode_t mode, struct hkms_err *err)
{
	const unsigned char *p = data;
	char *tmp = NULL, *dir = NULL, *slash;
	enum hkms_rc rc = HKMS_E_IO;
	size_t off = 0;
	ssize_t n;
	int fd = -1, dfd = -1, linked = 0;

	if (path == NULL || path[0] == '\0')
		return hkms_err_set(err, HKMS_E_INVALID, "no file given");
	if (asprintf(&tmp, "%s.tmp-%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* O_EXCL: never through a symlink, never over a file */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode)) < 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot create '%s': %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0)	/* whatever the umask */
		goto fail_io;
	while (off < len) {
		if ((n = write(fd, p + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail_io;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail_io;
	}
	fd = -1;
	/* link() refuses an existing path, symlinks included */
	if (link(tmp, path) != 0) {
		if (errno == EEXIST)
			rc = hkms_err_setc(err, HKMS_E_EXISTS, "file_exists",
			    "'%s' exists; it is written once, to a new file",
			    path);
		else
			rc = hkms_err_set(err, HKMS_E_IO, "cannot write '%s': "
			    "%s", path, strerror(errno));
		goto out;
	}
	linked = 1;
	if ((dir = strdup(path)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	if ((dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0 && unlink(tmp) == 0 && fsync(dfd) == 0) {
		rc = HKMS_OK;
		goto out;
	}
fail_io:
	rc = hkms_err_set(err, HKMS_E_IO, "cannot write '%s': %s", path,
	    strerror(errno));
	if (linked)
		(void)unlink(path);
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp != NULL)
		(void)unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

int
hkms_cli_getopt(struct hkms_cli *cli, int argc, char **argv,
    const char *shortopts, const struct option *longopts)
{
	int ch;

	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) == 'J')
		cli->json = 1;
	return ch;
}

enum hkms_rc
hkms_cli_ops_ctx(struct hkms_cli *cli, int need_hsm, struct hkms_ops_ctx *c,
    struct hkms_err *err)
{
	struct hkms_service *svc;
	enum hkms_rc rc;

	memset(c, 0, sizeof(*c));
	c->actor = cli->actor;
	if ((rc = hkms_cli_service(cli, &svc, err)) != HKMS_OK)
		return rc;
	return hkms_service_ctx(svc, &cli->principal, cli->actor,
	    (unsigned)need_hsm, c, err);
}

int
hkms_cli_dispatch(struct hkms_cli *cli, const char *group,
    const struct hkms_cli_cmd *cmds, int argc, char **argv)
{
	size_t i;

	if (argc < 1 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0) {
		printf("usage: hkms %s COMMAND [options]\n\ncommands:\n",
		    group);
		for (i = 0; cmds[i].name != NULL; i++)
			printf("  %-14s %s\n", cmds[i].name, cmds[i].help);
		printf("\nRun 'hkms %s COMMAND --help' for its options.\n",
		    group);
		return argc < 1 ? HKMS_EXIT_USAGE : HKMS_EXIT_OK;
	}
	for (i = 0; cmds[i].name != NULL; i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			return cmds[i].fn(cli, argc, argv);
	return hkms_cli_usage(cli, "unknown command 'hkms %s %s'", group,
	    argv[0]);
}
