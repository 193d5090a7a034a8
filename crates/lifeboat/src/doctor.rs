//! `lifeboat doctor`: the troubleshooting list of a recovery guide, checked, each ✓ or ✗ with
//! its fix in one line; exit status 1 when a check fails.

use std::process::ExitCode;
use std::time::Duration;

use lifeboat_app::doctor::{Examination, examine, watch_for};
use lifeboat_web::{CheckVerdict, DoctorCheck};

use crate::cli::DoctorArgs;
use crate::health::{self, Verdict};

pub(crate) async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let profile = match &args.profile {
        Some(name) => Some(lifeboat_app::profile_named(name, args.profiles.as_deref())?),
        None => None,
    };
    let mut unwatched = None;
    let wanted = match &args.interface {
        Some(interface) if args.watch > Duration::ZERO => {
            eprintln!(
                "watching {interface} for {} for devices asking for an address…",
                humantime::format_duration(args.watch)
            );
            match watch_for(interface, args.watch).await {
                Ok(seen) => Some(seen),
                Err(why) => {
                    unwatched = Some(DoctorCheck::note("Address watch", why));
                    None
                }
            }
        }
        _ => None,
    };
    let exam = Examination {
        interface: args.interface.clone(),
        profile,
        image: args.image.clone(),
        image_aliases: Vec::new(),
        image_armed: false,
        wanted,
        lifeboat_pids: vec![i32::try_from(std::process::id()).unwrap_or(0)],
    };
    let mut checks = examine(&exam).await;
    checks.extend(unwatched);
    checks.push(instance(&args).await);
    for check in &checks {
        println!("{}", check.line());
    }
    let failed = checks.iter().filter(|c| c.verdict == CheckVerdict::Fail).count();
    Ok(match failed {
        0 => {
            println!("nothing in the way");
            ExitCode::SUCCESS
        }
        n => {
            println!("{n} problem{}: fix {} first", if n == 1 { "" } else { "s" }, if n == 1 { "it" } else { "them" });
            ExitCode::FAILURE
        }
    })
}

/// The running lifeboat, through its dashboard's health: not running is fine (`recover`
/// starts its own), running unhealthy is not.
async fn instance(args: &DoctorArgs) -> DoctorCheck {
    let title = "Running lifeboat";
    match health::ask(&args.instance).await {
        Ok((Verdict::Healthy, line)) => DoctorCheck::pass(title, line),
        Ok((Verdict::Unhealthy, line)) => {
            DoctorCheck::fail(title, line, "look at its Services page or log; restart what failed")
        }
        Ok((Verdict::Unreachable, line)) => DoctorCheck::note(title, line),
        Err(e) => DoctorCheck::note(title, lifeboat_app::error_text(e.as_ref())),
    }
}
