//! The PostgreSQL store: the same schema and statements as SQLite, over the blocking
//! `postgres` client (itself tokio-postgres underneath), run on blocking threads.
//!
//! The single-master lock is a session advisory lock keyed by the database and schema, held
//! by the store's connection; the connection's `application_name` names the holder, so a
//! second master's error says who it is. Reads run `REPEATABLE READ READ ONLY`, so the
//! scheduler's snapshot is one consistent view; writes lock the rows their preconditions
//! read (`SELECT ... FOR UPDATE`).
//!
//! A connection that dies (the server restarted, the network dropped it) is replaced by a
//! new one at the next transaction, which takes the master lock again first: a restarted
//! PostgreSQL costs the calls made while it was down, not a master restart. When the
//! connection turns out dead at `BEGIN`, nothing of the transaction has run yet, so it is
//! run once more on the new connection; a connection lost later in a transaction fails
//! that call (its outcome is unknown to the caller, who retries what must be retried).

use crate::error::{Result, StoreError};
use crate::lock::hostname;
use crate::sql::schema;
use crate::sql::{Backend, Dialect, Param, SqlStore, SqlTx, TxFn, TxMode, Value};
use bytes::BytesMut;
use postgres::config::Host;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, Config, IsolationLevel, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Mutex;

/// The first key of the advisory lock ("lava" in ASCII); the second is derived from the
/// database and schema, so that stores in different schemas do not exclude each other.
const LOCK_CLASS: i32 = 0x6c61_7661;

/// How long connecting (or reconnecting) may take before the call fails, unless the
/// connection string sets `connect_timeout`: a server that does not answer must not hold
/// the master's event loop for the kernel's TCP timeout.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long one statement may run (or wait for a lock) before the server cancels it,
/// unless the connection string's `options` set `statement_timeout`: a statement stuck
/// behind another session's lock must not hold the master's event loop forever. The
/// canceled operation fails like any store error and is retried. The lab's statements take
/// milliseconds (a 10,000-job submission about a second).
const STATEMENT_TIMEOUT: &str = "60s";

/// How long a connection may stay silent before TCP keepalives probe it, unless the
/// connection string sets `keepalives_idle`: a server that vanished (host down, cable cut)
/// is noticed in a minute, not after the kernel's two hours.
const KEEPALIVES_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The PostgreSQL connection behind a [`PostgresStore`].
pub struct PostgresBackend {
    location: String,
    /// What to connect with (`application_name` set), for reconnections.
    config: Config,
    /// `None` when the connection died and no new one could be made yet.
    conn: Mutex<Option<PgConn>>,
    master: bool,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        // The blocking client closes its connection by running a small runtime, which panics
        // inside an async task; close it on a thread of its own instead.
        let conn = self.conn.get_mut().ok().and_then(Option::take);
        if let Some(conn) = conn {
            let _ = std::thread::Builder::new()
                .name("lava-store-pg-close".into())
                .spawn(move || drop(conn));
        }
    }
}

struct PgConn {
    client: Client,
    /// Prepared statements by their `?` text: each is parsed once per connection.
    statements: HashMap<String, Statement>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .field("master", &self.master)
            .finish()
    }
}

/// The production store: a PostgreSQL database.
pub type PostgresStore = SqlStore<PostgresBackend>;

/// The connection without its password, for messages.
fn describe(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    format!("postgresql://{user}@{host}:{port}/{db}")
}

fn map_err(location: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |source| StoreError::Postgres {
        location: location.to_owned(),
        source,
    }
}

impl SqlStore<PostgresBackend> {
    /// Connects for the master (`postgresql://user@host:port/db` or key=value form), takes
    /// the single-master advisory lock, and migrates the schema.
    pub async fn connect_master(url: &str) -> Result<Self> {
        Self::connect_with(Self::parse(url)?, true).await
    }

