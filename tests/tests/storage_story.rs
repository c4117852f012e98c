//! The storage story, told once and run on both backends: every `Store` and `StoreTx` operation
//! the service relies on, and the rules the database itself enforces (call and message state
//! machines, append-only call events), checked against the core's own definition.

use std::sync::Arc;

use jiaoying_core::{
    AlertKey, Area, AreaCode, CallState, MobileNumber, Person, PersonId, Registry, Role, Tier, Timestamp, Unit, UnitId,
    UnitKind,
};
use jiaoying_store::{
    AlertFilter, ApiTokenInfo, CallRow, CodedAnswer, CodedOutcome, NewAlertRow, NewCall, NewEvent, NewMessage, Purpose,
    RegistryChanges, SendResult, StateCount, Store, StoreError,
};
use jiaoying_tests::both_backends;
use jiaoying_tests::db::{Backend, TestDb};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn open(db: &TestDb) -> Arc<dyn Store> {
    let store = jiaoying_store::connect(&db.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A pool of our own on the test database, for the raw SQL the store would never send.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

#[derive(Clone, Copy)]
enum Arg<'a> {
    I(i64),
    S(&'a str),
}

macro_rules! bind_all {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for a in $args {
            q = match *a {
                Arg::I(i) => q.bind(i),
                Arg::S(s) => q.bind(s.to_string()),
            };
        }
        q
    }};
}

impl Raw {
    async fn open(db: &TestDb) -> Raw {
        match db.backend {
            Backend::Sqlite => Raw::Sqlite(sqlx::SqlitePool::connect(&db.url).await.expect("raw sqlite pool")),
            Backend::Postgres => Raw::Pg(sqlx::PgPool::connect(&db.url).await.expect("raw postgres pool")),
        }
    }

    /// Runs one statement; the rows it affected, or the database's refusal.
    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        match self {
            Raw::Sqlite(p) => Ok(bind_all!(sql, args).execute(p).await?.rows_affected()),
            Raw::Pg(p) => Ok(bind_all!(sql, args).execute(p).await?.rows_affected()),
        }
    }

    /// Runs an `INSERT ... RETURNING id`.
    async fn insert(&self, sql: &str, args: &[Arg<'_>]) -> Result<i64, sqlx::Error> {
        use sqlx::Row;
        match self {
            Raw::Sqlite(p) => Ok(bind_all!(sql, args).fetch_one(p).await?.try_get::<i64, _>(0)?),
            Raw::Pg(p) => Ok(bind_all!(sql, args).fetch_one(p).await?.try_get::<i64, _>(0)?),
        }
    }

    async fn close(self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Pg(p) => p.close().await,
        }
    }
}

fn area(code: &str, name: &str, parent: Option<&str>, polygon: Option<Vec<[f64; 2]>>) -> Area {
    Area {
        code: AreaCode::parse(code).unwrap(),
        name: name.into(),
        parent: parent.map(|p| AreaCode::parse(p).unwrap()),
        polygon,
    }
}

fn person(
    id: &str,
    name: &str,
    mobile: &str,
    email: Option<&str>,
    roles: &[&str],
    area: &str,
    superior: Option<&str>,
) -> Person {
    Person {
        id: PersonId::parse(id).unwrap(),
        name: name.into(),
        mobile: MobileNumber::parse(mobile).unwrap(),
        email: email.map(str::to_string),
        roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
        area: AreaCode::parse(area).unwrap(),
        superior: superior.map(|s| PersonId::parse(s).unwrap()),
    }
}

/// Three areas, four persons (a duty officer and a unit's three responsible persons reporting
/// to them) and one school; sorted as `load_registry` returns them.
fn small_registry() -> Registry {
    let mut r = Registry {
        rosters: vec![jiaoying_core::roster::RosterEntry {
            area: AreaCode::parse("500105002").unwrap(),
            person: PersonId::parse("p-duty-1").unwrap(),
            date: "2026-07-01".parse().unwrap(),
            shift: "20:00-08:00".parse().unwrap(),
        }],
        areas: vec![
            area("500105", "江北区", None, None),
            area(
                "500105002",
                "观音桥街道",
                Some("500105"),
                Some(vec![[106.52, 29.57], [106.55, 29.57], [106.55, 29.59], [106.52, 29.57]]),
            ),
            area("500105003", "华新街街道", Some("500105"), None),
        ],
        persons: vec![
            person(
                "p-duty-1",
                "王值班",
                "+8613800000001",
                Some("duty@example.org"),
                &["duty_officer", "leader"],
                "500105",
                None,
            ),
            person("p-adm-1", "李行政", "13800000002", None, &["administrative"], "500105002", Some("p-duty-1")),
            person(
                "p-reg-1",
                "张监管",
                "+8613800000003",
                Some("reg@example.org"),
                &["regulatory", "grid"],
                "500105002",
                Some("p-duty-1"),
            ),
            person("p-unit-1", "赵校长", "+8613800000004", None, &["unit"], "500105002", Some("p-adm-1")),
        ],
        units: vec![Unit {
            id: UnitId::parse("u-school-1").unwrap(),
            name: "观音桥小学".into(),
            kind: UnitKind::School,
            area: AreaCode::parse("500105002").unwrap(),
            location: Some([106.531, 29.575]),
            administrative: PersonId::parse("p-adm-1").unwrap(),
            regulatory: PersonId::parse("p-reg-1").unwrap(),
            unit: PersonId::parse("p-unit-1").unwrap(),
        }],
    };
    sort_registry(&mut r);
    r
}

fn sort_registry(r: &mut Registry) {
    r.areas.sort_by(|a, b| a.code.cmp(&b.code));
    r.persons.sort_by(|a, b| a.id.cmp(&b.id));
    r.units.sort_by(|a, b| a.id.cmp(&b.id));
    r.rosters.sort_by_key(|e| (e.date, e.area.clone(), e.shift.to_string(), e.person.clone()));
}

fn new_alert(state: &str, now: i64) -> NewAlertRow {
    NewAlertRow {
        source: "cma".into(),
        status: "Actual".into(),
        msg_type: "Alert".into(),
        event: "暴雨".into(),
        tier: Tier::Red,
        headline: format!("暴雨红色预警 {now}"),
        description: "未来3小时降雨量将达100毫米以上".into(),
        instruction: "立即转移危险区域人员".into(),
        onset: Some(now),
        expires: Some(now + 6 * 3_600_000),
        areas: r#"["500105002"]"#.into(),
        state: state.into(),
        content_sent: now,
        now,
    }
}

fn key(identifier: &str) -> AlertKey {
    AlertKey {
        sender: "cma@example.org".into(),
        identifier: identifier.into(),
        sent: Timestamp::from_millis(1_700_000_000_000),
    }
}

