/*
 * hkms serve: the HTTPS face's entry point for the CLI (cmd_serve.c).
 */
#ifndef HKMS_SERVER_H
#define HKMS_SERVER_H

#include "hkms/config.h"
#include "hkms/error.h"
#include "hkms/service.h"

struct hkms_server_opts {
	const char *listen;		/* "H:P" overriding [server] listen */
	const char *config_path;	/* re-read on SIGHUP; NULL = none */
};

/** Run the server in the foreground until SIGTERM or SIGINT: the service
 *  certificate made or loaded, the listener started, READY=1 sent to
 *  $NOTIFY_SOCKET, then signals and the unseal socket served from this
 *  thread. Returns HKMS_OK after a clean stop (in-flight requests
 *  finished), or the error that kept it from starting. */
enum hkms_rc hkms_server_run(struct hkms_service *svc,
    const struct hkms_config *cfg, const struct hkms_server_opts *opts,
    struct hkms_err *err);

#endif
