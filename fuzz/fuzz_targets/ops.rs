//! cargo-fuzz target: operation sequences decoded from the input, run
//! through both faces and checked against the reference model. Any
//! difference panics (libFuzzer saves the input under artifacts/ops/).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = ivykis_fuzz::check_bytes(data) {
        panic!("{e}\nscenario: {:#?}", ivykis_fuzz::model::decode(data));
    }
});
