//! Every store operation, written once against [`SqlTx`].
//!
//! The caller opens the transaction; each function reads or writes inside it and leaves
//! commit or rollback to the caller, so an error anywhere undoes the whole operation.

mod groups;
mod jobs;
mod lab;
mod records;
mod users;

pub(crate) use groups::*;
pub(crate) use jobs::*;
pub(crate) use lab::*;
pub(crate) use records::*;
pub(crate) use users::*;

use super::{Dialect, Param, SqlTx, Value};
use crate::error::{Result, StoreError};
use std::collections::HashSet;

fn first_int(rows: &[Vec<Value>]) -> Option<i64> {
    match rows.first().and_then(|r| r.first()) {
        Some(Value::Int(v)) => Some(*v),
        _ => None,
    }
}

fn exists(tx: &mut dyn SqlTx, sql: &str, key: Param<'_>) -> Result<bool> {
    Ok(!tx.query(sql, &[key])?.is_empty())
}

fn texts(rows: Vec<Vec<Value>>) -> Vec<String> {
    rows.into_iter()
        .filter_map(|r| match r.into_iter().next() {
            Some(Value::Text(t)) => Some(t),
            Some(Value::Int(i)) => Some(i.to_string()),
            _ => None,
        })
        .collect()
}

fn u32_field(raw: i64, what: &str) -> Result<u32> {
    u32::try_from(raw).map_err(|_| StoreError::BadValue(format!("{what} {raw} is out of range")))
}

/// `FOR UPDATE` where the dialect has it: PostgreSQL locks the rows a precondition read, so
/// nobody changes them before commit; SQLite's write transaction already excludes writers.
fn for_update(tx: &dyn SqlTx) -> &'static str {
    match tx.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    }
}

/// Names that exist, remembered across the rows of one transaction so that a bulk
/// submission checks each device type and tag once.
#[derive(Default)]
struct Known {
    device_types: HashSet<String>,
    tags: HashSet<String>,
    workers: HashSet<String>,
}

impl Known {
    fn device_type(&mut self, tx: &mut dyn SqlTx, name: &str, owner: &str) -> Result<()> {
        if self.device_types.contains(name) {
            return Ok(());
        }
        if !exists(tx, "SELECT 1 FROM device_types WHERE name = ?", name.into())? {
            return Err(StoreError::NotFound(format!(
                "device type {name} (of {owner})"
            )));
        }
        self.device_types.insert(name.to_owned());
        Ok(())
    }

    fn tag(&mut self, tx: &mut dyn SqlTx, name: &str, owner: &str) -> Result<()> {
        if self.tags.contains(name) {
            return Ok(());
        }
        if !exists(tx, "SELECT 1 FROM tags WHERE name = ?", name.into())? {
            return Err(StoreError::NotFound(format!("tag {name} (of {owner})")));
        }
        self.tags.insert(name.to_owned());
        Ok(())
    }

    fn worker(&mut self, tx: &mut dyn SqlTx, name: &str, owner: &str) -> Result<()> {
        if self.workers.contains(name) {
            return Ok(());
        }
        if !exists(tx, "SELECT 1 FROM workers WHERE hostname = ?", name.into())? {
            return Err(StoreError::NotFound(format!("worker {name} (of {owner})")));
        }
        self.workers.insert(name.to_owned());
        Ok(())
    }
}

/// Keys per `IN (...)` list. Every chunk has exactly this many placeholders (a short last
/// chunk repeats its last key), so each query has one statement text and stays prepared.
const CHUNK: usize = 100;

/// `sql` with `{keys}` replaced by [`CHUNK`] placeholders.
fn in_list(sql: &str) -> String {
    sql.replace("{keys}", &vec!["?"; CHUNK].join(", "))
}

/// Pads a chunk of keys to [`CHUNK`] by repeating its last key.
fn padded<'a>(chunk: &[Param<'a>]) -> Vec<Param<'a>> {
    let mut params = chunk.to_vec();
    if let Some(last) = chunk.last().copied() {
        params.resize(CHUNK, last);
    }
    params
}

/// Runs a query whose `{keys}` is an `IN` list, over all `keys`, a chunk at a time.
fn query_in(tx: &mut dyn SqlTx, sql: &str, keys: &[Param<'_>]) -> Result<Vec<Vec<Value>>> {
    let sql = in_list(sql);
    let mut rows = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        rows.extend(tx.query(&sql, &padded(chunk))?);
    }
    Ok(rows)
}

/// Runs a statement whose `{keys}` is an `IN` list, over all `keys`, a chunk at a time.
fn execute_in(tx: &mut dyn SqlTx, sql: &str, keys: &[Param<'_>]) -> Result<()> {
    let sql = in_list(sql);
    for chunk in keys.chunks(CHUNK) {
        tx.execute(&sql, &padded(chunk))?;
    }
    Ok(())
}
