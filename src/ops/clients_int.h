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

#endif
