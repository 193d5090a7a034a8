//! The name a lifeboat goes by in a fleet (`--instance`, `instance` in the file): checked when
//! given, the host name when not.

pub(crate) use lifeboat_store::check_instance_name;

/// `given`, or this machine's host name (in a container: the container's), or `lifeboat` if the
/// host name cannot be read or is not a usable name.
pub(crate) fn instance_or_host_name(given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|name| check_instance_name(name).is_ok())
            .unwrap_or_else(|| "lifeboat".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_words() {
        for fine in ["rack-3", "lab.example", "a", "node_01", &"x".repeat(63)] {
            assert_eq!(check_instance_name(fine), Ok(()), "{fine}");
        }
        for bad in ["", "two words", "ä", "a/b", "x'", &"x".repeat(64)] {
            assert!(check_instance_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn without_a_name_the_host_name_is_used() {
        assert_eq!(instance_or_host_name(Some("rack-3".into())), "rack-3");
        let name = instance_or_host_name(None);
        assert_eq!(check_instance_name(&name), Ok(()), "{name:?}");
    }
}
