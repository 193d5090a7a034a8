//! One page of a list that is read newest first, and where the next (older) page starts.
//!
//! **Invariant:** `next_before` is `Some` only when at least one older item exists; passing it
//! back as `before` continues the list right after the last item: no item is repeated or
//! skipped, whatever is inserted between the two reads (keyset paging, no offsets).

/// Most items one page holds; larger limits are clamped to it.
pub const MAX_PAGE: u32 = 500;

/// Items newest first, and the id to pass as `before` to get the next (older) page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id to pass as `before` for the next, older page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// A limit clamped to `1..=MAX_PAGE`, as a row count for SQL.
pub(crate) fn page_rows(limit: u32) -> usize {
    usize::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1)
}

/// Make a page out of up to `rows + 1` rows read newest first: the extra row only tells that an
/// older page exists.
pub(crate) fn into_page<T>(mut items: Vec<T>, rows: usize, id: impl Fn(&T) -> i64) -> Page<T> {
    let next_before = if items.len() > rows {
        items.truncate(rows);
        items.last().map(id)
    } else {
        None
    };
    Page { items, next_before }
}
