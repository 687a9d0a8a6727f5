//! Compiles the gRPC API with a pure-Rust protobuf compiler (protox), so a fresh machine needs no
//! system `protoc`, and writes the file descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "proto/flextensie/settlement/v1/audit.proto",
    "proto/flextensie/settlement/v1/contracts.proto",
    "proto/flextensie/settlement/v1/gonogo.proto",
    "proto/flextensie/settlement/v1/hours.proto",
    "proto/flextensie/settlement/v1/invoices.proto",
    "proto/flextensie/settlement/v1/pool.proto",
    "proto/flextensie/settlement/v1/savings.proto",
    "proto/flextensie/settlement/v1/settlement.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("flexsettle_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
