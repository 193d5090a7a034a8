//! Which way a file goes, seen from the server: the one direction type of lifeboat, from the
//! request on the wire to the history's `direction` column and the dashboard's filter.

use std::fmt;
use std::str::FromStr;

/// A read request sends a file to the client; a write request receives one from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// RRQ: the server sends.
    Read,
    /// WRQ: the server receives.
    Write,
}

impl Direction {
    /// Both, reads first.
    pub const ALL: &'static [Direction] = &[Direction::Read, Direction::Write];

    /// `read` or `write`: how the history stores it and URLs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Read => "read",
            Direction::Write => "write",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that is neither `read` nor `write`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transfer direction {0:?}; expected one of: read, write")]
pub struct UnknownDirection(pub String);

impl FromStr for Direction {
    type Err = UnknownDirection;

    fn from_str(text: &str) -> Result<Direction, UnknownDirection> {
        Direction::ALL.iter().copied().find(|d| d.as_str() == text).ok_or_else(|| UnknownDirection(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for direction in Direction::ALL {
            assert_eq!(direction.as_str().parse::<Direction>(), Ok(*direction));
        }
        assert!("READ".parse::<Direction>().unwrap_err().to_string().contains("read, write"));
    }
}
