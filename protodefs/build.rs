//! Generates the Rust code for `cloudvlan/v1/*.proto` with prost and tonic, using the protoc
//! binary vendored by protoc-bin-vendored (no system protoc) and its well-known-type includes.

use std::path::PathBuf;

/// Every proto file of the package, compiled together so cross-file references resolve.
const PROTOS: &[&str] = &[
    "common",
    "tenant",
    "cvlan",
    "node",
    "user",
    "group",
    "policy",
    "vrouter",
    "region",
    "relay",
    "api_key",
    "audit_log",
    "tag",
    "discovery_server",
    "local",
    "control",
    "admin",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let files: Vec<PathBuf> = PROTOS
        .iter()
        .map(|name| PathBuf::from(format!("cloudvlan/v1/{name}.proto")))
        .collect();

    // The vendored protoc is handed to prost-build directly: the same effect as PROTOC, without
    // mutating the build script's environment.
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("cloudvlan_v1_descriptor.bin"))
        // Calls a daemon does not serve answer UNIMPLEMENTED without a hand-written stub
        // (cvland and cvlan-vrouterd each serve a part of LocalApiService).
        .generate_default_stubs(true)
        // No `XClient::connect(url)`: it needs tonic's TCP channel even in builds without the
        // `client` feature, and clients connect through `transport` instead.
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .compile_with_config(config, &files, &[PathBuf::from("."), well_known])?;

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cloudvlan/v1");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}
