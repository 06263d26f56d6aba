/*
 * credentials.h — the database credentials a connection spec names, read
 * from their Secrets: the user, the password and (for TLS verification) a
 * CA bundle, and the database target they make with a server's address.
 * Shared by the Backup and Restore controllers, which connect with them,
 * and the BackupSchedule controller, which checks that they can be read
 * before it schedules a run.
 *
 * Invariants: values are decoded, NUL-terminated and wiped when freed
 * (ss_free_secret); they are never logged, and error messages name the
 * Secret and key, never a value. A value of APP_CREDENTIAL_MAX bytes or
 * more is refused.
 *
 * Ownership: an app_credentials owns its three buffers; free it with
 * app_credentials_free(). Thread-safety: reentrant (the client is
 * thread-safe).
 */
#ifndef SNAPSTAGE_APP_CREDENTIALS_H
#define SNAPSTAGE_APP_CREDENTIALS_H

#include <stddef.h>

#include "app/api/api.h"
#include "app/db/db.h"
#include "kube/client.h"

#define APP_CREDENTIAL_MAX 65536

typedef struct {
	char *user, *password, *ca; /* ca: NULL unless TLS verifies */
	size_t user_len, password_len, ca_len;
} app_credentials;

/* Reads the credentials of `conn` from Secrets in namespace `ns` into *c
 * (zeroed first). 0; or SS_ENOTFOUND / SS_EINVALID / SS_ETOOLARGE with
 * *reason SecretNotFound or SecretKeyMissing; or the API's error with
 * *reason NULL. On failure *c holds nothing. */
int app_credentials_read(app_credentials *c, kube_client *client, const char *ns,
			 const app_connection *conn, const char **reason);

/* Wipes and frees what *c holds; *c is zeroed. Safe on a zeroed struct. */
void app_credentials_free(app_credentials *c);

/* The server at host:port as `conn` says to reach it (TLS mode, timeout),
 * with the credentials `c` read for it. *t borrows from host, conn and c. */
void app_credentials_db_target(app_db_target *t, const app_connection *conn,
			       const app_credentials *c, const char *host, int port);

#endif
