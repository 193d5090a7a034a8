//! An error and its causes on one line, each cause once: several of our errors already quote
//! the operating system's message that is also their source.

use std::error::Error;

pub fn error_text(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Layer(&'static str, #[source] Option<Box<Layer>>);

    #[test]
    fn causes_follow_once_each() {
        let os = Layer("permission denied", None);
        let quoting = Layer("cannot open /x: permission denied", Some(Box::new(os)));
        let top = Layer("cannot start the TFTP server", Some(Box::new(quoting)));
        assert_eq!(error_text(&top), "cannot start the TFTP server: cannot open /x: permission denied");
    }
}