    /// Connects without the master lock (admin commands, the API), and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(Self::parse(url)?, false).await
    }

    fn parse(url: &str) -> Result<Config> {
        url.parse::<Config>().map_err(|e| StoreError::Invalid {
            field: "PostgreSQL connection string".into(),
            reason: e.to_string(),
        })
    }

    /// Connects with a ready [`Config`] (e.g. with `options` setting a `search_path`),
    /// taking the master lock if `master`.
    pub async fn connect_with(config: Config, master: bool) -> Result<Self> {
        tokio::task::spawn_blocking(move || Self::connect_blocking(config, master))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    fn connect_blocking(mut config: Config, master: bool) -> Result<Self> {
        let location = describe(&config);
        let role = if master { "master" } else { "client" };
        config.application_name(&format!(
            "lava-rs {role} pid {} on {}",
            std::process::id(),
            hostname()
        ));
        with_defaults(&mut config);
        let conn = open_connection(&config, &location, master)?;
        let backend = PostgresBackend {
            conn: Mutex::new(Some(conn)),
            config,
            location: location.clone(),
            master,
        };
        backend.transaction(
            TxMode::Write,
            Box::new(move |tx: &mut dyn SqlTx| {
                // Two processes starting at once must not both create the tables.
                tx.query(
                    "SELECT pg_advisory_xact_lock(?, hashtext(current_database() || '.' || current_schema()))",
                    &[Param::Int(i64::from(LOCK_CLASS) + 1)],
                )?;
                schema::migrate(tx, &location)
            }),
        )?;
        Ok(SqlStore::from_backend(backend))
    }

    /// The connection (without password).
    pub fn location(&self) -> &str {
        &self.backend.location
    }

    /// Whether this store holds the master lock.
    pub fn is_master(&self) -> bool {
        self.backend.master
    }
}

/// The lab's timeouts, where the connection string leaves them to the driver.
fn with_defaults(config: &mut Config) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_keepalives_idle() == std::time::Duration::from_secs(2 * 60 * 60) {
        // The driver's default: the connection string did not choose.
        config.keepalives_idle(KEEPALIVES_IDLE);
    }
    let options = config.get_options().unwrap_or_default();
    if !options.contains("statement_timeout") {
        let options = format!("{options} -c statement_timeout={STATEMENT_TIMEOUT}");
        config.options(options.trim_start());
    }
}

/// A new connection, holding the master lock if `master`.
fn open_connection(config: &Config, location: &str, master: bool) -> Result<PgConn> {
    let mut client = config.connect(NoTls).map_err(map_err(location))?;
    if master {
        take_lock(&mut client, location)?;
    }
    Ok(PgConn {
        client,
        statements: HashMap::new(),
    })
}

/// Whether `error` says the connection is gone: closed, an I/O error, the server shutting
/// down or not accepting connections (SQLSTATE class 57P), or a connection exception (08).
fn connection_lost(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("57P") || code.starts_with("08")
        }
        None => std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// `BEGIN`, as `mode` wants it.
fn begin(
    client: &mut Client,
    mode: TxMode,
) -> std::result::Result<postgres::Transaction<'_>, postgres::Error> {
    match mode {
        TxMode::Read => client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start(),
        TxMode::Write => client.transaction(),
    }
}

/// Runs `f` in `tx` and commits.
fn run_and_commit<T>(
    tx: postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    location: &str,
    f: TxFn<'_, T>,
) -> Result<T> {
    let mut pg = PgTx {
        tx,
        statements,
        location,
    };
    let result = f(&mut pg)?;
    pg.tx.commit().map_err(map_err(location))?;
    Ok(result)
}

fn take_lock(client: &mut Client, location: &str) -> Result<()> {
    let err = map_err(location);
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext(current_database() || '.' || current_schema()))",
            &[&LOCK_CLASS],
        )
        .map_err(&err)?;
    let taken: bool = row.try_get(0).map_err(&err)?;
    if taken {
        return Ok(());
    }
    let holder = client
        .query(
            "SELECT a.application_name, a.pid, COALESCE(host(a.client_addr), 'local socket') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid \
             AND l.objid = hashtext(current_database() || '.' || current_schema())::oid \
             AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&(LOCK_CLASS as u32)],
        )
        .map_err(&err)?
        .first()
        .and_then(|row| {
            let name: String = row.try_get(0).ok()?;
            let pid: i32 = row.try_get(1).ok()?;
            let from: String = row.try_get(2).ok()?;
            Some(format!("{name}, server backend pid {pid}, from {from}"))
        })
        .unwrap_or_else(|| "holder unknown".to_owned());
    Err(StoreError::Locked {
        location: location.to_owned(),
        holder,
    })
}

impl PostgresBackend {
    /// A new connection in place of a dead one (or none), saying so: the master lock was
    /// lost with the old connection and is taken again here.
    fn reconnect(&self, conn: &mut Option<PgConn>, why: &str) -> Result<()> {
        // Dropped here, on a blocking thread, where the client may close itself.
        *conn = None;
        match open_connection(&self.config, &self.location, self.master) {
            Ok(new) => {
                tracing::info!(store = %self.location, "PostgreSQL connection re-established ({why})");
                *conn = Some(new);
                Ok(())
            }
            Err(e) => {
                tracing::debug!(store = %self.location, "cannot reconnect to PostgreSQL: {e}");
                Err(e)
            }
        }
    }
}

