/*
 * db.c — see db.h.
 *
 * Layout: library setup; the connection (options, TLS); errors told in
 * snapstage's words; the watchdog that bounds one exchange; small query
 * helpers; the probe and the pure classifier; the lock session; KILL.
 * Every statement goes through run() or query(), which record a message
 * naming the server, the statement and what to do about the failure, and
 * never a text that may carry the account's name (see db.h).
 */
#define _GNU_SOURCE /* memfd_create() */

#include "app/db/db.h"
#include "app/db/db_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define WHERE_MAX 300 /* "host:port" or "[v6]:port" */
#define SQL_MAX 256
#define KILL_POLL_NS (10 * SS_NS_PER_MS)

/* Challenge-response plugins: a password never crosses the wire in clear
 * text with these, so they are safe before TLS is known to be up. */
#define SAFE_AUTH_PLUGINS "mysql_native_password,client_ed25519,parsec"

/* ---- library ----------------------------------------------------------- */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_rc;

static void library_init(void)
{
	library_rc = mysql_library_init(0, NULL, NULL);
}

static int library_ready(void)
{
	pthread_once(&library_once, library_init);
	if (library_rc != 0)
		return ss_error_set(SS_ERROR, "libmariadb: mysql_library_init failed");
	return 0;
}

static int64_t mono_ns(void)
{
	return ss_clock_mono(ss_clock_system());
}

static int64_t real_ns(void)
{
	return ss_clock_real(ss_clock_system());
}

/* ---- one connection ------------------------------------------------------ */

typedef struct watchdog watchdog;

/* What a connection needs for its messages. */
typedef struct {
	MYSQL *m;
	char where[WHERE_MAX]; /* "host:port" */
	char *user;	       /* to connect with; never in a message */
	int read_timeout_s;
	watchdog *watch; /* the bound of the exchange running, or NULL */
} db_conn;

struct app_db {
	db_conn c;
	char *host;
	int port;
	char *password;
	app_tls_mode tls_mode;
	int ca_fd;	  /* memfd with the CA bundle; -1 if none */
	char ca_path[40]; /* /proc/self/fd/N */
	int timeout_s;
	int64_t connection_id;
};

/* ---- errors ---------------------------------------------------------------- */

static bool client_error(unsigned int err)
{
	return (err >= CR_MIN_ERROR && err <= CR_MAX_ERROR) ||
	       (err >= CER_MIN_ERROR && err <= CER_MAX_ERROR);
}

/* Connector/C's own texts name the server, never the account. */
static void client_words(app_db_error_words *out, unsigned int err)
{
	out->quote = true;
	switch (err) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE:
	case CR_UNKNOWN_HOST:
	case CR_SSL_CONNECTION_ERROR: out->code = SS_ETRANSPORT; return;
	case CR_PLUGIN_NOT_ALLOWED:
		out->code = SS_EUNSUPPORTED;
		out->meaning = "the account's authentication plugin can send the "
			       "password in clear text, which snapstage allows only "
			       "with tls.mode VerifyIdentity";
		return;
	case CR_OUT_OF_MEMORY: out->code = SS_ENOMEM; return;
	default: out->code = SS_ERROR; return;
	}
}

/* Server errors whose texts name the account or quote the statement. */
static bool server_words_withheld(app_db_error_words *out, unsigned int err)
{
	out->quote = false;
	switch (err) {
	case ER_ACCESS_DENIED_ERROR:
		out->code = SS_EUNAUTHORIZED;
		out->meaning = "access denied: check the user name and password in "
			       "the credentials Secret, and that the account may log "
			       "in from the controller's address";
		return true;
	case ER_ACCESS_DENIED_NO_PASSWORD_ERROR:
		out->code = SS_EUNAUTHORIZED;
		out->meaning = "access denied: the account does not log in with a "
			       "password (e.g. unix_socket); use one that does";
		return true;
	case ER_DBACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
	case ER_COLUMNACCESS_DENIED_ERROR:
	case ER_PROCACCESS_DENIED_ERROR:
		out->code = SS_EFORBIDDEN;
		out->meaning = "the account lacks a privilege this statement needs";
		return true;
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_USER_LIMIT_REACHED:
		out->code = SS_ETOOMANYREQUESTS;
		out->meaning = "the account reached one of its limits "
			       "(max_user_connections, max_queries_per_hour, ...): "
			       "raise it, or wait";
		return true;
	default: return false;
	}
}

/* Server errors with fixed texts that are safe to quote. */
static bool server_words_quoted(app_db_error_words *out, unsigned int err)
{
	out->quote = true;
	out->code = SS_ERROR;
	switch (err) {
	case ER_SPECIFIC_ACCESS_DENIED_ERROR: out->code = SS_EFORBIDDEN; return true;
	case ER_KILL_DENIED_ERROR:
		out->code = SS_EFORBIDDEN;
		out->meaning = "killing another user's connection needs CONNECTION "
			       "ADMIN";
		return true;
	case ER_ACCOUNT_HAS_BEEN_LOCKED:
	case ER_MUST_CHANGE_PASSWORD:
	case ER_MUST_CHANGE_PASSWORD_LOGIN:
		out->code = SS_EUNAUTHORIZED;
		out->meaning = "check the account the credentials Secret names";
		return true;
	case ER_HOST_NOT_PRIVILEGED:
		out->code = SS_EUNAUTHORIZED;
		out->meaning = "the account's host part must match the address the "
			       "controller connects from";
		return true;
	case ER_HOST_IS_BLOCKED:
		out->code = SS_EFORBIDDEN;
		out->meaning = "run FLUSH HOSTS on the server";
		return true;
	case ER_CON_COUNT_ERROR:
		out->code = SS_ETOOMANYREQUESTS;
		out->meaning = "the server's max_connections is reached";
		return true;
	case ER_LOCK_WAIT_TIMEOUT:
		out->code = SS_ETIMEOUT;
		out->meaning = "not granted within lock_wait_timeout: another session "
			       "holds a backup stage or a conflicting lock";
		return true;
	case ER_NO_SUCH_THREAD: out->code = SS_ENOTFOUND; return true;
	case ER_CONNECTION_KILLED:
	case ER_QUERY_INTERRUPTED:
	case ER_SERVER_SHUTDOWN: out->code = SS_ETRANSPORT; return true;
	case ER_SLAVE_MUST_STOP:
	case ER_SLAVE_NOT_RUNNING:
	case ER_BAD_SLAVE:
	case ER_MASTER_FATAL_ERROR_READING_BINLOG:
	case ER_BACKUP_LOCK_IS_ACTIVE:
	case ER_BACKUP_NOT_RUNNING:
	case ER_BACKUP_WRONG_STAGE:
	case ER_BACKUP_STAGE_FAILED:
	case ER_BACKUP_UNKNOWN_STAGE: return true;
	default:
		/* GTID state and position errors name positions only. */
		return err >= ER_FAILED_GTID_STATE_INIT && err <= ER_BINLOG_MUST_BE_EMPTY;
	}
}

void app_db_error_words_of(app_db_error_words *out, unsigned int mariadb_errno)
{
	out->code = SS_ERROR;
	out->quote = false;
	out->meaning = "";
	if (client_error(mariadb_errno)) {
		client_words(out, mariadb_errno);
		return;
	}
	if (server_words_withheld(out, mariadb_errno) ||
	    server_words_quoted(out, mariadb_errno))
		return;
	out->code = SS_ERROR;
	out->quote = false;
	out->meaning = "the server refused it";
}

static int watch_bound_ms(const watchdog *w);
static bool watch_fired(const watchdog *w);

/* The failure of the last call on c->m as an ss_error, in the words of
 * app_db_error_words_of(). `what` names the step ("connect", a
 * statement); `priv` the privilege it needs (or NULL); `t0` is when the
 * call began and `timeout_s` the library's bound, so a lost connection at
 * that bound, or one the watchdog cut, reads as a timeout. */
