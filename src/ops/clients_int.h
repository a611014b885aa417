/*
 * Internals shared by the clients and authorization operations
 * (src/ops/clients.c, authz.c).
 */
#ifndef HKMS_OPS_CLIENTS_INT_H
#define HKMS_OPS_CLIENTS_INT_H

#include <stddef.h>

#include "hkms/service.h"

/* "admin" | "operator" | "user" | "none" */
const char *ops_clearance_name(enum hkms_clearance c);

/* 1 and *out for "admin", "operator", "user"; 0 otherwise. */
int ops_clearance_parse(const char *s, enum hkms_clearance *out);

/* The authorization table (authz.c) for tests: up to max rows of op and
 * least clearance ("public", "user", "operator", "admin"). */
size_t ops_authz_rows(const char **op, const char **least, size_t max);

#include <jansson.h>
#include "hkms/error.h"
struct hkms_ops_ctx;
struct hkms_secret;

/* The store kind of client registrations (clients/<name>.json). */
#define CLIENT_KIND "clients"

/* A client name: 1 to 64 of [A-Za-z0-9._-] ("invalid_field" when
 * missing, "bad_name" otherwise). */
enum hkms_rc ops_client_name_check(const char *name, struct hkms_err *err);

/* The registration of client name into *reg, or HKMS_E_NOT_FOUND
 * "client_not_found". */
enum hkms_rc ops_client_get(struct hkms_ops_ctx *c, const char *name,
    json_t **reg, struct hkms_err *err);

/* TOTP enrolment (client_totp.c, issue 16a). */

/* A new seed for registration rec of client name: sealed into rec
 * ("totp_sealed", bound to name and the new "totp_id"), the replay guard
 * reset; *answer = {"secret", "uri", "qr_svg"} (the seed given once). */
enum hkms_rc ops_totp_enrol(struct hkms_ops_ctx *c, const char *name,
    json_t *rec, json_t **answer, struct hkms_err *err);

/* The seed of rec (a locked, wiped secret), or totp_not_enrolled /
 * seal_invalid. */
enum hkms_rc ops_totp_unseal(struct hkms_ops_ctx *c, const char *name,
    const json_t *rec, struct hkms_secret **seed, struct hkms_err *err);

/* What a registration shows of its TOTP: "totp_enrolled" set, the sealed
 * seed, its id and the replay guard removed. */
void ops_totp_view(json_t *view);

/* End every session of client name in this process's table
 * (session.c): after a re-enrolment, a deletion. */
void ops_session_end_client(const char *name);

#endif