fn new_call(alert_id: i64, person_id: &str, deadline: i64, now: i64) -> NewCall {
    NewCall {
        alert_id,
        person_id: person_id.into(),
        roles: "administrative".into(),
        unit_id: Some("u-school-1".into()),
        area: "500105002".into(),
        level: 0,
        reply_code: format!("{:04}", deadline % 10_000),
        deadline,
        next_action_at: deadline,
        escalated_from: None,
        directive: None,
        done_within: None,
        now,
    }
}

fn new_message(alert_id: Option<i64>, call_id: Option<i64>, recipient: &str, now: i64) -> NewMessage {
    NewMessage {
        alert_id,
        call_id,
        channel: "sms".into(),
        recipient: recipient.into(),
        purpose: if call_id.is_some() { Purpose::Call } else { Purpose::Test },
        subject: "暴雨红色预警".into(),
        body: "请回复 1234 确认".into(),
        code: Some("1234".into()),
        link: Some("https://jy.example.org/a/1234".into()),
        now,
        priority: 0,
    }
}

/// An alert committed on its own, for stories that need something to hang calls on.
async fn seed_alert(store: &dyn Store, state: &str, now: i64) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let id = tx.insert_alert(&new_alert(state, now)).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn seed_message(store: &dyn Store, m: &NewMessage) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let id = tx.insert_message(m).await.unwrap();
    tx.commit().await.unwrap();
    id
}

// ---------------------------------------------------------------------------------------------
// Stories
// ---------------------------------------------------------------------------------------------

async fn a_registry_round_trips_and_an_import_reports_what_it_changed(db: &TestDb) {
    let store = open(db).await;
    let registry = small_registry();

    let changes = store.upsert_registry(&registry, 1_000).await.unwrap();
    assert_eq!(changes, RegistryChanges { added: 9, changed: 0, unchanged: 0 });

    let mut loaded = (*store.load_registry().await.unwrap()).clone();
    sort_registry(&mut loaded);
    assert_eq!(loaded, registry, "the registry read back is the registry written");

    // The same import again changes nothing.
    let again = store.upsert_registry(&registry, 2_000).await.unwrap();
    assert_eq!(again, RegistryChanges { added: 0, changed: 0, unchanged: 9 });

    // One person changes number and email: one change, the rest untouched.
    let mut edited = registry.clone();
    let p = edited.persons.iter_mut().find(|p| p.id.as_str() == "p-adm-1").unwrap();
    p.mobile = MobileNumber::parse("+8613900000002").unwrap();
    p.email = Some("adm@example.org".into());
    let changes = store.upsert_registry(&edited, 3_000).await.unwrap();
    assert_eq!(changes, RegistryChanges { added: 0, changed: 1, unchanged: 8 });

    let mut loaded = (*store.load_registry().await.unwrap()).clone();
    sort_registry(&mut loaded);
    assert_eq!(loaded, edited);

    let found = store.persons_by_mobile(&MobileNumber::parse("13900000002").unwrap()).await.unwrap();
    assert_eq!(found, vec![edited.person(&PersonId::parse("p-adm-1").unwrap()).unwrap().clone()]);
    let old = store.persons_by_mobile(&MobileNumber::parse("+8613800000002").unwrap()).await.unwrap();
    assert!(old.is_empty(), "the old number no longer finds anyone: {old:?}");
    let duty = store.persons_by_mobile(&MobileNumber::parse("+8613800000001").unwrap()).await.unwrap();
    assert_eq!(duty.len(), 1);
    assert_eq!(duty[0].id.as_str(), "p-duty-1");
    assert_eq!(duty[0].roles, vec![Role::named("duty_officer"), Role::named("leader")]);

    store.close().await;
}

async fn the_registry_in_memory_follows_changes_made_by_another_instance(db: &TestDb) {
    let here = open(db).await;
    let there = open(db).await;
    let registry = small_registry();
    there.upsert_registry(&registry, 1_000).await.unwrap();

    let first = here.load_registry().await.unwrap();
    let again = here.load_registry().await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again), "unchanged: the copy in memory is reused, not re-read");

    // Another instance changes one person's number: this one sees it on its next read.
    let mut edited = registry.clone();
    edited.persons.iter_mut().find(|p| p.id.as_str() == "p-adm-1").unwrap().mobile =
        MobileNumber::parse("+8613900000009").unwrap();
    there.upsert_registry(&edited, 2_000).await.unwrap();
    let after = here.load_registry().await.unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &after));
    let p = after.person(&PersonId::parse("p-adm-1").unwrap()).unwrap();
    assert_eq!(p.mobile.as_str(), "+8613900000009");
    here.close().await;
    there.close().await;
}
both_backends!(the_registry_in_memory_follows_changes_made_by_another_instance);

