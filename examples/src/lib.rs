//! Small demo servers shared by the quickstart and the tests of other crates.

pub mod petstore;
