/*
 * hkms serve [--listen HOST:PORT]: the HTTPS JSON API in the foreground
 * (src/http/server.c).
 * hkms unseal [--socket PATH]: give a sealed server the token PIN over its
 * UNIX socket; the PIN comes from the terminal (no echo) or stdin, never
 * from argv.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "hkms_server.h"

int
hkms_cmd_serve(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_service_opts so = { 0 };
	struct hkms_server_opts o = { 0 };
	struct hkms_err err = { 0 };
	struct hkms_config *cfg;
	int ch;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "l:h", lo)) != -1) {
		switch (ch) {
		case 'l':
			o.listen = optarg;
			break;
		case 'h':
			printf("usage: hkms serve [--listen HOST:PORT]\n"
			    "Serve the HTTPS JSON API in the foreground "
			    "(default [server] listen, %s).\nSIGTERM/SIGINT "
			    "finish the requests in flight and exit; SIGHUP "
			    "reloads [limits], the client CAs and the "
			    "service certificate.\nWithout a PIN source the server "
			    "starts sealed until 'hkms unseal'.\n",
			    HKMS_DEFAULT_LISTEN);
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'serve'");
		}
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms serve [--listen "
		    "HOST:PORT]");
	if (hkms_cli_config(cli, &cfg, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	/* one line per request is logged at info */
	if (cfg->log_level < 0)
		cfg->log_level = HKMS_LOG_INFO;
	so.actor = cli->actor;
	so.token_retry = 1;
	if (hkms_service_open(cfg, &so, &cli->svc, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	o.config_path = cfg->path;
	if (hkms_server_run(cli->svc, cfg, &o, &err) != HKMS_OK)
		return hkms_cli_fail(cli, &err);
	return HKMS_EXIT_OK;
}

/* The PIN from the terminal without echo, or a line of stdin. */
static int
read_pin(char *buf, size_t cap)
{
	struct termios t, old;
	int tty = isatty(STDIN_FILENO), ok;
	size_t n;

	if (tty) {
		fprintf(stderr, "token PIN: ");
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) != 0)
			return -1;
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
	}
	ok = fgets(buf, (int)cap, stdin) != NULL;
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return -1;
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

int
hkms_cmd_unseal(struct hkms_cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		HKMS_CLI_COMMON_OPTS, { NULL, 0, NULL, 0 }
	};
	struct hkms_err err = { 0 };
	struct hkms_config *cfg;
	struct sockaddr_un sa;
	const char *path = NULL;
	char *dflt = NULL, pin[260], reply[4096];
	json_t *r;
	size_t n = 0;
	ssize_t k;
	int ch, fd = -1;

	while ((ch = hkms_cli_getopt(cli, argc, argv, "s:h", lo)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'h':
			printf("usage: hkms unseal [--socket PATH]\nGive a "
			    "sealed 'hkms serve' the token PIN (from the "
			    "terminal without echo, or stdin) over its UNIX "
			    "socket ([server] unseal_socket, default "
			    "<data_dir>/run/unseal.sock).\n");
			return HKMS_EXIT_OK;
		default:
			return hkms_cli_usage(cli, "bad option for 'unseal'");
		}
	}
	if (optind != argc)
		return hkms_cli_usage(cli, "usage: hkms unseal [--socket PATH]");
	if (path == NULL) {
		if (hkms_cli_config(cli, &cfg, &err) != HKMS_OK)
			return hkms_cli_fail(cli, &err);
		if (cfg->unseal_socket != NULL)
			path = cfg->unseal_socket;
		else if (cfg->data_dir != NULL && asprintf(&dflt,
		    "%s/run/unseal.sock", cfg->data_dir) >= 0)
			path = dflt;
	}
	if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
		free(dflt);
		return hkms_cli_usage(cli, "no usable unseal socket path");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		hkms_err_setc(&err, HKMS_E_IO, "io_error",
		    "cannot connect to the unseal socket %s: %s", path,
		    strerror(errno));
		free(dflt);
		if (fd >= 0)
			close(fd);
		return hkms_cli_fail(cli, &err);
	}
	free(dflt);
	if (read_pin(pin, sizeof(pin)) != 0) {
		OPENSSL_cleanse(pin, sizeof(pin));
		close(fd);
		return hkms_cli_usage(cli, "no PIN given");
	}
	k = write(fd, pin, strlen(pin));
	OPENSSL_cleanse(pin, sizeof(pin));
	shutdown(fd, SHUT_WR);
	if (k < 0) {
		close(fd);
		hkms_err_set(&err, HKMS_E_IO, "cannot send the PIN: %s",
		    strerror(errno));
		return hkms_cli_fail(cli, &err);
	}
	while (n < sizeof(reply) - 1 &&
	    (k = read(fd, reply + n, sizeof(reply) - 1 - n)) > 0)
		n += (size_t)k;
	reply[n] = '\0';
	close(fd);
	if ((r = json_loads(reply, 0, NULL)) == NULL) {
		hkms_err_set(&err, HKMS_E_IO, "the server closed the unseal "
		    "socket without an answer");
		return hkms_cli_fail(cli, &err);
	}
	if (json_object_get(r, "error") != NULL) {
		/* the server's envelope, as is */
		char *s = json_dumps(r, JSON_COMPACT);

		fprintf(stderr, "%s\n", s ? s : "");
		free(s);
		json_decref(r);
		return HKMS_EXIT_FAIL;
	}
	if (!cli->json) {
		json_t *ce = json_object_get(r, "certificate_error");

		if (json_is_object(ce))
			printf("unsealed; the service certificate is not "
			    "served yet: %s\n", json_string_value(
			    json_object_get(ce, "message")) ?: "?");
		else
			printf("unsealed\n");
		json_decref(r);
		return HKMS_EXIT_OK;
	}
	return hkms_cli_output(cli, r, NULL);
}
