//! The `keyport` command: serve the portal, migrate, manage users, keys and tokens, and run a
//! program with its credential.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use keyport::{
    App, client,
    commands::{self, ApiKeyRequest},
    config::{self, Config, DataSettings, DatabaseSettings},
    db::Db,
};
use tracing_subscriber::EnvFilter;
use zeroize::Zeroizing;

/// Each command takes the settings it uses, and only those: the portal's settings are `serve`'s
/// (and those of `keyport` alone, which serves), `migrate` takes the database, the commands that
/// work on the data take the database and the master key, and `run` talks to a portal.
#[derive(Parser)]
#[command(
    name = "keyport",
    version,
    about = "A self-hosted portal for a team's service credentials",
    after_help = "Without a command, keyport serves the portal with the options above.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// `keyport` alone is `keyport serve`.
    #[command(flatten)]
    serve: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal (what `keyport` alone does)
    Serve {
        // Boxed: the portal's settings are far larger than any other command's.
        #[command(flatten)]
        config: Box<Config>,
    },
    /// Apply database migrations and exit
    Migrate {
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Exit 0 if the portal at --listen answers /readyz (for container health checks)
    Healthcheck {
        /// Address and port of the portal to check: the one it listens on
        #[arg(long, env = "KEYPORT_LISTEN", default_value = config::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
    },
    /// Manage the master key
    MasterKey {
        #[command(subcommand)]
        command: MasterKeyCommand,
    },
    /// Manage user accounts
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage Keyport API keys (for programs: exchanged at POST /identity/token)
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage the key that signs access tokens
    TokenKey {
        #[command(subcommand)]
        command: TokenKeyCommand,
    },
    /// Reminders of keys due for rotation or expiring (README, "Reminders")
    Reminders {
        #[command(subcommand)]
        command: RemindersCommand,
    },
    /// Run a command with a credential's variables (AWS_*, OS_*, or the API key), fetched with
    /// the API key in KEYPORT_API_KEY from the Keyport at KEYPORT_URL; nothing is written to disk
    Run {
        /// The project (its slug)
        #[arg(long)]
        project: String,
        /// The service (its name or instance id)
        #[arg(long)]
        service: String,
        /// The credential's name (default: the key holder's only credential of the service)
        #[arg(long)]
        credential: Option<String>,
        /// The site whose endpoints to use (default: the first)
        #[arg(long)]
        site: Option<String>,
        /// The Keyport to ask, e.g. https://keyport.example.org
        #[arg(long, env = "KEYPORT_URL", hide_env_values = true)]
        url: String,
        /// The command and its arguments, after --
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key for a user (or, with --project and --app, for a project's app) and
    /// print it once on standard output
    Create {
        /// The user whose key it is; with --app, the admin or owner who makes the app's key
        #[arg(long)]
        email: String,
        /// A name for the key, e.g. ci-deploy
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Last day the key works, YYYY-MM-DD (default: no expiry)
        #[arg(long, default_value = "")]
        expires: String,
        /// The project of the app (its slug)
        #[arg(long, requires = "app")]
        project: Option<String>,
        /// The app whose key it is
        #[arg(long, requires = "project")]
        app: Option<String>,
        #[command(flatten, next_help_heading = "Settings")]
        data: DataSettings,
    },
}

#[derive(Subcommand)]
enum RemindersCommand {
    /// Check every key now and deliver the messages that are due, as a serving portal does
    /// once a day; a condition already told is not told again
    Run {
        #[command(flatten, next_help_heading = "Settings")]
        data: DataSettings,
        #[command(flatten, next_help_heading = "Reminders")]
        reminders: config::ReminderSettings,
        /// The address users reach the portal at, for the links in the messages
        #[arg(
            long,
            env = "KEYPORT_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
        /// Loopback and private networks the webhook may be on (as for `serve`)
        #[arg(
            long,
            env = "KEYPORT_BACKEND_ALLOWED_NETWORKS",
            value_delimiter = ',',
            value_parser = config::parse_network
        )]
        backend_allowed_networks: Vec<ipnet::IpNet>,
    },
}

