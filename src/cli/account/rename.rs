pub fn exec(_cli: &crate::cli::support::Globals, _args: &[String]) -> anyhow::Result<u8> {
    todo!()
}
