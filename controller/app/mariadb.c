/*
 * mariadb.c — see mariadb.h.
 *
 * Layout: library setup; the connection (options, TLS, error mapping);
 * small query helpers; the probe and the pure classifier; the lock session.
 * Every statement goes through run() or query(), which record a message
 * naming the server, the statement and what to do about the failure.
 */
#define _GNU_SOURCE /* memfd_create() */

#include "app/mariadb.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "util/clock.h"
#include "util/error.h"
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

/* What a connection needs for its messages. */
typedef struct {
	MYSQL *m;
	char where[WHERE_MAX]; /* "host:port" */
	char *user;
	int read_timeout_s;
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

/* The failure of the last call on c->m as an ss_error. `what` names the
 * step ("connect", a statement); `priv` the privilege it needs (or NULL);
 * `t0` is when the call began and `timeout_s` its bound, so a lost
 * connection at the bound reads as a timeout. */
static int fail(const db_conn *c, const char *what, const char *priv, int64_t t0,
		int timeout_s)
{
	unsigned int err = mysql_errno(c->m);
	const char *msg = mysql_error(c->m);
	int64_t ms = (mono_ns() - t0) / SS_NS_PER_MS;

	switch (err) {
	case ER_ACCESS_DENIED_ERROR:
		return ss_error_set(SS_EUNAUTHORIZED,
				    "%s: %s: %s: check the credentials Secret "
				    "(user name and password)",
				    c->where, what, msg);
	case ER_HOST_NOT_PRIVILEGED:
		return ss_error_set(SS_EUNAUTHORIZED,
				    "%s: %s: %s: the account's host part must match "
				    "the address the controller connects from",
				    c->where, what, msg);
	case ER_HOST_IS_BLOCKED:
		return ss_error_set(SS_EFORBIDDEN,
				    "%s: %s: %s: run FLUSH HOSTS on the server", c->where,
				    what, msg);
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_USER_LIMIT_REACHED:
		return ss_error_set(SS_ETOOMANYREQUESTS, "%s: %s: %s", c->where, what,
				    msg);
	case ER_SPECIFIC_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
		if (priv)
			return ss_error_set(SS_EFORBIDDEN,
					    "%s: %s: %s: the account '%s' needs the %s "
					    "privilege (GRANT %s ON *.* TO ...)",
					    c->where, what, msg, c->user, priv, priv);
		return ss_error_set(SS_EFORBIDDEN, "%s: %s: %s", c->where, what, msg);
	case ER_LOCK_WAIT_TIMEOUT:
		return ss_error_set(SS_ETIMEOUT,
				    "%s: %s: not granted within lock_wait_timeout: "
				    "another session holds a backup stage or a "
				    "conflicting lock (%s)",
				    c->where, what, msg);
	case ER_NO_SUCH_THREAD:
		return ss_error_set(SS_ENOTFOUND, "%s: %s: %s", c->where, what, msg);
	case ER_KILL_DENIED_ERROR:
		return ss_error_set(SS_EFORBIDDEN,
				    "%s: %s: %s: killing another user's connection "
				    "needs CONNECTION ADMIN",
				    c->where, what, msg);
	case ER_CONNECTION_KILLED:
	case ER_QUERY_INTERRUPTED:
	case ER_SERVER_SHUTDOWN:
		return ss_error_set(SS_ETRANSPORT, "%s: %s: %s", c->where, what, msg);
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE:
		if (timeout_s > 0 && ms >= (int64_t)timeout_s * 1000 - 100)
			return ss_error_set(SS_ETIMEOUT,
					    "%s: %s: no answer within %d s (%s)",
					    c->where, what, timeout_s, msg);
		return ss_error_set(SS_ETRANSPORT, "%s: %s: %s", c->where, what, msg);
	case CR_UNKNOWN_HOST:
		return ss_error_set(SS_ETRANSPORT, "%s: %s: %s", c->where, what, msg);
	case CR_SSL_CONNECTION_ERROR:
		return ss_error_set(SS_ETRANSPORT, "%s: %s: %s", c->where, what, msg);
	case CR_PLUGIN_NOT_ALLOWED:
		return ss_error_set(SS_EUNSUPPORTED,
				    "%s: %s: %s: the account's authentication plugin "
				    "can send the password in clear text, which "
				    "snapstage allows only with tls.mode "
				    "VerifyIdentity",
				    c->where, what, msg);
	case CR_OUT_OF_MEMORY:
		return ss_error_set(SS_ENOMEM, "%s: %s: %s", c->where, what, msg);
	default:
		return ss_error_set(SS_ERROR, "%s: %s: %s (error %u)", c->where, what,
				    msg, err);
	}
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

/* Opens a new connection to db's server into *c; `read_timeout_s` bounds
 * each read (a lock session's is longer than the connect timeout). */
static int open_conn(db_conn *c, const app_db *db, int read_timeout_s)
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
	int64_t t0;
	int error = 0;

	c->m = mysql_init(NULL);
	if (!c->m)
		return ss_error_set(SS_ENOMEM, "libmariadb: mysql_init failed");
	c->read_timeout_s = read_timeout_s;
	if ((error = set_option(c->m, MYSQL_OPT_PROTOCOL, &protocol, "protocol")) ||
	    (error = set_option(c->m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_t,
				"connect timeout")) ||
	    (error = set_option(c->m, MYSQL_OPT_READ_TIMEOUT, &read_t, "read timeout")) ||
	    (error = set_option(c->m, MYSQL_OPT_WRITE_TIMEOUT, &write_t,
				"write timeout")) ||
	    (error = set_option(c->m, MYSQL_OPT_RECONNECT, &off, "reconnect")) ||
	    (error = set_option(c->m, MYSQL_OPT_LOCAL_INFILE, &no_infile,
				"local infile")) ||
	    (error = set_option(c->m, MYSQL_SET_CHARSET_NAME, "utf8mb4", "charset")) ||
	    (error = set_option(c->m, MYSQL_OPT_SSL_ENFORCE, tls ? &on : &off,
				"TLS enforcement")))
		goto cleanup;
	if (mysql_optionsv(c->m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name",
			   "snapstage") != 0) {
		error = ss_error_set(SS_ERROR, "libmariadb: cannot set program_name");
		goto cleanup;
	}
	if (verify_ca &&
	    (error = set_option(c->m, MYSQL_OPT_SSL_CA, db->ca_path, "TLS CA")))
		goto cleanup;
	if (db->tls_mode == APP_TLS_VERIFY_IDENTITY &&
	    (error = set_option(c->m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on,
				"TLS verification")))
		goto cleanup;
	if (db->tls_mode != APP_TLS_VERIFY_IDENTITY &&
	    (error = set_option(c->m, MARIADB_OPT_RESTRICTED_AUTH, SAFE_AUTH_PLUGINS,
				"restricted auth")))
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

static void close_conn(db_conn *c)
{
	if (c->m)
		mysql_close(c->m);
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

static int probe_sources(app_db_status *st, const db_conn *c)
{
	static const char sql[] = "SHOW ALL SLAVES STATUS";
	enum {
		NAME,
		HOST,
		PORT,
		IO,
		SQL,
		IO_ERRNO,
		IO_ERROR,
		SQL_ERRNO,
		SQL_ERROR,
		BEHIND,
		N_COLUMNS
	};
	static const char *const names[] = { "Connection_name",
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
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int idx[N_COLUMNS];
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
	if ((error = columns(idx, res, names, c, sql)))
		goto cleanup;
	while ((row = mysql_fetch_row(res))) {
		app_db_source *s = &st->sources[st->n_sources];
		int64_t port, io_errno, sql_errno;

		if ((error = copy_field(s->connection_name, sizeof(s->connection_name),
					row[idx[NAME]], false, c, "Connection_name")) ||
		    (error = copy_field(s->master_host, sizeof(s->master_host),
					row[idx[HOST]], false, c, "Master_Host")) ||
		    (error = int_field(&port, row[idx[PORT]], 0, c, "Master_Port")) ||
		    (error = copy_field(s->io_running, sizeof(s->io_running),
					row[idx[IO]], true, c, "Slave_IO_Running")) ||
		    (error = copy_field(s->sql_running, sizeof(s->sql_running),
					row[idx[SQL]], true, c, "Slave_SQL_Running")) ||
		    (error = int_field(&io_errno, row[idx[IO_ERRNO]], 0, c,
				       "Last_IO_Errno")) ||
		    (error = copy_field(s->last_io_error, sizeof(s->last_io_error),
					row[idx[IO_ERROR]], true, c, "Last_IO_Error")) ||
		    (error = int_field(&sql_errno, row[idx[SQL_ERRNO]], 0, c,
				       "Last_SQL_Errno")) ||
		    (error = copy_field(s->last_sql_error, sizeof(s->last_sql_error),
					row[idx[SQL_ERROR]], true, c,
					"Last_SQL_Error")) ||
		    (error = int_field(&s->seconds_behind_master, row[idx[BEHIND]], -1, c,
				       "Seconds_Behind_Master")))
			goto cleanup;
		s->master_port = (int)port;
		s->last_io_errno = (int)io_errno;
		s->last_sql_errno = (int)sql_errno;
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
		snprintf(reason, cap, "%s: IO thread %s: error %d: %s", label,
			 strcmp(s->io_running, "Yes") == 0 ? "running" : "not running",
			 s->last_io_errno, s->last_io_error);
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

struct app_lock_session {
	db_conn c;
	app_lock_info info;
	/* app_db_lock_read_position()'s strings */
	char *gtid_binlog_pos;
	char *gtid_slave_pos;
	char *gtid_current_pos;
	char *binlog_file;
	char *primary_binlog_file;
};

static const char *stage_sql(int stage)
{
	switch (stage) {
	case APP_STAGE_FLUSH: return "BACKUP STAGE FLUSH";
	case APP_STAGE_BLOCK_DDL: return "BACKUP STAGE BLOCK_DDL";
	case APP_STAGE_BLOCK_COMMIT: return "BACKUP STAGE BLOCK_COMMIT";
	default: return NULL;
	}
}

static void free_position(app_lock_session *s)
{
	ss_free_str(&s->gtid_binlog_pos);
	ss_free_str(&s->gtid_slave_pos);
	ss_free_str(&s->gtid_current_pos);
	ss_free_str(&s->binlog_file);
	ss_free_str(&s->primary_binlog_file);
}

/* Ends whatever stage a failed begin may hold, keeping the thread's error:
 * BACKUP STAGE END on the session's connection ("not running" is fine:
 * nothing was taken); if that is impossible (the connection broke, or a
 * statement is still running on it), close the connection and KILL it
 * through `db`, so the server cannot go on holding it. */
static void abandon(app_lock_session *s, app_db *db)
{
	static const char sql[] = "BACKUP STAGE END";
	ss_error saved = *ss_error_last();
	char message[SS_ERROR_MESSAGE_MAX];

	ss_strlcpy(message, saved.message, sizeof(message));
	if (s->c.m) {
		if (mysql_real_query(s->c.m, sql, strlen(sql)) == 0) {
			mysql_free_result(mysql_store_result(s->c.m));
			goto done;
		}
		if (mysql_errno(s->c.m) == ER_BACKUP_NOT_RUNNING)
			goto done;
	}
	close_conn(&s->c);
	if (db && s->info.connection_id > 0)
		(void)app_db_kill_connection(db, s->info.connection_id);
done:
	s->info.held = false;
	ss_error_set(saved.code, "%s", message);
}

int app_db_lock_begin(app_lock_session **out, app_db *db, app_lock_stage stage,
		      int acquire_timeout_seconds)
{
	return app_db_lock_begin_ex(out, db, stage, acquire_timeout_seconds, NULL, NULL);
}

int app_db_lock_begin_ex(app_lock_session **out, app_db *db, app_lock_stage stage,
			 int acquire_timeout_seconds, app_db_before_lock_fn before,
			 void *payload)
{
	app_lock_session *s = NULL;
	char sql[SQL_MAX];
	bool started = false;
	int64_t t0;
	int error, i;

	if (!stage_sql((int)stage))
		return ss_error_set(SS_EINVALID, "mariadb: unknown lock stage %d",
				    (int)stage);
	if (acquire_timeout_seconds < 1 || acquire_timeout_seconds > 3600)
		return ss_error_set(SS_EINVALID,
				    "mariadb: acquire timeout %d s is not in 1..3600",
				    acquire_timeout_seconds);
	s = calloc(1, sizeof(*s));
	if (!s)
		return ss_error_set(SS_ENOMEM, "out of memory");
	s->info.connection_id = -1;
	s->info.stage = stage;
	s->info.held_ms = -1;
	memcpy(s->c.where, db->c.where, sizeof(s->c.where));
	s->c.user = ss_strdup(db->c.user);
	if (!s->c.user) {
		error = SS_ENOMEM;
		goto cleanup;
	}
	/* A stage may wait acquire_timeout_seconds for the lock before the
	 * server answers; the read timeout must not cut that short. */
	if ((error = open_conn(&s->c, db, db->timeout_s + acquire_timeout_seconds)) ||
	    (error = select_connection_id(&s->info.connection_id, &s->c)))
		goto cleanup;
	snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %d",
		 acquire_timeout_seconds);
	if ((error = run(&s->c, sql, NULL)))
		goto cleanup;
	if (before && (error = before(payload, s->info.connection_id)) < 0)
		goto cleanup;
	t0 = mono_ns();
	/* From here on a failure may leave something held (a lost answer to
	 * START is no proof that START did not take effect). */
	started = true;
	if ((error = run(&s->c, "BACKUP STAGE START", "RELOAD")))
		goto cleanup;
	for (i = APP_STAGE_FLUSH; i <= (int)stage; i++)
		if ((error = run(&s->c, stage_sql(i), "RELOAD")))
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
		close_conn(&s->c);
		free(s->c.user);
		free(s);
	}
	return error;
}

const app_lock_info *app_db_lock_info(const app_lock_session *s)
{
	return &s->info;
}

/* The session's copy of a field (NULL reads as ""). */
static int keep(char **dst, const char *value)
{
	*dst = ss_strdup(value ? value : "");
	return *dst ? 0 : SS_ENOMEM;
}

int app_db_lock_read_position(app_position *out, app_lock_session *s)
{
	static const char vars[] = "SELECT @@gtid_binlog_pos, @@gtid_slave_pos, "
				   "@@gtid_current_pos";
	static const char slave[] = "SHOW SLAVE STATUS";
	static const char *const slave_names[] = { "Relay_Master_Log_File",
						   "Exec_Master_Log_Pos", NULL };
	char file[APP_DB_NAME_MAX];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	app_position p;
	int idx[2];
	int error;

	if (!s->info.held || !s->c.m)
		return ss_error_set(SS_EINVALID, "%s: the backup lock is not held",
				    s->c.where);
	free_position(s);
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
	if (error)
		free_position(s);
	return error;
}

int app_db_lock_end(app_lock_session *s, int64_t *out_held_ms)
{
	int error;

	if (!s->info.held || !s->c.m)
		return ss_error_set(SS_EINVALID, "%s: the backup lock is not held",
				    s->c.where);
	error = run(&s->c, "BACKUP STAGE END", NULL);
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

void app_db_lock_free(app_lock_session *s)
{
	if (!s)
		return;
	if (s->info.held && s->c.m) {
		ss_error saved = *ss_error_last();
		char message[SS_ERROR_MESSAGE_MAX];

		ss_strlcpy(message, saved.message, sizeof(message));
		(void)run(&s->c, "BACKUP STAGE END", NULL);
		if (saved.code != 0)
			ss_error_set(saved.code, "%s", message);
		else
			ss_error_clear();
	}
	close_conn(&s->c);
	free_position(s);
	free(s->c.user);
	free(s);
}

/* ---- ending a leftover session -------------------------------------------- */

static int connection_exists(bool *out, const db_conn *c, int64_t id)
{
	char sql[SQL_MAX];
	MYSQL_RES *res = NULL;
	int error;

	snprintf(sql, sizeof(sql),
		 "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %" PRId64, id);
	if ((error = query(&res, c, sql, NULL)))
		return error;
	*out = mysql_num_rows(res) > 0;
	mysql_free_result(res);
	return 0;
}

int app_db_kill_connection(app_db *db, int64_t connection_id)
{
	char sql[SQL_MAX];
	int64_t deadline;
	bool exists = true;
	int error;

	if (connection_id <= 0)
		return ss_error_set(SS_EINVALID, "%s: no connection id %" PRId64,
				    db->c.where, connection_id);
	if (connection_id == db->connection_id)
		return ss_error_set(SS_EINVALID,
				    "%s: connection %" PRId64 " is this connection",
				    db->c.where, connection_id);
	snprintf(sql, sizeof(sql), "KILL CONNECTION %" PRId64, connection_id);
	if ((error = run(&db->c, sql, NULL)))
		return error;
	/* KILL returns before the victim has ended; its locks go when it does. */
	deadline = mono_ns() + (int64_t)db->timeout_s * SS_NS_PER_SEC;
	for (;;) {
		struct timespec pause = { 0, KILL_POLL_NS };

		if ((error = connection_exists(&exists, &db->c, connection_id)))
			return error;
		if (!exists)
			return 0;
		if (mono_ns() >= deadline)
			return ss_error_set(SS_ETIMEOUT,
					    "%s: connection %" PRId64 " was killed but "
					    "is still there after %d s",
					    db->c.where, connection_id, db->timeout_s);
		nanosleep(&pause, NULL);
	}
}

/* ---- replication on a replica -------------------------------------------- */

#define SLAVE_ADMIN "REPLICATION SLAVE ADMIN"

int app_db_replication_pause(app_db *db)
{
	return run(&db->c, "STOP ALL SLAVES SQL_THREAD", SLAVE_ADMIN);
}

int app_db_replication_resume(app_db *db)
{
	return run(&db->c, "START ALL SLAVES SQL_THREAD", SLAVE_ADMIN);
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

int app_db_restore_as_replica(app_db *db, const app_db_replication_source *src,
			      const char *gtid_pos)
{
	char lit[2 * LITERAL_MAX + 3], sql[SQL_MAX + sizeof(lit)];
	char h[sizeof(lit)], u[sizeof(lit)], p[sizeof(lit)],
		change[SQL_MAX + 3 * sizeof(lit)];
	int rc;

	if ((rc = literal(lit, sizeof(lit), &db->c, gtid_pos ? gtid_pos : "",
			  "the GTID position")) < 0 ||
	    (rc = literal(h, sizeof(h), &db->c, src->host, "the primary's host")) < 0 ||
	    (rc = literal(u, sizeof(u), &db->c, src->user, "the replication user")) < 0 ||
	    (rc = literal(p, sizeof(p), &db->c, src->password,
			  "the replication password")) < 0)
		goto done;
	snprintf(sql, sizeof(sql), "SET GLOBAL gtid_slave_pos = %s", lit);
	snprintf(change, sizeof(change),
		 "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %d, MASTER_USER = %s, "
		 "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos, "
		 "MASTER_CONNECT_RETRY = 5",
		 h, src->port, u, p);
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
