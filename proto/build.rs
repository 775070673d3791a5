//! Compiles every `.proto` under `proto/` with protox, a pure-Rust protobuf
//! compiler, so a fresh machine needs no `protoc`.

use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new("proto");
    let mut files = Vec::new();
    collect_proto_files(root, &mut files);
    files.sort();
    println!("cargo:rerun-if-changed=proto");

    let descriptors = protox::compile(&files, [root]).expect("proto files compile");
    // Shipped with the crate so that records can be shown in protobuf's
    // canonical JSON mapping without a second copy of the schema.
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out_dir.join("mingzhang_descriptor_set.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )
    .expect("descriptor set written");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)
        .expect("prost/tonic code generation");
}

fn collect_proto_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("proto dir readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_proto_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
}
