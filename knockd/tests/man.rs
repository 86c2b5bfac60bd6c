//! knockd(8) stays true to `knockd --help`.

#[path = "../../man/long_options.rs"]
mod long_options;

#[test]
fn man_page_documents_exactly_the_long_options_of_help() {
    long_options::assert_page_matches_help("knockd", "knockd.8");
}
