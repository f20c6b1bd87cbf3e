//! `herald migrate`: apply migrations and exit.

use anyhow::Context as _;

use crate::cli::DatabaseArgs;
use crate::database::Database;
use crate::store::Store;

pub async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let database = Database::open(&args).await?;
    let result = async {
        let store = Store::connect(database.connect_options(), &args.pool_config()?).await?;
        let applied = store
            .migrate(|index, total, description| {
                eprintln!("[{index}/{total}] applied {description}");
            })
            .await?;
        store.pool().close().await;
        anyhow::Ok(applied)
    }
    .await;
    database.close().await?;
    let applied = result.context("migration failed")?;
    if applied == 0 {
        println!("schema is up to date (nothing to apply)");
    } else {
        println!("{applied} migration(s) applied; schema is up to date");
    }
    Ok(())
}