static int fail(const db_conn *c, const char *what, const char *priv, int64_t t0,
		int timeout_s)
{
	unsigned int err = mysql_errno(c->m);
	const char *msg = mysql_error(c->m);
	int64_t ms = (mono_ns() - t0) / SS_NS_PER_MS;
	char need[128] = "";
	app_db_error_words w;

	if (c->watch && watch_fired(c->watch))
		return ss_error_set(SS_ETIMEOUT,
				    "%s: %s: no answer within %d ms; the connection "
				    "was closed (MariaDB error %u)",
				    c->where, what, watch_bound_ms(c->watch), err);
	app_db_error_words_of(&w, err);
	if (w.code == SS_ETRANSPORT && client_error(err) && timeout_s > 0 &&
	    ms >= (int64_t)timeout_s * 1000 - 100)
		return ss_error_set(SS_ETIMEOUT,
				    "%s: %s: no answer within %d s (MariaDB error %u: "
				    "%s)",
				    c->where, what, timeout_s, err, msg);
	if (w.code == SS_EFORBIDDEN && priv)
		snprintf(need, sizeof(need),
			 "the account needs the %s privilege (GRANT %s ON *.* TO "
			 "it)",
			 priv, priv);
	if (w.quote && *w.meaning)
		return ss_error_set(w.code, "%s: %s: %s (MariaDB error %u: %s)%s%s",
				    c->where, what, w.meaning, err, msg,
				    *need ? ": " : "", need);
	if (w.quote)
		return ss_error_set(w.code, "%s: %s: %s (MariaDB error %u)%s%s", c->where,
				    what, msg, err, *need ? ": " : "", need);
	return ss_error_set(w.code,
			    "%s: %s: MariaDB error %u: %s%s%s (its text is not "
			    "shown, as it may name the account or quote the "
			    "statement)",
			    c->where, what, err, w.meaning, *need ? "; " : "", need);
}

/* ---- a bound for one exchange ------------------------------------------------- */

/* Connector/C applies its read timeout to each read, and on an open
 * connection it cannot be changed (3.3.20, measured: MYSQL_OPT_READ_TIMEOUT
 * set after connecting has no effect; a stopped server keeps END waiting
 * the whole read timeout of the connection, once — no retries). So an
 * exchange that needs a bound of its own (END, KILL, the position under
 * the lock) runs with a watchdog: a thread that shuts the connection's
 * socket down at the deadline, which wakes the library's poll(); its read
 * fails and it closes the connection. The watchdog works on a dup() of
 * the socket, so it never touches a descriptor number the library has
 * closed in the meantime and someone else may have been given. */
struct watchdog {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	pthread_t thread;
	struct timespec deadline;
	int fd; /* dup of the connection's socket */
	int bound_ms;
	bool running, stop;
	atomic_bool fired;
};

static void *watch_main(void *arg)
{
	watchdog *w = arg;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (pthread_cond_timedwait(&w->cond, &w->mu, &w->deadline) == ETIMEDOUT &&
		    !w->stop) {
			atomic_store(&w->fired, true);
			(void)shutdown(w->fd, SHUT_RDWR);
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Bounds what runs on `c` until watch_stop() by `bound_ns` from now. With
 * no connection, or no thread to be had, only the library's own timeouts
 * apply. */
static void watch_start(watchdog *w, db_conn *c, int64_t bound_ns)
{
	pthread_condattr_t attr;
	int fd = c->m ? (int)mysql_get_socket(c->m) : -1;

	memset(w, 0, sizeof(*w));
	atomic_init(&w->fired, false);
	w->fd = -1;
	w->bound_ms = (int)(bound_ns / SS_NS_PER_MS);
	if (fd < 0)
		return;
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (w->fd < 0)
		return;
	w->deadline = ss_mono_deadline(bound_ns);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&w->mu, NULL);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		close(w->fd);
		w->fd = -1;
		return;
	}
	w->running = true;
	c->watch = w;
}

/* Ends the bound; true if it cut the exchange short. */
static bool watch_stop(watchdog *w, db_conn *c)
{
	if (!w->running)
		return false;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	close(w->fd);
	w->running = false;
	c->watch = NULL;
	return atomic_load(&w->fired);
}

static bool watch_fired(const watchdog *w)
{
	return atomic_load(&w->fired);
}

static int watch_bound_ms(const watchdog *w)
{
	return w->bound_ms;
}

/* A statement without a result set (or whose result is discarded);
 * errors name it as `what` (never the text of one that carries a
 * password). */
static int run_as(const db_conn *c, const char *sql, const char *what, const char *priv)
{
	int64_t t0 = mono_ns();
	MYSQL_RES *res;

	if (mysql_real_query(c->m, sql, strlen(sql)) != 0)
		return fail(c, what, priv, t0, c->read_timeout_s);
	res = mysql_store_result(c->m);
	if (!res && mysql_field_count(c->m) != 0)
		return fail(c, what, priv, t0, c->read_timeout_s);
	mysql_free_result(res);
	return 0;
}

static int run(const db_conn *c, const char *sql, const char *priv)
{
	return run_as(c, sql, sql, priv);
}

/* run() that gives up after `bound_ns`, whatever the library's timeouts;
 * then SS_ETIMEOUT, and the library has closed the connection. */
static int run_bounded(db_conn *c, const char *sql, int64_t bound_ns)
{
	watchdog w;
	int error;

	watch_start(&w, c, bound_ns);
	error = run(c, sql, NULL);
	watch_stop(&w, c);
	return error;
}

/* A statement with a result set; *out is freed with mysql_free_result(). */
static int query(MYSQL_RES **out, const db_conn *c, const char *sql, const char *priv)
{
	int64_t t0 = mono_ns();
	MYSQL_RES *res;

	if (mysql_real_query(c->m, sql, strlen(sql)) != 0)
		return fail(c, sql, priv, t0, c->read_timeout_s);
	res = mysql_store_result(c->m);
	if (!res) {
		if (mysql_field_count(c->m) != 0 || mysql_errno(c->m) != 0)
			return fail(c, sql, priv, t0, c->read_timeout_s);
		return ss_error_set(SS_ERROR, "%s: %s: no result set", c->where, sql);
	}
	*out = res;
	return 0;
}

