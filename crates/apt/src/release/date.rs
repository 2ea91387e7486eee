//! The dates of Release files (`Date`, `Valid-Until`): RFC 2822 as Debian writes them.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::ReleaseError;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Formats `moment` the way Debian writes `Date`: `Sat, 11 Jul 2026 10:16:37 UTC`.
pub fn format_release_date(moment: OffsetDateTime) -> String {
    let utc = moment.to_offset(UtcOffset::UTC);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        WEEKDAYS[usize::from(utc.weekday().number_days_from_monday())],
        utc.day(),
        MONTHS[usize::from(u8::from(utc.month()) - 1)],
        utc.year(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// Parses an RFC 2822 date as apt accepts it in `Date` and `Valid-Until`: optional
/// weekday, day, English month abbreviation, year, `HH:MM:SS`, and a zone of `UTC`,
/// `GMT`, `Z` or `±HHMM`.
pub fn parse_release_date(
    field: &'static str,
    value: &str,
) -> Result<OffsetDateTime, ReleaseError> {
    let invalid = || ReleaseError::InvalidDate {
        field,
        value: value.to_owned(),
    };
    let mut tokens: Vec<&str> = value.split_ascii_whitespace().collect();
    if tokens.first().is_some_and(|token| token.ends_with(',')) {
        tokens.remove(0);
    }
    let [day, month, year, clock, zone] = tokens[..] else {
        return Err(invalid());
    };
    let day: u8 = day.parse().map_err(|_| invalid())?;
    let month = MONTHS
        .iter()
        .position(|name| name.eq_ignore_ascii_case(month))
        .ok_or_else(invalid)?;
    let month =
        Month::try_from(u8::try_from(month + 1).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let year: i32 = year.parse().map_err(|_| invalid())?;
    let mut clock = clock
        .split(':')
        .map(|part| part.parse::<u8>().map_err(|_| invalid()));
    let (Some(hour), Some(minute), Some(second), None) =
        (clock.next(), clock.next(), clock.next(), clock.next())
    else {
        return Err(invalid());
    };
    let offset = match zone {
        "UTC" | "GMT" | "Z" => UtcOffset::UTC,
        _ => {
            let (sign, digits) = zone.split_at_checked(1).ok_or_else(invalid)?;
            let sign = match sign {
                "+" => 1,
                "-" => -1,
                _ => return Err(invalid()),
            };
            if digits.len() != 4 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(invalid());
            }
            let hours: i8 = digits[..2].parse().map_err(|_| invalid())?;
            let minutes: i8 = digits[2..].parse().map_err(|_| invalid())?;
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).map_err(|_| invalid())?
        }
    };
    let date = Date::from_calendar_date(year, month, day).map_err(|_| invalid())?;
    let time = Time::from_hms(hour?, minute?, second?).map_err(|_| invalid())?;
    Ok(PrimitiveDateTime::new(date, time).assume_offset(offset))
}
