/*
 * config.c — kubeconfig and in-cluster configuration. See config.h.
 *
 * Files are converted from YAML to JSON once (util/yaml.h) and then walked as
 * JSON. Merging keeps, per named entry, the first file's definition together
 * with that file's directory, because relative paths resolve against the file
 * that wrote them.
 */
#include "kube/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/str.h"
#include "util/yaml.h"

#define MAX_KUBECONFIG_BYTES (4u << 20)
#define MAX_CREDENTIAL_BYTES (1u << 20)
#define MAX_KUBECONFIG_FILES 32

/* One parsed kubeconfig file. */
typedef struct {
	json_t *root;
	char *origin; /* the file name, for messages */
	char *dir;    /* for relative paths */
} source_doc;

/* A named entry found while merging: which file it came from. */
typedef struct {
	const json_t *body; /* the "cluster", "user" or "context" object */
	const source_doc *doc;
} named_entry;

static const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static void source_doc_free(source_doc *d)
{
	json_decref(d->root);
	free(d->origin);
	free(d->dir);
}

void kube_config_free(kube_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->namespace);
	free(cfg->context);
	free(cfg->tls_server_name);
	free(cfg->ca_pem);
	free(cfg->client_cert_pem);
	ss_free_secret(cfg->client_key_pem, cfg->client_key_pem_len);
	ss_free_secret(cfg->token, cfg->token ? strlen(cfg->token) : 0);
	free(cfg->token_file);
	free(cfg);
}

static int dup_bytes(unsigned char **dst, const unsigned char *src, size_t len)
{
	if (!src) {
		*dst = NULL;
		return 0;
	}
	*dst = malloc(len + 1);
	if (!*dst)
		return ss_error_set(SS_ENOMEM, "out of memory");
	memcpy(*dst, src, len);
	(*dst)[len] = '\0';
	return 0;
}

static int dup_str(char **dst, const char *src)
{
	*dst = ss_strdup(src);
	return (src && !*dst) ? SS_ENOMEM : 0;
}

kube_config *kube_config_dup(const kube_config *cfg)
{
	kube_config *c = calloc(1, sizeof(*c));

	if (!c) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return NULL;
	}
	c->insecure_skip_tls_verify = cfg->insecure_skip_tls_verify;
	c->ca_pem_len = cfg->ca_pem_len;
	c->client_cert_pem_len = cfg->client_cert_pem_len;
	c->client_key_pem_len = cfg->client_key_pem_len;
	if (dup_str(&c->server, cfg->server) < 0 ||
	    dup_str(&c->namespace, cfg->namespace) < 0 ||
	    dup_str(&c->context, cfg->context) < 0 ||
	    dup_str(&c->tls_server_name, cfg->tls_server_name) < 0 ||
	    dup_str(&c->token, cfg->token) < 0 ||
	    dup_str(&c->token_file, cfg->token_file) < 0 ||
	    dup_bytes(&c->ca_pem, cfg->ca_pem, cfg->ca_pem_len) < 0 ||
	    dup_bytes(&c->client_cert_pem, cfg->client_cert_pem,
		      cfg->client_cert_pem_len) < 0 ||
	    dup_bytes(&c->client_key_pem, cfg->client_key_pem, cfg->client_key_pem_len) <
		    0) {
		kube_config_free(c);
		ss_error_set(SS_ENOMEM, "out of memory");
		return NULL;
	}
	return c;
}

int kube_config_read_token_file(char **out, const char *path)
{
	ss_buf b = SS_BUF_INIT(MAX_CREDENTIAL_BYTES);
	size_t start = 0, end;
	int error = ss_file_read(&b, path, MAX_CREDENTIAL_BYTES);

	if (error < 0)
		goto done;
	end = b.len;
	while (start < end && isspace((unsigned char)b.ptr[start]))
		start++;
	while (end > start && isspace((unsigned char)b.ptr[end - 1]))
		end--;
	if (start == end) {
		error = ss_error_set(SS_EINVALID, "token file %s is empty", path);
		goto done;
	}
	*out = ss_strndup(b.ptr + start, end - start);
	error = *out ? 0 : SS_ENOMEM;
done:
	ss_free_secret(b.ptr, b.cap);
	return error;
}

