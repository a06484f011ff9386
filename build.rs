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
    Ok(())
}
