//! `lipa backup <path>`: a consistent copy of the configured SQLite database, taken while the gateway runs.
//!
//! SQLite's `VACUUM INTO` writes a snapshot of the database as one read transaction: in WAL mode the gateway
//! keeps writing meanwhile, and the copy holds every transaction committed before it began and nothing
//! after (no `-wal`/`-shm` files to copy alongside). The copy is then opened and checked. PostgreSQL has its
//! own tools (`pg_dump`), which lipa names rather than imitates.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// What a finished backup holds.
#[derive(Debug)]
pub struct BackupSummary {
    pub bytes: u64,
    pub payments: i64,
    pub events: i64,
}

/// How to back up and restore a PostgreSQL database with its own tools.
pub fn postgres_advice(database_url: &str, path: &Path) -> String {
    let shown = crate::config::redact_url(database_url);
    format!(
        "lipa backup copies SQLite databases only; {shown} is PostgreSQL, which has its own online backup:\n\
         \n  pg_dump --format=custom --file={path} \"$LIPA_DATABASE_URL\"\n\
         \nIt takes a consistent snapshot while lipa keeps running. Restore into an empty database with:\n\
         \n  pg_restore --no-owner --dbname=\"$LIPA_DATABASE_URL\" {path}\n\
         \nFor point-in-time recovery use PostgreSQL's WAL archiving (or your provider's backups).",
        path = path.display()
    )
}

/// The file path in a `sqlite://…` (or bare) database URL.
fn sqlite_path(database_url: &str) -> &str {
    let path =
        database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:")).unwrap_or(database_url);
    path.split('?').next().unwrap_or(path)
}

/// Copy the SQLite database at `database_url` to `dest` (which must not exist) and check the copy.
pub async fn sqlite_backup(database_url: &str, dest: &Path) -> anyhow::Result<BackupSummary> {
    let source = sqlite_path(database_url);
    if !Path::new(source).exists() {
        bail!("there is no database at {source} (LIPA_DATABASE_URL): nothing to back up");
    }
    if dest.exists() {
        bail!("{} already exists: give a new file name (lipa never overwrites a backup)", dest.display());
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!("the directory {} does not exist", dir.display());
        }
    }
    let dest_text = dest.to_str().context("the backup path must be valid UTF-8")?;
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{source}"))?
        .create_if_missing(false)
        // The gateway may hold the write lock for a moment; wait rather than fail.
        .busy_timeout(Duration::from_secs(30));
    let mut conn = opts.connect().await.with_context(|| format!("cannot open {source}"))?;
    // The copy holds what the database holds (callback secrets, phone numbers): readable by its owner only.
    // VACUUM INTO fills an empty file, so it is made first, with that mode.
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    create.open(dest).with_context(|| format!("cannot create the backup {}", dest.display()))?;
    let copied = sqlx::query("VACUUM INTO ?").bind(dest_text).execute(&mut conn).await;
    if let Err(e) = copied {
        // Leave no half-made file behind (it would block the next try).
        let _ = std::fs::remove_file(dest);
        return Err(e).with_context(|| format!("cannot write the backup {}", dest.display()));
    }
    conn.close().await?;

    // Open the copy on its own and check it before calling it a backup.
    let mut copy = SqliteConnectOptions::from_str(&format!("sqlite://{dest_text}"))?.read_only(true).connect().await?;
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut copy).await?;
    if check != "ok" {
        bail!("the backup {} failed SQLite's integrity check: {check}", dest.display());
    }
    let (payments,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM payments").fetch_one(&mut copy).await?;
    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(&mut copy).await?;
    copy.close().await?;
    let bytes = std::fs::metadata(dest)?.len();
    Ok(BackupSummary { bytes, payments, events })
}
