//! The buildable application: `Application::build` connects, migrates, loads the registry and
//! binds the listener (port 0 in tests); `run_until_stopped` serves HTTP and runs the timer and
//! outbox loops until the shutdown future resolves.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use jiaoying_core::token::TokenSigner;
use jiaoying_core::{Clock, Span};
use jiaoying_dispatch::outbox::Outbox;
use jiaoying_dispatch::{build_channels_with, AddressKind, BuildContext};
use jiaoying_feeds::{FeedPoller, PollerConfig};
use jiaoying_store::Store;
use jiaoying_tracker::{run_loop, Composer, Step, Tracker, TrackerConfig};
use jiaoying_web::{AppState, Source, SourceToken};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::registry_file::read_registry;
use crate::settings::Settings;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    outbox: Outbox,
    tracker: Tracker,
    feeds: Option<Arc<FeedPoller>>,
    backstop: Span,
}

/// What tests and the CLI reach into: the store, the tracker, the outbox and their wake-ups.
#[derive(Clone)]
pub struct AppHandle {
    pub store: Arc<dyn Store>,
    pub tracker: Tracker,
    pub outbox: Outbox,
}

impl AppHandle {
    /// Tells the timer and outbox loops to look at the database now (after moving a test clock).
    pub fn wake(&self) {
        self.tracker.timers_wake.notify_one();
        self.tracker.outbox_wake.notify_one();
    }
}

