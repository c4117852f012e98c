//! The buildable application: `Application::build` connects, migrates, loads the registry and
//! binds the listener (port 0 in tests); `run_until_stopped` serves HTTP and runs the timer and
//! outbox loops until the shutdown future resolves.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiaoying_core::token::TokenSigner;
use jiaoying_core::{Clock, Span};
use jiaoying_dispatch::outbox::Outbox;
use jiaoying_dispatch::{build_channels_with, AddressKind, BuildContext, Channels};
use jiaoying_feeds::{FeedPoller, PollerConfig};
use jiaoying_store::{Backend, Store};
use jiaoying_tracker::duties::Duties;
use jiaoying_tracker::{run_loop, Composer, Pulse, Step, Tracker, TrackerConfig};
use jiaoying_web::{AppState, Liveness, Shared, Source, SourceToken};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::registry_file::{missing_registry, read_registry};
use crate::settings::Settings;

/// The tracker's rules from the settings; `channels` tell which address each channel sends to.
/// Shared by the service and by commands that accept an alert themselves (`jiaoying drill`).
pub(crate) fn tracker_config(settings: &Settings, channels: &Channels) -> anyhow::Result<TrackerConfig> {
    let addressing: BTreeMap<String, AddressKind> =
        channels.names().filter_map(|n| channels.get(n).map(|c| (n.clone(), c.address_kind()))).collect();
    let signer = TokenSigner::new(settings.security.secret.expose_secret().as_bytes());
    let templates = settings.messages.load_templates().context("loading the message templates")?;
    let composer = Composer::new(signer, &settings.server.public_url, &settings.messages.signature, addressing)
        .with_templates(templates);
    Ok(TrackerConfig {
        policies: settings.policies(),
        composer,
        batch: 100,
        late_answer_closes_escalation: settings.answers.late_answer_closes_escalation,
        directives: settings.directives.clone(),
    })
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    outbox: Outbox,
    tracker: Tracker,
    feeds: Option<Arc<FeedPoller>>,
    backstop: Span,
    /// Set to `true` when shutdown starts: stops the loops, and ends the responses that would
    /// otherwise stay open (the event stream), which the web layer watches through `AppState`.
    stop_tx: watch::Sender<bool>,
    /// Issue 8: the time a stop may take, and the bell that wakes the event streams.
    shutdown_grace: Span,
    event_bell: jiaoying_web::EventBell,
}

/// What tests and the CLI reach into: the store, the tracker, the outbox and their wake-ups.
#[derive(Clone)]
pub struct AppHandle {
    pub store: Arc<dyn Store>,
    pub tracker: Tracker,
    pub outbox: Outbox,
    /// The scheduled duties (issue 7).
    pub duties: Duties,
    /// Outgoing links (issue 8).
    pub linking: Arc<jiaoying_linking::Linker>,
    /// The feed poller, when a source is polled.
    pub feeds: Option<Arc<FeedPoller>>,
}

