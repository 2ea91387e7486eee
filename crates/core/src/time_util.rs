//! Time formatting shared by snapshots, audit records and manifests.

/// RFC 3339 in UTC with second precision, e.g. `2026-11-25T14:55:40Z`.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("UTC timestamps always format")
}

/// Now, as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}