/*
 * Credential material given either inline (`*-data`, base64) or as a file
 * path; inline wins, as in kubectl. `kind`/`entry` name it in messages.
 */
static int load_material(unsigned char **out, size_t *out_len, const json_t *body,
			 const source_doc *doc, const char *file_key,
			 const char *data_key, const char *kind, const char *entry)
{
	const char *data = jstr(body, data_key);
	const char *file = jstr(body, file_key);
	char what[256];
	char *path = NULL;
	ss_buf b = SS_BUF_INIT(MAX_CREDENTIAL_BYTES);
	int error;

	*out = NULL;
	*out_len = 0;
	if (data && *data) {
		snprintf(what, sizeof(what), "%s %s: %s", kind, entry, data_key);
		error = ss_base64_decode(out, out_len, data, what);
		if (error < 0 || *out_len > 0)
			return error;
		/* Only whitespace: as absent as "", not a CA (or certificate)
		 * of zero bytes that TLS would refuse with no word of why. */
		free(*out);
		*out = NULL;
	}
	if (!file || !*file)
		return 0;
	path = ss_path_join(doc->dir, file);
	if (!path)
		return SS_ENOMEM;
	error = ss_file_read(&b, path, MAX_CREDENTIAL_BYTES);
	if (error < 0) {
		const ss_error *e = ss_error_last();

		error = ss_error_set(e->code, "%s %s: %s: %s", kind, entry, file_key,
				     e->message);
		goto done;
	}
	if (b.len == 0) {
		error = ss_error_set(SS_EINVALID, "%s %s: %s: %s is empty", kind, entry,
				     file_key, path);
		goto done;
	}
	*out_len = b.len;
	*out = (unsigned char *)ss_buf_detach(&b);
	error = *out ? 0 : SS_ENOMEM;
done:
	free(path);
	ss_buf_free(&b);
	return error;
}

/* Finds `name` in the list under `list_key` of the first doc defining it. */
static int find_named(named_entry *out, const source_doc *docs, size_t ndocs,
		      const char *list_key, const char *body_key, const char *name)
{
	size_t d, i;

	for (d = 0; d < ndocs; d++) {
		const json_t *list = json_object_get(docs[d].root, list_key);

		for (i = 0; i < json_array_size(list); i++) {
			const json_t *item = json_array_get(list, i);

			if (ss_streq(jstr(item, "name"), name)) {
				out->body = json_object_get(item, body_key);
				out->doc = &docs[d];
				return 0;
			}
		}
	}
	return SS_ENOTFOUND;
}

/* Shape checks the YAML schema would do, with the file named. */
static int check_shape(const source_doc *doc)
{
	static const char *const lists[][2] = {
		{ "clusters", "cluster" },
		{ "users", "user" },
		{ "contexts", "context" },
	};
	size_t l, i;
	const json_t *cur;

	if (json_is_null(doc->root))
		return 0;
	if (!json_is_object(doc->root))
		return ss_error_set(SS_EINVALID,
				    "kubeconfig %s: expected a mapping at the top level",
				    doc->origin);
	cur = json_object_get(doc->root, "current-context");
	if (cur && !json_is_string(cur) && !json_is_null(cur))
		return ss_error_set(SS_EINVALID,
				    "kubeconfig %s: current-context must be a string",
				    doc->origin);
	for (l = 0; l < 3; l++) {
		const json_t *list = json_object_get(doc->root, lists[l][0]);

		if (!list || json_is_null(list))
			continue;
		if (!json_is_array(list))
			return ss_error_set(SS_EINVALID,
					    "kubeconfig %s: %s must be a list",
					    doc->origin, lists[l][0]);
		for (i = 0; i < json_array_size(list); i++) {
			const json_t *item = json_array_get(list, i);
			const char *name = jstr(item, "name");
			const json_t *body = json_object_get(item, lists[l][1]);

			if (!name || !*name)
				return ss_error_set(SS_EINVALID,
						    "kubeconfig %s: %s[%zu] has no name",
						    doc->origin, lists[l][0], i);
			if (!json_is_object(body))
				return ss_error_set(
					SS_EINVALID,
					"kubeconfig %s: %s %s has no '%s' mapping",
					doc->origin, lists[l][1], name, lists[l][1]);
		}
	}
	return 0;
}

