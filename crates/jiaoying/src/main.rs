//! `jiaoying`: the command line. Thin: parse, load settings, run one command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jiaoying::{commands, telemetry, Application, Settings};
use jiaoying_core::SystemClock;

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
    /// Load or update the registry from a file.
    Import {
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
            telemetry::init(&settings.log.format, &settings.log.level);
            let app = Application::build(&settings, Arc::new(SystemClock)).await?;
            app.run_until_stopped(shutdown_signal()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Migrate(c) => commands::migrate(&load(&c)?).await?,
        Command::Import { file, config } => commands::import(&load(&config)?, &file).await?,
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
    tracing::info!("shutting down");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new().context("starting the runtime") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
