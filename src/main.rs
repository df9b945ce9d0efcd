fn main() -> std::process::ExitCode {
    mailctl::cli::run()
}