async fn an_accepted_alert_is_stored_whole_or_not_at_all(db: &TestDb) {
    let store = open(db).await;
    store.upsert_registry(&small_registry(), 1_000).await.unwrap();
    let now = 10_000;

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.alert_id_for_key(&key("A-1")).await.unwrap(), None);
    let alert_id = tx.insert_alert(&new_alert("active", now)).await.unwrap();
    let message_id = tx.insert_alert_message(alert_id, &key("A-1"), "Alert", "<alert/>", now).await.unwrap();
    // References are kept even when they name no message we hold (dangling).
    let dangling =
        jiaoying_core::alert::Reference { sender: "cma@example.org".into(), identifier: "A-0".into(), sent: None };
    tx.insert_message_references(message_id, &[dangling]).await.unwrap();
    let late = AlertKey { sender: "cma@example.org".into(), identifier: "A-0".into(), sent: Timestamp::from_millis(1) };
    assert_eq!(tx.alerts_referencing(&late).await.unwrap(), vec![alert_id], "a late original finds its Update");
    assert_eq!(tx.alert_id_for_key(&key("A-1")).await.unwrap(), Some(alert_id), "visible inside the transaction");
    let first = new_call(alert_id, "p-adm-1", now + 60_000, now);
    let c1 = tx.insert_call(&first).await.unwrap();
    let c2 = tx.insert_call(&new_call(alert_id, "p-unit-1", now + 60_000, now)).await.unwrap();
    // The row the tracker builds instead of reading it back is the row the database holds.
    assert_eq!(tx.call(c1).await.unwrap(), Some(first.row(c1)));
    let m1 = tx.insert_message(&new_message(Some(alert_id), Some(c1), "+8613800000002", now)).await.unwrap();
    let m2 = tx.insert_message(&new_message(Some(alert_id), Some(c2), "+8613800000004", now)).await.unwrap();
    tx.insert_event(&NewEvent {
        alert_id,
        call_id: c1,
        at: now,
        from_state: None,
        to_state: CallState::Pending,
        actor: "system".into(),
        via: None,
        note: Some("called".into()),
    })
    .await
    .unwrap();
    assert_eq!(tx.calls_of_alert(alert_id).await.unwrap().len(), 2);
    tx.commit().await.unwrap();

    assert_eq!(store.alert_id_for_key(&key("A-1")).await.unwrap(), Some(alert_id));
    assert_eq!(store.alert_id_for_key(&key("A-2")).await.unwrap(), None);
    let alert = store.alert(alert_id).await.unwrap().expect("alert stored");
    assert_eq!((alert.state.as_str(), alert.tier, alert.created_at), ("active", Tier::Red, now));

    let calls = store.calls_of_alert(alert_id).await.unwrap();
    assert_eq!(calls.iter().map(|c| c.call.id).collect::<Vec<_>>(), vec![c1, c2]);
    assert_eq!(calls.iter().map(|c| c.name.as_deref()).collect::<Vec<_>>(), vec![Some("李行政"), Some("赵校长")]);
    assert_eq!(calls[0].call.person_id, "p-adm-1");
    assert_eq!(calls[0].call.state, CallState::Pending);
    assert_eq!(calls[0].call.attempts, 1);
    assert_eq!(calls[0].call.next_action_at, Some(now + 60_000), "a new call's timer is its deadline");

    let counts = store.call_counts(&[alert_id]).await.unwrap();
    assert_eq!(counts, vec![StateCount { alert_id, state: CallState::Pending, n: 2 }]);

    let messages = store.messages_of_alert(alert_id).await.unwrap();
    assert_eq!(messages.iter().map(|m| m.id).collect::<Vec<_>>(), vec![m1, m2]);
    assert!(messages.iter().all(|m| m.state == "queued" && m.attempts == 0 && m.next_attempt_at == now));
    let events = store.events_of_alert(alert_id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].call_id, events[0].to_state.as_str(), events[0].from_state.as_deref()),
        (c1, "pending", None)
    );

    // The same source message again is a conflict, not a second alert.
    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_alert_message(alert_id, &key("A-1"), "Alert", "<alert/>", now + 1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "duplicate key must be a Conflict, got {err:?}");
    drop(tx);

    // A transaction dropped without commit leaves nothing behind.
    let (_, total_before) = store.list_alerts(&AlertFilter { state: None, limit: 100, offset: 0 }).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let ghost = tx.insert_alert(&new_alert("active", now + 5)).await.unwrap();
    tx.insert_alert_message(ghost, &key("A-ghost"), "Alert", "<alert/>", now + 5).await.unwrap();
    let ghost_call = tx.insert_call(&new_call(ghost, "p-reg-1", now + 60_000, now + 5)).await.unwrap();
    drop(tx);
    assert_eq!(store.alert_id_for_key(&key("A-ghost")).await.unwrap(), None);
    assert_eq!(store.alert(ghost).await.unwrap(), None);
    assert_eq!(store.call(ghost_call).await.unwrap(), None);
    let (_, total_after) = store.list_alerts(&AlertFilter { state: None, limit: 100, offset: 0 }).await.unwrap();
    assert_eq!(total_after, total_before);
    // And the store is still usable for writing after the rollback.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.alert(ghost).await.unwrap(), None);
    assert!(tx.alert(alert_id).await.unwrap().is_some());
    tx.commit().await.unwrap();

    store.close().await;
}

async fn due_calls_are_claimed_in_time_order_and_updated_by_compare_and_set(db: &TestDb) {
    let store = open(db).await;
    let alert_id = seed_alert(&*store, "active", 0).await;
    assert_eq!(store.next_call_due().await.unwrap(), None, "no calls, no timer");

    let mut tx = store.begin().await.unwrap();
    // Inserted out of due order on purpose.
    let late = tx.insert_call(&new_call(alert_id, "p-a", 3_000, 0)).await.unwrap();
    let first = tx.insert_call(&new_call(alert_id, "p-b", 1_000, 0)).await.unwrap();
    let future = tx.insert_call(&new_call(alert_id, "p-c", 9_000, 0)).await.unwrap();
    let second = tx.insert_call(&new_call(alert_id, "p-d", 2_000, 0)).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(store.next_call_due().await.unwrap(), Some(1_000));

    let mut tx = store.begin().await.unwrap();
    assert!(tx.claim_due_calls(999, 10).await.unwrap().is_empty(), "nothing is due before the first deadline");
    let due = tx.claim_due_calls(3_000, 10).await.unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first, second, late], "due calls, earliest first");
    assert!(!due.iter().any(|c| c.id == future));
    let limited = tx.claim_due_calls(3_000, 2).await.unwrap();
    assert_eq!(limited.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first, second]);
    tx.commit().await.unwrap();

    // Compare-and-set: the first update wins, a second from the same stale row changes nothing.
    let before: CallRow = due[0].clone();
    let after = CallRow {
        state: CallState::Sent,
        next_action_at: Some(6_000),
        deadline: 6_000,
        updated_at: 1_000,
        ..before.clone()
    };
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_call(&before, &after).await.unwrap(), "first update applies");
    let stale_after = CallRow { state: CallState::Expired, next_action_at: None, updated_at: 1_001, ..before.clone() };
    assert!(!tx.update_call(&before, &stale_after).await.unwrap(), "stale before must not apply");
    tx.commit().await.unwrap();
    assert_eq!(store.call(first).await.unwrap(), Some(after.clone()));

    // Attempts are part of the comparison too.
    let wrong_attempts = CallRow { attempts: after.attempts + 1, ..after.clone() };
    let retried =
        CallRow { attempts: after.attempts + 1, deadline: 8_000, next_action_at: Some(8_000), ..after.clone() };
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.update_call(&wrong_attempts, &retried).await.unwrap(), "wrong attempts must not apply");
    assert!(tx.update_call(&after, &retried).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.call(first).await.unwrap(), Some(retried));

    // The timer moved: the earliest is now the second call.
    assert_eq!(store.next_call_due().await.unwrap(), Some(2_000));

    store.close().await;
}

