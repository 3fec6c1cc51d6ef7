//! Layers with one direction: in every crate of the workspace, the top-level modules (the files and folders
//! directly under `src/`) use each other without a cycle. A cycle is named with the lines that make it.
//!
//! The graph is read from the source text: every `crate::<module>` (also inside `use crate::{a, b}`) and,
//! in a file directly under `src/`, every `super::<module>`. Comments and `#[cfg(test)] mod tests` are not
//! code that ships, so they are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One use of another top-level module: where it is written.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without a trailing `#[cfg(test)] mod …` block.
fn shipped_code(text: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty()).map(|l| l.trim_start());
            if next.is_some_and(|l| l.starts_with("mod ")) {
                break;
            }
        }
        out.push_str(line.split("//").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

/// The top-level modules named after `prefix` (`crate::`, `super::`) in one source text, with the line.
fn named_after(code: &str, prefix: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(prefix) {
        let start = from + at;
        from = start + prefix.len();
        let preceded = code[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded {
            continue;
        }
        let line = code[..start].matches('\n').count() + 1;
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the names at depth 0 of the braces.
            let (mut depth, mut name, mut expect_name) = (0usize, String::new(), true);
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expect_name = true,
                    c if depth == 0 && expect_name && (c.is_alphanumeric() || c == '_') => name.push(c),
                    _ if !name.is_empty() => {
                        found.push((std::mem::take(&mut name), line));
                        expect_name = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                found.push((name, line));
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.push((name, line));
            }
        }
    }
    found
}

/// For one crate: top-level module → the modules it uses, each with one place that does.
fn graph(src: &Path) -> Edges {
    let mut tops = BTreeSet::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() || (path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main") {
            tops.insert(stem);
        }
    }
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut edges = Edges::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if !tops.contains(&top) {
            continue; // lib.rs, main.rs: the crate root uses everything by design
        }
        let code = shipped_code(&std::fs::read_to_string(&file).unwrap());
        let mut names = named_after(&code, "crate::");
        let directly_under_src = rel.components().count() == 1 || rel.file_name().is_some_and(|f| f == "mod.rs");
        if directly_under_src && rel.components().count() <= 2 {
            names.extend(named_after(&code, "super::"));
        }
        for (name, line) in names {
            if name != top && tops.contains(&name) {
                let at =
                    format!("{}:{line}", file.strip_prefix(src.parent().unwrap().parent().unwrap()).unwrap().display());
                edges.entry(top.clone()).or_default().entry(name).or_insert(at);
            }
        }
    }
    edges
}

/// Every cycle's shortest form, one per strongly connected group: `a → b → a`.
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.keys().chain(edges.values().flat_map(|m| m.keys())).collect();
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for next in edges.get(&n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for start in nodes {
        if reported.contains(start) || !reach(start).contains(start) {
            continue;
        }
        // Breadth first from `start` back to itself: the shortest cycle through it.
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        'search: while let Some(n) = queue.pop_front() {
            for next in edges.get(&n).into_iter().flat_map(|m| m.keys()) {
                if next == start {
                    prev.insert(start.clone(), n.clone());
                    break 'search;
                }
                if !prev.contains_key(next) {
                    prev.insert(next.clone(), n.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut cycle = vec![start.clone()];
        let mut at = prev[start].clone();
        while &at != start {
            cycle.push(at.clone());
            at = prev[&at].clone();
        }
        cycle.push(start.clone());
        cycle.reverse();
        reported.extend(cycle.iter().cloned());
        out.push(cycle);
    }
    out
}

fn describe(edges: &Edges, cycle: &[String]) -> String {
    let steps: Vec<String> =
        cycle.windows(2).map(|w| format!("  {} → {} ({})", w[0], w[1], edges[&w[0]][&w[1]])).collect();
    format!("{}\n{}", cycle.join(" → "), steps.join("\n"))
}

#[test]
fn no_crate_has_an_import_cycle_between_top_level_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut found = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        checked += 1;
        let edges = graph(&src);
        for cycle in cycles(&edges) {
            found.push(describe(&edges, &cycle));
        }
    }
    assert!(checked >= 4, "daraja, daraja-sim, lipa and lipa-bench are read");
    assert!(found.is_empty(), "import cycles between top-level modules:\n{}", found.join("\n"));
}

#[test]
fn the_reader_sees_grouped_and_plain_uses_and_finds_a_cycle() {
    let code = shipped_code(
        "use crate::{a::X, b::{c, d}, e};\nlet x = crate::f::g(); // crate::h\n#[cfg(test)]\nmod tests { use crate::z; }\n",
    );
    let names: Vec<String> = named_after(&code, "crate::").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b", "e", "f"]);
    let mut edges = Edges::new();
    edges.entry("a".into()).or_default().insert("b".into(), "a.rs:1".into());
    edges.entry("b".into()).or_default().insert("c".into(), "b.rs:2".into());
    edges.entry("c".into()).or_default().insert("a".into(), "c.rs:3".into());
    edges.entry("c".into()).or_default().insert("d".into(), "c.rs:4".into());
    let found = cycles(&edges);
    assert_eq!(found, [["a", "b", "c", "a"]]);
    assert!(describe(&edges, &found[0]).contains("c → a (c.rs:3)"));
}
