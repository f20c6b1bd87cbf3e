//! "Did you mean …?": the known name a mistyped one is closest to, for
//! config and template problems.

/// The known name closest to `given`, if close enough to be a typo.
pub fn closest(given: &str, known: &[impl AsRef<str>]) -> Option<String> {
    let given_lower = given.to_ascii_lowercase();
    known
        .iter()
        .map(|name| {
            let name = name.as_ref();
            (
                strsim::damerau_levenshtein(&given_lower, &name.to_ascii_lowercase()),
                name,
            )
        })
        .filter(|(distance, name)| *distance <= (name.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.to_owned())
}
