//! `meshgate`: parses the command line, sets up logging and dispatches — `serve`,
//! `quickstart`, `init` and `migrate` run a server or touch the store locally; every other verb
//! talks to a running server over HTTP.

mod access;
mod alerts;
mod args;
mod audit;
mod body;
mod catalog;
mod client;
mod files;
mod lifecycle;
mod locations;
mod login;
mod mesh;
mod notify;
mod output;
mod products;
mod query;
mod recipients;
mod tenants;
mod verbs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use meshgate_server::{AppState, Config, LogFormat};

/// meshgate — a self-hosted data mesh: publish data products, request and approve access,
/// query what you were granted
#[derive(Parser, Debug)]
#[command(name = "meshgate", version)]
struct Cli {
    #[command(flatten)]
    client: verbs::ClientOpts,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct ServerOpts {
    /// configuration file (TOML); `MESHGATE_*` environment variables override it
    #[arg(long, env = "MESHGATE_CONFIG")]
    config: Option<PathBuf>,
    /// data directory (store, local tables, uploads)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// address to listen on, e.g. 127.0.0.1:8080
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// store URL: `sqlite://PATH` or `postgres://…` (default: SQLite in the data dir)
    #[arg(long)]
    store_url: Option<String>,
    /// log lines as `text` or `json`
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
}

impl ServerOpts {
    fn config(&self) -> Result<Config, String> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(s) = &self.store_url {
            c.store_url = Some(s.clone());
        }
        match self.log_format.as_deref() {
            Some("json") => c.log_format = LogFormat::Json,
            Some("text") => c.log_format = LogFormat::Text,
            _ => {}
        }
        Ok(c)
    }
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// run the server
    Serve(ServerOpts),
    /// create (or reuse) a demo mesh in the data dir, serve it, and print a tour
    Quickstart(ServerOpts),
    /// create the mesh and its first admin; prints the admin token once
    Init {
        #[command(flatten)]
        server: ServerOpts,
        /// name of the first admin
        #[arg(long, default_value = "admin")]
        admin: String,
    },
    /// create or upgrade the store's tables (also done by `serve`)
    Migrate(ServerOpts),
    #[command(flatten)]
    Client(verbs::ClientCommand),
}

/// The stack of the runtime's threads (workers and blocking tasks). Query planning runs on
/// threads of its own with a larger one (docs/design/QUERY_LIMITS.md); this is the margin for everything
/// else that recurses over a caller's input.
const THREAD_STACK: usize = 8 * 1024 * 1024;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Command::Serve(opts) => serve(opts).await,
        Command::Quickstart(opts) => quickstart(opts).await,
        Command::Init { server, admin } => init(server, &admin).await,
        Command::Migrate(opts) => migrate(opts).await,
        Command::Client(cmd) => verbs::run(&cli.client, cmd)
            .await
            .map_err(|e| format!("{e:#}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(opts: ServerOpts) -> Result<(), String> {
    let config = opts.config()?;
    meshgate_server::init_logging(config.log_format);
    let state = AppState::open(config).await?;
    meshgate_server::serve(state).await
}

async fn init(opts: ServerOpts, admin: &str) -> Result<(), String> {
    let config = opts.config()?;
    let state = AppState::open(config).await?;
    let created = meshgate_server::mesh::init(&state, admin).await?;
    println!("mesh initialised; admin `{}` created", created.principal);
    println!(
        "admin token (shown only once, keep it safe):\n\n  {}\n",
        created.token
    );
    println!(
        "next: export MESHGATE_TOKEN={} && meshgate serve",
        created.token
    );
    Ok(())
}

async fn migrate(opts: ServerOpts) -> Result<(), String> {
    let config = opts.config()?;
    meshgate_store::migrate(&config.store_url())
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    println!("store is up to date: {}", redact(&config.store_url()));
    Ok(())
}

/// A store URL without its password, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

async fn quickstart(opts: ServerOpts) -> Result<(), String> {
    let mut config = opts.config()?;
    // One click per demo person on the console's sign-in page (loopback browsers only).
    if config.auth.demo_people.is_empty() {
        config.auth.demo_people = meshgate_cli::demo::CONSOLE_PEOPLE
            .iter()
            .map(|p| (*p).to_string())
            .collect();
    }
    // The demo shows automatic classification masking on its own: customers' e-mail
    // addresses are detected and hashed for everyone but their owners, with no manual tag.
    config
        .classification
        .mode
        .get_or_insert(meshgate_core::classification::ClassificationMode::Apply);
    meshgate_server::init_logging(config.log_format);
    let fresh = !config.data_dir.join("meshgate.db").exists() && config.store_url.is_none();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e} (is another meshgate running? pass --listen)",
                config.listen
            )
        })?;
    let data_dir = config.data_dir.clone();
    let url = config.public_url();
    let state = AppState::open(config).await?;
    eprintln!(
        "{} the demo mesh in `{}` …",
        if fresh { "seeding" } else { "reusing" },
        data_dir.display()
    );
    let tokens = meshgate_cli::demo::seed_demo(&state).await?;
    meshgate_cli::demo::catalog::seed_demo(&state)
        .await
        .map_err(|e| e.message)?;
    print_tour(&url, &tokens);
    meshgate_server::serve_on(state, listener, meshgate_server::shutdown_signal()).await
}

