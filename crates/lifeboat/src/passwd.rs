//! `lifeboat passwd`: set or remove the dashboard's password, or end a lockout of logins. The
//! password is read without echo from the terminal (twice), or as one line from standard input
//! when that is not a terminal (scripts, containers); only its argon2 hash reaches the database.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use lifeboat_store::Store;
use lifeboat_web::LOCKOUT_SETTING;

use crate::cli::PasswdArgs;
use crate::state_dir;
use lifeboat_app::PASSWORD_SETTING;

/// Shorter passwords are refused: the dashboard can start and stop a DHCP server.
const MIN_LENGTH: usize = 8;

pub(crate) async fn run(args: PasswdArgs) -> anyhow::Result<()> {
    let db = state_dir::given_or_default(args.db)?;
    let store = Store::connect(&db).await?;
    if args.unlock {
        let lifted = store.remove_setting(LOCKOUT_SETTING).await?;
        let what =
            if lifted { "the lockout of dashboard logins is lifted" } else { "dashboard logins were not locked" };
        eprintln!("{what} ({db})");
        return Ok(());
    }
    if args.remove {
        let removed = store.remove_setting(PASSWORD_SETTING).await?;
        let what = if removed { "password removed" } else { "no password was set" };
        eprintln!("{what} in {db}: the dashboard now runs on loopback only, or with --web-token");
        return Ok(());
    }
    let password = read_password()?;
    if password.chars().count() < MIN_LENGTH {
        anyhow::bail!("the password is too short: use at least {MIN_LENGTH} characters");
    }
    let hash = lifeboat_web::hash_password(&password)?;
    store.set_setting(PASSWORD_SETTING, &hash).await?;
    if store.remove_setting(LOCKOUT_SETTING).await? {
        eprintln!("the lockout of dashboard logins is lifted");
    }
    store.close().await;
    eprintln!("password set in {db}; restart `lifeboat serve` for it to apply");
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New dashboard password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read the password")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
