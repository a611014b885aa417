/*
 * The server's internals (server.c, tls.c, unseal.c, metrics.c,
 * routes_server.c): one server per process, reached by the routes of
 * routes_server.c through hkms_server_current().
 */
#ifndef HKMS_SERVER_INT_H
#define HKMS_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

#include "hkms/config.h"
#include "hkms/error.h"
#include "hkms/service.h"


/* ---- tls.c: the service certificate and its token key ---- */

/** One loaded certificate chain with its token-backed private key. Never
 *  freed while the server runs (a handshake may still hold it): a new one
 *  is linked in front and the old ones are freed at exit. */
struct srv_cert {
	gnutls_pcert_st pcert[8];
	unsigned npcert;
	gnutls_privkey_t key;
	char *pem;			/* the chain as loaded */
	char key_name[128];		/* the token key (name) */
	gnutls_pk_algorithm_t pk;
	unsigned bits;
	struct hkms_service *svc;
	struct srv_cert *older;
};

/** Make the service certificate if there is none (a key in the token of
 *  [server] key_type, a self-signed certificate), then load the current
 *  record; *changed = 1 when it differs from the one served. */
enum hkms_rc srv_tls_load(struct hkms_service *svc, int *changed,
    struct hkms_err *err);

/** 1 when the service certificate record changed since srv_tls_load()
 *  last read it (its store stamp differs): cheap, for a poll every
 *  second. */
int srv_tls_changed(struct hkms_service *svc);

/** The certificate served now (MHD_OPTION_HTTPS_CERT_CALLBACK). */
int srv_tls_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey);

/** The loaded service certificate (NULL while sealed, before the first
 *  load); valid until srv_tls_free(). */
const struct srv_cert *srv_tls_current(void);

/** PEM of the served certificate chain (malloc'd), for the client CA
 *  fallback when there is no hkms CA yet. */
char *srv_tls_cert_pem(void);

/** Make the temporary certificate of a sealed start (an in-memory key),
 *  served until srv_tls_load() has loaded the real one. */
enum hkms_rc srv_tls_sealed_init(struct hkms_err *err);

void srv_tls_free(void);

/* ---- metrics.c ---- */

void srv_metrics_request(const char *method, const char *route, int status,
    double seconds);
void srv_metrics_sign(double seconds, int ok);
/** Prometheus text (0.0.4) of the server's and the service's counters;
 *  malloc'd. */
char *srv_metrics_render(struct hkms_service *svc);

/* ---- the running server (server.c) ---- */

struct hkms_server_state {
	struct hkms_service *svc;
	const struct hkms_config *cfg;
	atomic_int open_connections;
	atomic_int in_flight;
	atomic_int stopping;
};

/** The server running in this process (routes_server.c), or NULL. */
struct hkms_server_state *hkms_server_current(void);

/* ---- unseal.c ---- */

/** The unseal socket's path for cfg (malloc'd). */
char *srv_unseal_path(const struct hkms_config *cfg);

/** Bind and listen on the unseal socket (dir 0700, socket 0600). */
enum hkms_rc srv_unseal_listen(const struct hkms_config *cfg, int *fd,
    struct hkms_err *err);

/** Serve one connection of the listening socket fd: peer credentials
 *  checked (the service's uid, or root), the PIN read and handed to
 *  hkms_service_unseal(). A refusal is written back as one JSON line and
 *  -1 returned; on success the connection is returned still open, for
 *  srv_unseal_reply() once the service certificate is served (so that
 *  `hkms unseal` returns when HTTPS answers with it). */
int srv_unseal_accept(struct hkms_service *svc, int fd);

/** Answer an unseal connection and close it: {"sealed":false,
 *  "certificate":true}, or false and "certificate_error" with cert_err. */
void srv_unseal_reply(int c, const struct hkms_err *cert_err);

/* ---- CRL re-signing (issue 14a, crl_timer.c) ---- */

/** Called by the server loop about once a second while the token is
 *  open: every [crl] check_interval, re-sign the CRLs that expire within
 *  [crl] resign_before (hkms_ops_ca_crl_refresh). Nothing without
 *  resign_before. Logs what it made or why it failed. */
void srv_crl_tick(struct hkms_service *svc, const struct hkms_config *cfg);

#endif