async fn the_database_allows_exactly_the_call_transitions_the_core_allows(db: &TestDb) {
    let store = open(db).await;
    let alert_id = seed_alert(&*store, "active", 0).await;
    let raw = Raw::open(db).await;

    let mut disagreements = Vec::new();
    let mut checked = 0;
    for from in CallState::ALL {
        for to in CallState::ALL {
            if from == to {
                continue;
            }
            let person = format!("p-{}-{}", from.as_str(), to.as_str());
            let id = raw
                .insert(
                    "INSERT INTO calls (alert_id, person_id, roles, area, level, state, reply_code, attempts, deadline, \
                     created_at, updated_at) VALUES ($1, $2, 'grid', '500105002', 0, $3, '1234', 1, 0, 0, 0) RETURNING id",
                    &[Arg::I(alert_id), Arg::S(&person), Arg::S(from.as_str())],
                )
                .await
                .unwrap_or_else(|e| panic!("insert a call in state {from}: {e}"));
            let result =
                raw.exec("UPDATE calls SET state = $1 WHERE id = $2", &[Arg::S(to.as_str()), Arg::I(id)]).await;
            let accepted = match &result {
                Ok(n) => {
                    assert_eq!(*n, 1, "{from} -> {to}: the update touched {n} rows");
                    true
                }
                Err(sqlx::Error::Database(_)) => false,
                Err(e) => panic!("{from} -> {to}: unexpected error {e}"),
            };
            if accepted != from.can_become(to) {
                disagreements.push(format!("{from} -> {to}: core says {}, database {:?}", from.can_become(to), result));
            }
            let stored = store.call(id).await.unwrap().expect("call exists").state;
            assert_eq!(stored, if accepted { to } else { from }, "{from} -> {to}: state after the attempt");
            checked += 1;
        }
    }
    assert_eq!(checked, 9 * 8);
    assert!(disagreements.is_empty(), "core and database disagree:\n{}", disagreements.join("\n"));

    // Writing the same state again is no transition and is allowed.
    let id = raw
        .insert(
            "INSERT INTO calls (alert_id, person_id, roles, area, level, state, reply_code, attempts, deadline, \
             created_at, updated_at) VALUES ($1, 'p-same', 'grid', '500105002', 0, 'done', '1234', 1, 0, 0, 0) RETURNING id",
            &[Arg::I(alert_id)],
        )
        .await
        .unwrap();
    assert_eq!(
        raw.exec("UPDATE calls SET state = 'done', updated_at = 5 WHERE id = $1", &[Arg::I(id)]).await.unwrap(),
        1
    );
    // And a state the core does not know is refused outright.
    assert!(raw.exec("UPDATE calls SET state = 'bogus' WHERE id = $1", &[Arg::I(id)]).await.is_err());

    raw.close().await;
    store.close().await;
}

async fn the_outbox_leases_retries_and_records_receipts(db: &TestDb) {
    let store = open(db).await;
    let alert_id = seed_alert(&*store, "active", 0).await;

    let m1 = seed_message(&*store, &new_message(Some(alert_id), None, "+8613800000001", 1_000)).await;
    // Not due for a long time: must never be claimed below.
    let m_later = seed_message(&*store, &new_message(Some(alert_id), None, "+8613800000009", 1_000_000)).await;
    assert_eq!(store.next_message_due(None).await.unwrap(), Some(1_000));

    assert!(store.claim_messages(999, 30_999, 10, None).await.unwrap().is_empty(), "not due yet");
    let claimed = store.claim_messages(1_000, 31_000, 10, None).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, m1);
    assert_eq!((claimed[0].state.as_str(), claimed[0].attempts, claimed[0].lease_until), ("sending", 1, Some(31_000)));
    assert_eq!(store.next_message_due(None).await.unwrap(), Some(31_000), "the lease end is when it is due again");

    // Leased: a second claim before the lease ends takes nothing.
    assert!(store.claim_messages(2_000, 32_000, 10, None).await.unwrap().is_empty());
    assert!(store.claim_messages(30_999, 60_999, 10, None).await.unwrap().is_empty());

    // The sender died: after the lease, the message is claimed again.
    let reclaimed = store.claim_messages(31_001, 61_001, 10, None).await.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, m1);
    assert_eq!(
        (reclaimed[0].state.as_str(), reclaimed[0].attempts, reclaimed[0].lease_until),
        ("sending", 2, Some(61_001))
    );

    // The first sender's outcome comes in late, under its old lease: ignored.
    let sent = SendResult::Sent { provider_id: Some("prov-1".into()) };
    assert!(!store.finish_message(m1, 31_000, &sent, 31_500).await.unwrap(), "an expired lease records nothing");
    let row = store.message(m1).await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.provider_id.as_deref()), ("sending", None));

    assert!(store.finish_message(m1, 61_001, &sent, 31_600).await.unwrap());
    let row = store.message(m1).await.unwrap().unwrap();
    assert_eq!(row.state, "sent");
    assert_eq!(row.provider_id.as_deref(), Some("prov-1"));
    assert_eq!(row.sent_at, Some(31_600));
    assert_eq!(row.lease_until, None);
    assert_eq!(row.attempts, 2);
    assert!(!store.finish_message(m1, 61_001, &sent, 31_700).await.unwrap(), "an outcome is recorded once");

    // Retry: back to queued, due at retry_at.
    let m2 = seed_message(&*store, &new_message(Some(alert_id), None, "+8613800000002", 40_000)).await;
    let claimed = store.claim_messages(40_000, 70_000, 10, None).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![m2]);
    let retry = SendResult::Retry { error: "gateway 503".into(), retry_at: 90_000 };
    assert!(store.finish_message(m2, 70_000, &retry, 41_000).await.unwrap());
    let row = store.message(m2).await.unwrap().unwrap();
    assert_eq!(row.state, "queued");
    assert_eq!(row.next_attempt_at, 90_000);
    assert_eq!(row.last_error.as_deref(), Some("gateway 503"));
    assert_eq!(row.lease_until, None);
    assert!(store.claim_messages(89_999, 119_999, 10, None).await.unwrap().is_empty(), "not before retry_at");
    let claimed = store.claim_messages(90_000, 120_000, 10, None).await.unwrap();
    assert_eq!(claimed.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(), vec![(m2, 2)]);
    let failed = SendResult::Failed { error: "rejected".into() };
    assert!(store.finish_message(m2, 120_000, &failed, 90_100).await.unwrap());
    assert_eq!(store.message(m2).await.unwrap().unwrap().state, "failed");

    // Receipts: sent becomes delivered, keeping the provider id.
    let delivered = store.message_receipt(m1, true, None, 50_000).await.unwrap().expect("sent message takes a receipt");
    assert_eq!(delivered.id, m1);
    assert_eq!(delivered.state, "delivered");
    assert_eq!(delivered.delivered_at, Some(50_000));
    assert_eq!(delivered.provider_id.as_deref(), Some("prov-1"));
    assert_eq!(store.message(m1).await.unwrap(), Some(delivered));

    // A receipt for a message that was never sent changes nothing.
    let before = store.message(m_later).await.unwrap().unwrap();
    assert_eq!(store.message_receipt(m_later, true, None, 50_000).await.unwrap(), None);
    assert_eq!(store.message_receipt(m_later, false, Some("x"), 50_000).await.unwrap(), None);
    assert_eq!(store.message(m_later).await.unwrap(), Some(before));

    // A failure receipt for a sent message.
    let m3 = seed_message(&*store, &new_message(Some(alert_id), None, "+8613800000003", 200_000)).await;
    assert_eq!(store.claim_messages(200_000, 230_000, 10, None).await.unwrap().len(), 1);
    assert!(store.finish_message(m3, 230_000, &SendResult::Sent { provider_id: None }, 200_100).await.unwrap());
    let failed = store.message_receipt(m3, false, Some("handset off"), 200_200).await.unwrap().unwrap();
    assert_eq!((failed.state.as_str(), failed.last_error.as_deref()), ("failed", Some("handset off")));

    // The database refuses to move a delivered message back to the queue.
    let raw = Raw::open(db).await;
    let refused = raw.exec("UPDATE messages SET state = 'queued' WHERE id = $1", &[Arg::I(m1)]).await;
    assert!(matches!(refused, Err(sqlx::Error::Database(_))), "delivered -> queued must be refused, got {refused:?}");
    assert_eq!(store.message(m1).await.unwrap().unwrap().state, "delivered");
    let refused = raw.exec("UPDATE messages SET state = 'sending' WHERE id = $1", &[Arg::I(m3)]).await;
    assert!(refused.is_err(), "failed -> sending must be refused, got {refused:?}");
    raw.close().await;

    store.close().await;
}