/* The index of column `name` in `res`, or -1. */
static int column(MYSQL_RES *res, const char *name)
{
	unsigned int n = mysql_num_fields(res);
	MYSQL_FIELD *f = mysql_fetch_fields(res);
	unsigned int i;

	for (i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Finds each of `names` (NULL-terminated) in `res` into `idx`. */
static int columns(int *idx, MYSQL_RES *res, const char *const *names, const db_conn *c,
		   const char *sql)
{
	size_t i;

	for (i = 0; names[i]; i++) {
		idx[i] = column(res, names[i]);
		if (idx[i] < 0)
			return ss_error_set(SS_ERROR,
					    "%s: %s: the result has no column %s",
					    c->where, sql, names[i]);
	}
	return 0;
}

/* Copies a field value (NULL reads as "") into dst; SS_ETOOLARGE naming
 * `what` if it does not fit, unless `cut` allows cutting it. */
static int copy_field(char *dst, size_t cap, const char *value, bool cut,
		      const db_conn *c, const char *what)
{
	size_t n = ss_strlcpy(dst, value ? value : "", cap);

	if (n >= cap && !cut)
		return ss_error_set(SS_ETOOLARGE, "%s: %s is %zu bytes, more than %zu",
				    c->where, what, n, cap - 1);
	return 0;
}

/* A whole integer field; NULL gives `null_value`. */
static int int_field(int64_t *out, const char *value, int64_t null_value,
		     const db_conn *c, const char *what)
{
	if (!value) {
		*out = null_value;
		return 0;
	}
	if (ss_parse_int64(out, value, INT64_MIN, INT64_MAX, what) != 0)
		return ss_error_set(SS_ERROR, "%s: %s is not a number: '%.40s'", c->where,
				    what, value);
	return 0;
}

static void format_where(char *dst, size_t cap, const char *host, int port)
{
	if (strchr(host, ':'))
		snprintf(dst, cap, "[%s]:%d", host, port);
	else
		snprintf(dst, cap, "%s:%d", host, port);
}

/* Hands the CA bundle to libmariadb (which wants a file name) as an
 * in-memory file: the controller's root file system is read-only. */
static int ca_memfd(app_db *db, const char *pem)
{
	size_t len = strlen(pem), done = 0;
	int fd = memfd_create("snapstage-mariadb-ca", MFD_CLOEXEC);

	if (fd < 0)
		return ss_error_set(SS_ERROR, "memfd_create for the CA bundle: %s",
				    strerror(errno));
	while (done < len) {
		ssize_t n = write(fd, pem + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;

			close(fd);
			return ss_error_set(SS_ERROR, "writing the CA bundle: %s",
					    strerror(e));
		}
		done += (size_t)n;
	}
	db->ca_fd = fd;
	snprintf(db->ca_path, sizeof(db->ca_path), "/proc/self/fd/%d", fd);
	return 0;
}

static int set_option(MYSQL *m, enum mysql_option opt, const void *arg, const char *name)
{
	if (mysql_optionsv(m, opt, arg) != 0)
		return ss_error_set(SS_ERROR, "libmariadb: cannot set %s", name);
	return 0;
}

/* The options of a new handle: TCP, timeouts (`read_timeout_s` bounds
 * each read), no reconnect, no LOAD DATA LOCAL, utf8mb4, and TLS as
 * db->tls_mode says; below VERIFY_IDENTITY only the challenge-response
 * auth plugins (SAFE_AUTH_PLUGINS). */
static int set_conn_options(MYSQL *m, const app_db *db, int read_timeout_s)
{
	unsigned int connect_t = (unsigned int)db->timeout_s;
	unsigned int read_t = (unsigned int)read_timeout_s;
	unsigned int write_t = (unsigned int)db->timeout_s;
	unsigned int protocol = MYSQL_PROTOCOL_TCP;
	unsigned int no_infile = 0;
	my_bool off = 0, on = 1;
	bool tls = db->tls_mode != APP_TLS_DISABLED;
	bool verify_ca = db->tls_mode == APP_TLS_VERIFY_CA ||
			 db->tls_mode == APP_TLS_VERIFY_IDENTITY;
	int error;

	if ((error = set_option(m, MYSQL_OPT_PROTOCOL, &protocol, "protocol")) ||
	    (error = set_option(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_t,
				"connect timeout")) ||
	    (error = set_option(m, MYSQL_OPT_READ_TIMEOUT, &read_t, "read timeout")) ||
	    (error = set_option(m, MYSQL_OPT_WRITE_TIMEOUT, &write_t, "write timeout")) ||
	    (error = set_option(m, MYSQL_OPT_RECONNECT, &off, "reconnect")) ||
	    (error = set_option(m, MYSQL_OPT_LOCAL_INFILE, &no_infile, "local infile")) ||
	    (error = set_option(m, MYSQL_SET_CHARSET_NAME, "utf8mb4", "charset")) ||
	    (error = set_option(m, MYSQL_OPT_SSL_ENFORCE, tls ? &on : &off,
				"TLS enforcement")))
		return error;
	if (mysql_optionsv(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "snapstage") !=
	    0)
		return ss_error_set(SS_ERROR, "libmariadb: cannot set program_name");
	if (verify_ca && (error = set_option(m, MYSQL_OPT_SSL_CA, db->ca_path, "TLS CA")))
		return error;
	if (db->tls_mode == APP_TLS_VERIFY_IDENTITY &&
	    (error = set_option(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on,
				"TLS verification")))
		return error;
	if (db->tls_mode != APP_TLS_VERIFY_IDENTITY &&
	    (error = set_option(m, MARIADB_OPT_RESTRICTED_AUTH, SAFE_AUTH_PLUGINS,
				"restricted auth")))
		return error;
	return 0;
}

/* Opens a new connection to db's server into *c; `read_timeout_s` bounds
 * each read (a lock session's is longer than the connect timeout). */
static int open_conn(db_conn *c, const app_db *db, int read_timeout_s)
{
	int64_t t0;
	int error;

	c->m = mysql_init(NULL);
	if (!c->m)
		return ss_error_set(SS_ENOMEM, "libmariadb: mysql_init failed");
	c->read_timeout_s = read_timeout_s;
	if ((error = set_conn_options(c->m, db, read_timeout_s)))
		goto cleanup;
	t0 = mono_ns();
	if (!mysql_real_connect(c->m, db->host, c->user, db->password, NULL,
				(unsigned int)db->port, NULL, 0)) {
		error = fail(c, "connect", NULL, t0, db->timeout_s);
		goto cleanup;
	}
	/* Connector/C 3.3 goes on in plain TCP when the server has no TLS
	 * unless it checks the host name: refuse before any statement. */
	if (db->tls_mode >= APP_TLS_REQUIRED && !mysql_get_ssl_cipher(c->m)) {
		error = ss_error_set(SS_ETRANSPORT,
				     "%s: TLS is required (tls.mode %s) but the server "
				     "does not offer it: configure ssl_cert and ssl_key "
				     "on the server, or lower tls.mode",
				     c->where, app_tls_mode_name(db->tls_mode));
		goto cleanup;
	}

cleanup:
	if (error) {
		mysql_close(c->m);
		c->m = NULL;
	}
	return error;
}

/* Connector/C keeps its own copy of the password (mysql->passwd) and the
 * last statement it sent (net.buff: a CHANGE MASTER carries the replication
 * password) and frees both unwiped in mysql_close(): wipe them first. (When
 * mysql_real_connect() fails the library frees its copy itself.) */
static void wipe_library_copies(MYSQL *m)
{
	if (m->passwd)
		ss_wipe(m->passwd, strlen(m->passwd));
	if (m->net.buff && m->net.buff_end > m->net.buff)
		ss_wipe(m->net.buff, (size_t)(m->net.buff_end - m->net.buff));
}

static void close_conn(db_conn *c)
{
	if (c->m) {
		wipe_library_copies(c->m);
		mysql_close(c->m);
	}
	c->m = NULL;
}

static int check_target(const app_db_target *t)
{
	if (!t->host || !*t->host)
		return ss_error_set(SS_EINVALID, "mariadb: no host to connect to");
	if (t->port < 1 || t->port > 65535)
		return ss_error_set(SS_EINVALID, "mariadb: port %d is not in 1..65535",
				    t->port);
	if (!t->user || !*t->user)
		return ss_error_set(SS_EINVALID, "mariadb: no user name");
	if (t->connect_timeout_seconds < 1 || t->connect_timeout_seconds > 300)
		return ss_error_set(SS_EINVALID,
				    "mariadb: connect timeout %d s is not in 1..300",
				    t->connect_timeout_seconds);
	if (t->tls_mode < APP_TLS_DISABLED || t->tls_mode > APP_TLS_VERIFY_IDENTITY)
		return ss_error_set(SS_EINVALID, "mariadb: unknown TLS mode %d",
				    (int)t->tls_mode);
	if ((t->tls_mode == APP_TLS_VERIFY_CA ||
	     t->tls_mode == APP_TLS_VERIFY_IDENTITY) &&
	    (!t->ca_pem || !*t->ca_pem))
		return ss_error_set(SS_EINVALID,
				    "mariadb: tls.mode %s needs a CA bundle "
				    "(tls.caSecretRef)",
				    app_tls_mode_name(t->tls_mode));
	return 0;
}

static int select_connection_id(int64_t *out, const db_conn *c)
{
	static const char sql[] = "SELECT CONNECTION_ID()";
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int error;

	if ((error = query(&res, c, sql, NULL)))
		return error;
	row = mysql_fetch_row(res);
	if (!row)
		error = ss_error_set(SS_ERROR, "%s: %s: no row", c->where, sql);
	else
		error = int_field(out, row[0], -1, c, "CONNECTION_ID()");
	mysql_free_result(res);
	return error;
}

void app_db_close(app_db *db)
{
	if (!db)
		return;
	close_conn(&db->c);
	if (db->ca_fd >= 0)
		close(db->ca_fd);
	if (db->password)
		ss_free_secret(db->password, strlen(db->password));
	free(db->host);
	free(db->c.user);
	free(db);
}

int app_db_connect(app_db **out, const app_db_target *t)
{
	app_db *db = NULL;
	int error;

	if ((error = check_target(t)) || (error = library_ready()))
		return error;
	db = calloc(1, sizeof(*db));
	if (!db)
		return ss_error_set(SS_ENOMEM, "out of memory");
	db->ca_fd = -1;
	db->port = t->port;
	db->tls_mode = t->tls_mode;
	db->timeout_s = t->connect_timeout_seconds;
	db->connection_id = -1;
	format_where(db->c.where, sizeof(db->c.where), t->host, t->port);
	db->host = ss_strdup(t->host);
	db->c.user = ss_strdup(t->user);
	db->password = ss_strdup(t->password ? t->password : "");
	if (!db->host || !db->c.user || !db->password) {
		error = SS_ENOMEM;
		goto cleanup;
	}
	if ((t->tls_mode == APP_TLS_VERIFY_CA ||
	     t->tls_mode == APP_TLS_VERIFY_IDENTITY) &&
	    (error = ca_memfd(db, t->ca_pem)))
		goto cleanup;
	if ((error = open_conn(&db->c, db, db->timeout_s)) ||
	    (error = select_connection_id(&db->connection_id, &db->c)))
		goto cleanup;
	*out = db;
	db = NULL;

cleanup:
	app_db_close(db);
	return error;
}

const char *app_db_tls_cipher(const app_db *db)
{
	return db->c.m ? mysql_get_ssl_cipher(db->c.m) : NULL;
}

int64_t app_db_connection_id(const app_db *db)
{
	return db->connection_id;
}

/* ---- probe ----------------------------------------------------------------- */

/* "0"/"OFF" is writable; anything else ("1", "ON", newer servers'
 * "NO_LOCK"...) is some kind of read-only. */
static bool read_only_value(const char *v)
{
	return v && strcmp(v, "0") != 0 && strcmp(v, "OFF") != 0;
}

static int probe_variables(app_db_status *st, const db_conn *c)
{
	static const char sql[] = "SELECT @@server_id, @@read_only, VERSION(), "
				  "@@gtid_binlog_pos, @@gtid_slave_pos, "
				  "@@gtid_current_pos";
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int error;

	if ((error = query(&res, c, sql, NULL)))
		return error;
	row = mysql_fetch_row(res);
	if (!row) {
		error = ss_error_set(SS_ERROR, "%s: %s: no row", c->where, sql);
		goto cleanup;
	}
	st->read_only = read_only_value(row[1]);
	if ((error = int_field(&st->server_id, row[0], 0, c, "@@server_id")) ||
	    (error = copy_field(st->version, sizeof(st->version), row[2], true, c,
				"VERSION()")) ||
	    (error = copy_field(st->gtid_binlog_pos, sizeof(st->gtid_binlog_pos), row[3],
				false, c, "@@gtid_binlog_pos")) ||
	    (error = copy_field(st->gtid_slave_pos, sizeof(st->gtid_slave_pos), row[4],
				false, c, "@@gtid_slave_pos")) ||
	    (error = copy_field(st->gtid_current_pos, sizeof(st->gtid_current_pos),
				row[5], false, c, "@@gtid_current_pos")))
		goto cleanup;

cleanup:
	mysql_free_result(res);
	return error;
}

/* SHOW MASTER STATUS: file and position, or ""/-1 with the binlog off. */
static int master_status(char *file, size_t cap, int64_t *pos, const db_conn *c)
{
	static const char sql[] = "SHOW MASTER STATUS";
	static const char *const names[] = { "File", "Position", NULL };
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int idx[2];
	int error;

	file[0] = '\0';
	*pos = -1;
	if ((error = query(&res, c, sql, "BINLOG MONITOR")))
		return error;
	row = mysql_fetch_row(res);
	if (row) {
		if ((error = columns(idx, res, names, c, sql)) ||
		    (error = copy_field(file, cap, row[idx[0]], false, c, "File")) ||
		    (error = int_field(pos, row[idx[1]], -1, c, "Position")))
			goto cleanup;
	}

cleanup:
	mysql_free_result(res);
	return error;
}

/* The columns of SHOW ALL SLAVES STATUS that probe_sources() reads. */
enum {
	SRC_NAME,
	SRC_HOST,
	SRC_PORT,
	SRC_IO,
	SRC_SQL,
	SRC_IO_ERRNO,
	SRC_IO_ERROR,
	SRC_SQL_ERRNO,
	SRC_SQL_ERROR,
	SRC_BEHIND,
	SRC_N_COLUMNS
};
static const char *const source_columns[] = { "Connection_name",
					      "Master_Host",
					      "Master_Port",
					      "Slave_IO_Running",
					      "Slave_SQL_Running",
					      "Last_IO_Errno",
					      "Last_IO_Error",
					      "Last_SQL_Errno",
					      "Last_SQL_Error",
					      "Seconds_Behind_Master",
					      NULL };

/* One replication connection from its row (`idx`: the columns' places). */
static int read_source(app_db_source *s, MYSQL_ROW row, const int *idx, const db_conn *c)
{
	int64_t port, io_errno, sql_errno;
	int error;

	if ((error = copy_field(s->connection_name, sizeof(s->connection_name),
				row[idx[SRC_NAME]], false, c, "Connection_name")) ||
	    (error = copy_field(s->master_host, sizeof(s->master_host),
				row[idx[SRC_HOST]], false, c, "Master_Host")) ||
	    (error = int_field(&port, row[idx[SRC_PORT]], 0, c, "Master_Port")) ||
	    (error = copy_field(s->io_running, sizeof(s->io_running), row[idx[SRC_IO]],
				true, c, "Slave_IO_Running")) ||
	    (error = copy_field(s->sql_running, sizeof(s->sql_running), row[idx[SRC_SQL]],
				true, c, "Slave_SQL_Running")) ||
	    (error = int_field(&io_errno, row[idx[SRC_IO_ERRNO]], 0, c,
			       "Last_IO_Errno")) ||
	    (error = copy_field(s->last_io_error, sizeof(s->last_io_error),
				row[idx[SRC_IO_ERROR]], true, c, "Last_IO_Error")) ||
	    (error = int_field(&sql_errno, row[idx[SRC_SQL_ERRNO]], 0, c,
			       "Last_SQL_Errno")) ||
	    (error = copy_field(s->last_sql_error, sizeof(s->last_sql_error),
				row[idx[SRC_SQL_ERROR]], true, c, "Last_SQL_Error")) ||
	    (error = int_field(&s->seconds_behind_master, row[idx[SRC_BEHIND]], -1, c,
			       "Seconds_Behind_Master")))
		return error;
	s->master_port = (int)port;
	s->last_io_errno = (int)io_errno;
	s->last_sql_errno = (int)sql_errno;
	return 0;
}

static int probe_sources(app_db_status *st, const db_conn *c)
{
	static const char sql[] = "SHOW ALL SLAVES STATUS";
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int idx[SRC_N_COLUMNS];
	int error;

	st->n_sources = 0;
	if ((error = query(&res, c, sql, "REPLICA MONITOR")))
		return error;
	if (mysql_num_rows(res) == 0)
		goto cleanup;
	if (mysql_num_rows(res) > APP_DB_MAX_SOURCES) {
		error = ss_error_set(SS_EUNSUPPORTED,
				     "%s: %" PRIu64 " replication connections; at most "
				     "%d are supported",
				     c->where, (uint64_t)mysql_num_rows(res),
				     APP_DB_MAX_SOURCES);
		goto cleanup;
	}
	if ((error = columns(idx, res, source_columns, c, sql)))
		goto cleanup;
	while ((row = mysql_fetch_row(res))) {
		if ((error = read_source(&st->sources[st->n_sources], row, idx, c)))
			goto cleanup;
		st->n_sources++;
	}

cleanup:
	mysql_free_result(res);
	return error;
}

int app_db_probe(app_db_status *out, app_db *db)
{
	app_db_status *st = calloc(1, sizeof(*st));
	int error;

	if (!st)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if ((error = probe_variables(st, &db->c)) ||
	    (error = master_status(st->binlog_file, sizeof(st->binlog_file),
				   &st->binlog_position, &db->c)) ||
	    (error = probe_sources(st, &db->c)))
		goto cleanup;
	memcpy(out, st, sizeof(*st));

cleanup:
	free(st);
	return error;
}

/* ---- classification (pure) --------------------------------------------------- */

const char *app_db_kind_name(app_db_kind kind)
{
	switch (kind) {
	case APP_DB_PRIMARY: return "Primary";
	case APP_DB_HEALTHY_REPLICA: return "HealthyReplica";
	case APP_DB_UNHEALTHY_REPLICA: return "UnhealthyReplica";
	case APP_DB_UNKNOWN: break;
	}
	return "Unknown";
}

/* "replication from HOST:PORT" or "replication 'NAME' from HOST:PORT". */
static void source_label(char *dst, size_t cap, const app_db_source *s)
{
	if (s->connection_name[0])
		snprintf(dst, cap, "replication '%s' from %s:%d", s->connection_name,
			 s->master_host, s->master_port);
	else
		snprintf(dst, cap, "replication from %s:%d", s->master_host,
			 s->master_port);
}

/* The IO thread's error. Its texts name the replica's replication
 * account when it connects ("error connecting to master 'user@host:port'
 * ... Access denied for user ..."), and that account may come from a
 * Secret: the text is quoted only for a server error whose text is safe
 * (app_db_error_words_of()) and that names no account (no '@'). */
static void io_problem(char *reason, size_t cap, const char *label,
		       const app_db_source *s)
{
	const char *state = strcmp(s->io_running, "Yes") == 0 ? "running" : "not running";
	app_db_error_words w;

	app_db_error_words_of(&w, (unsigned int)s->last_io_errno);
	if (w.quote && !client_error((unsigned int)s->last_io_errno) &&
	    !strchr(s->last_io_error, '@')) {
		snprintf(reason, cap, "%s: IO thread %s: error %d: %s", label, state,
			 s->last_io_errno, s->last_io_error);
		return;
	}
	/* A long label cuts the reason short; it stays terminated. */
	if (snprintf(reason, cap,
		     "%s: IO thread %s: error %d (its text is not shown, as it may "
		     "name the replication account: see SHOW SLAVE STATUS on the "
		     "replica)",
		     label, state, s->last_io_errno) < 0)
		reason[0] = '\0';
}

/* Why source `s` is unhealthy, into `reason`; false if it is healthy. */
static bool source_problem(char *reason, size_t cap, const app_db_source *s, int max_lag)
{
	char label[2 * APP_DB_NAME_MAX + 48];

	source_label(label, sizeof(label), s);
	if (s->last_sql_errno != 0) {
		snprintf(reason, cap, "%s: SQL thread %s: error %d: %s", label,
			 strcmp(s->sql_running, "Yes") == 0 ? "running" : "stopped",
			 s->last_sql_errno, s->last_sql_error);
		return true;
	}
	if (strcmp(s->sql_running, "Yes") != 0) {
		snprintf(reason, cap, "%s: SQL thread not running (Slave_SQL_Running=%s)",
			 label, s->sql_running);
		return true;
	}
	if (s->last_io_errno != 0) {
		io_problem(reason, cap, label, s);
		return true;
	}
	if (strcmp(s->io_running, "Yes") != 0) {
		snprintf(reason, cap, "%s: IO thread not running (Slave_IO_Running=%s)",
			 label, s->io_running);
		return true;
	}
	if (s->seconds_behind_master < 0) {
		snprintf(reason, cap, "%s: lag unknown (Seconds_Behind_Master is NULL)",
			 label);
		return true;
	}
	if (s->seconds_behind_master > max_lag) {
		snprintf(reason, cap,
			 "%s: lag %" PRId64 " s > maxReplicationLagSeconds %d", label,
			 s->seconds_behind_master, max_lag);
		return true;
	}
	return false;
}

app_db_kind app_db_classify(app_db_verdict *out, const app_db_status *st,
			    int max_lag_seconds)
{
	char label[2 * APP_DB_NAME_MAX + 48];
	int64_t lag = -1;
	size_t i;

	out->lag_seconds = -1;
	out->reason[0] = '\0';
	if (st->n_sources == 0) {
		if (st->read_only) {
			out->kind = APP_DB_UNKNOWN;
			snprintf(out->reason, sizeof(out->reason),
				 "read_only is set but the server replicates from "
				 "no one");
		} else {
			out->kind = APP_DB_PRIMARY;
			snprintf(out->reason, sizeof(out->reason),
				 "writable and replicates from no one");
		}
		return out->kind;
	}
	for (i = 0; i < st->n_sources && i < APP_DB_MAX_SOURCES; i++) {
		const app_db_source *s = &st->sources[i];

		if (source_problem(out->reason, sizeof(out->reason), s,
				   max_lag_seconds)) {
			out->kind = APP_DB_UNHEALTHY_REPLICA;
			/* Known lags still rank unhealthy replicas. */
			out->lag_seconds = s->seconds_behind_master;
			return out->kind;
		}
		if (s->seconds_behind_master > lag)
			lag = s->seconds_behind_master;
	}
	out->kind = APP_DB_HEALTHY_REPLICA;
	out->lag_seconds = lag;
	source_label(label, sizeof(label), &st->sources[0]);
	if (st->n_sources == 1)
		snprintf(out->reason, sizeof(out->reason), "%s: lag %" PRId64 " s", label,
			 lag);
	else
		snprintf(out->reason, sizeof(out->reason),
			 "%zu replication connections, largest lag %" PRId64 " s",
			 st->n_sources, lag);
	return out->kind;
}

/* ---- the lock session ------------------------------------------------------- */

struct app_db_lock_session {
	db_conn c;
	app_db_lock_info info;
	int hold_timeout_s;
	/* app_db_lock_read_position()'s strings */
	char *gtid_binlog_pos;
	char *gtid_slave_pos;
	char *gtid_current_pos;
	char *binlog_file;
	char *primary_binlog_file;
};

#define END_BOUND_NS ((int64_t)APP_DB_END_TIMEOUT_MS * SS_NS_PER_MS)
#define KILL_BOUND_NS ((int64_t)APP_DB_KILL_TIMEOUT_MS * SS_NS_PER_MS)
#define MARKER_PREFIX "snapstage:"

int app_db_lock_idle_timeout(int hold_timeout_seconds)
{
	return hold_timeout_seconds + APP_DB_LOCK_IDLE_MARGIN_SECONDS;
}

int app_db_lock_marker_name(char *out, size_t cap, const char *marker)
{
	size_t i, n = marker ? strlen(marker) : 0;

	if (n == 0 || n > APP_DB_MARKER_MAX)
		return ss_error_set(SS_EINVALID,
				    "mariadb: a lock session marker is 1 to %d "
				    "characters, got %zu",
				    APP_DB_MARKER_MAX, n);
	for (i = 0; i < n; i++) {
		char ch = marker[i];

		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && ch != '-' && ch != '.' && ch != '_')
			return ss_error_set(SS_EINVALID,
					    "mariadb: a lock session marker is made of "
					    "[A-Za-z0-9._-]; character %zu is not",
					    i + 1);
	}
	if (cap < sizeof(MARKER_PREFIX) + n)
		return ss_error_set(SS_ETOOLARGE, "mariadb: no room for the marker name");
	snprintf(out, cap, "%s%s", MARKER_PREFIX, marker);
	return 0;
}

static const char *stage_sql(int stage)
{
	switch (stage) {
	case APP_STAGE_FLUSH: return "BACKUP STAGE FLUSH";
	case APP_STAGE_BLOCK_DDL: return "BACKUP STAGE BLOCK_DDL";
	case APP_STAGE_BLOCK_COMMIT: return "BACKUP STAGE BLOCK_COMMIT";
	default: return NULL;
	}
}

static void free_position(app_db_lock_session *s)
{
	ss_free_str(&s->gtid_binlog_pos);
	ss_free_str(&s->gtid_slave_pos);
	ss_free_str(&s->gtid_current_pos);
	ss_free_str(&s->binlog_file);
	ss_free_str(&s->primary_binlog_file);
}

static void session_free(app_db_lock_session *s)
{
	close_conn(&s->c);
	free_position(s);
	free(s->c.user);
	free(s);
}

static int kill_session(db_conn *c, int64_t id, const char *name);

/* Ends whatever stage a failed begin may hold, keeping the thread's error:
 * BACKUP STAGE END on the session's connection ("not running" is fine:
 * nothing was taken); if that is impossible (the connection broke, a
 * statement is still running on it, or the server does not answer within
 * APP_DB_END_TIMEOUT_MS), close the connection and KILL it through `db`,
 * so the server cannot go on holding it. */
static void abandon(app_db_lock_session *s, app_db *db)
{
	static const char sql[] = "BACKUP STAGE END";
	ss_error saved = *ss_error_last();
	char message[SS_ERROR_MESSAGE_MAX];
	bool ended = false;
	watchdog w;

	ss_strlcpy(message, saved.message, sizeof(message));
	if (s->c.m) {
		watch_start(&w, &s->c, END_BOUND_NS);
		if (mysql_real_query(s->c.m, sql, strlen(sql)) == 0) {
			mysql_free_result(mysql_store_result(s->c.m));
			ended = true;
		} else if (mysql_errno(s->c.m) == ER_BACKUP_NOT_RUNNING) {
			ended = true;
		}
		if (watch_stop(&w, &s->c))
			ended = false;
	}
	if (!ended) {
		close_conn(&s->c);
		if (db && s->info.connection_id > 0)
			(void)kill_session(&db->c, s->info.connection_id, NULL);
	}
	s->info.held = false;
	ss_error_set(saved.code, "%s", message);
}

int app_db_lock_begin(app_db_lock_session **out, app_db *db, app_lock_stage stage,
		      int acquire_timeout_seconds)
{
	const app_db_lock_opts o = {
		.stage = stage,
		.acquire_timeout_seconds = acquire_timeout_seconds,
		.hold_timeout_seconds = APP_DB_LOCK_HOLD_DEFAULT_SECONDS,
	};

	return app_db_lock_begin_ex(out, db, &o);
}

/* The options, and the marker's lock name into `name` ("" for none). */
static int check_lock_opts(char *name, size_t cap, const app_db_lock_opts *o)
{
	name[0] = '\0';
	if (!stage_sql((int)o->stage))
		return ss_error_set(SS_EINVALID, "mariadb: unknown lock stage %d",
				    (int)o->stage);
	if (o->acquire_timeout_seconds < 1 || o->acquire_timeout_seconds > 3600)
		return ss_error_set(SS_EINVALID,
				    "mariadb: acquire timeout %d s is not in 1..3600",
				    o->acquire_timeout_seconds);
	if (o->hold_timeout_seconds < 1 || o->hold_timeout_seconds > 3600)
		return ss_error_set(SS_EINVALID,
				    "mariadb: hold timeout %d s is not in 1..3600",
				    o->hold_timeout_seconds);
	return o->marker ? app_db_lock_marker_name(name, cap, o->marker) : 0;
}

/* Takes the marker's lock `name` on the session's connection, waiting up
 * to `wait_s` for an earlier session holding it to end. */
static int mark_session(const db_conn *c, const char *name, int wait_s)
{
	char sql[SQL_MAX];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int error;

	if (!name[0])
		return 0;
	snprintf(sql, sizeof(sql), "SELECT GET_LOCK('%s', %d), IS_USED_LOCK('%s')", name,
		 wait_s, name);
	if ((error = query(&res, c, sql, NULL)))
		return error;
	row = mysql_fetch_row(res);
	if (!row || !row[0])
		error = ss_error_set(SS_ERROR, "%s: %s: no result", c->where, sql);
	else if (strcmp(row[0], "1") != 0)
		error = ss_error_set(SS_ETIMEOUT,
				     "%s: another session (connection %s) still holds "
				     "the lock session marker %s after %d s: an earlier "
				     "lock session of this Backup has not ended",
				     c->where, row[1] ? row[1] : "?", name, wait_s);
	mysql_free_result(res);
	return error;
}

/* The server's side of the bounds: how long the session may wait for a
 * stage, and how long it may sit idle (or stall half-way through a
 * packet) before the server ends it, stages and all. */
static int set_session_timeouts(const db_conn *c, const app_db_lock_opts *o)
{
	int idle = app_db_lock_idle_timeout(o->hold_timeout_seconds);
	char sql[SQL_MAX];

	snprintf(sql, sizeof(sql),
		 "SET SESSION lock_wait_timeout = %d, wait_timeout = %d, "
		 "net_read_timeout = %d, net_write_timeout = %d",
		 o->acquire_timeout_seconds, idle, idle, idle);
	return run(c, sql, NULL);
}

/* BACKUP STAGE START and each stage up to `stage`. */
static int take_stages(app_db_lock_session *s, app_lock_stage stage)
{
	int error, i;

	if ((error = run(&s->c, "BACKUP STAGE START", "RELOAD")))
		return error;
	for (i = APP_STAGE_FLUSH; i <= (int)stage; i++)
		if ((error = run(&s->c, stage_sql(i), "RELOAD")))
			return error;
	return 0;
}

int app_db_lock_begin_ex(app_db_lock_session **out, app_db *db, const app_db_lock_opts *o)
{
	app_db_lock_session *s = NULL;
	char name[APP_DB_MARKER_NAME_MAX];
	bool started = false;
	int64_t t0;
	int error;

	if ((error = check_lock_opts(name, sizeof(name), o)))
		return error;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ss_error_set(SS_ENOMEM, "out of memory");
	s->info.connection_id = -1;
	s->info.stage = o->stage;
	s->info.held_ms = -1;
	s->hold_timeout_s = o->hold_timeout_seconds;
	memcpy(s->c.where, db->c.where, sizeof(s->c.where));
	s->c.user = ss_strdup(db->c.user);
	if (!s->c.user) {
		error = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* A stage may wait acquire_timeout_seconds for the lock before the
	 * server answers; the read timeout must not cut that short. */
	if ((error = open_conn(&s->c, db, db->timeout_s + o->acquire_timeout_seconds)) ||
	    (error = select_connection_id(&s->info.connection_id, &s->c)) ||
	    (error = mark_session(&s->c, name, o->acquire_timeout_seconds)))
		goto cleanup;
	if (o->before && (error = o->before(o->payload, s->info.connection_id)) < 0)
		goto cleanup;
	if ((error = set_session_timeouts(&s->c, o)))
		goto cleanup;
	t0 = mono_ns();
	/* From here on a failure may leave something held (a lost answer to
	 * START is no proof that START did not take effect). */
	started = true;
	if ((error = take_stages(s, o->stage)))
		goto cleanup;
	s->info.acquired_mono_ns = mono_ns();
	s->info.acquired_real_ns = real_ns();
	s->info.acquire_ms = (s->info.acquired_mono_ns - t0) / SS_NS_PER_MS;
	s->info.held = true;
	*out = s;
	s = NULL;

cleanup:
	if (s) {
		if (started)
			abandon(s, db);
		session_free(s);
	}
	return error;
}

const app_db_lock_info *app_db_lock_get_info(const app_db_lock_session *s)
{
	return &s->info;
}

/* The session's copy of a field (NULL reads as ""). */
static int keep(char **dst, const char *value)
{
	*dst = ss_strdup(value ? value : "");
	return *dst ? 0 : SS_ENOMEM;
}

/* app_db_lock_read_position()'s statements. */
static int read_position(app_db_position *out, app_db_lock_session *s)
{
	static const char vars[] = "SELECT @@gtid_binlog_pos, @@gtid_slave_pos, "
				   "@@gtid_current_pos";
	static const char slave[] = "SHOW SLAVE STATUS";
	static const char *const slave_names[] = { "Relay_Master_Log_File",
						   "Exec_Master_Log_Pos", NULL };
	char file[APP_DB_NAME_MAX];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	app_db_position p;
	int idx[2];
	int error;

	memset(&p, 0, sizeof(p));
	p.binlog_position = -1;
	p.primary_binlog_position = -1;

	if ((error = query(&res, &s->c, vars, NULL)))
		goto cleanup;
	row = mysql_fetch_row(res);
	if (!row) {
		error = ss_error_set(SS_ERROR, "%s: %s: no row", s->c.where, vars);
		goto cleanup;
	}
	if ((error = keep(&s->gtid_binlog_pos, row[0])) ||
	    (error = keep(&s->gtid_slave_pos, row[1])) ||
	    (error = keep(&s->gtid_current_pos, row[2])))
		goto cleanup;
	mysql_free_result(res);
	res = NULL;

	if ((error = master_status(file, sizeof(file), &p.binlog_position, &s->c)) ||
	    (error = keep(&s->binlog_file, file)))
		goto cleanup;

	if ((error = query(&res, &s->c, slave, "REPLICA MONITOR")))
		goto cleanup;
	row = mysql_fetch_row(res);
	if (row) {
		if ((error = columns(idx, res, slave_names, &s->c, slave)) ||
		    (error = keep(&s->primary_binlog_file, row[idx[0]])) ||
		    (error = int_field(&p.primary_binlog_position, row[idx[1]], -1, &s->c,
				       "Exec_Master_Log_Pos")))
			goto cleanup;
	} else if ((error = keep(&s->primary_binlog_file, ""))) {
		goto cleanup;
	}

	p.gtid_binlog_pos = s->gtid_binlog_pos;
	p.gtid_slave_pos = s->gtid_slave_pos;
	p.gtid_current_pos = s->gtid_current_pos;
	p.binlog_file = s->binlog_file;
	p.primary_binlog_file = s->primary_binlog_file;
	*out = p;

cleanup:
	mysql_free_result(res);
	if (error == SS_ENOMEM)
		ss_error_set(SS_ENOMEM, "out of memory");
	return error;
}

int app_db_lock_read_position(app_db_position *out, app_db_lock_session *s)
{
	int64_t left;
	watchdog w;
	int error;

	if (!s->info.held || !s->c.m)
		return ss_error_set(SS_EINVALID, "%s: the backup lock is not held",
				    s->c.where);
	free_position(s);
	/* Within the hold bound, even if the server stops answering. */
	left = s->info.acquired_mono_ns + (int64_t)s->hold_timeout_s * SS_NS_PER_SEC -
	       mono_ns();
	if (left <= 0)
		return ss_error_set(SS_ETIMEOUT,
				    "%s: the hold bound of %d s has passed before the "
				    "position was read",
				    s->c.where, s->hold_timeout_s);
	watch_start(&w, &s->c, left);
	error = read_position(out, s);
	watch_stop(&w, &s->c);
	if (error)
		free_position(s);
	return error;
}

int app_db_lock_end(app_db_lock_session *s, int64_t *out_held_ms)
{
	int error;

	if (!s->info.held || !s->c.m)
		return ss_error_set(SS_EINVALID, "%s: the backup lock is not held",
				    s->c.where);
	error = run_bounded(&s->c, "BACKUP STAGE END", END_BOUND_NS);
	s->info.released_mono_ns = mono_ns();
	s->info.released_real_ns = real_ns();
	s->info.held = false;
	if (error) {
		/* The server ends the stages of a connection that drops. */
		close_conn(&s->c);
		return error;
	}
	s->info.held_ms =
		(s->info.released_mono_ns - s->info.acquired_mono_ns) / SS_NS_PER_MS;
	if (out_held_ms)
		*out_held_ms = s->info.held_ms;
	return 0;
}

void app_db_lock_free(app_db_lock_session *s)
{
	if (!s)
		return;
	if (s->info.held && s->c.m) {
		ss_error saved = *ss_error_last();
		char message[SS_ERROR_MESSAGE_MAX];

		ss_strlcpy(message, saved.message, sizeof(message));
		(void)run_bounded(&s->c, "BACKUP STAGE END", END_BOUND_NS);
		if (saved.code != 0)
			ss_error_set(saved.code, "%s", message);
		else
			ss_error_clear();
	}
	session_free(s);
}

/* ---- ending a leftover session -------------------------------------------- */

/* Whether connection `id` is still there: in the process list (the
 * account sees its own sessions; others' need PROCESS) or, with a marker
 * `name`, holding it (visible to anyone). */
static int connection_exists(bool *out, const db_conn *c, int64_t id, const char *name)
{
	char sql[SQL_MAX];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int64_t n = 0;
	int error;

	if (name)
		snprintf(sql, sizeof(sql),
			 "SELECT (SELECT COUNT(*) FROM information_schema.PROCESSLIST "
			 "WHERE ID = %" PRId64
			 ") + COALESCE(IS_USED_LOCK('%s') = %" PRId64 ", 0)",
			 id, name, id);
	else
		snprintf(sql, sizeof(sql),
			 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID "
			 "= %" PRId64,
			 id);
	if ((error = query(&res, c, sql, NULL)))
		return error;
	row = mysql_fetch_row(res);
	error = int_field(&n, row ? row[0] : NULL, 0, c, "the process list count");
	mysql_free_result(res);
	if (!error)
		*out = n > 0;
	return error;
}

/* KILL CONNECTION `id`, then waits until it is gone (its locks go when it
 * does), up to the deadline of the running watchdog less a little, so
 * that a live server's lingering victim is told apart from a frozen
 * server. */
static int kill_and_wait(const db_conn *c, int64_t id, const char *name, int64_t deadline)
{
	char sql[SQL_MAX];
	bool exists = true;
	int error;

	snprintf(sql, sizeof(sql), "KILL CONNECTION %" PRId64, id);
	if ((error = run(c, sql, NULL)))
		return error;
	for (;;) {
		struct timespec pause = { 0, KILL_POLL_NS };

		if ((error = connection_exists(&exists, c, id, name)))
			return error;
		if (!exists)
			return 0;
		if (mono_ns() + KILL_POLL_NS >= deadline)
			return ss_error_set(SS_ETIMEOUT,
					    "%s: connection %" PRId64 " was killed but "
					    "is still there after %d ms",
					    c->where, id, APP_DB_KILL_TIMEOUT_MS);
		nanosleep(&pause, NULL);
	}
}

/* kill_and_wait() within APP_DB_KILL_TIMEOUT_MS, for a session this
 * process opened itself (no marker needed). */
static int kill_session(db_conn *c, int64_t id, const char *name)
{
	int64_t deadline = mono_ns() + KILL_BOUND_NS - KILL_POLL_NS * 5;
	watchdog w;
	int error;

	watch_start(&w, c, KILL_BOUND_NS);
	error = kill_and_wait(c, id, name, deadline);
	watch_stop(&w, c);
	return error;
}

/* Who holds the marker `name` (-1: no one) and whether connection `id`
 * is in the process list. */
static int marker_holder(int64_t *holder, bool *exists, const db_conn *c,
			 const char *name, int64_t id)
{
	char sql[SQL_MAX];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int64_t n = 0;
	int error;

	snprintf(sql, sizeof(sql),
		 "SELECT IS_USED_LOCK('%s'), (SELECT COUNT(*) FROM "
		 "information_schema.PROCESSLIST WHERE ID = %" PRId64 ")",
		 name, id);
	if ((error = query(&res, c, sql, NULL)))
		return error;
	row = mysql_fetch_row(res);
	if (!row)
		error = ss_error_set(SS_ERROR, "%s: %s: no row", c->where, sql);
	else if (!(error = int_field(holder, row[0], -1, c, "IS_USED_LOCK()")))
		error = int_field(&n, row[1], 0, c, "the process list count");
	mysql_free_result(res);
	*exists = n > 0;
	return error;
}

/* The id does not name the marker's session: say so, kill nothing. */
static int not_marked(const db_conn *c, int64_t id, const char *name, int64_t holder,
		      bool exists)
{
	if (!exists && holder < 0)
		return ss_error_set(SS_ENOTFOUND,
				    "%s: connection %" PRId64 " has ended (no session "
				    "holds %s)",
				    c->where, id, name);
	ss_log(SS_LOG_WARN, "not killing a connection that is not the lock session",
	       SS_LS("server", c->where), SS_LI("connection", id), SS_LS("marker", name),
	       SS_LI("marker_holder", holder));
	return ss_error_set(SS_ENOTFOUND,
			    "%s: connection %" PRId64 " is not the lock session "
			    "marked %s (%s): not killed; that session has ended",
			    c->where, id, name,
			    holder >= 0 ? "another connection holds the marker"
					: "no session holds the marker");
}

int app_db_kill_connection(app_db *db, int64_t connection_id, const char *marker)
{
	char name[APP_DB_MARKER_NAME_MAX];
	int64_t holder = -1, deadline;
	bool exists = false;
	watchdog w;
	int error;

	if (connection_id <= 0)
		return ss_error_set(SS_EINVALID, "%s: no connection id %" PRId64,
				    db->c.where, connection_id);
	if (connection_id == db->connection_id)
		return ss_error_set(SS_EINVALID,
				    "%s: connection %" PRId64 " is this connection",
				    db->c.where, connection_id);
	if ((error = app_db_lock_marker_name(name, sizeof(name), marker)))
		return error;
	deadline = mono_ns() + KILL_BOUND_NS - KILL_POLL_NS * 5;
	watch_start(&w, &db->c, KILL_BOUND_NS);
	error = marker_holder(&holder, &exists, &db->c, name, connection_id);
	if (!error && holder != connection_id)
		error = not_marked(&db->c, connection_id, name, holder, exists);
	else if (!error)
		error = kill_and_wait(&db->c, connection_id, name, deadline);
	watch_stop(&w, &db->c);
	return error;
}

/* ---- replication on a replica -------------------------------------------- */

#define SLAVE_ADMIN "REPLICATION SLAVE ADMIN"

int app_db_replication_pause(app_db *db)
{
	return run(&db->c, "STOP ALL SLAVES SQL_THREAD", SLAVE_ADMIN);
}

int app_db_replication_resume(app_db *db)
{
	watchdog w;
	int error;

	/* Bounded like END: right after a lock session the server may be the
	 * reason the session failed (frozen), and the Backup's outcome must not
	 * wait for the connection's read timeout. A resume that times out stays
	 * recorded (replicationPaused) and is tried again later. */
	watch_start(&w, &db->c, END_BOUND_NS);
	error = run(&db->c, "START ALL SLAVES SQL_THREAD", SLAVE_ADMIN);
	watch_stop(&w, &db->c);
	return error;
}

/* ---- after an in-place restore ------------------------------------------ */

/* `value` as an SQL string literal (quoted, escaped) into dst. Values
 * longer than LITERAL_MAX bytes are refused. */
#define LITERAL_MAX 255
static int literal(char *dst, size_t cap, const db_conn *c, const char *value,
		   const char *what)
{
	size_t len = strlen(value);

	if (len > LITERAL_MAX || cap < 2 * len + 3)
		return ss_error_set(SS_ETOOLARGE, "%s: %s is longer than %d bytes",
				    c->where, what, LITERAL_MAX);
	dst[0] = '\'';
	len = mysql_real_escape_string(c->m, dst + 1, value, (unsigned long)len);
	dst[len + 1] = '\'';
	dst[len + 2] = '\0';
	return 0;
}

int app_db_restore_as_primary(app_db *db, const char *gtid_pos)
{
	char lit[2 * LITERAL_MAX + 3], sql[SQL_MAX + sizeof(lit)];
	int rc;

	if ((rc = run(&db->c, "STOP ALL SLAVES", SLAVE_ADMIN)) < 0 ||
	    (rc = run(&db->c, "RESET SLAVE ALL", SLAVE_ADMIN)) < 0 ||
	    (rc = run(&db->c, "RESET MASTER", "RELOAD")) < 0 ||
	    /* only with an empty binary log: one holding the GTID would
	     * refuse it (error 1948) */
	    (rc = run(&db->c, "SET GLOBAL gtid_slave_pos = ''", SLAVE_ADMIN)) < 0)
		return rc;
	if (gtid_pos == NULL || gtid_pos[0] == '\0')
		return 0;
	if ((rc = literal(lit, sizeof(lit), &db->c, gtid_pos, "the GTID position")) < 0)
		return rc;
	snprintf(sql, sizeof(sql), "SET GLOBAL gtid_binlog_state = %s", lit);
	return run(&db->c, sql, "BINLOG ADMIN");
}

int app_db_set_read_only(app_db *db, bool on)
{
	return run(&db->c, on ? "SET GLOBAL read_only = 1" : "SET GLOBAL read_only = 0",
		   "READ_ONLY ADMIN");
}

int app_db_replication_start(app_db *db)
{
	return run(&db->c, "START SLAVE", SLAVE_ADMIN);
}

int app_db_server_ca(char *path, size_t cap, bool *is_dir, app_db *db)
{
	static const char sql[] = "SELECT @@GLOBAL.ssl_ca, @@GLOBAL.ssl_capath";
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc;

	path[0] = '\0';
	*is_dir = false;
	if ((rc = query(&res, &db->c, sql, NULL)) < 0)
		return rc;
	row = mysql_fetch_row(res);
	if (row && row[0] && row[0][0])
		rc = copy_field(path, cap, row[0], false, &db->c, "@@ssl_ca");
	else if (row && row[1] && row[1][0]) {
		*is_dir = true;
		rc = copy_field(path, cap, row[1], false, &db->c, "@@ssl_capath");
	}
	mysql_free_result(res);
	return rc;
}

/* The TLS options of CHANGE MASTER for `src->tls_mode` into dst: MASTER_SSL
 * from Required up, the CA (a path on the replica's host: src->ca_path, or
 * the server's own ssl_ca / ssl_capath) when verifying, the host name check
 * for VerifyIdentity. Every option is written, so nothing of an earlier
 * set-up carries over. Fails before any change when a verifying mode finds
 * no CA to verify with. */
static int tls_clause(char *dst, size_t cap, app_db *db,
		      const app_db_replication_source *src)
{
	char path[LITERAL_MAX + 1], lit[2 * LITERAL_MAX + 3];
	bool verify = src->tls_mode >= APP_TLS_VERIFY_CA, is_dir = false;
	int rc;

	if (src->tls_mode < APP_TLS_REQUIRED) {
		snprintf(dst, cap,
			 ", MASTER_SSL = 0, MASTER_SSL_CA = '', "
			 "MASTER_SSL_CAPATH = '', MASTER_SSL_VERIFY_SERVER_CERT = 0");
		return 0;
	}
	path[0] = '\0';
	if (verify && src->ca_path)
		ss_strlcpy(path, src->ca_path, sizeof(path));
	else if (verify && (rc = app_db_server_ca(path, sizeof(path), &is_dir, db)) < 0)
		return rc;
	if (verify && !path[0])
		return ss_error_set(
			SS_EINVALID,
			"%s: tls.mode %s: the server has no ssl_ca or ssl_capath, "
			"so its replication could not verify the primary's "
			"certificate: configure ssl_ca on the servers, or use "
			"tls.mode Required",
			db->c.where, app_tls_mode_name(src->tls_mode));
	if ((rc = literal(lit, sizeof(lit), &db->c, path, "the CA path")) < 0)
		return rc;
	snprintf(dst, cap,
		 ", MASTER_SSL = 1, MASTER_SSL_CA = %s, MASTER_SSL_CAPATH = %s, "
		 "MASTER_SSL_VERIFY_SERVER_CERT = %d",
		 is_dir ? "''" : lit, is_dir ? lit : "''",
		 src->tls_mode == APP_TLS_VERIFY_IDENTITY);
	return 0;
}

int app_db_restore_as_replica(app_db *db, const app_db_replication_source *src,
			      const char *gtid_pos)
{
	char lit[2 * LITERAL_MAX + 3], sql[SQL_MAX + sizeof(lit)];
	char h[sizeof(lit)], u[sizeof(lit)], p[sizeof(lit)],
		tls[SQL_MAX + 2 * sizeof(lit)],
		change[2 * SQL_MAX + 4 * sizeof(lit) + sizeof(tls)];
	int rc;

	if ((rc = literal(lit, sizeof(lit), &db->c, gtid_pos ? gtid_pos : "",
			  "the GTID position")) < 0 ||
	    (rc = literal(h, sizeof(h), &db->c, src->host, "the primary's host")) < 0 ||
	    (rc = literal(u, sizeof(u), &db->c, src->user, "the replication user")) < 0 ||
	    (rc = tls_clause(tls, sizeof(tls), db, src)) < 0 ||
	    (rc = literal(p, sizeof(p), &db->c, src->password,
			  "the replication password")) < 0)
		goto done;
	snprintf(sql, sizeof(sql), "SET GLOBAL gtid_slave_pos = %s", lit);
	snprintf(change, sizeof(change),
		 "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %d, MASTER_USER = %s, "
		 "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos, "
		 "MASTER_CONNECT_RETRY = 5%s",
		 h, src->port, u, p, tls);
	if ((rc = app_db_set_read_only(db, true)) < 0 ||
	    (rc = run(&db->c, "STOP ALL SLAVES", SLAVE_ADMIN)) < 0 ||
	    (rc = run(&db->c, "RESET SLAVE ALL", SLAVE_ADMIN)) < 0 ||
	    (rc = run(&db->c, sql, SLAVE_ADMIN)) < 0)
		goto done;
	rc = run_as(&db->c, change, "CHANGE MASTER TO (the new primary)", SLAVE_ADMIN);
	/* A server message may quote the statement ("... near '...'"),
	 * password and all: only a missing privilege is told in its own
	 * words. */
	if (rc < 0 && rc != SS_EFORBIDDEN)
		rc = ss_error_set(rc,
				  "%s: CHANGE MASTER TO (the new primary) failed with "
				  "MariaDB error %u; its message is not shown, as it may "
				  "quote the password",
				  db->c.where, mysql_errno(db->c.m));
done:
	ss_wipe(p, sizeof(p));
	ss_wipe(change, sizeof(change));
	return rc;
}

/* ---- connections of their own, for the other files of app/db ------------- */

struct app_db_internal_conn {
	db_conn c;
	watchdog w; /* while bounded */
	bool bounded;
};

int app_db_internal_open(app_db_internal_conn **out, const app_db *db, int read_timeout_s)
{
	app_db_internal_conn *x;
	int error;

	if (read_timeout_s < 1 || read_timeout_s > 86400)
		return ss_error_set(SS_EINVALID,
				    "%s: read timeout %d s is not in 1..86400",
				    db->c.where, read_timeout_s);
	x = calloc(1, sizeof(*x));
	if (!x)
		return ss_error_set(SS_ENOMEM, "out of memory");
	memcpy(x->c.where, db->c.where, sizeof(x->c.where));
	x->c.user = ss_strdup(db->c.user);
	if (!x->c.user) {
		free(x);
		return ss_error_set(SS_ENOMEM, "out of memory");
	}
	if ((error = open_conn(&x->c, db, read_timeout_s))) {
		app_db_internal_close(x);
		return error;
	}
	*out = x;
	return 0;
}

void app_db_internal_close(app_db_internal_conn *x)
{
	if (!x)
		return;
	(void)app_db_internal_unbound(x);
	close_conn(&x->c);
	free(x->c.user);
	free(x);
}

MYSQL *app_db_internal_mysql(app_db_internal_conn *x)
{
	return x->c.m;
}

const char *app_db_internal_where(const app_db_internal_conn *x)
{
	return x->c.where;
}

int app_db_internal_read_timeout(const app_db_internal_conn *x)
{
	return x->c.read_timeout_s;
}

void app_db_internal_bound(app_db_internal_conn *x, int64_t bound_ns)
{
	(void)app_db_internal_unbound(x);
	watch_start(&x->w, &x->c, bound_ns > 0 ? bound_ns : 1);
	x->bounded = true;
}

int app_db_internal_fail(app_db_internal_conn *x, const char *what)
{
	MYSQL *m = app_db_internal_mysql(x);
	unsigned int err = m ? mysql_errno(m) : CR_SERVER_GONE_ERROR;
	app_db_error_words w;

	app_db_error_words_of(&w, err);
	if (w.quote)
		return ss_error_set(w.code, "%s: %s: MariaDB error %u: %s%s%s",
				    app_db_internal_where(x), what, err,
				    m ? mysql_error(m) : "no connection",
				    *w.meaning ? ": " : "", w.meaning);
	return ss_error_set(w.code, "%s: %s: MariaDB error %u: %s",
			    app_db_internal_where(x), what, err, w.meaning);
}

bool app_db_internal_unbound(app_db_internal_conn *x)
{
	bool fired;

	if (!x->bounded)
		return false;
	fired = watch_stop(&x->w, &x->c);
	x->bounded = false;
	return fired;
}
