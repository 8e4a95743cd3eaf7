//! The fuzz target's logic: bytes are decoded into a scenario of the
//! reference model (`ivykis/tests/model/`), which is run through both faces
//! (the Rust API and the exported C functions) and checked against the
//! model. Shared by the libFuzzer target (`fuzz_targets/ops.rs`) and the
//! stable driver (`src/bin/fuzz_ops.rs`).

// Links the C face: `c_face` calls its `#[no_mangle]` functions.
extern crate ivykis_c;

#[path = "../../ivykis/tests/model/mod.rs"]
pub mod model;

#[path = "../../ivykis-c/tests/c_face/mod.rs"]
pub mod c_face;

use model::{check, decode, Face};

/// Runs the scenario that `data` decodes to through both faces; the error
/// says where a log left what the model allows.
pub fn check_bytes(data: &[u8]) -> Result<(), String> {
    let scenario = decode(data);
    let log = model::rust_face::run(&scenario);
    check(Face::Rust, &scenario, &log)?;
    let log = c_face::run(&scenario);
    check(Face::C, &scenario, &log)
}
