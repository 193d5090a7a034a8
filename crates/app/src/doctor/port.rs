//! Is UDP port 69 free, or held by lifeboat, or by whom?

use lifeboat_net::{PortHolder, udp_port_holders};
use lifeboat_web::DoctorCheck;

const TITLE: &str = "UDP port 69";

/// The check of port 69; `lifeboat_pids` are the processes that count as lifeboat.
pub(super) fn tftp_port(lifeboat_pids: &[i32]) -> DoctorCheck {
    match udp_port_holders(69) {
        Ok(holders) => judge(&holders, lifeboat_pids),
        Err(e) => DoctorCheck::note(TITLE, format!("cannot read the socket tables: {e}")),
    }
}

fn judge(holders: &[PortHolder], lifeboat_pids: &[i32]) -> DoctorCheck {
    let is_lifeboat =
        |h: &PortHolder| h.pid.is_some_and(|p| lifeboat_pids.contains(&p)) || h.command.as_deref() == Some("lifeboat");
    let others: Vec<&PortHolder> = holders.iter().filter(|h| !is_lifeboat(h)).collect();
    let Some(other) = others.first() else {
        return match holders.first() {
            Some(h) => DoctorCheck::pass(TITLE, format!("held by lifeboat{} on {}", pid_text(h), h.local)),
            None => DoctorCheck::pass(TITLE, "free: lifeboat can take it"),
        };
    };
    let who = match &other.command {
        Some(command) => format!("{command}{}", pid_text(other)),
        None => format!("a process of user {} (run the doctor as root to see which)", other.uid),
    };
    let fix = match (other.command.as_deref(), other.pid) {
        (Some("in.tftpd"), _) => "stop it: `systemctl stop tftpd-hpa` (or its socket unit)".to_owned(),
        (Some("atftpd"), _) => "stop it: `systemctl stop atftpd`".to_owned(),
        (Some("dnsmasq"), _) => "stop dnsmasq's TFTP (remove enable-tftp) or dnsmasq itself".to_owned(),
        (_, Some(pid)) => {
            format!("stop that server (`kill {pid}`), or give lifeboat another address with --tftp-listen")
        }
        (_, None) => "stop the other TFTP server, or give lifeboat another address with --tftp-listen".to_owned(),
    };
    DoctorCheck::fail(TITLE, format!("held by {who} on {}: the device would reach it, not lifeboat", other.local), fix)
}

fn pid_text(holder: &PortHolder) -> String {
    holder.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use lifeboat_web::CheckVerdict;

    use super::*;

    fn holder(pid: i32, command: &str) -> PortHolder {
        PortHolder { local: "0.0.0.0:69".parse().unwrap(), uid: 0, pid: Some(pid), command: Some(command.into()) }
    }

    #[test]
    fn free_or_held_by_lifeboat_passes_anyone_else_fails_with_a_fix() {
        assert_eq!(judge(&[], &[]).verdict, CheckVerdict::Pass);
        let ours = judge(&[holder(12, "lifeboat-test")], &[12]);
        assert_eq!(
            (ours.verdict, ours.found.as_str()),
            (CheckVerdict::Pass, "held by lifeboat (pid 12) on 0.0.0.0:69")
        );
        let theirs = judge(&[holder(12, "lifeboat"), holder(800, "in.tftpd")], &[12]);
        assert_eq!(theirs.verdict, CheckVerdict::Fail);
        assert!(theirs.found.contains("in.tftpd (pid 800)"), "{theirs:?}");
        assert!(theirs.fix.unwrap().contains("systemctl stop tftpd-hpa"));
        let hidden = PortHolder { pid: None, command: None, uid: 109, ..holder(0, "") };
        assert!(judge(&[hidden], &[]).found.contains("user 109"));
    }
}
