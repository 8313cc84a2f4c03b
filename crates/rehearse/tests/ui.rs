//! Unsupported world signatures are compile errors that say why. The
//! expected messages live beside each case in `tests/ui/*.stderr`.

#[test]
fn unsupported_signatures_are_explained() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