static const char *current_context(const source_doc *docs, size_t ndocs)
{
	size_t d;

	for (d = 0; d < ndocs; d++) {
		const char *cur = jstr(docs[d].root, "current-context");

		if (cur && *cur)
			return cur;
	}
	return NULL;
}

static int list_context_names(ss_buf *b, const source_doc *docs, size_t ndocs)
{
	size_t d, i;
	int error = 0;

	for (d = 0; d < ndocs && error == 0; d++) {
		const json_t *list = json_object_get(docs[d].root, "contexts");

		for (i = 0; i < json_array_size(list) && error == 0; i++)
			error = ss_buf_printf(b, "%s%s", b->len ? ", " : "",
					      jstr(json_array_get(list, i), "name"));
	}
	return error;
}

/* The host of a server URL: a name, IPv4 or bracketed IPv6 address, then
 * an optional port 1-65535. Returns the length it spans, 0 if malformed. */
static size_t host_port_len(const char *p)
{
	const char *s = p;
	long port = 0;

	if (*p == '[') {
		p++;
		if (*p == ']')
			return 0;
		p += strspn(p, "0123456789abcdefABCDEF:.");
		if (*p++ != ']')
			return 0;
	} else {
		p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "0123456789.-_");
		if (p == s)
			return 0;
	}
	if (*p == ':') {
		size_t digits = strspn(++p, "0123456789");

		if (digits == 0 || digits > 5)
			return 0;
		for (; digits > 0; digits--)
			port = port * 10 + (*p++ - '0');
		if (port < 1 || port > 65535)
			return 0;
	}
	return (size_t)(p - s);
}

/* An http(s) URL with a host (`https:///` has none), an optional path (a
 * proxy's prefix) and nothing a request path could not be appended to:
 * no user, query, fragment, space or control character. */
static int check_server(const char *server, const char *name)
{
	const char *rest;
	size_t n;

	if (ss_str_has_prefix(server, "https://"))
		rest = server + strlen("https://");
	else if (ss_str_has_prefix(server, "http://"))
		rest = server + strlen("http://");
	else
		return ss_error_set(SS_EINVALID,
				    "cluster %s: server '%.256s' is not an http(s) URL",
				    name, server);
	n = host_port_len(rest);
	if (n == 0 || (rest[n] != '\0' && rest[n] != '/'))
		return ss_error_set(SS_EINVALID,
				    "cluster %s: server '%.256s' has no valid host[:port]",
				    name, server);
	for (rest += n; *rest; rest++)
		if ((unsigned char)*rest <= ' ' || *rest == 0x7f || *rest == '?' ||
		    *rest == '#')
			return ss_error_set(SS_EINVALID,
					    "cluster %s: server '%.256s' has a space, "
					    "control character, query or fragment in its "
					    "path",
					    name, server);
	return 0;
}

static int apply_cluster(kube_config *cfg, const named_entry *cl, const char *name)
{
	const char *server = jstr(cl->body, "server");
	const json_t *insecure = json_object_get(cl->body, "insecure-skip-tls-verify");
	size_t len;
	int error;

	if (!server || !*server)
		return ss_error_set(SS_EINVALID, "cluster %s: no server given", name);
	error = check_server(server, name);
	if (error < 0)
		return error;
	if (insecure && !json_is_boolean(insecure))
		return ss_error_set(
			SS_EINVALID,
			"cluster %s: insecure-skip-tls-verify must be true or false",
			name);
	cfg->insecure_skip_tls_verify = json_is_true(insecure);
	len = strlen(server);
	while (len > 0 && server[len - 1] == '/')
		len--;
	cfg->server = ss_strndup(server, len);
	if (!cfg->server)
		return SS_ENOMEM;
	if (dup_str(&cfg->tls_server_name, jstr(cl->body, "tls-server-name")) < 0)
		return SS_ENOMEM;
	error = load_material(&cfg->ca_pem, &cfg->ca_pem_len, cl->body, cl->doc,
			      "certificate-authority", "certificate-authority-data",
			      "cluster", name);
	if (error < 0)
		return error;
	if (cfg->ca_pem && cfg->insecure_skip_tls_verify)
		return ss_error_set(SS_EINVALID,
				    "cluster %s: a certificate authority and "
				    "insecure-skip-tls-verify cannot be used together",
				    name);
	return 0;
}

