//! Serves the XML-RPC API over the in-memory fake backend, for lavacli tests.
//!
//! `api_fake_server [--bind 127.0.0.1:0] [--user NAME:TOKEN[:admin]]...` prints
//! `listening on http://ADDR/RPC2` once bound (port 0 picks a free port), then serves until
//! killed.

use clap::Parser;
use lava_bins::api::{Api, FakeBackend};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Parser)]
#[command(about = "XML-RPC API over an in-memory lab, for tests")]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// A user: NAME:TOKEN, or NAME:TOKEN:admin for an admin.
    #[arg(long = "user")]
    users: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let backend = FakeBackend::new();
    for spec in &args.users {
        let mut parts = spec.splitn(3, ':');
        let (Some(name), Some(token)) = (parts.next(), parts.next()) else {
            return Err(format!("--user {spec}: expected NAME:TOKEN[:admin]").into());
        };
        let admin = match parts.next() {
            None => false,
            Some("admin") => true,
            Some(other) => return Err(format!("--user {spec}: unknown flag '{other}'").into()),
        };
        backend.add_user(name, token, admin);
    }
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on http://{addr}/RPC2")?;
    out.flush()?;
    Api::new(Arc::new(backend)).serve(listener).await?;
    Ok(())
}
