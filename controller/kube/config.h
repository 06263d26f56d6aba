/*
 * config.h — where the API server is and how to authenticate to it.
 *
 * A kube_config is built from kubeconfig files (the format kubectl uses) or
 * from the in-cluster service-account mount, and then handed to
 * kube_client_new(). Resolution follows kubectl / controller-runtime:
 *   1. --kubeconfig (one file, must exist);
 *   2. KUBECONFIG (':'-separated; missing files are skipped; for every named
 *      cluster, user and context and for current-context the first file that
 *      defines it wins);
 *   3. in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service-account
 *      token, CA and namespace files);
 *   4. $HOME/.kube/config.
 * Relative paths in a kubeconfig are relative to the file that holds them.
 * File-based credentials (certificate-authority, client-certificate,
 * client-key) are read once, at load, and kept in memory; a token file is
 * kept as a path because the client re-reads it as it rotates.
 *
 * Every rejection says which file, cluster, user or context is at fault and
 * why. exec and auth-provider credential plugins are refused with a clear
 * "not supported" error.
 *
 * Ownership: the caller owns a kube_config and frees it with
 * kube_config_free(), which also wipes the secrets it holds.
 * Thread-safety: a loaded config is immutable and may be shared for reading.
 */
#ifndef SNAPSTAGE_KUBE_CONFIG_H
#define SNAPSTAGE_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct {
	char *server;	       /* "https://host:port", no trailing slash */
	char *namespace;       /* the context's namespace; "default" when unset */
	char *context;	       /* the context used; NULL for in-cluster */
	char *tls_server_name; /* NULL: the server URL's host */
	bool insecure_skip_tls_verify;
	unsigned char *ca_pem; /* NULL: the system trust store */
	size_t ca_pem_len;
	unsigned char *client_cert_pem; /* NULL: no client certificate */
	size_t client_cert_pem_len;
	unsigned char *client_key_pem; /* secret */
	size_t client_key_pem_len;
	char *token;	  /* secret; a static bearer token, or NULL */
	char *token_file; /* a bearer token file to (re-)read, or NULL */
} kube_config;

/* Where to look; fill it from the process with kube_config_sources_from_env()
 * or set the fields directly (tests). Borrowed strings. */
typedef struct {
	const char *kubeconfig;		 /* --kubeconfig; NULL if not given */
	const char *context;		 /* --context; NULL: current-context */
	const char *kubeconfig_env;	 /* KUBECONFIG's value, or NULL */
	const char *service_host;	 /* KUBERNETES_SERVICE_HOST, or NULL */
	const char *service_port;	 /* KUBERNETES_SERVICE_PORT, or NULL */
	const char *service_account_dir; /* NULL: KUBE_SERVICE_ACCOUNT_DIR */
	const char *home;		 /* $HOME, or NULL */
} kube_config_sources;

/* Fills `src` from the environment (getenv) for the given flags. */
void kube_config_sources_from_env(kube_config_sources *src, const char *kubeconfig_flag,
				  const char *context_flag);

/* Resolves as described above. SS_ENOTFOUND when no source applies at all. */
int kube_config_load(kube_config **out, const kube_config_sources *src);

/* Loads and merges kubeconfig files in order. A missing file is an error
 * only when `missing_ok` is false. */
int kube_config_from_files(kube_config **out, const char *const *paths, size_t npaths,
			   bool missing_ok, const char *context);

/* Parses one kubeconfig held in memory; `origin` names it in messages and
 * `base_dir` resolves relative paths. */
int kube_config_from_string(kube_config **out, const char *text, size_t len,
			    const char *origin, const char *base_dir,
			    const char *context);

/* In-cluster configuration from the service host/port and the directory
 * holding `token`, `ca.crt` and (optionally) `namespace`. */
int kube_config_in_cluster(kube_config **out, const char *host, const char *port,
			   const char *service_account_dir);

/* Reads a bearer token file, trimming surrounding whitespace. The caller
 * frees *out with ss_free_secret(*out, strlen(*out)). */
int kube_config_read_token_file(char **out, const char *path);

/* A deep copy; NULL with SS_ENOMEM on failure. */
kube_config *kube_config_dup(const kube_config *cfg);

void kube_config_free(kube_config *cfg);

#endif
