//! The docs say what the code has: every `event` the code logs is in
//! docs/operations.md, every metric herald registers is there too, every
//! command is in the README's command table, and every `herald run` flag
//! is in the README's flag table with the default the code has.

use clap::CommandFactory as _;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every Rust source file under `dir`.
fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            let source = std::fs::read_to_string(&path).expect("source");
            // Unit tests log made-up events.
            let code = source.split("#[cfg(test)]").next().unwrap_or("");
            out.push(code.to_owned());
        }
    }
}

/// The dotted names after `event = ` (including both arms of an `if`).
fn logged_events(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in source.match_indices("event = ") {
        let rest = &source[at + "event = ".len()..];
        let end = rest.find([',', ')', ';']).unwrap_or(rest.len());
        let expression = &rest[..end];
        for quoted in expression.split('"').skip(1).step_by(2) {
            if quoted.contains('.')
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
            {
                names.push(quoted.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_logged_event_is_documented() {
    let mut files = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let operations = read("docs/operations.md");
    let mut events: Vec<String> = files.iter().flat_map(|f| logged_events(f)).collect();
    events.sort();
    events.dedup();
    assert!(
        events.len() > 100,
        "the scan finds herald's events: {events:?}"
    );
    let missing: Vec<&String> = events
        .iter()
        .filter(|e| !operations.contains(&format!("`{e}`")))
        .collect();
    assert!(missing.is_empty(), "not in docs/operations.md: {missing:?}");
}

#[test]
fn every_metric_is_documented() {
    let metrics = herald::metrics::Metrics::new();
    let operations = read("docs/operations.md");
    let names = metrics.names();
    assert!(names.len() > 10, "{names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| !operations.contains(name.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in docs/operations.md: {missing:?}");
}

#[test]
fn every_command_and_run_flag_is_in_the_readme_with_its_default() {
    let readme = read("README.md");
    let cli = herald::cli::Cli::command();
    let missing: Vec<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|name| name != "help" && !readme.contains(&format!("`herald {name}")))
        .collect();
    assert!(
        missing.is_empty(),
        "commands not in the README: {missing:?}"
    );

    let run = cli.find_subcommand("run").expect("run");
    let mut wrong = Vec::new();
    for arg in run.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        let flag = format!("`--{long}`");
        // The flag table's row: the flag in its first cell.
        let Some(row) = readme.lines().find(|line| {
            line.split('|')
                .nth(1)
                .is_some_and(|cell| cell.contains(&flag))
        }) else {
            wrong.push(format!("--{long}: not in the README's flag table"));
            continue;
        };
        if let Some(env) = arg.get_env() {
            let env = format!("`{}`", env.to_string_lossy());
            if !row.contains(&env) {
                wrong.push(format!("--{long}: its row does not name {env}"));
            }
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if let [default] = defaults.as_slice() {
            if !row.contains(&format!("`{default}`")) {
                wrong.push(format!(
                    "--{long}: the code's default is `{default}`: {row}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
