//! Talking to herald as a user does: the admin API's JSON client, a row of
//! a command's table output.

/// A client whose requests are `application/json` (mutating admin routes
/// take JSON only — CSRF; GETs ignore the header).
pub fn json_client() -> reqwest::Client {
    reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::CONTENT_TYPE,
                reqwest::header::HeaderValue::from_static("application/json"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .expect("client")
}

/// The row of a printed table that starts with `id`, its columns joined by
/// one space (empty when there is none).
pub fn table_row(out: &str, id: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(id))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
