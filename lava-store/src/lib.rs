//! Stores for lava-rs: the `Store` trait, SQLite (the embedded default), PostgreSQL and an
//! in-memory store, plus the slave's job table.
