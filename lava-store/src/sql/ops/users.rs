//! Users and API tokens.

use super::*;
use crate::error::{Result, StoreError};
use crate::sql::{Cols, Param, SqlTx, Value};
use crate::token::digest;
use crate::types::{TokenInfo, User};
use lava_core::time::Timestamp;

fn user_from_row(row: Vec<Value>) -> Result<User> {
    let what = || "a row of users".to_owned();
    let mut c = Cols::new(row, &what);
    Ok(User {
        username: c.text()?,
        is_admin: c.bool()?,
        email: c.text()?,
    })
}

pub(crate) fn add_user(tx: &mut dyn SqlTx, u: &User) -> Result<()> {
    if exists(
        tx,
        "SELECT 1 FROM users WHERE username = ?",
        (&u.username).into(),
    )? {
        return Err(StoreError::AlreadyExists(format!("user {}", u.username)));
    }
    tx.execute(
        "INSERT INTO users (username, is_admin, email) VALUES (?, ?, ?)",
        &[(&u.username).into(), u.is_admin.into(), (&u.email).into()],
    )?;
    Ok(())
}

pub(crate) fn update_user(tx: &mut dyn SqlTx, u: &User) -> Result<()> {
    let n = tx.execute(
        "UPDATE users SET is_admin = ?, email = ? WHERE username = ?",
        &[u.is_admin.into(), (&u.email).into(), (&u.username).into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("user {}", u.username)));
    }
    Ok(())
}

pub(crate) fn user(tx: &mut dyn SqlTx, username: &str) -> Result<Option<User>> {
    tx.query(
        "SELECT username, is_admin, email FROM users WHERE username = ?",
        &[username.into()],
    )?
    .into_iter()
    .next()
    .map(user_from_row)
    .transpose()
}

pub(crate) fn users(tx: &mut dyn SqlTx) -> Result<Vec<User>> {
    tx.query(
        "SELECT username, is_admin, email FROM users ORDER BY username",
        &[],
    )?
    .into_iter()
    .map(user_from_row)
    .collect()
}

pub(crate) fn remove_user(tx: &mut dyn SqlTx, username: &str) -> Result<()> {
    tx.execute("DELETE FROM tokens WHERE username = ?", &[username.into()])?;
    tx.execute(
        "DELETE FROM group_members WHERE username = ?",
        &[username.into()],
    )?;
    if tx.execute("DELETE FROM users WHERE username = ?", &[username.into()])? == 0 {
        return Err(StoreError::NotFound(format!("user {username}")));
    }
    Ok(())
}

fn token_from_row(row: Vec<Value>) -> Result<TokenInfo> {
    let what = || "a row of tokens".to_owned();
    let mut c = Cols::new(row, &what);
    Ok(TokenInfo {
        id: c.int()?,
        username: c.text()?,
        description: c.text()?,
        created: Timestamp(c.int()?),
    })
}

pub(crate) fn add_token(
    tx: &mut dyn SqlTx,
    username: &str,
    secret: &str,
    description: &str,
    created: Timestamp,
) -> Result<TokenInfo> {
    if secret.is_empty() {
        return Err(StoreError::Invalid {
            field: format!("token of user {username}"),
            reason: "the secret is empty".into(),
        });
    }
    if !exists(
        tx,
        "SELECT 1 FROM users WHERE username = ?",
        username.into(),
    )? {
        return Err(StoreError::NotFound(format!("user {username}")));
    }
    let digest = digest(secret);
    if exists(
        tx,
        "SELECT 1 FROM tokens WHERE digest = ?",
        (&digest).into(),
    )? {
        return Err(StoreError::AlreadyExists(
            "a token with this secret".to_owned(),
        ));
    }
    let rows = tx.query(
        "INSERT INTO tokens (username, digest, description, created) VALUES (?, ?, ?, ?) \
         RETURNING id, username, description, created",
        &[
            username.into(),
            (&digest).into(),
            description.into(),
            Param::Int(created.0),
        ],
    )?;
    rows.into_iter()
        .next()
        .map(token_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::BadValue("INSERT INTO tokens returned no row".into()))
}

pub(crate) fn tokens(tx: &mut dyn SqlTx, username: &str) -> Result<Vec<TokenInfo>> {
    tx.query(
        "SELECT id, username, description, created FROM tokens WHERE username = ? ORDER BY id",
        &[username.into()],
    )?
    .into_iter()
    .map(token_from_row)
    .collect()
}

pub(crate) fn remove_token(tx: &mut dyn SqlTx, id: i64) -> Result<()> {
    if tx.execute("DELETE FROM tokens WHERE id = ?", &[Param::Int(id)])? == 0 {
        return Err(StoreError::NotFound(format!("token {id}")));
    }
    Ok(())
}

pub(crate) fn authenticate(
    tx: &mut dyn SqlTx,
    username: &str,
    secret: &str,
) -> Result<Option<User>> {
    let digest = digest(secret);
    tx.query(
        "SELECT users.username, users.is_admin, users.email FROM tokens \
         JOIN users ON users.username = tokens.username \
         WHERE tokens.digest = ? AND tokens.username = ?",
        &[(&digest).into(), username.into()],
    )?
    .into_iter()
    .next()
    .map(user_from_row)
    .transpose()
}
