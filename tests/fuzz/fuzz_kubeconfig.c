/*
 * fuzz_kubeconfig.c — libFuzzer target for the kubeconfig loader
 * (kube/config.h) and, under it, util/yaml.h and util/base64.h.
 *
 * The input is one kubeconfig, or several separated by NUL bytes (up to
 * four, merged as KUBECONFIG merges them). No file is ever opened: the
 * build wraps ss_file_read (-Wl,--wrap), and "files" are the input's parts
 * (/k/0, /k/1, ...) or, for any other path a kubeconfig names, the bytes
 * "PEM " + path (a path containing "missing" does not exist, one whose
 * name starts with "empty" is empty). Beyond "no crash" (ASan, UBSan) it
 * checks:
 *   - a failure is one of the codes config.h documents, with a message;
 *   - one file read with kube_config_from_string and with
 *     kube_config_from_files gives the same answer;
 *   - a loaded config is sane: an http(s) server with a host and no
 *     trailing '/', a namespace and a context, a certificate and a key
 *     together or not at all, no CA with insecure-skip-tls-verify, no
 *     credential of zero bytes;
 *   - round trip: the config written back as a kubeconfig (JSON, inline
 *     base64 data) loads to the same config.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kube/config.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/str.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_kubeconfig: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                           \
			abort();                                                      \
		}                                                                     \
	} while (0)

#define MAX_PARTS 4

static const char *parts[MAX_PARTS];
static size_t part_len[MAX_PARTS];

int __wrap_ss_file_read(ss_buf *out, const char *path, size_t max_bytes);

/* The input's parts, or made-up credential files; never the disk. */
int __wrap_ss_file_read(ss_buf *out, const char *path, size_t max_bytes)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!strncmp(path, "/k/", 3) && path[3] >= '0' && path[3] < '0' + MAX_PARTS &&
	    !path[4] && parts[path[3] - '0'])
		return ss_buf_put(out, parts[path[3] - '0'], part_len[path[3] - '0']);
	if (strstr(path, "missing"))
		return ss_error_set(SS_ENOTFOUND, "cannot open %s: no such file", path);
	if (!strncmp(base, "empty", 5))
		return 0;
	if (strlen(path) + 4 > max_bytes)
		return ss_error_set(SS_ETOOLARGE, "%s is too large", path);
	return ss_buf_printf(out, "PEM %s", path);
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_bytes(const unsigned char *a, size_t alen, const unsigned char *b,
		      size_t blen)
{
	return (!a && !b) || (a && b && alen == blen && !memcmp(a, b, alen));
}

static int same_config(const kube_config *a, const kube_config *b)
{
	return same_str(a->server, b->server) && same_str(a->namespace, b->namespace) &&
	       same_str(a->context, b->context) &&
	       same_str(a->tls_server_name, b->tls_server_name) &&
	       a->insecure_skip_tls_verify == b->insecure_skip_tls_verify &&
	       same_bytes(a->ca_pem, a->ca_pem_len, b->ca_pem, b->ca_pem_len) &&
	       same_bytes(a->client_cert_pem, a->client_cert_pem_len, b->client_cert_pem,
			  b->client_cert_pem_len) &&
	       same_bytes(a->client_key_pem, a->client_key_pem_len, b->client_key_pem,
			  b->client_key_pem_len) &&
	       same_str(a->token, b->token) && same_str(a->token_file, b->token_file);
}

static void check_sane(const kube_config *cfg)
{
	size_t n = strlen(cfg->server);
	const char *host;

	CHECK(ss_str_has_prefix(cfg->server, "https://") ||
	      ss_str_has_prefix(cfg->server, "http://"));
	host = strstr(cfg->server, "//") + 2;
	CHECK(*host != '\0' && *host != '/');
	CHECK(cfg->server[n - 1] != '/');
	CHECK(cfg->namespace && *cfg->namespace);
	CHECK(cfg->context && *cfg->context);
	CHECK(!cfg->client_cert_pem == !cfg->client_key_pem);
	CHECK(!(cfg->ca_pem && cfg->insecure_skip_tls_verify));
	CHECK(!cfg->ca_pem || cfg->ca_pem_len > 0);
	CHECK(!cfg->client_cert_pem || cfg->client_cert_pem_len > 0);
	CHECK(!cfg->client_key_pem || cfg->client_key_pem_len > 0);
	CHECK(!cfg->token || *cfg->token);
}

