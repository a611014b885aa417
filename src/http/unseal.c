/*
 * The unseal socket of a sealed start: a UNIX stream socket ([server]
 * unseal_socket, default <data_dir>/run/unseal.sock) in a directory of
 * mode 0700, the socket itself 0600, so only the service's user can even
 * connect; the peer's credentials (SO_PEERCRED) are checked again: the
 * service's uid or root, else refused. The client (hkms unseal) writes
 * the PIN and shuts its side down; the server logs in with it
 * (hkms_service_unseal) and answers one JSON line: {"sealed":false} or
 * the error envelope. The PIN lives in a secret buffer only; the read
 * buffer is wiped.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hkms/secret.h"
#include "server_int.h"

#define PIN_MAX 256

char *
srv_unseal_path(const struct hkms_config *cfg)
{
	char *p = NULL;

	if (cfg->unseal_socket != NULL)
		return strdup(cfg->unseal_socket);
	if (cfg->data_dir == NULL ||
	    asprintf(&p, "%s/run/unseal.sock", cfg->data_dir) < 0)
		return NULL;
	return p;
}

enum hkms_rc
srv_unseal_listen(const struct hkms_config *cfg, int *fd,
    struct hkms_err *err)
{
	struct sockaddr_un sa;
	struct stat sb;
	char *path, *dir = NULL, *slash;
	enum hkms_rc rc = HKMS_E_IO;
	mode_t um;
	int s = -1, c;

	*fd = -1;
	if ((path = srv_unseal_path(cfg)) == NULL)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "no unseal socket path (no data dir)");
	if (strlen(path) >= sizeof(sa.sun_path)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "config_bad_value",
		    "unseal socket path '%.100s' is too long", path);
		goto out;
	}
	if ((dir = strdup(path)) == NULL ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "config_bad_value",
		    "unseal socket path '%.100s' is not absolute", path);
		goto out;
	}
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot make '%s': %s", dir,
		    strerror(errno));
		goto out;
	}
	if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 077) != 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "the unseal socket's directory '%s' must be a directory "
		    "of this user with mode 0700", dir);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	/* a socket left by a server that died: remove it, unless a server
	 * still answers on it */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
			    "'%s' exists and is not a socket", path);
			goto out;
		}
		if ((c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
			int live = connect(c, (struct sockaddr *)&sa,
			    sizeof(sa)) == 0;

			close(c);
			if (live) {
				rc = hkms_err_setc(err, HKMS_E_IO,
				    "listen_failed", "another server listens "
				    "on the unseal socket '%s'", path);
				goto out;
			}
		}
		unlink(path);
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "socket: %s", strerror(errno));
		goto out;
	}
	um = umask(0177);
	c = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(um);
	if (c != 0 || chmod(path, 0600) != 0 || listen(s, 4) != 0) {
		rc = hkms_err_setc(err, HKMS_E_IO, "listen_failed",
		    "cannot listen on the unseal socket '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	*fd = s;
	s = -1;
	rc = HKMS_OK;
out:
	if (s >= 0)
		close(s);
	free(dir);
	free(path);
	return rc;
}

/* Answer, then read what the peer still sends (briefly) so that closing
 * does not reset the connection before it read the answer. */
static void
reply(int c, json_t *o)
{
	struct pollfd p = { c, POLLIN, 0 };
	char junk[512];
	int i;

	char *s = json_dumps(o, JSON_COMPACT);
	size_t n;

	json_decref(o);
	if (s == NULL)
		return;
	n = strlen(s);
	(void)!write(c, s, n);
	(void)!write(c, "\n", 1);
	free(s);
	shutdown(c, SHUT_WR);
	for (i = 0; i < 10 && poll(&p, 1, 100) > 0; i++)
		if (read(c, junk, sizeof(junk)) <= 0)
			break;
	OPENSSL_cleanse(junk, sizeof(junk));
}

/* Read the PIN until the peer's EOF, at most PIN_MAX bytes, 10 s. */
static ssize_t
read_pin(int c, char *buf, size_t cap)
{
	struct pollfd p = { c, POLLIN, 0 };
	size_t n = 0;
	ssize_t r;
	time_t t0 = time(NULL);

	while (n < cap) {
		if (time(NULL) - t0 > 10 || poll(&p, 1, 1000) < 0)
			return -1;
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		if ((r = read(c, buf + n, cap - n)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (r == 0)
			return (ssize_t)n;
		n += (size_t)r;
	}
	return -1;	/* too long */
}

int
srv_unseal_accept(struct hkms_service *svc, int fd)
{
	struct hkms_log *log = hkms_service_log(svc);
	struct hkms_secret *pin = NULL;
	struct hkms_err e = { 0 };
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	char buf[PIN_MAX + 1];
	ssize_t n;
	int c;

	if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return -1;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
	    (cr.uid != geteuid() && cr.uid != 0)) {
		hkms_err_setc(&e, HKMS_E_DENIED, "unseal_refused",
		    "the unseal socket takes only the service's user (uid %u) "
		    "or root", (unsigned)geteuid());
		hkms_log_msg(log, HKMS_LOG_WARN, "server.unseal",
		    "refused an unseal connection of uid %u", (unsigned)cr.uid);
		reply(c, hkms_err_json(&e, NULL));
		close(c);
		return -1;
	}
	n = read_pin(c, buf, PIN_MAX);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n <= 0) {
		hkms_err_setc(&e, HKMS_E_INVALID, "invalid_field",
		    "no PIN (or one longer than %d bytes) was given", PIN_MAX);
		reply(c, hkms_err_json(&e, NULL));
	} else if (hkms_secret_new(buf, (size_t)n, &pin, &e) != HKMS_OK ||
	    hkms_service_unseal(svc, pin, &e) != HKMS_OK) {
		hkms_log_err(log, HKMS_LOG_ERROR, "server.unseal", &e, NULL);
		reply(c, hkms_err_json(&e, NULL));
	} else {
		hkms_log_msg(log, HKMS_LOG_WARN, "server.unseal",
		    "unsealed: the token is open");
		OPENSSL_cleanse(buf, sizeof(buf));
		hkms_secret_free(pin);
		return c;	/* answered by srv_unseal_reply() */
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	hkms_secret_free(pin);
	close(c);
	return -1;
}

void
srv_unseal_reply(int c, const struct hkms_err *cert_err)
{
	json_t *o = json_pack("{s:b,s:b}", "sealed", 0, "certificate",
	    cert_err == NULL);
	json_t *env;

	if (o != NULL && cert_err != NULL &&
	    (env = hkms_err_json(cert_err, NULL)) != NULL) {
		json_object_set(o, "certificate_error",
		    json_object_get(env, "error"));
		json_decref(env);
	}
	reply(c, o);
	close(c);
}
