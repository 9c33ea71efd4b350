//! `tweetgen-infra`: the operations CLI. The `migrate` and `cutover` steps arrive
//! with their issues; until then the binary only documents itself.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "tweetgen-infra",
    version,
    about = "Operations for tweetgen: online PostgreSQL migration and the cutover to AWS",
    long_about = "Operations for tweetgen.\n\nPlanned steps (pgcopydb style, each resumable from a work directory):\n  migrate preflight|copy|follow|sync|verify|sequences|clean\n  dns prepare|status, rds check|snapshot, cutover [rollback]\n\nNone is implemented yet in this build."
)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("tweetgen-infra: no operations are implemented in this build yet; see --help");
    std::process::exit(2);
}