async fn a_channels_next_due_is_its_earliest_queued_message_of_any_priority(db: &TestDb) {
    let store = open(db).await;
    let alert_id = seed_alert(&*store, "active", 0).await;
    assert_eq!(store.next_message_due(Some("sms")).await.unwrap(), None, "nothing queued");
    // (channel, priority, due): the earliest on `sms` has neither the highest nor the lowest
    // priority; `mail`'s earlier message must not count for `sms`.
    for (i, (channel, priority, due)) in
        [("sms", 43, 5_000), ("sms", 41, 3_000), ("sms", 10, 2_000), ("sms", 0, 9_000), ("mail", 43, 1_000)]
            .into_iter()
            .enumerate()
    {
        let m = NewMessage {
            channel: channel.into(),
            priority,
            ..new_message(Some(alert_id), None, &format!("+86138000000{i:02}"), due)
        };
        seed_message(&*store, &m).await;
    }
    assert_eq!(store.next_message_due(Some("sms")).await.unwrap(), Some(2_000));
    assert_eq!(store.next_message_due(Some("mail")).await.unwrap(), Some(1_000));
    assert_eq!(store.next_message_due(Some("fax")).await.unwrap(), None);
    assert_eq!(store.next_message_due(None).await.unwrap(), Some(1_000));
    // Claimed, the 2 000 message is due again when its lease ends; the next queued is 3 000.
    let claimed = store.claim_messages(2_000, 2_500, 1, Some("sms")).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.next_attempt_at).collect::<Vec<_>>(), [2_000]);
    assert_eq!(store.next_message_due(Some("sms")).await.unwrap(), Some(2_500));
    store.close().await;
}

async fn a_batch_of_sends_is_recorded_set_based_only_where_the_claim_is_still_ours(db: &TestDb) {
    let store = open(db).await;
    let alert_id = seed_alert(&*store, "active", 0).await;
    let a = seed_message(&*store, &new_message(Some(alert_id), None, "+8613800000001", 1_000)).await;
    let b = seed_message(&*store, &new_message(Some(alert_id), None, "+8613800000002", 1_000)).await;
    let c = seed_message(&*store, &new_message(Some(alert_id), None, "+8613800000003", 5_000)).await;
    assert_eq!(store.claim_messages(1_000, 31_000, 10, None).await.unwrap().len(), 2);
    // c is claimed later under another lease: the first batch's outcome must not touch it.
    assert_eq!(store.claim_messages(5_000, 35_000, 10, None).await.unwrap().len(), 1);

    let mut tx = store.begin().await.unwrap();
    let sent = vec![(a, Some("prov-a".to_string())), (b, None), (c, Some("prov-c".to_string()))];
    let mut ours = tx.finish_sent(&sent, 31_000, 2_000).await.unwrap();
    tx.commit().await.unwrap();
    ours.sort();
    assert_eq!(ours, vec![a, b], "only the messages of this claim");
    let ma = store.message(a).await.unwrap().unwrap();
    assert_eq!(
        (ma.state.as_str(), ma.provider_id.as_deref(), ma.sent_at, ma.lease_until),
        ("sent", Some("prov-a"), Some(2_000), None)
    );
    assert_eq!(store.message(b).await.unwrap().unwrap().state, "sent");
    let mc = store.message(c).await.unwrap().unwrap();
    assert_eq!((mc.state.as_str(), mc.provider_id.as_deref()), ("sending", None), "c's own sender decides");

    // Recorded once: the same batch again changes nothing.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.finish_sent(&sent, 31_000, 3_000).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    assert_eq!(store.message(a).await.unwrap().unwrap().sent_at, Some(2_000));
    store.close().await;
}
both_backends!(a_batch_of_sends_is_recorded_set_based_only_where_the_claim_is_still_ours);