static int apply_user(kube_config *cfg, const named_entry *us, const char *name)
{
	const json_t *exec = json_object_get(us->body, "exec");
	const char *token = jstr(us->body, "token");
	const char *token_file = jstr(us->body, "tokenFile");
	int error;

	if (exec && !json_is_null(exec))
		return ss_error_set(
			SS_EUNSUPPORTED,
			"user %s: exec credential plugins (command '%s') are not "
			"supported; use a token, a token file or a client certificate",
			name, jstr(exec, "command") ? jstr(exec, "command") : "?");
	if (json_object_get(us->body, "auth-provider"))
		return ss_error_set(SS_EUNSUPPORTED,
				    "user %s: auth-provider plugins are not supported; "
				    "use a token, a token file or a client certificate",
				    name);
	if (jstr(us->body, "username") || jstr(us->body, "password"))
		return ss_error_set(SS_EUNSUPPORTED,
				    "user %s: basic authentication (username/password) "
				    "is not supported",
				    name);
	if (token && *token) {
		cfg->token = ss_strdup(token);
		if (!cfg->token)
			return SS_ENOMEM;
	} else if (token_file && *token_file) {
		cfg->token_file = ss_path_join(us->doc->dir, token_file);
		if (!cfg->token_file)
			return SS_ENOMEM;
	}
	error = load_material(&cfg->client_cert_pem, &cfg->client_cert_pem_len, us->body,
			      us->doc, "client-certificate", "client-certificate-data",
			      "user", name);
	if (error == 0)
		error = load_material(&cfg->client_key_pem, &cfg->client_key_pem_len,
				      us->body, us->doc, "client-key", "client-key-data",
				      "user", name);
	if (error < 0)
		return error;
	if (!cfg->client_cert_pem != !cfg->client_key_pem)
		return ss_error_set(
			SS_EINVALID,
			"user %s: a client certificate needs both certificate and key",
			name);
	return 0;
}

/* Builds the config for `context` (or current-context) from merged docs. */
static int resolve(kube_config **out, const source_doc *docs, size_t ndocs,
		   const char *context)
{
	kube_config *cfg = NULL;
	named_entry ctx, cl, us;
	const char *cluster_name, *user_name, *ns;
	ss_buf names = SS_BUF_INIT(4096);
	int error;

	for (size_t d = 0; d < ndocs; d++) {
		error = check_shape(&docs[d]);
		if (error < 0)
			return error;
	}
	if (!context)
		context = current_context(docs, ndocs);
	if (!context)
		return ss_error_set(SS_EINVALID,
				    "no context selected: the kubeconfig has no "
				    "current-context and no --context was given");
	if (find_named(&ctx, docs, ndocs, "contexts", "context", context) < 0) {
		list_context_names(&names, docs, ndocs);
		error = ss_error_set(
			SS_ENOTFOUND,
			"context '%s' not found in kubeconfig (contexts: %s)", context,
			names.len ? ss_buf_cstr(&names) : "none");
		ss_buf_free(&names);
		return error;
	}
	cluster_name = jstr(ctx.body, "cluster");
	user_name = jstr(ctx.body, "user");
	ns = jstr(ctx.body, "namespace");
	if (!cluster_name || !*cluster_name)
		return ss_error_set(SS_EINVALID, "context %s: no cluster given", context);
	if (find_named(&cl, docs, ndocs, "clusters", "cluster", cluster_name) < 0)
		return ss_error_set(SS_ENOTFOUND,
				    "context %s: cluster '%s' is not defined", context,
				    cluster_name);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return ss_error_set(SS_ENOMEM, "out of memory");
	error = apply_cluster(cfg, &cl, cluster_name);
	if (error < 0)
		goto done;
	if (user_name && *user_name) {
		if (find_named(&us, docs, ndocs, "users", "user", user_name) < 0) {
			error = ss_error_set(SS_ENOTFOUND,
					     "context %s: user '%s' is not defined",
					     context, user_name);
			goto done;
		}
		error = apply_user(cfg, &us, user_name);
		if (error < 0)
			goto done;
	}
	cfg->namespace = ss_strdup(ns && *ns ? ns : "default");
	cfg->context = ss_strdup(context);
	if (!cfg->namespace || !cfg->context) {
		error = SS_ENOMEM;
		goto done;
	}
	*out = cfg;
	cfg = NULL;
done:
	kube_config_free(cfg);
	return error;
}

