//! `lipa backup`: the command, run against the database of a gateway that keeps taking payments meanwhile;
//! the copy opens on its own and holds the data. PostgreSQL: the command names pg_dump and writes nothing.

mod common;

use std::process::Command;

use common::{spawn, Backend};
use serde_json::json;

fn lipa(db: &str, args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lipa"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LIPA_DATABASE_URL", db)
        .current_dir(dir)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

// Several threads: payments keep arriving while the backup subprocess runs.
async fn backup_while_serving(backend: Backend) {
    let app = spawn(&backend).await;
    let db = app.gw.state.cfg.database_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("lipa-backup.db");
    let dest_s = dest.to_str().unwrap().to_string();
    let before = app.create(json!({"amount": 800, "phone": "0708374149", "reference": "BKP-1"})).await;
    app.settled(before["id"].as_str().unwrap()).await;

    // Keep the gateway writing during the backup.
    let writer = {
        let (url, key, http) = (app.url.clone(), app.key.clone(), app.http.clone());
        tokio::spawn(async move {
            for i in 0..40 {
                let body = json!({"amount": 10 + i, "reference": format!("BKP-LOAD-{i}")});
                let r = http.post(format!("{url}/v1/payments")).bearer_auth(&key).json(&body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 201);
            }
        })
    };
    let (ok, text) = {
        let (db, dir) = (db.clone(), dir.path().to_path_buf());
        tokio::task::spawn_blocking(move || lipa(&db, &["backup", &dest_s], &dir)).await.unwrap()
    };
    writer.await.unwrap();

    match backend {
        Backend::Sqlite => {
            assert!(ok, "{text}");
            assert!(text.contains("integrity check ok"), "{text}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "the backup is readable by its owner only");
            }
            // The copy is a database of its own: lipa opens it and finds the payment made before.
            let copy = lipa::store::open(&format!("sqlite://{}", dest.display())).await.unwrap();
            let p = copy.get_payment(before["id"].as_str().unwrap()).await.unwrap().expect("in the backup");
            assert_eq!((p.reference.as_str(), p.status.as_str()), ("BKP-1", "succeeded"));
            assert!(p.mpesa_receipt.is_some());
            // Never overwrites.
            let (ok, text) = lipa(&db, &["backup", dest.to_str().unwrap()], dir.path());
            assert!(!ok && text.contains("already exists"), "{text}");
        }
        Backend::Postgres(_) => {
            assert!(!ok, "nothing was written, so it is not a success: {text}");
            assert!(text.contains("pg_dump") && text.contains("pg_restore"), "{text}");
            assert!(!dest.exists());
        }
    }
    app.stop().await;
}
each_backend!(backup_while_serving, #[tokio::test(flavor = "multi_thread", worker_threads = 2)]);
