/*
 * credentials.c — reading database credentials from Secrets; see
 * credentials.h. Nothing of a Secret is left in memory we free: the API
 * response's bytes are wiped once decoded (kube_get_sensitive), the
 * decoded JSON's strings (base64 text) before it is freed, and the decoded
 * values when the credentials are freed. Copies made inside libcurl,
 * OpenSSL and jansson's parser are theirs and are freed unwiped
 * (docs/security.md).
 */
#include <string.h>

#include "app/db/credentials.h"
#include "kube/rest.h"
#include "util/base64.h"
#include "util/error.h"
#include "util/str.h"

static const kube_resource secrets = { "", "v1", "secrets", true };

/* Secret ns/name, read once per app_credentials_read() for all the keys
 * it holds. */
static int secret_get(json_t **out, kube_client *client, const char *ns, const char *name,
		      const char **reason)
{
	int rc = kube_get_sensitive(out, client, &secrets, ns, name);

	if (rc == SS_ENOTFOUND) {
		*reason = "SecretNotFound";
		return ss_error_set(SS_ENOTFOUND, "Secret %s/%s does not exist", ns,
				    name);
	}
	return rc;
}

/* The value of `key` in `secret` (ns/name), decoded, NUL-terminated. */
static int secret_value(char **out, size_t *out_len, const json_t *secret, const char *ns,
			const char *name, const char *key, const char **reason)
{
	const char *b64;
	unsigned char *raw = NULL;
	size_t len = 0;
	int rc;

	b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
	if (b64 == NULL) {
		*reason = "SecretKeyMissing";
		return ss_error_set(SS_ENOTFOUND, "Secret %s/%s has no key \"%s\"", ns,
				    name, key);
	}
	rc = ss_base64_decode(&raw, &len, b64, "secret value");
	if (rc < 0) {
		*reason = "SecretKeyMissing";
		return ss_error_set(SS_EINVALID, "Secret %s/%s key \"%s\" is not base64",
				    ns, name, key);
	}
	if (len >= APP_CREDENTIAL_MAX) {
		ss_free_secret(raw, len + 1);
		*reason = "SecretKeyMissing";
		return ss_error_set(SS_ETOOLARGE, "Secret %s/%s key \"%s\" is too large",
				    ns, name, key);
	}
	*out = (char *)raw;
	*out_len = len;
	return 0;
}

void app_credentials_free(app_credentials *c)
{
	if (c->user)
		ss_free_secret(c->user, c->user_len + 1);
	if (c->password)
		ss_free_secret(c->password, c->password_len + 1);
	if (c->ca)
		ss_free_secret(c->ca, c->ca_len + 1);
	memset(c, 0, sizeof(*c));
}

void app_credentials_db_target(app_db_target *t, const app_connection *conn,
			       const app_credentials *c, const char *host, int port)
{
	memset(t, 0, sizeof(*t));
	t->host = host;
	t->port = port;
	t->user = c->user;
	t->password = c->password;
	t->tls_mode = conn->tls_mode;
	t->ca_pem = c->ca;
	t->connect_timeout_seconds = conn->connect_timeout_seconds;
}

int app_credentials_read(app_credentials *c, kube_client *client, const char *ns,
			 const app_connection *conn, const char **reason)
{
	const char *name = conn->credentials.name;
	json_t *secret = NULL, *ca_secret = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	*reason = NULL;
	rc = secret_get(&secret, client, ns, name, reason);
	if (rc == 0)
		rc = secret_value(&c->user, &c->user_len, secret, ns, name,
				  conn->credentials.username_key, reason);
	if (rc == 0)
		rc = secret_value(&c->password, &c->password_len, secret, ns, name,
				  conn->credentials.password_key, reason);
	if (rc == 0 && conn->ca_secret_name &&
	    (conn->tls_mode == APP_TLS_VERIFY_CA ||
	     conn->tls_mode == APP_TLS_VERIFY_IDENTITY)) {
		if (strcmp(conn->ca_secret_name, name) != 0)
			rc = secret_get(&ca_secret, client, ns, conn->ca_secret_name,
					reason);
		if (rc == 0)
			rc = secret_value(
				&c->ca, &c->ca_len, ca_secret ? ca_secret : secret, ns,
				conn->ca_secret_name, conn->ca_secret_key, reason);
	}
	kube_json_wipe(secret);
	kube_json_wipe(ca_secret);
	json_decref(secret);
	json_decref(ca_secret);
	if (rc < 0)
		app_credentials_free(c);
	return rc;
}