fn print_tour(url: &str, tokens: &meshgate_cli::demo::DemoTokens) {
    let token = |name: &str| tokens.get(name).cloned().unwrap_or_default();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "meshgate".into());
    println!(
        r#"
meshgate is serving the demo mesh on {url}

  console   open {url}/ in a browser on this machine: one click signs you in as
            alice, carol, bob or admin (the quickstart only; tokens below for the CLI)

  domains   sales (producer), marketing (consumer), apps (producer)
  people    alice (owner of sales.core), carol (steward of sales.core),
            bob (member of marketing.analytics), admin (mesh admin),
            item-service (service principal, steward of apps.platform)
  products  sales.orders (100,000 orders), sales.customers (5,000 customers),
            apps.items (multi-tenant: items keyed `tenantN-…`, tenant3's seeded)

In another terminal, paste:

  alias meshgate='{exe}'
  export MESHGATE_URL={url}
  export ADMIN={admin} ALICE={alice} CAROL={carol} BOB={bob} ITEMS={items}

  # bob (marketing) cannot see sales' orders yet
  MESHGATE_TOKEN=$BOB meshgate query "SELECT region, count(*) AS orders FROM sales.orders.orders GROUP BY region"

  # bob asks for access, with a reason
  SHARE=$(MESHGATE_TOKEN=$BOB meshgate request-access sales.orders --reason "campaign attribution for Q3" -o id)

  # alice, an owner of sales.core, sees the request and approves it
  MESHGATE_TOKEN=$ALICE meshgate list-pending-requests
  MESHGATE_TOKEN=$ALICE meshgate approve-subscription $SHARE --notes "ok for Q3"

  # bob's query now returns rows
  MESHGATE_TOKEN=$BOB meshgate query "SELECT region, count(*) AS orders FROM sales.orders.orders GROUP BY region"

  # alice revokes; bob is denied again
  MESHGATE_TOKEN=$ALICE meshgate revoke $SHARE
  MESHGATE_TOKEN=$BOB meshgate query "SELECT count(*) FROM sales.orders.orders"

  # fine-grained access: bob's team asks for customers; alice shares only EU rows
  # (the demo's data filter `eu_only`) with names redacted; nobody tagged the emails:
  # automatic classification detected them and tagged them `pii`, which the mesh hashes
  # for everyone but the owners
  MESHGATE_TOKEN=$ALICE meshgate suggestions list sales.customers
  SHARE2=$(MESHGATE_TOKEN=$BOB meshgate request-access sales.customers --reason "EU newsletter" -o id)
  MESHGATE_TOKEN=$ALICE meshgate data-filter list sales.customers.customers
  MESHGATE_TOKEN=$ALICE meshgate approve-subscription $SHARE2 --filter customers=eu_only --mask customers.name=redact
  MESHGATE_TOKEN=$BOB meshgate query "SELECT * FROM sales.customers.customers ORDER BY customer_id LIMIT 3"
  MESHGATE_TOKEN=$BOB meshgate query "SELECT region, count(*) AS customers FROM sales.customers.customers GROUP BY region"
  MESHGATE_TOKEN=$ALICE meshgate query "SELECT * FROM sales.customers.customers ORDER BY customer_id LIMIT 3"

  # Delta Sharing: bob's own tools (pandas, Spark, Power BI) read what bob may read (the
  # customers above: EU rows, names redacted) with a profile file from a one-time link
  LINK=$(MESHGATE_TOKEN=$ADMIN meshgate recipient token create bob --expires-in-days 30 --link-only)
  meshgate sharing profile "$LINK" -f bob.share
  MESHGATE_TOKEN=$BOB meshgate sharing tables
  python3 -m pip install delta-sharing
  python3 -c 'import delta_sharing as ds; print(ds.load_as_pandas("bob.share#sales.customers.customers", limit=3))'

  # tenant isolation: item-service vends short-lived credentials, each scoped to one
  # tenant's keys of apps.items.items (its rights narrowed, never widened)
  T1=$(MESHGATE_TOKEN=$ITEMS meshgate credentials create --table apps.items.items --action read --action write --key-prefix tenant1- --expires-in 1h --token-only)
  T2=$(MESHGATE_TOKEN=$ITEMS meshgate credentials create --table apps.items.items --action read --action write --key-prefix tenant2- --token-only)

  # each tenant's items are written with its own credential
  MESHGATE_TOKEN=$T1 meshgate rows append apps.items.items --row '{{"item_id":"tenant1-1","name":"bolt","qty":100,"price":0.25}}' --row '{{"item_id":"tenant1-2","name":"nut","qty":250,"price":0.1}}'
  MESHGATE_TOKEN=$T2 meshgate rows append apps.items.items --row '{{"item_id":"tenant2-1","name":"gear","qty":40,"price":2.5}}'

  # tenant1's credential lists all of tenant1's items (and nothing else), and reads one by key
  MESHGATE_TOKEN=$T1 meshgate rows list apps.items.items
  MESHGATE_TOKEN=$T1 meshgate rows get apps.items.items tenant1-1

  # tenant2's credential may not read tenant1's item, nor write outside tenant2- (403, audited)
  MESHGATE_TOKEN=$T2 meshgate rows get apps.items.items tenant1-1
  MESHGATE_TOKEN=$T2 meshgate rows append apps.items.items --row '{{"item_id":"tenant1-9","name":"spoof","qty":1,"price":1}}'

  # SQL under tenant1's credential sees tenant1's rows only; item-service's own token sees all
  MESHGATE_TOKEN=$T1 meshgate query "SELECT item_id, name, qty FROM apps.items.items ORDER BY item_id"
  MESHGATE_TOKEN=$ITEMS meshgate query "SELECT tenant, count(*) AS items FROM apps.items.items GROUP BY tenant ORDER BY tenant"

  # credentials are listed (newest first) and revoked; a revoked credential gets 401
  MESHGATE_TOKEN=$ITEMS meshgate credentials list
  MESHGATE_TOKEN=$ITEMS meshgate credentials revoke $(MESHGATE_TOKEN=$ITEMS meshgate credentials list -o id | head -1)
  MESHGATE_TOKEN=$T2 meshgate rows list apps.items.items

  # the catalog: search metadata (never data) with facets; a product's catalog entry
  MESHGATE_TOKEN=$BOB meshgate search customer
  MESHGATE_TOKEN=$BOB meshgate search --term business.party
  MESHGATE_TOKEN=$BOB meshgate describe sales.orders

  # every decision and every query is in the audit log
  MESHGATE_TOKEN=$ADMIN meshgate audit --action share.
  MESHGATE_TOKEN=$ADMIN meshgate audit --action query.
  MESHGATE_TOKEN=$ADMIN meshgate audit --action rows.

Tokens are kept in the data dir (quickstart-tokens.json) so re-running quickstart reuses
them. Press Ctrl-C to stop.
"#,
        admin = token("admin"),
        alice = token("alice"),
        carol = token("carol"),
        bob = token("bob"),
        items = token("item-service"),
    );
}