static void put_data(json_t *o, const char *key, const unsigned char *data, size_t len)
{
	char *b64 = NULL;

	if (!data)
		return;
	CHECK(ss_base64_encode(&b64, data, len) == 0);
	CHECK(json_object_set_new(o, key, json_string(b64)) == 0);
	free(b64);
}

/* `cfg` as a kubeconfig of one cluster, user and context. */
static char *write_back(const kube_config *cfg)
{
	json_t *cl = json_object(), *us = json_object(), *root;
	char *text;

	CHECK(cl && us);
	json_object_set_new(cl, "server", json_string(cfg->server));
	if (cfg->tls_server_name)
		json_object_set_new(cl, "tls-server-name",
				    json_string(cfg->tls_server_name));
	if (cfg->insecure_skip_tls_verify)
		json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
	put_data(cl, "certificate-authority-data", cfg->ca_pem, cfg->ca_pem_len);
	if (cfg->token)
		json_object_set_new(us, "token", json_string(cfg->token));
	if (cfg->token_file)
		json_object_set_new(us, "tokenFile", json_string(cfg->token_file));
	put_data(us, "client-certificate-data", cfg->client_cert_pem,
		 cfg->client_cert_pem_len);
	put_data(us, "client-key-data", cfg->client_key_pem, cfg->client_key_pem_len);
	root = json_pack("{s:s, s:[{s:s, s:o}], s:[{s:s, s:o}], s:[{s:s, s:{s:s, s:s, s:s}}]}",
			 "current-context", cfg->context, "clusters", "name", "c",
			 "cluster", cl, "users", "name", "u", "user", us, "contexts",
			 "name", cfg->context, "context", "cluster", "c", "user", "u",
			 "namespace", cfg->namespace);
	CHECK(root != NULL);
	text = json_dumps(root, JSON_ENSURE_ASCII);
	CHECK(text != NULL);
	json_decref(root);
	return text;
}

static void check_failure(int rc)
{
	const ss_error *e = ss_error_last();

	CHECK(rc == SS_EINVALID || rc == SS_ENOTFOUND || rc == SS_EUNSUPPORTED ||
	      rc == SS_ETOOLARGE);
	CHECK(e->code == rc);
	CHECK(e->message[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[MAX_PARTS] = { "/k/0", "/k/1", "/k/2", "/k/3" };
	const char *p = (const char *)data, *end = p + size;
	kube_config *cfg = NULL, *one = NULL, *again = NULL;
	size_t n = 0;
	char *text;
	int rc;

	memset(parts, 0, sizeof(parts));
	while (n < MAX_PARTS) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));

		parts[n] = p;
		part_len[n++] = nul ? (size_t)(nul - p) : (size_t)(end - p);
		if (!nul)
			break;
		p = nul + 1;
	}
	rc = kube_config_from_files(&cfg, paths, n, false, NULL);
	if (n == 1) {
		int rc1 = kube_config_from_string(&one, parts[0], part_len[0], "/k/0", "/k",
						  NULL);

		CHECK(rc1 == rc);
		CHECK(rc != 0 || same_config(cfg, one));
		kube_config_free(one);
	}
	if (rc != 0) {
		check_failure(rc);
		CHECK(cfg == NULL);
		return 0;
	}
	check_sane(cfg);
	text = write_back(cfg);
	rc = kube_config_from_string(&again, text, strlen(text), "again", "/k", NULL);
	if (rc != 0)
		fprintf(stderr, "fuzz_kubeconfig: %s\nfrom: %.400s\n",
			ss_error_last()->message, text);
	CHECK(rc == 0);
	CHECK(same_config(cfg, again));
	kube_config_free(again);
	free(text);
	kube_config_free(cfg);
	return 0;
}