async fn cancelling_a_call_withdraws_only_its_queued_messages(db: &TestDb) {
    let store = open(db).await;
    let alert_id = seed_alert(&*store, "active", 0).await;

    let mut tx = store.begin().await.unwrap();
    let c1 = tx.insert_call(&new_call(alert_id, "p-a", 60_000, 0)).await.unwrap();
    let c2 = tx.insert_call(&new_call(alert_id, "p-b", 60_000, 0)).await.unwrap();
    // c1: one message goes out first (claimed below), two wait in the queue.
    let c1_sending = tx.insert_message(&new_message(Some(alert_id), Some(c1), "+8613800000001", 1_000)).await.unwrap();
    let c1_queued_sms =
        tx.insert_message(&new_message(Some(alert_id), Some(c1), "+8613800000001", 5_000)).await.unwrap();
    let mut email = new_message(Some(alert_id), Some(c1), "a@example.org", 5_000);
    email.channel = "email".into();
    let c1_queued_email = tx.insert_message(&email).await.unwrap();
    let c2_queued = tx.insert_message(&new_message(Some(alert_id), Some(c2), "+8613800000002", 5_000)).await.unwrap();
    tx.commit().await.unwrap();

    let claimed = store.claim_messages(1_000, 31_000, 10, None).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![c1_sending]);

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.cancel_queued_messages(c1).await.unwrap(), 2);
    tx.commit().await.unwrap();

    let state = |id: i64| {
        let store = store.clone();
        async move { store.message(id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(c1_queued_sms).await, "cancelled");
    assert_eq!(state(c1_queued_email).await, "cancelled");
    assert_eq!(state(c1_sending).await, "sending", "a message already going out is not withdrawn");
    assert_eq!(state(c2_queued).await, "queued", "another call's messages are untouched");

    // Nothing left to withdraw; cancelled messages are never claimed.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.cancel_queued_messages(c1).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let claimed = store.claim_messages(5_000, 35_000, 10, None).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![c2_queued]);

    store.close().await;
}

async fn an_inbound_provider_id_is_new_only_once_per_channel(db: &TestDb) {
    let store = open(db).await;
    assert!(store.first_sight("sms", "gw-123", 1_000).await.unwrap());
    // Inside a transaction, as the group-committed answers use it.
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.first_sight("sms", "gw-123", 1_500).await.unwrap(), "seen outside, seen inside");
    assert!(tx.first_sight("sms", "gw-125", 1_500).await.unwrap());
    tx.commit().await.unwrap();
    assert!(!store.first_sight("sms", "gw-125", 1_800).await.unwrap(), "seen inside, seen outside");
    assert!(!store.first_sight("sms", "gw-123", 2_000).await.unwrap(), "a repeat is not new");
    assert!(!store.first_sight("sms", "gw-123", 3_000).await.unwrap());
    assert!(store.first_sight("email", "gw-123", 4_000).await.unwrap(), "another channel has its own ids");
    assert!(store.first_sight("sms", "gw-124", 5_000).await.unwrap());
    store.close().await;
}

async fn an_api_token_is_found_by_its_hash_and_replaced_by_name(db: &TestDb) {
    let store = open(db).await;
    let (h1, h2, h3) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    assert_eq!(store.api_token(&h1).await.unwrap(), None);

    store.put_api_token("ops", "officer", &h1, 1_000).await.unwrap();
    store.put_api_token("dash", "viewer", &h3, 1_000).await.unwrap();
    assert_eq!(store.api_token(&h1).await.unwrap(), Some(ApiTokenInfo { name: "ops".into(), role: "officer".into() }));

    store.put_api_token("ops", "admin", &h2, 2_000).await.unwrap();
    assert_eq!(store.api_token(&h1).await.unwrap(), None, "the replaced hash no longer opens anything");
    assert_eq!(store.api_token(&h2).await.unwrap(), Some(ApiTokenInfo { name: "ops".into(), role: "admin".into() }));
    assert_eq!(store.api_token(&h3).await.unwrap(), Some(ApiTokenInfo { name: "dash".into(), role: "viewer".into() }));

    // The schema only knows three roles.
    assert!(store.put_api_token("root", "superuser", &"d".repeat(64), 3_000).await.is_err());
    store.close().await;
}

