//! Compiles the one C source of the C face: `iv_fatal`, which is variadic
//! (`printf`-style) and so cannot be defined in stable Rust. It formats the
//! message and hands it to the Rust side. Cargo bundles the object into
//! `libivykis_c.a`.

fn main() {
    println!("cargo:rerun-if-changed=c/fatal.c");
    cc::Build::new()
        .file("c/fatal.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("ivykis_c_shim");
}