static int parse_doc(source_doc *doc, const char *text, size_t len, const char *origin,
		     const char *dir)
{
	int error = ss_yaml_to_json(&doc->root, text, len, origin);

	if (error < 0) {
		const ss_error *e = ss_error_last();

		return ss_error_set(e->code, "kubeconfig %s", e->message);
	}
	doc->origin = ss_strdup(origin);
	doc->dir = ss_strdup(dir);
	if (!doc->origin || !doc->dir)
		return SS_ENOMEM;
	return 0;
}

int kube_config_from_string(kube_config **out, const char *text, size_t len,
			    const char *origin, const char *base_dir, const char *context)
{
	source_doc doc = { 0 };
	int error = parse_doc(&doc, text, len, origin, base_dir ? base_dir : ".");

	if (error == 0)
		error = resolve(out, &doc, 1, context);
	source_doc_free(&doc);
	return error;
}

int kube_config_from_files(kube_config **out, const char *const *paths, size_t npaths,
			   bool missing_ok, const char *context)
{
	source_doc docs[MAX_KUBECONFIG_FILES] = { 0 };
	size_t ndocs = 0, i;
	ss_buf text = SS_BUF_INIT(MAX_KUBECONFIG_BYTES);
	int error = 0;

	if (npaths > MAX_KUBECONFIG_FILES)
		return ss_error_set(SS_ETOOLARGE, "more than %d kubeconfig files given",
				    MAX_KUBECONFIG_FILES);
	for (i = 0; i < npaths; i++) {
		char *dir;

		ss_buf_clear(&text);
		error = ss_file_read(&text, paths[i], MAX_KUBECONFIG_BYTES);
		if (error == SS_ENOTFOUND && missing_ok) {
			error = 0;
			continue;
		}
		if (error < 0) {
			const ss_error *e = ss_error_last();

			error = ss_error_set(e->code, "kubeconfig: %s", e->message);
			goto done;
		}
		dir = ss_path_dirname(paths[i]);
		if (!dir) {
			error = SS_ENOMEM;
			goto done;
		}
		error = parse_doc(&docs[ndocs++], ss_buf_cstr(&text), text.len, paths[i],
				  dir);
		free(dir);
		if (error < 0)
			goto done;
	}
	if (ndocs == 0) {
		error = ss_error_set(SS_ENOTFOUND, "no kubeconfig file found");
		goto done;
	}
	error = resolve(out, docs, ndocs, context);
done:
	for (i = 0; i < ndocs; i++)
		source_doc_free(&docs[i]);
	ss_buf_free(&text);
	return error;
}

