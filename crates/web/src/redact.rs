//! Text from the rest of lifeboat, made fit for the dashboard: an error of a service that failed
//! to start may name the TFTP root, the upload directory or the database, which the command
//! line should show and a web page should not. The log keeps the full text.

/// What stands where a path was.
const PLACEHOLDER: &str = "(a path; the lifeboat log names it)";

/// `text` with every path replaced by [`PLACEHOLDER`]. A path is a word (or the part of it after
/// an opening quote or parenthesis) that starts with `/`, `./`, `../` or `~/`; it ends at the
/// end of the word or at a closing quote, parenthesis, comma or colon. Subnets such as
/// `10.0.0.0/8` are not paths: their `/` is not at the start. (A path with a space in it loses
/// only its first word.)
pub(crate) fn without_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push_str(&word_without_path(&rest[..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn word_without_path(word: &str) -> String {
    let opening = word.len() - word.trim_start_matches(['"', '\'', '(', '`']).len();
    let (before, candidate) = word.split_at(opening);
    let is_path = ["/", "./", "../", "~/"].iter().any(|start| candidate.starts_with(start)) && candidate.len() >= 2;
    if !is_path {
        return word.to_owned();
    }
    let end = candidate.find(['"', '\'', ')', ',', ':', '`']).unwrap_or(candidate.len());
    format!("{before}{PLACEHOLDER}{}", &candidate[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_and_everything_else_stays() {
        let cases = [
            (
                "the TFTP root /srv/tftp does not exist: create it or choose another with --tftp-root",
                "the TFTP root (a path; the lifeboat log names it) does not exist: create it or choose another with --tftp-root",
            ),
            (
                "the upload directory \"/var/lib/up\" is not usable: Permission denied (os error 13)",
                "the upload directory \"(a path; the lifeboat log names it)\" is not usable: Permission denied (os error 13)",
            ),
            ("cannot open /srv/tftp: gone", "cannot open (a path; the lifeboat log names it): gone"),
            ("(/root/x.db)", "((a path; the lifeboat log names it))"),
            ("the TFTP root ./netboot is missing", "the TFTP root (a path; the lifeboat log names it) is missing"),
            (
                "in ../up and ~/images,",
                "in (a path; the lifeboat log names it) and (a path; the lifeboat log names it),",
            ),
            ("DHCP on 10.0.0.0/8 and a / alone", "DHCP on 10.0.0.0/8 and a / alone"),
            ("ss -ulpn 'sport = :67'", "ss -ulpn 'sport = :67'"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(without_paths(text), want, "{text}");
        }
    }
}
