//! The README's key table is the one the core generates (`pvg keys`): it cannot drift.

#[test]
fn the_readme_lists_exactly_the_keys_of_the_core() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let begin = "<!-- keys:begin -->\n";
    let start = readme.find(begin).expect("README has a keys:begin marker") + begin.len();
    let end = readme.find("<!-- keys:end -->").expect("README has a keys:end marker");
    assert_eq!(
        &readme[start..end],
        playground::share::keys_markdown(),
        "README.md's key table is stale: replace it with the output of `pvg keys`"
    );
}