#[derive(Subcommand)]
enum TokenKeyCommand {
    /// Make a new signing key; tokens signed by the old one stay valid until they expire
    Rotate {
        #[command(flatten, next_help_heading = "Settings")]
        data: DataSettings,
    },
}

#[derive(Subcommand)]
enum MasterKeyCommand {
    /// Re-wrap every project's data key under a new master key, in one transaction
    Rotate {
        /// File holding the new master key (base64 of 32 bytes, e.g. `head -c 32 /dev/urandom | base64`)
        #[arg(long)]
        new_key_file: std::path::PathBuf,
        #[command(flatten, next_help_heading = "Settings")]
        data: DataSettings,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user whose password is read from standard input
    Create {
        /// Email address, used to sign in
        #[arg(long)]
        email: String,
        /// Name shown in the portal
        #[arg(long)]
        name: String,
        /// Make the user an instance administrator
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords never go on the command line)
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten, next_help_heading = "Settings")]
        data: DataSettings,
    },
}

/// mimalloc rather than glibc's allocator: a page makes many small allocations, which glibc serves
/// from arenas behind locks that the threads of the runtime and of the database driver contend
/// for; and freed memory goes back to the system (each password check takes 19 MiB). Figures in
/// docs/decisions.md, "The allocator".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc v3's `mimalloc.h` (the sys crate does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Freed memory is given back to the system at once rather than after a delay, which an idle
    // process would never reach: a burst of sign-ins must not leave it larger.
    // SAFETY: sets an option of the allocator; no other thread exists yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("KEYPORT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("KEYPORT_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve {
        config: Box::new(cli.serve),
    });
    match command {
        Command::Serve { config } => {
            App::build(*config)
                .await?
                .serve(keyport::shutdown_signal())
                .await
        }
        Command::Migrate { database } => {
            let db = Db::connect(&database.url).await?;
            db.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Healthcheck { listen } => commands::healthcheck(listen),
        Command::MasterKey {
            command: MasterKeyCommand::Rotate { data, new_key_file },
        } => commands::rotate_master_key(&data, &new_key_file).await,
        Command::User {
            command:
                UserCommand::Create {
                    data,
                    email,
                    name,
                    admin,
                    password_stdin: _,
                },
        } => commands::create_user(&data, &email, &name, admin).await,
        Command::ApiKey {
            command:
                ApiKeyCommand::Create {
                    data,
                    email,
                    name,
                    description,
                    expires,
                    project,
                    app,
                },
        } => {
            let request = ApiKeyRequest {
                email: &email,
                name: &name,
                description: &description,
                expires: &expires,
                project: project.as_deref(),
                app: app.as_deref(),
            };
            let created = commands::create_api_key(&data, request).await?;
            // The key alone on standard output, for `KEY=$(keyport api-key create ...)`.
            println!("{}", created.secret.as_str());
            eprintln!(
                "created API key {} ({}); it is not shown again",
                created.key.name, created.key.prefix
            );
            Ok(())
        }
        Command::Run {
            project,
            service,
            credential,
            site,
            url,
            command,
        } => {
            let api_key = Zeroizing::new(
                std::env::var("KEYPORT_API_KEY")
                    .context("set KEYPORT_API_KEY to a Keyport API key")?,
            );
            let request = client::RunRequest {
                project: &project,
                service: &service,
                credential: credential.as_deref(),
                site: site.as_deref(),
                command: &command,
            };
            let status = client::run(&url, &api_key, request).await?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Command::Reminders {
            command:
                RemindersCommand::Run {
                    data,
                    reminders,
                    public_url,
                    backend_allowed_networks,
                },
        } => {
            let request = commands::RemindersRequest {
                reminders: &reminders,
                public_url: &public_url,
                backend_networks: backend_allowed_networks,
            };
            println!("{}", commands::run_reminders(&data, request).await?);
            Ok(())
        }
        Command::TokenKey {
            command: TokenKeyCommand::Rotate { data },
        } => {
            let kid = commands::rotate_token_key(&data).await?;
            println!("access tokens are now signed with key {kid}");
            Ok(())
        }
    }
}