async fn call_events_can_be_appended_but_never_changed_or_deleted(db: &TestDb) {
    let store = open(db).await;
    let alert_id = seed_alert(&*store, "active", 0).await;
    let mut tx = store.begin().await.unwrap();
    let call_id = tx.insert_call(&new_call(alert_id, "p-a", 60_000, 0)).await.unwrap();
    for (at, from, to) in [(0, None, CallState::Pending), (1_000, Some(CallState::Pending), CallState::Sent)] {
        tx.insert_event(&NewEvent {
            alert_id,
            call_id,
            at,
            from_state: from,
            to_state: to,
            actor: "system".into(),
            via: Some("sms".into()),
            note: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let before = store.events_of_alert(alert_id).await.unwrap();
    assert_eq!(before.len(), 2);
    assert_eq!(before[1].from_state.as_deref(), Some("pending"));
    assert_eq!(before[1].to_state, "sent");

    let raw = Raw::open(db).await;
    let update = raw.exec("UPDATE call_events SET actor = 'someone' WHERE call_id = $1", &[Arg::I(call_id)]).await;
    assert!(matches!(update, Err(sqlx::Error::Database(_))), "UPDATE call_events must fail, got {update:?}");
    let delete = raw.exec("DELETE FROM call_events", &[]).await;
    assert!(matches!(delete, Err(sqlx::Error::Database(_))), "DELETE FROM call_events must fail, got {delete:?}");
    raw.close().await;

    assert_eq!(store.events_of_alert(alert_id).await.unwrap(), before, "the log is unchanged");
    store.close().await;
}

/// Ids reserved in a committed transaction are never handed to another insert: calls inserted
/// the ordinary way meanwhile get other ids, and the reserved ones take the calls given them
/// later, with every column as given. A reservation rolled back gives nothing away.
async fn reserved_call_ids_are_ours_alone(db: &TestDb) {
    let store = open(db).await;
    let now = 1_000;
    let alert_id = seed_alert(store.as_ref(), "active", now).await;
    // Also on a table that never had a call (SQLite keeps no counter for it yet).
    let mut tx = store.begin().await.unwrap();
    let reserved = tx.reserve_call_ids(3).await.unwrap();
    assert_eq!(tx.reserve_call_ids(0).await.unwrap(), Vec::<i64>::new());
    tx.commit().await.unwrap();
    assert_eq!(reserved.len(), 3);
    let mut distinct = reserved.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{reserved:?}");

    let mut tx = store.begin().await.unwrap();
    let ordinary = tx
        .insert_calls(&[new_call(alert_id, "p-0", now + 1, now), new_call(alert_id, "p-00", now + 1, now)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(ordinary.iter().all(|id| !reserved.contains(id)), "{ordinary:?} took a reserved id of {reserved:?}");

    // A reservation that rolls back.
    let mut tx = store.begin().await.unwrap();
    tx.reserve_call_ids(5).await.unwrap();
    drop(tx);

    let calls: Vec<NewCall> = ["p-1", "p-2", "p-3"].iter().map(|p| new_call(alert_id, p, now + 60_000, now)).collect();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_calls_with_ids(&calls, &reserved[..2]).await.is_err(), "as many ids as calls");
    tx.insert_calls_with_ids(&calls, &reserved).await.unwrap();
    tx.commit().await.unwrap();
    for (c, id) in calls.iter().zip(&reserved) {
        let row = store.call(*id).await.unwrap().expect("the call is under its reserved id");
        assert_eq!(row, c.row(*id), "every column as given");
    }
    // Inserts after the reserved ones were used still find free ids.
    let mut tx = store.begin().await.unwrap();
    let later = tx.insert_calls(&[new_call(alert_id, "p-4", now + 1, now)]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(!reserved.contains(&later[0]) && !ordinary.contains(&later[0]));

    // The open codes as committed, outside any transaction: the persons asked about, open calls only.
    let mut codes = store.open_reply_codes_now(&["p-1", "p-2", "p-9"]).await.unwrap();
    codes.sort();
    let want: Vec<(String, String)> = calls[..2].iter().map(|c| (c.person_id.clone(), c.reply_code.clone())).collect();
    assert_eq!(codes, want);
    store.close().await;
}
both_backends!(reserved_call_ids_are_ours_alone);

/// Messages written already claimed (ADR 0021): `sending` under the given lease with the attempt
/// counted, and the rows returned are the rows stored, ids included, in the order given.
async fn messages_written_claimed_come_back_as_stored(db: &TestDb) {
    let store = open(db).await;
    let now = 1_000;
    let alert_id = seed_alert(store.as_ref(), "active", now).await;
    let mut tx = store.begin().await.unwrap();
    let calls = tx
        .insert_calls(&[new_call(alert_id, "p-1", now + 1, now), new_call(alert_id, "p-2", now + 1, now)])
        .await
        .unwrap();
    let mut messages: Vec<NewMessage> =
        calls.iter().map(|c| new_message(Some(alert_id), Some(*c), &format!("+86138000000{c:02}"), now)).collect();
    let mut email = new_message(Some(alert_id), Some(calls[0]), "a@example.org", now);
    email.channel = "email".into();
    messages.push(email);
    assert!(tx.insert_messages_claimed(&[], 31_000).await.unwrap().is_empty());
    let rows = tx.insert_messages_claimed(&messages, 31_000).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows.len(), 3);
    let mut ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    let stored = store.messages_of_alert(alert_id).await.unwrap();
    for (row, m) in rows.iter().zip(&messages) {
        assert_eq!(
            (row.call_id, row.channel.as_str(), row.recipient.as_str()),
            (m.call_id, m.channel.as_str(), m.recipient.as_str())
        );
        assert_eq!((row.state.as_str(), row.attempts, row.lease_until), ("sending", 1, Some(31_000)));
        let db_row = stored.iter().find(|s| s.id == row.id).expect("stored under the id returned");
        assert_eq!(db_row, row, "the row returned is the row stored");
    }
    store.close().await;
}
both_backends!(messages_written_claimed_come_back_as_stored);

/// PostgreSQL's one statement for a burst of SMS answers by code (ADR 0022) takes only the common
/// case — the number's open call with that code, in time, its provider id new — and writes all
/// of it: the answer, its event, the withdrawn repeat, the provider id, the confirmation (a
/// drill's for a drill's call). Everything else it leaves untouched, its provider id included,
/// for the transaction path. SQLite takes bursts in one transaction and declines.
async fn answers_by_code_at_once_take_only_the_common_case(db: &TestDb) {
    let store = open(db).await;
    let now = 5_000;
    let registry = small_registry();
    store.upsert_registry(&registry, now).await.unwrap();
    let mobile = |id: &str| registry.persons.iter().find(|p| p.id.as_str() == id).unwrap().mobile.as_str().to_string();
    let alert_id = seed_alert(store.as_ref(), "active", now).await;
    let mut tx = store.begin().await.unwrap();
    let drill_id =
        tx.insert_alert(&NewAlertRow { status: "Exercise".into(), ..new_alert("active", now + 1) }).await.unwrap();
    let adm = tx.insert_call(&new_call(alert_id, "p-adm-1", 60_001, now)).await.unwrap();
    let reg = tx.insert_call(&new_call(alert_id, "p-reg-1", 60_002, now)).await.unwrap();
    let unit = tx.insert_call(&new_call(alert_id, "p-unit-1", 60_003, now)).await.unwrap();
    let duty = tx.insert_call(&new_call(drill_id, "p-duty-1", 60_004, now)).await.unwrap();
    // The unit's call is escalated: an answer now is late, not the common case.
    let row = tx.call(unit).await.unwrap().unwrap();
    assert!(tx.update_call(&row, &CallRow { state: CallState::Escalated, ..row.clone() }).await.unwrap());
    tx.commit().await.unwrap();
    let repeat = seed_message(store.as_ref(), &new_message(Some(alert_id), Some(adm), &mobile("p-adm-1"), now)).await;
    assert!(store.first_sight("sms", "seen-before", now).await.unwrap());

    let answer = |person: &str, code: &str, provider_id: &str| {
        let confirmation = |body: &str| NewMessage {
            purpose: Purpose::Reply,
            subject: body.into(),
            body: body.into(),
            code: None,
            link: None,
            ..new_message(None, None, &mobile(person), now + 10)
        };
        CodedAnswer {
            mobile: mobile(person),
            code: code.into(),
            channel: "sms".into(),
            provider_id: Some(provider_id.into()),
            confirmation: confirmation(&format!("plain {person}")),
            drill_text: format!("drill {person}"),
        }
    };
    let answers = [
        answer("p-adm-1", "0001", "a-1"),
        answer("p-reg-1", "0002", "seen-before"), // the gateway's retry
        answer("p-unit-1", "0003", "u-1"),        // late
        answer("p-unit-1", "0001", "u-2"),        // another person's code
        answer("p-duty-1", "0004", "d-1"),        // a drill's call
    ];
    let Some(outcomes) = store.answer_codes_at_once(&answers, now + 10).await.unwrap() else {
        assert_eq!(db.backend, Backend::Sqlite, "only SQLite declines");
        store.close().await;
        return;
    };
    assert_eq!(db.backend, Backend::Postgres);
    assert_eq!(
        outcomes,
        vec![
            CodedOutcome::Answered { call_id: adm },
            CodedOutcome::Duplicate,
            CodedOutcome::Elsewhere,
            CodedOutcome::Elsewhere,
            CodedOutcome::Answered { call_id: duty },
        ]
    );
    let call = store.call(adm).await.unwrap().unwrap();
    assert_eq!(
        (call.state, call.answered_at, call.answered_via.as_deref(), call.answered_by.as_deref(), call.next_action_at),
        (CallState::Answered, Some(now + 10), Some("sms"), Some("person:p-adm-1"), None)
    );
    assert_eq!(store.call(reg).await.unwrap().unwrap().state, CallState::Pending, "a retry answers nothing");
    assert_eq!(store.call(unit).await.unwrap().unwrap().state, CallState::Escalated);
    let events = store.events_of_alert(alert_id).await.unwrap();
    let answered: Vec<_> = events.iter().filter(|e| e.to_state == "answered").collect();
    assert_eq!(answered.len(), 1, "{events:?}");
    assert_eq!((answered[0].call_id, answered[0].actor.as_str()), (adm, "person:p-adm-1"));
    assert_eq!(answered[0].from_state.as_deref(), Some("pending"));
    assert_eq!(store.message(repeat).await.unwrap().unwrap().state, "cancelled", "the repeat is withdrawn");
    // Provider ids: recorded for the answered, untouched for what was left.
    assert!(!store.first_sight("sms", "a-1", now).await.unwrap());
    assert!(store.first_sight("sms", "u-1", now).await.unwrap(), "left untouched for the careful path");
    assert!(store.first_sight("sms", "u-2", now).await.unwrap());
    // One confirmation each for the two answered, the drill's marked as a drill's.
    let mut queued: Vec<(String, String)> = store
        .claim_messages(now + 10, now + 70_000, 100, Some("sms"))
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.purpose == "reply")
        .map(|m| {
            assert_eq!(m.subject, m.body, "the drill text replaces both");
            (m.recipient, m.body)
        })
        .collect();
    queued.sort();
    let mut want =
        vec![(mobile("p-adm-1"), "plain p-adm-1".to_string()), (mobile("p-duty-1"), "drill p-duty-1".to_string())];
    want.sort();
    assert_eq!(queued, want);
    // Answering again changes nothing: the call is no longer open.
    let again = store.answer_codes_at_once(&[answer("p-adm-1", "0001", "a-3")], now + 20).await.unwrap().unwrap();
    assert_eq!(again, vec![CodedOutcome::Elsewhere]);
    store.close().await;
}
both_backends!(answers_by_code_at_once_take_only_the_common_case);

async fn a_batch_of_sent_calls_moves_on_in_two_statements_but_only_from_pending(db: &TestDb) {
    let store = open(db).await;
    let now = 1_000;
    let alert_id = seed_alert(store.as_ref(), "active", now).await;
    let mut tx = store.begin().await.unwrap();
    let pending = tx.insert_call(&new_call(alert_id, "p-1", now + 60_000, now)).await.unwrap();
    let answered = tx.insert_call(&new_call(alert_id, "p-2", now + 60_000, now)).await.unwrap();
    let row = tx.call(answered).await.unwrap().unwrap();
    let mut after = row.clone();
    after.state = CallState::Answered;
    assert!(tx.update_call(&row, &after).await.unwrap());
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let moved = tx.advance_calls(&[pending, answered], CallState::Pending, CallState::Sent, "dispatch", 2_000).await;
    assert_eq!(moved.unwrap(), 1, "the answered call is not moved back to sent");
    assert_eq!(tx.advance_calls(&[], CallState::Pending, CallState::Sent, "dispatch", 2_000).await.unwrap(), 0);
    tx.commit().await.unwrap();
    assert_eq!(store.call(pending).await.unwrap().unwrap().state, CallState::Sent);
    assert_eq!(store.call(pending).await.unwrap().unwrap().updated_at, 2_000);
    assert_eq!(store.call(answered).await.unwrap().unwrap().state, CallState::Answered);
    let events = store.events_of_alert(alert_id).await.unwrap();
    let sent: Vec<_> = events.iter().filter(|e| e.to_state == "sent").collect();
    assert_eq!(sent.len(), 1, "{events:?}");
    assert_eq!(sent[0].call_id, pending);
    assert_eq!(sent[0].actor, "dispatch");
    assert_eq!(sent[0].from_state.as_deref(), Some("pending"));
    store.close().await;
}

async fn a_migrated_store_is_ready_and_pages_alerts_newest_first(db: &TestDb) {
    let store = open(db).await;
    assert!(store.ready().await.unwrap(), "ready after migrate");
    store.migrate().await.expect("migrating again is a no-op");
    assert!(store.ready().await.unwrap());

    let (rows, total) = store.list_alerts(&AlertFilter { state: None, limit: 10, offset: 0 }).await.unwrap();
    assert!(rows.is_empty());
    assert_eq!(total, 0);

    // Created in time order: a1 (oldest) .. a7 (newest).
    let states = ["active", "stored", "active", "cancelled", "active", "expired", "active"];
    let mut ids = Vec::new();
    for (i, state) in states.iter().enumerate() {
        ids.push(seed_alert(&*store, state, 1_000 * (i as i64 + 1)).await);
    }
    let active_newest_first: Vec<i64> =
        ids.iter().zip(states).rev().filter(|(_, s)| *s == "active").map(|(id, _)| *id).collect();
    assert_eq!(active_newest_first.len(), 4);

    let (rows, total) =
        store.list_alerts(&AlertFilter { state: Some("active".into()), limit: 2, offset: 1 }).await.unwrap();
    assert_eq!(total, 4, "the total counts every match, not the page");
    assert_eq!(rows.iter().map(|a| a.id).collect::<Vec<_>>(), active_newest_first[1..3].to_vec());
    assert!(rows.iter().all(|a| a.state == "active"));

    let (rows, total) =
        store.list_alerts(&AlertFilter { state: Some("active".into()), limit: 2, offset: 3 }).await.unwrap();
    assert_eq!((rows.iter().map(|a| a.id).collect::<Vec<_>>(), total), (vec![active_newest_first[3]], 4));

    let (rows, total) = store.list_alerts(&AlertFilter { state: None, limit: 3, offset: 0 }).await.unwrap();
    assert_eq!(total, 7);
    assert_eq!(rows.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids[6], ids[5], ids[4]]);

    let (rows, total) =
        store.list_alerts(&AlertFilter { state: Some("stored".into()), limit: 10, offset: 0 }).await.unwrap();
    assert_eq!((rows.iter().map(|a| a.id).collect::<Vec<_>>(), total), (vec![ids[1]], 1));

    let (rows, total) = store.list_alerts(&AlertFilter { state: None, limit: 10, offset: 7 }).await.unwrap();
    assert!(rows.is_empty(), "past the end is an empty page");
    assert_eq!(total, 7);

    store.close().await;
}

both_backends!(a_registry_round_trips_and_an_import_reports_what_it_changed);
both_backends!(an_accepted_alert_is_stored_whole_or_not_at_all);
both_backends!(due_calls_are_claimed_in_time_order_and_updated_by_compare_and_set);
both_backends!(the_database_allows_exactly_the_call_transitions_the_core_allows);
both_backends!(the_outbox_leases_retries_and_records_receipts);
both_backends!(a_channels_next_due_is_its_earliest_queued_message_of_any_priority);
both_backends!(cancelling_a_call_withdraws_only_its_queued_messages);
both_backends!(an_inbound_provider_id_is_new_only_once_per_channel);
both_backends!(an_api_token_is_found_by_its_hash_and_replaced_by_name);
both_backends!(call_events_can_be_appended_but_never_changed_or_deleted);
both_backends!(a_migrated_store_is_ready_and_pages_alerts_newest_first);
both_backends!(a_batch_of_sent_calls_moves_on_in_two_statements_but_only_from_pending);