impl Application {
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let problems = settings.problems();
        if !problems.is_empty() {
            anyhow::bail!("the config has problems:\n  {}", problems.join("\n  "));
        }
        for w in settings.warnings() {
            tracing::warn!("{w}");
        }
        let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
        store.migrate().await.context("applying migrations")?;
        if let Some(path) = &settings.registry {
            if path.exists() {
                match read_registry(path) {
                    Ok(reg) => {
                        let changes = store.upsert_registry(&reg, clock.now().millis()).await?;
                        tracing::info!(path = %path.display(), ?changes, "registry loaded");
                    }
                    // A bad file must not half-replace a good registry: keep the stored one.
                    Err(e) => tracing::error!("registry not loaded, the stored one stays in use: {e:#}"),
                }
            }
        }
        Self::build_with_store(settings, store, clock).await
    }

    pub async fn build_with_store(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let build_context = BuildContext { public_url: settings.server.public_url.trim_end_matches('/').to_string() };
        let channels = build_channels_with(&settings.channels, &build_context)
            .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?;
        let addressing: BTreeMap<String, AddressKind> =
            channels.names().filter_map(|n| channels.get(n).map(|c| (n.clone(), c.address_kind()))).collect();
        let signer = TokenSigner::new(settings.security.secret.expose_secret().as_bytes());
        let templates = settings.messages.load_templates().context("loading the message templates")?;
        let composer = Composer::new(signer, &settings.server.public_url, &settings.messages.signature, addressing)
            .with_templates(templates);
        let outbox_wake = Arc::new(Notify::new());
        let tracker = Tracker::new(
            store.clone(),
            clock.clone(),
            TrackerConfig {
                policies: settings.policies(),
                composer,
                batch: 100,
                late_answer_closes_escalation: settings.answers.late_answer_closes_escalation,
                directives: settings.directives.clone(),
            },
            outbox_wake,
        );
        let outbox = Outbox::new(store.clone(), clock.clone(), channels, settings.outbox.config());
        let feed_sources = settings.feed_sources().map_err(|e| anyhow::anyhow!("{e}"))?;
        let feeds = if feed_sources.is_empty() {
            None
        } else {
            let config = PollerConfig { normaliser: settings.normalise.clone(), ..PollerConfig::default() };
            Some(Arc::new(FeedPoller::new(store.clone(), tracker.clone(), clock.clone(), feed_sources, config)?))
        };
        let sources = settings
            .sources
            .iter()
            .map(|s| Source {
                id: s.id.clone(),
                token: match (&s.token, &s.token_sha256) {
                    (Some(t), _) => SourceToken::Plain(t.clone()),
                    (None, h) => SourceToken::Sha256(h.clone().unwrap_or_default().to_ascii_lowercase()),
                },
                senders: s.senders.clone(),
            })
            .collect();
        let state = AppState {
            tracker: tracker.clone(),
            outbox: outbox.clone(),
            sources: Arc::new(sources),
            public_url: settings.server.public_url.trim_end_matches('/').to_string(),
            body_limit: settings.server.body_limit,
            normaliser: Arc::new(settings.normalise.clone()),
            feeds: feeds.clone(),
            access: Default::default(),
            board: Default::default(),
            officer_api: Default::default(),
        };
        let listener = TcpListener::bind(&settings.server.listen)
            .await
            .with_context(|| format!("binding {}", settings.server.listen))?;
        Ok(Application { listener, state, outbox, tracker, feeds, backstop: settings.tracker.poll_backstop })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn handle(&self) -> AppHandle {
        AppHandle { store: self.state.store().clone(), tracker: self.tracker.clone(), outbox: self.outbox.clone() }
    }

    /// Serves until `shutdown` resolves, then stops taking requests, lets the loops finish their
    /// current step, and closes the database.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let clock = self.tracker.clock().clone();
        let backstop = self.backstop.as_std();

        let tracker = self.tracker.clone();
        let timers_clock = clock.clone();
        let timers = tokio::spawn({
            let stop = stop_rx.clone();
            async move {
                let wake = tracker.timers_wake.clone();
                run_loop(
                    "timers",
                    || {
                        let t = tracker.clone();
                        let now = timers_clock.now();
                        async move { t.timer_step(now).await }
                    },
                    || timers_clock.now().millis(),
                    &wake,
                    backstop,
                    stop,
                )
                .await
            }
        });

        // One sending loop per channel, so that a slow or hanging gateway holds up only its own
        // messages. The tracker's one wake-up hint is fanned out to every loop.
        let names: Vec<String> = self.outbox.channels().names().cloned().collect();
        let wakes: Vec<Arc<Notify>> = names.iter().map(|_| Arc::new(Notify::new())).collect();
        let fan_out = tokio::spawn({
            let hint = self.tracker.outbox_wake.clone();
            let wakes = wakes.clone();
            let mut stop = stop_rx.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = hint.notified() => wakes.iter().for_each(|w| w.notify_one()),
                        _ = stop.changed() => break,
                    }
                }
            }
        });
        if let Err(e) = self.outbox.fail_unconfigured(clock.now()).await {
            tracing::warn!(error = %e, "could not fail messages of channels no longer configured");
        }
        let senders: Vec<_> = names
            .into_iter()
            .zip(wakes)
            .map(|(name, wake)| {
                let outbox = self.outbox.clone();
                let outbox_clock = clock.clone();
                let stop = stop_rx.clone();
                tokio::spawn(async move {
                    run_loop(
                        "outbox",
                        || {
                            let o = outbox.clone();
                            let now = outbox_clock.now();
                            let name = name.clone();
                            async move { o.step_channel(&name, now).await.map(Step::from) }
                        },
                        || outbox_clock.now().millis(),
                        &wake,
                        backstop,
                        stop,
                    )
                    .await
                })
            })
            .collect();

        let feeds = self.feeds.map(|poller| {
            let stop = stop_rx.clone();
            tokio::spawn(async move { poller.run(&Notify::new(), stop).await })
        });

        let store = self.state.store().clone();
        let app = jiaoying_web::router(self.state);
        tracing::info!(address = %self.listener.local_addr()?, "jiaoying serving");
        // The peer address reaches the hooks, for providers' source allow-lists.
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .await;
        let _ = timers.await;
        for sender in senders {
            let _ = sender.await;
        }
        let _ = fan_out.await;
        if let Some(f) = feeds {
            let _ = f.await;
        }
        store.close().await;
        served.context("HTTP server failed")
    }
}
