//! The viewer's files: every file under `web/` is in the compiled-in asset table and is served
//! under `/_/` with its content type.

use crate::support::*;

#[tokio::test]
async fn every_file_under_web_is_compiled_in_and_served_with_its_content_type() {
    let s = start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let asset = hookpit::assets::get(&name).unwrap_or_else(|| {
            panic!("web/{name} is missing from the asset table in src/assets.rs")
        });
        let want_type = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html",
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            other => panic!("web/{name}: no content type known for {other:?}"),
        };
        assert!(
            asset.content_type.starts_with(want_type),
            "{name}: {}",
            asset.content_type
        );
        let a = get(&format!("{}/_/{name}", s.base_url())).await;
        assert_eq!(a.status, 200, "{name}");
        assert!(a.header("content-type").unwrap().starts_with(want_type));
        assert!(
            a.body[..] == std::fs::read(&path).unwrap()[..],
            "{name} is served as it is on disk (rebuild if it just changed)"
        );
        seen += 1;
    }
    assert!(seen >= 3);
    assert_eq!(
        seen,
        hookpit::assets::ASSETS.len(),
        "the table lists no file that web/ lacks"
    );
    let page = get(&s.viewer_url()).await;
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(
        page.text().contains("/_/icon.svg"),
        "the page declares its own icon"
    );
    assert_eq!(
        get(&format!("{}/_/nope.js", s.base_url())).await.status,
        404
    );
}
