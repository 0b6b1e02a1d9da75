//! Millisecond timestamps rendered the way Vanta renders them:
//! `2024-01-17T15:26:43.534Z` (always three fractional digits, always `Z`).

use std::fmt;

/// Milliseconds in one day.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// Milliseconds in one hour.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// A UTC instant in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub(crate) i64);

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`); exact for every i64 day we produce.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl Timestamp {
    /// The rendered form as ASCII bytes, without allocating. Years outside
    /// 0..=9999 are clamped; the generator never produces them.
    pub(crate) fn to_ascii(self) -> [u8; 24] {
        let days = self.0.div_euclid(DAY_MS);
        let ms_of_day = self.0.rem_euclid(DAY_MS);
        let (y, mo, d) = civil_from_days(days);
        let y = y.clamp(0, 9999) as u32;
        let (h, mi, s, ms) = (
            (ms_of_day / HOUR_MS) as u32,
            (ms_of_day / 60_000 % 60) as u32,
            (ms_of_day / 1000 % 60) as u32,
            (ms_of_day % 1000) as u32,
        );
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (0..width).rev() {
                out[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, mo);
        put(8, 2, d);
        put(11, 2, h);
        put(14, 2, mi);
        put(17, 2, s);
        put(20, 3, ms);
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ascii = self.to_ascii();
        f.write_str(std::str::from_utf8(&ascii).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ascii = self.to_ascii();
        s.serialize_str(std::str::from_utf8(&ascii).map_err(serde::ser::Error::custom)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat, Utc};

    #[test]
    fn renders_like_vanta_and_agrees_with_chrono() {
        assert_eq!(
            Timestamp(1_705_505_203_534).to_string(),
            "2024-01-17T15:26:43.534Z"
        );
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        for ms in [
            -86_400_001i64,
            951_782_400_000,
            1_709_164_799_999,
            4_102_444_800_123,
        ] {
            let chrono = DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(Timestamp(ms).to_string(), chrono);
        }
    }
}