impl Backend for PostgresBackend {
    #[allow(private_interfaces)]
    fn transaction<T>(&self, mode: TxMode, f: TxFn<'_, T>) -> Result<T> {
        let err = map_err(&self.location);
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Worker("a previous query panicked".into()))?;
        let mut fresh = false;
        if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.reconnect(&mut guard, "the previous one was closed")?;
            fresh = true;
        }
        let lost = {
            let Some(PgConn { client, statements }) = guard.as_mut() else {
                return Err(StoreError::Worker("no PostgreSQL connection".into()));
            };
            let failed = match begin(client, mode) {
                Ok(tx) => return run_and_commit(tx, statements, &self.location, f),
                Err(e) => e,
            };
            // Dead before anything ran (the server restarted while the connection was
            // idle): worth one more try on a new connection.
            if fresh || !(client.is_closed() || connection_lost(&failed)) {
                return Err(err(failed));
            }
            failed
        };
        let why = format!("the previous one failed: {}", err(lost));
        self.reconnect(&mut guard, &why)?;
        let Some(PgConn { client, statements }) = guard.as_mut() else {
            return Err(StoreError::Worker("no PostgreSQL connection".into()));
        };
        let tx = begin(client, mode).map_err(&err)?;
        run_and_commit(tx, statements, &self.location, f)
    }
}

struct PgTx<'c, 't> {
    tx: postgres::Transaction<'t>,
    statements: &'c mut HashMap<String, Statement>,
    location: &'c str,
}

/// `?` placeholders numbered `$1`, `$2`, ... (the statements hold no `?` in literals).
fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::OID => u32::try_from(v)?.to_sql(ty, out),
                _ => Err(format!("cannot store integer {v} in a {ty} column").into()),
            },
            Param::Text(s) => s.to_sql(ty, out),
            Param::Bool(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`: NULL fits any column.
        true
    }

    to_sql_checked!();
}

impl PgTx<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self
            .tx
            .prepare(&number_placeholders(sql))
            .map_err(map_err(self.location))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

fn bind<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl SqlTx for PgTx<'_, '_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        self.tx
            .execute(&stmt, &bind(params))
            .map_err(map_err(self.location))
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Value>>> {
        let stmt = self.statement(sql)?;
        let err = map_err(self.location);
        let rows = self.tx.query(&stmt, &bind(params)).map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let value = match *column.type_() {
                    Type::BOOL => row
                        .try_get::<_, Option<bool>>(i)
                        .map(|v| v.map(Value::Bool)),
                    Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
                    Type::INT4 => row
                        .try_get::<_, Option<i32>>(i)
                        .map(|v| v.map(|v| Value::Int(i64::from(v)))),
                    Type::INT2 => row
                        .try_get::<_, Option<i16>>(i)
                        .map(|v| v.map(|v| Value::Int(i64::from(v)))),
                    Type::VOID => Ok(None),
                    _ => row
                        .try_get::<_, Option<String>>(i)
                        .map(|v| v.map(Value::Text)),
                }
                .map_err(&err)?;
                values.push(value.unwrap_or(Value::Null));
            }
            out.push(values);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.tx.batch_execute(sql).map_err(map_err(self.location))
    }
}

#[cfg(test)]
mod tests {
    use super::{number_placeholders, with_defaults, Config, CONNECT_TIMEOUT, KEEPALIVES_IDLE};
    use std::time::Duration;

    #[test]
    fn timeouts_default_to_the_labs_unless_the_connection_string_sets_them() {
        let mut config: Config = "postgresql://lava@db/lava?options=-c%20search_path%3Dlab"
            .parse()
            .unwrap();
        with_defaults(&mut config);
        assert_eq!(
            config.get_options(),
            Some("-c search_path=lab -c statement_timeout=60s")
        );
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(config.get_keepalives_idle(), KEEPALIVES_IDLE);

        let mut config: Config = "host=db options='-c statement_timeout=5s' connect_timeout=3 \
                                  keepalives_idle=600"
            .parse()
            .unwrap();
        with_defaults(&mut config);
        assert_eq!(config.get_options(), Some("-c statement_timeout=5s"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(600));
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ?, b = ? WHERE c = ?"),
            "UPDATE t SET a = $1, b = $2 WHERE c = $3"
        );
        assert_eq!(number_placeholders("SELECT 1"), "SELECT 1");
    }
}
