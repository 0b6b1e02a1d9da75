//! Opaque page cursors: base64 of `<endpoint>:<index of the record>`. A
//! cursor names the last record of a page; the next page starts right after.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Which list a cursor belongs to (a cursor of one list is rejected by another).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum List {
    Vulnerabilities,
    Remediations,
    Assets,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            List::Vulnerabilities => "vulnerabilities",
            List::Remediations => "vulnerability-remediations",
            List::Assets => "vulnerable-assets",
        }
    }
}

pub(crate) fn encode(list: List, index: u64) -> String {
    STANDARD.encode(format!("{}:{index}", list.tag()))
}

/// The record index a cursor names, or `None` when it is not a cursor this
/// list issued.
pub(crate) fn decode(list: List, cursor: &str) -> Option<u64> {
    let raw = STANDARD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&raw).ok()?;
    let (tag, index) = text.split_once(':')?;
    if tag != list.tag() || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_list_specific() {
        let c = encode(List::Assets, 41);
        assert_eq!(decode(List::Assets, &c), Some(41));
        assert_eq!(decode(List::Vulnerabilities, &c), None);
        assert_eq!(decode(List::Assets, "not base64!"), None);
        assert_eq!(
            decode(List::Assets, &STANDARD.encode("vulnerable-assets:-1")),
            None
        );
    }
}