impl AppHandle {
    /// Tells the timer, outbox and duty loops to look at the database now (after moving a test
    /// clock).
    pub fn wake(&self) {
        self.tracker.timers_wake.notify_one();
        self.tracker.outbox_wake.notify_one();
        self.duties.wake().notify_one();
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
            } else {
                tracing::warn!("{}", missing_registry(path));
            }
        }
        Self::build_with_store(settings, store, clock).await
    }

    pub async fn build_with_store(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        // The registry in memory before the first alert, which would otherwise pay for reading it.
        if let Err(e) = store.load_registry().await {
            tracing::warn!(error = %e, "could not read the registry at start; the first alert will");
        }
        let build_context = BuildContext { public_url: settings.server.public_url.trim_end_matches('/').to_string() };
        let channels = build_channels_with(&settings.channels, &build_context)
            .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?;
        let outbox_wake = Arc::new(Notify::new());
        let tracker = Tracker::new(store.clone(), clock.clone(), tracker_config(settings, &channels)?, outbox_wake);
        let outbox = Outbox::new(store.clone(), clock.clone(), channels, settings.outbox.config());
        tracker.set_handoff(outbox.handoff());
        let duties_config = settings.duties_config().map_err(|e| anyhow::anyhow!("{e}"))?;
        let duties = Duties::new(tracker.clone(), duties_config, settings.security.secret.expose_secret().as_bytes());
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
        // Outgoing links (issue 8): every subscriber gets its cursor before anything is served.
        let link_config = settings.link_config().map_err(|e| anyhow::anyhow!("{}", e.join("; ")))?;
        let linking = Arc::new(jiaoying_linking::Linker::new(store.clone(), clock.clone(), link_config)?);
        linking.start().await.context("starting outgoing links")?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (event_bell, events) = jiaoying_web::EventSignal::new(settings.server.events_poll.as_std());
        let state = AppState::new(Shared {
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
            duties,
            shutdown: stop_rx,
            events,
            liveness: jiaoying_web::Liveness::for_backstop(settings.tracker.poll_backstop.as_std()),
            metrics: jiaoying_web::MetricsEndpoint::new(settings.metrics.token.as_ref()),
            linking,
        });
        let listener = TcpListener::bind(&settings.server.listen)
            .await
            .with_context(|| format!("binding {}", settings.server.listen))?;
        Ok(Application {
            listener,
            state,
            outbox,
            tracker,
            feeds,
            backstop: settings.tracker.poll_backstop,
            stop_tx,
            shutdown_grace: settings.server.shutdown_grace,
            event_bell,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn handle(&self) -> AppHandle {
        AppHandle {
            store: self.state.store().clone(),
            tracker: self.tracker.clone(),
            outbox: self.outbox.clone(),
            duties: self.state.duties.clone(),
            linking: self.state.linking.clone(),
            feeds: self.feeds.clone(),
        }
    }

    /// Serves until `shutdown` resolves, then stops taking requests and claims, lets requests
    /// and the loops' current steps finish within `server.shutdown_grace`, returns what is still
    /// claimed to the queue, and closes the database.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stop_tx = self.stop_tx;
        let stop_rx = self.state.shutdown.clone();
        let clock = self.tracker.clock().clone();
        let backstop = self.backstop.as_std();

        // Histogram samples drained into buckets however rarely Prometheus scrapes (issue 8).
        tokio::spawn({
            let metrics = self.state.metrics.clone();
            let stop = stop_rx.clone();
            async move { metrics.upkeep(stop).await }
        });

        // Fan-outs a stop cut short between their chunks (ADR 0020) are finished now; a database
        // still down is retried by the repeat of the alert or the next start.
        tokio::spawn({
            let tracker = self.tracker.clone();
            async move {
                match tracker.resume_fanouts().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(calls = n, "finished fan-outs a stop had cut short"),
                    Err(e) => tracing::error!(error = %e, "could not finish fan-outs a stop had cut short"),
                }
            }
        });

        let tracker = self.tracker.clone();
        let timers_clock = clock.clone();
        // Each loop beats its heartbeat as a step starts and ends: /readyz (issue 8).
        let timers_beat = self.state.liveness.register("timers");
        let timers = tokio::spawn({
            let stop = stop_rx.clone();
            async move {
                let wake = tracker.timers_wake.clone();
                run_loop(
                    "timers",
                    || {
                        let t = tracker.clone();
                        let now = timers_clock.now();
                        let beat = timers_beat.clone();
                        async move { beat.around(t.timer_step(now)).await }
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
        for (name, wake) in names.iter().zip(&wakes) {
            self.tracker.register_channel_wake(name, wake.clone());
        }
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
                let beat = self.state.liveness.register(format!("outbox:{name}"));
                tokio::spawn(async move {
                    run_loop(
                        "outbox",
                        || {
                            let o = outbox.clone();
                            let now = outbox_clock.now();
                            let name = name.clone();
                            let beat = beat.clone();
                            async move { beat.around(o.step_channel(&name, now)).await.map(Step::from) }
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

        // The feed poller (its heartbeat `feeds`): it sleeps up to a minute between steps,
        // however far the next cron time, and says so as its quiet time.
        let feeds = self.feeds.clone();
        let feed_loop = feeds.clone().map(|poller| {
            let pulses = pulses(&self.state.liveness);
            tokio::spawn(async move { poller.run(pulses).await })
        });

        // Scheduled duties (issue 7): one loop, sleeping until the next scheduled time or
        // follow-up, woken early by the handle (tests moving the clock). However far the next
        // time, `run_loop` looks again every backstop, so the heartbeat stays fresh while the loop
        // waits as it should.
        let duty_loop = self.state.duties.config().any_scheduled().then(|| {
            let duties = self.state.duties.clone();
            let duties_clock = clock.clone();
            let stop = stop_rx.clone();
            let beat = self.state.liveness.register("duties");
            tokio::spawn(async move {
                let wake = duties.wake().clone();
                run_loop(
                    "duties",
                    || {
                        let d = duties.clone();
                        let now = duties_clock.now();
                        let beat = beat.clone();
                        async move { beat.around(d.step(now)).await }
                    },
                    || duties_clock.now().millis(),
                    &wake,
                    backstop,
                    stop,
                )
                .await
            })
        });

        // Outgoing links (issue 8): the follow loop and one delivery loop per subscriber, each
        // with its heartbeat; a delivery loop's may stay quiet for one POST.
        let linking = self.state.linking.clone();
        let links = tokio::spawn(linking.clone().run(pulses(&self.state.liveness)));

        // The PostgreSQL event relay (heartbeat `events:relay`) waits on NOTIFY for as long as
        // nothing is committed, rightly: it beats every backstop meanwhile, so only its end shows.
        // SQLite has no relay (its streams poll): nothing to register.
        let store = self.state.store().clone();
        let relay_beat = (store.backend() == Backend::Postgres).then(|| self.state.liveness.register("events:relay"));
        let relayed = crate::lifecycle::relay_event_wakeups(store.clone(), self.event_bell, stop_rx.clone());
        let relay = tokio::spawn(async move {
            match relay_beat {
                Some(beat) => beat.throughout(relayed, backstop).await,
                None => relayed.await,
            }
        });
        let outbox = self.outbox.clone();
        let app = jiaoying_web::router(self.state);
        tracing::info!(address = %self.listener.local_addr()?, "jiaoying serving");
        // The peer address reaches the hooks, for providers' source allow-lists.
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let mut stopping = stop_rx.clone();
        let graceful = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|s| *s).await;
        });
        let mut server = tokio::spawn(async move { graceful.await });
        let failed = tokio::select! {
            _ = shutdown => None,
            r = &mut server => Some(r),
        };
        // Stop taking new work (requests, claims, sends not started); then drain within the grace
        // period (ADR 0017), and past it exit anyway: the lease makes the rest another's.
        let _ = stop_tx.send(true);
        outbox.stop();
        linking.stop();
        if let Some(poller) = &feeds {
            poller.stop();
        }
        let grace = crate::lifecycle::Grace::start(self.shutdown_grace.as_std());
        let drained = grace
            .drain(async move {
                let served = match failed {
                    Some(r) => r,
                    None => server.await,
                };
                let _ = timers.await;
                for sender in senders {
                    let _ = sender.await;
                }
                let _ = fan_out.await;
                if let Some(f) = feed_loop {
                    let _ = f.await;
                }
                if let Some(d) = duty_loop {
                    let _ = d.await;
                }
                let _ = relay.await;
                let _ = links.await;
                served
            })
            .await;
        if drained.is_none() {
            tracing::warn!("grace period over: exiting with work in flight");
        }
        grace.finish(&outbox, &linking, &store).await;
        match drained {
            Some(Ok(served)) => served.context("HTTP server failed"),
            Some(Err(e)) => Err(anyhow::anyhow!("the HTTP server task failed: {e}")),
            None => Ok(()),
        }
    }
}

/// How a library's loop gets its heartbeat (`Linker::run`, `FeedPoller::run`): registered under
/// the loop's name with the time it may rightly stay quiet, beaten through the [`Pulse`].
fn pulses(liveness: &Liveness) -> impl Fn(&str, Duration) -> Pulse {
    let liveness = liveness.clone();
    move |name: &str, quiet: Duration| {
        let beat = liveness.register_quiet_up_to(name, quiet);
        Arc::new(move || beat.beat()) as Pulse
    }
}
