//! `kubectl batchnotify`: the kubectl plugin. Flags and wiring only; the
//! commands live in `batchnotify::plugin`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use batchnotify::plugin::logs::{self, LogsArgs};
use batchnotify::plugin::reads::AwsArgs;
use batchnotify::plugin::runs::{self, Output};
use batchnotify::plugin::target::{KubeArgs, Target};
use batchnotify::plugin::trigger::{self, RunArgs};
use batchnotify::plugin::{Error, Exit, out};

#[derive(Parser)]
#[command(
    name = "kubectl-batchnotify",
    bin_name = "kubectl batchnotify",
    version,
    about = "A BatchNotification's runs from kubectl: their Batch job's logs, a new run, the runs table",
    after_help = "Exit codes: 0 done (the run or job succeeded), 1 the run or job failed, \
                  2 --wait timed out, 3 the command could not do its work."
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CloudWatch Logs of a run's Batch job (every attempt).
    Logs(LogsArgs),
    /// Start a run (a new spec.run.trigger); with --wait, wait for its outcome.
    Run(RunArgs),
    /// List the object's runs, newest first.
    Runs(RunsArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completion { shell: clap_complete::Shell },
}

#[derive(clap::Args)]
struct RunsArgs {
    /// The BatchNotification.
    name: String,
    /// Output format: table (default), wide, json or yaml.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Output,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage { Exit::Error } else { Exit::Success }.into();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(command(cli)) {
        Ok(exit) => exit.into(),
        Err(e) => {
            if !matches!(e, Error::ClosedOutput) {
                eprintln!("error: {e}");
            }
            e.exit().into()
        }
    }
}

async fn command(cli: Cli) -> Result<Exit, Error> {
    if let Command::Completion { shell } = cli.command {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "kubectl-batchnotify", &mut buf);
        out(String::from_utf8_lossy(&buf).trim_end())?;
        return Ok(Exit::Success);
    }
    let target = Target::connect(&cli.kube).await?;
    match cli.command {
        Command::Logs(args) => logs::logs(&target, &cli.aws, &args).await,
        Command::Run(args) => trigger::run(&target, &cli.aws, &args).await,
        Command::Runs(args) => {
            let obj = target.get(&args.name).await?;
            let runs = obj.status.map(|s| s.runs).unwrap_or_default();
            if runs.is_empty() && matches!(args.output, Output::Table | Output::Wide) {
                eprintln!("No runs of {}/{} yet.", target.namespace, args.name);
                return Ok(Exit::Success);
            }
            let text =
                runs::render(&runs, args.output, jiff::Timestamp::now()).map_err(Error::Output)?;
            out(text.trim_end())?;
            Ok(Exit::Success)
        }
        Command::Completion { .. } => Ok(Exit::Success),
    }
}
