//! The SQL stores' shared code path.
//!
//! SQLite and PostgreSQL run the same statements through the small synchronous [`SqlTx`]
//! interface, so the two stores cannot drift apart in behaviour: only the schema's column
//! types, the locking and the connection handling differ. Statements are written with `?`
//! placeholders; the PostgreSQL side numbers them.

pub(crate) mod ops;
pub(crate) mod schema;
mod store;

pub use store::{Backend, SqlStore};
pub(crate) use store::{TxFn, TxMode};

use crate::error::{Result, StoreError};

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bool(bool),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Self {
        Param::Text(s)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(s: &'a String) -> Self {
        Param::Text(s)
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// A value read from a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

/// Which SQL the backend speaks, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// One open transaction.
pub(crate) trait SqlTx {
    /// Which SQL dialect the statements go to.
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Value>>>;
    /// Runs several statements without parameters (schema migrations).
    fn batch(&mut self, sql: &str) -> Result<()>;
}

/// Reads the columns of one row in order, naming the row in errors.
pub(crate) struct Cols<'r> {
    row: std::vec::IntoIter<Value>,
    what: &'r dyn Fn() -> String,
}

impl<'r> Cols<'r> {
    pub(crate) fn new(row: Vec<Value>, what: &'r dyn Fn() -> String) -> Self {
        Cols {
            row: row.into_iter(),
            what,
        }
    }

    fn bad(&self, expected: &str, got: &Value) -> StoreError {
        StoreError::BadValue(format!(
            "{}: expected {expected}, found {got:?}",
            (self.what)()
        ))
    }

    fn next(&mut self) -> Result<Value> {
        self.row
            .next()
            .ok_or_else(|| StoreError::BadValue(format!("{}: missing column", (self.what)())))
    }

    pub(crate) fn int(&mut self) -> Result<i64> {
        match self.next()? {
            Value::Int(v) => Ok(v),
            other => Err(self.bad("an integer", &other)),
        }
    }

    pub(crate) fn opt_int(&mut self) -> Result<Option<i64>> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(v)),
            other => Err(self.bad("an integer or NULL", &other)),
        }
    }

    pub(crate) fn text(&mut self) -> Result<String> {
        match self.next()? {
            Value::Text(v) => Ok(v),
            other => Err(self.bad("text", &other)),
        }
    }

    pub(crate) fn opt_text(&mut self) -> Result<Option<String>> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v)),
            other => Err(self.bad("text or NULL", &other)),
        }
    }

    pub(crate) fn bool(&mut self) -> Result<bool> {
        match self.next()? {
            Value::Bool(v) => Ok(v),
            // SQLite keeps booleans as 0/1.
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            other => Err(self.bad("a boolean", &other)),
        }
    }

    /// A LAVA integer code, decoded with `from_code`.
    pub(crate) fn code<T>(&mut self, field: &str, from_code: fn(i32) -> Option<T>) -> Result<T> {
        let raw = self.int()?;
        i32::try_from(raw).ok().and_then(from_code).ok_or_else(|| {
            StoreError::BadValue(format!("{}: unknown {field} code {raw}", (self.what)()))
        })
    }

    /// A non-negative count.
    pub(crate) fn count(&mut self, field: &str) -> Result<u64> {
        let raw = self.int()?;
        u64::try_from(raw)
            .map_err(|_| StoreError::BadValue(format!("{}: negative {field} {raw}", (self.what)())))
    }

    pub(crate) fn opt_count(&mut self, field: &str) -> Result<Option<u64>> {
        match self.opt_int()? {
            None => Ok(None),
            Some(raw) => u64::try_from(raw).map(Some).map_err(|_| {
                StoreError::BadValue(format!("{}: negative {field} {raw}", (self.what)()))
            }),
        }
    }
}
