//! Pieces of the byte layouts the structured targets decode with `arbitrary::Unstructured`, and
//! their inverses, which write seed inputs. Integers are little-endian, as `Unstructured` reads
//! them; a reader that runs out of bytes reads zeros.

use arbitrary::{Result, Unstructured};
use lifeboat_tftp::{Mode, Request};

/// A u64 of the width a selector byte chooses (0: u8, 1: u16, 2: u32, else u64), so that small
/// values are cheap to reach.
pub(crate) fn sized_u64(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.arbitrary::<u8>()? % 4 {
        0 => u.arbitrary::<u8>()?.into(),
        1 => u.arbitrary::<u16>()?.into(),
        2 => u.arbitrary::<u32>()?.into(),
        _ => u.arbitrary::<u64>()?,
    })
}

/// The inverse of [`sized_u64`].
pub(crate) fn put_sized_u64(out: &mut Vec<u8>, value: u64) {
    if let Ok(v) = u8::try_from(value) {
        out.extend([0, v]);
    } else if let Ok(v) = u16::try_from(value) {
        out.push(1);
        out.extend(v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(2);
        out.extend(v.to_le_bytes());
    } else {
        out.push(3);
        out.extend(value.to_le_bytes());
    }
}

/// A tag byte followed by its fields.
pub(crate) fn put(out: &mut Vec<u8>, tag: u8, fields: &[u8]) {
    out.push(tag);
    out.extend_from_slice(fields);
}

/// An octet request for `name` without options (a stray packet in the middle of a transfer).
pub(crate) fn request(name: &str) -> Request<'static> {
    Request { filename: name.as_bytes().to_vec().into(), mode: Mode::Octet, options: Vec::new() }
}