int kube_config_in_cluster(kube_config **out, const char *host, const char *port,
			   const char *sa_dir)
{
	kube_config *cfg = NULL;
	char *token = NULL, *path = NULL;
	ss_buf b = SS_BUF_INIT(MAX_CREDENTIAL_BYTES);
	int64_t port_num;
	int error;

	if (!host || !*host || !port || !*port)
		return ss_error_set(SS_ENOTFOUND,
				    "not in a cluster: KUBERNETES_SERVICE_HOST and "
				    "KUBERNETES_SERVICE_PORT must be set");
	if (ss_parse_int64(&port_num, port, 1, 65535, "KUBERNETES_SERVICE_PORT") < 0)
		return SS_EINVALID;
	if (!sa_dir)
		sa_dir = KUBE_SERVICE_ACCOUNT_DIR;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return ss_error_set(SS_ENOMEM, "out of memory");
	error = ss_buf_printf(&b, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			      host, port);
	if (error < 0)
		goto done;
	cfg->server = ss_buf_detach(&b);
	cfg->token_file = ss_path_join(sa_dir, "token");
	if (!cfg->server || !cfg->token_file) {
		error = SS_ENOMEM;
		goto done;
	}
	/* Fail now, not at the first request, if the mount is missing. */
	error = kube_config_read_token_file(&token, cfg->token_file);
	if (error < 0)
		goto done;
	path = ss_path_join(sa_dir, "ca.crt");
	if (!path) {
		error = SS_ENOMEM;
		goto done;
	}
	error = ss_file_read(&b, path, MAX_CREDENTIAL_BYTES);
	if (error < 0)
		goto done;
	cfg->ca_pem_len = b.len;
	cfg->ca_pem = (unsigned char *)ss_buf_detach(&b);
	free(path);
	path = ss_path_join(sa_dir, "namespace");
	if (!path) {
		error = SS_ENOMEM;
		goto done;
	}
	if (kube_config_read_token_file(&cfg->namespace, path) < 0) {
		ss_error_clear();
		cfg->namespace = ss_strdup("default");
	}
	if (!cfg->ca_pem || !cfg->namespace) {
		error = SS_ENOMEM;
		goto done;
	}
	*out = cfg;
	cfg = NULL;
done:
	if (token)
		ss_free_secret(token, strlen(token));
	free(path);
	ss_buf_free(&b);
	kube_config_free(cfg);
	return error;
}

void kube_config_sources_from_env(kube_config_sources *src, const char *kubeconfig_flag,
				  const char *context_flag)
{
	memset(src, 0, sizeof(*src));
	src->kubeconfig = kubeconfig_flag;
	src->context = context_flag;
	src->kubeconfig_env = getenv("KUBECONFIG");
	src->service_host = getenv("KUBERNETES_SERVICE_HOST");
	src->service_port = getenv("KUBERNETES_SERVICE_PORT");
	src->home = getenv("HOME");
}

/* Splits KUBECONFIG on ':' into at most MAX_KUBECONFIG_FILES paths. */
static int load_env_list(kube_config **out, const char *list, const char *context)
{
	char *copy = ss_strdup(list);
	const char *paths[MAX_KUBECONFIG_FILES];
	size_t n = 0;
	char *p, *start;
	int error;

	if (!copy)
		return SS_ENOMEM;
	for (start = p = copy;; p++) {
		if (*p != ':' && *p != '\0')
			continue;
		bool last = *p == '\0';

		*p = '\0';
		if (*start) {
			if (n == MAX_KUBECONFIG_FILES) {
				free(copy);
				return ss_error_set(SS_ETOOLARGE,
						    "KUBECONFIG names more than %d files",
						    MAX_KUBECONFIG_FILES);
			}
			paths[n++] = start;
		}
		if (last)
			break;
		start = p + 1;
	}
	error = kube_config_from_files(out, paths, n, true, context);
	free(copy);
	return error;
}

int kube_config_load(kube_config **out, const kube_config_sources *src)
{
	char *home_config;
	int error;

	if (src->kubeconfig && *src->kubeconfig)
		return kube_config_from_files(out, &src->kubeconfig, 1, false,
					      src->context);
	if (src->kubeconfig_env && *src->kubeconfig_env)
		return load_env_list(out, src->kubeconfig_env, src->context);
	if (src->service_host && *src->service_host)
		return kube_config_in_cluster(out, src->service_host, src->service_port,
					      src->service_account_dir);
	if (!src->home || !*src->home)
		return ss_error_set(SS_ENOTFOUND, "no configuration: give --kubeconfig, "
						  "set KUBECONFIG, or run in a cluster");
	home_config = ss_path_join(src->home, ".kube/config");
	if (!home_config)
		return SS_ENOMEM;
	error = kube_config_from_files(out, (const char *const *)&home_config, 1, true,
				       src->context);
	if (error == SS_ENOTFOUND && !src->context)
		error = ss_error_set(SS_ENOTFOUND,
				     "no configuration: give --kubeconfig, set "
				     "KUBECONFIG, run in a cluster, or create %s",
				     home_config);
	free(home_config);
	return error;
}
