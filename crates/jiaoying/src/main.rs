//! `jiaoying`: the command line. Thin: parse, load settings, run one command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jiaoying::{commands, telemetry, Application, Settings};
use jiaoying_core::SystemClock;

/// mimalloc instead of the system allocator: a profile of 10 000 answers a second showed glibc's
/// malloc and free (with its consolidation of freed chunks) at a seventh of the service's CPU;
/// ADR 0022.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "jiaoying", version, about = "叫应: disaster warnings that are called and answered")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// The config file (default config/jiaoying.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(ConfigArg),
    /// Apply database migrations and exit.
    Migrate(ConfigArg),
    /// Load or update the registry from a TOML or XLSX file, a CSV file named after its table, or
    /// a folder of CSV files.
    Import {
        file: PathBuf,
        /// Print what would be added, changed and removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Make each table in the file exactly the file's: stored entries it lacks are removed.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Write the stored registry as an XLSX workbook in the import's layout.
    Export {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Check the config and the registry; exit 1 on any error.
    CheckConfig(ConfigArg),
    /// Manage API tokens for scripts.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Manage board users (duty officers' sign-in).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Start a drill (演练) from a CAP or JSON alert file: accepted as an Exercise into the
    /// configured database; the running service makes and follows up its calls.
    Drill {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Send one test message through a configured channel.
    SendTest {
        channel: String,
        to: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create (or replace) a token; it is printed once, as the last line.
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user, or set an existing user's role and password. The password comes from
    /// JIAOYING_PASSWORD or is asked for on the terminal.
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

fn load(config: &ConfigArg) -> anyhow::Result<Settings> {
    Settings::load(config.config.as_deref())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = match cli.command {
        Command::Serve(c) => {
            let settings = load(&c)?;
            telemetry::init(settings.log.format, &settings.log.level);
            let app = Application::build(&settings, Arc::new(SystemClock)).await?;
            app.run_until_stopped(shutdown_signal()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Migrate(c) => commands::migrate(&load(&c)?).await?,
        Command::Import { file, dry_run, replace, config } => {
            commands::import_with(&load(&config)?, &file, commands::ImportOptions { dry_run, replace }).await?
        }
        Command::Export { file, config } => commands::export(&load(&config)?, &file).await?,
        Command::CheckConfig(c) => {
            let settings = match load(&c) {
                Ok(s) => s,
                Err(e) => {
                    println!("error: {e:#}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let (report, failed) = commands::check_config(&settings);
            println!("{report}");
            return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
        }
        Command::Token { action: TokenAction::Add { name, role, config } } => {
            commands::token_add(&load(&config)?, &name, &role).await?
        }
        Command::User { action: UserAction::Add { name, role, config } } => {
            let settings = load(&config)?;
            commands::user_add(&settings, &name, &role, &commands::password_from_env_or_terminal()?).await?
        }
        Command::Drill { file, config } => jiaoying::drill::drill(&load(&config)?, &file).await?,
        Command::SendTest { channel, to, config } => commands::send_test(&load(&config)?, &channel, &to).await?,
    };
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: no new work; finishing what is in flight within server.shutdown_grace");
}

fn main() -> ExitCode {
    if let Err(e) = jiaoying::memory::without_transparent_huge_pages() {
        // Only slower (ADR 0023), never wrong: say so and go on.
        eprintln!("warning: could not turn transparent huge pages off: {e}");
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new().context("starting the runtime") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Whatever is still running past the grace period (a send hung at a gateway) ends here:
    // waiting for it would break the grace period's promise.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
