//! The README's pictures exist: every image it references is in the repository.

#[test]
fn every_picture_the_readme_shows_exists() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut pictures = 0;
    for (at, _) in readme.match_indices("](") {
        let rest = &readme[at + 2..];
        let Some(end) = rest.find(')') else { continue };
        let target = &rest[..end];
        if [".png", ".gif", ".svg", ".jpg"]
            .iter()
            .any(|ext| target.ends_with(ext))
        {
            pictures += 1;
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(target);
            assert!(
                path.is_file(),
                "README.md shows {target}, which does not exist"
            );
        }
    }
    assert!(
        pictures >= 1,
        "the README shows at least one picture of a real run"
    );
}
