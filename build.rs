//! Compiles `proto/ladder/v1/*.proto` in pure Rust (protox, no system `protoc`)
//! into tonic/prost code, and writes the descriptor set that server reflection
//! embeds.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto");
    let mut protos: Vec<PathBuf> = fs::read_dir(proto_dir.join("ladder/v1"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    protos.sort();

    let fds = protox::compile(&protos, [&proto_dir])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("ladder_descriptor.bin"), protox::prost::Message::encode_to_vec(&fds))?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;

    println!("cargo:rerun-if-changed=proto");
    embed_web(&out_dir)?;
    Ok(())
}

/// Lists every file under `web/` (the web workspace) for `include_bytes!`,
/// so the binary carries the page and no file can be left out by hand.
fn embed_web(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    fn walk(dir: &std::path::Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, files)?;
            } else if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                files.push(path);
            }
        }
        Ok(())
    }
    let root = fs::canonicalize("web")?;
    let mut files = Vec::new();
    walk(&root, &mut files)?;
    files.sort();
    let mut out = String::from(
        "/// Every file of `web/`: its path under `web/` and its bytes.\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let name = file.strip_prefix(&root)?.to_string_lossy().replace('\\', "/");
        out.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", file.display().to_string()));
    }
    out.push_str("];\n");
    fs::write(out_dir.join("web_assets.rs"), out)?;
    println!("cargo:rerun-if-changed=web");
    Ok(())
}
