//! Crash safety: `logvault serve` killed with SIGKILL while several loggers upload keeps every block it answered
//! 2xx for, restarts on the same data, and `logvault verify` and `logvault audit verify` pass. On both engines.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use logvault_logger::cli::{LinkRequest, make_link};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::{Instance, ServerProcess, client_trusting, run};

const PASSWORD: &str = "a long and unusual passphrase for the crash tests";
const WRITERS: usize = 4;
const ROUNDS: usize = 3;
/// Acknowledged blocks (over all writers) after which a round's server is killed, while the writers keep sending.
const ACKS_BEFORE_KILL: usize = 20;
const SAMPLES: u32 = 10;
const INTERVAL_S: i64 = 300;
/// 2026-01-01T00:00:00Z; block `n` starts `n - 1` hours later, so counters and times rise together.
const BASE_S: i64 = 1_767_225_600;
/// A writer gives up after this many blocks in one round, so a server that is never killed cannot hang the test.
const MAX_BLOCKS_PER_ROUND: u64 = 400;

/// One simulated logger: its device, and what the server has acknowledged so far.
struct Writer {
    serial: String,
    key: String,
    /// Counters answered 2xx.
    acked: Vec<u64>,
    /// The counter in flight when the server died: not known to be kept, sent again first after the restart.
    pending: Option<u64>,
    next_counter: u64,
}

fn start_of(counter: u64) -> i64 {
    BASE_S + i64::try_from(counter - 1).unwrap() * 3_600
}

fn link(serial: &str, key: &str, counter: u64) -> String {
    let start = time::OffsetDateTime::from_unix_timestamp(start_of(counter))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let request = LinkRequest {
        serial: serial.to_owned(),
        key_hex: key.to_owned(),
        base_url: "https://logvault.example.test".to_owned(),
        samples: SAMPLES as usize,
        interval: INTERVAL_S as u32,
        start,
        seed: counter,
        channels: "temperature".to_owned(),
        counter,
        key_generation: 0,
        ec_level: "M".to_owned(),
        qr: false,
    };
    make_link(&request).unwrap().link
}

fn output_line(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap().trim().to_owned()
}

fn add_viewer(instance: &Instance, email: &str) {
    let mut child = instance
        .command()
        .args(["user", "create", "--org", "Acme", "--email", email, "--role", "viewer", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

fn serve(instance: &Instance) -> ServerProcess {
    let mut command = instance.command();
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    ServerProcess::start(command)
}

/// Sends blocks until the server stops answering: first the block in flight at the last crash, then new ones.
/// Every block the server answers is answered 200; a failed connection ends the round for this writer.
async fn write_until_the_server_dies(
    mut writer: Writer,
    client: reqwest::Client,
    url: String,
    acks: Arc<AtomicUsize>,
    enough: Arc<Notify>,
) -> Writer {
    for _ in 0..MAX_BLOCKS_PER_ROUND {
        let counter = match writer.pending.take() {
            Some(counter) => counter,
            None => {
                writer.next_counter += 1;
                writer.next_counter - 1
            }
        };
        writer.pending = Some(counter);
        let sent = client
            .post(format!("{url}/api/v1/ingest"))
            .header("content-type", "text/plain")
            .body(link(&writer.serial, &writer.key, counter))
            .send()
            .await;
        let Ok(response) = sent else { return writer };
        let status = response.status();
        assert_eq!(status, 200, "block {counter} of {}: {:?}", writer.serial, response.text().await);
        // The status line comes only after the block is committed: from here on it must survive a crash.
        writer.pending = None;
        writer.acked.push(counter);
        if acks.fetch_add(1, Ordering::SeqCst) + 1 >= ACKS_BEFORE_KILL {
            enough.notify_one();
        }
    }
    writer
}

async fn sign_in(client: &reqwest::Client, url: &str, email: &str) -> String {
    let response = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
}

async fn kill_during_uploads_keeps_every_acknowledged_block(postgres: bool) {
    let Some(instance) = Instance::new(postgres).await else { return };
    add_viewer(&instance, "vi@example.test");
    let mut writers: Vec<Writer> = (0..WRITERS)
        .map(|idx| {
            let serial = format!("LV-CRASH-{idx}");
            let key =
                output_line(&run(instance.command().args(["device", "add", "--org", "Acme", "--serial", &serial])));
            Writer { serial, key, acked: Vec::new(), pending: None, next_counter: 1 }
        })
        .collect();

    for round in 0..ROUNDS {
        let mut server = serve(&instance);
        let client = client_trusting(instance.dir.path());
        let acks = Arc::new(AtomicUsize::new(0));
        let enough = Arc::new(Notify::new());
        let tasks: Vec<_> = writers
            .drain(..)
            .map(|writer| {
                let task = write_until_the_server_dies(
                    writer,
                    client.clone(),
                    server.url.clone(),
                    Arc::clone(&acks),
                    Arc::clone(&enough),
                );
                tokio::spawn(task)
            })
            .collect();
        enough.notified().await;
        // SIGKILL: no graceful shutdown, no flush, in-flight transactions cut off.
        server.child.kill().unwrap();
        let status = server.child.wait().unwrap();
        assert!(!status.success(), "round {round}: the server was not killed");
        for task in tasks {
            writers.push(task.await.unwrap());
        }
        let in_flight = writers.iter().filter(|w| w.pending.is_some()).count();
        assert!(in_flight > 0, "round {round}: the kill landed after every writer had stopped");
    }

    // Restarted on the same data: every acknowledged block is readable, sample by sample.
    let server = serve(&instance);
    let client = client_trusting(instance.dir.path());
    let cookie = sign_in(&client, &server.url, "vi@example.test").await;
    let mut kept_blocks = BTreeMap::new();
    for writer in &writers {
        assert!(!writer.acked.is_empty(), "{} never got an answer", writer.serial);
        let page: Value = client
            .get(format!("{}/api/v1/devices/{}/measurements?limit=10000", server.url, writer.serial))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let times: std::collections::BTreeSet<i64> =
            page["measurements"].as_array().unwrap().iter().map(|pair| pair[0].as_i64().unwrap()).collect();
        for &counter in &writer.acked {
            for sample in 0..i64::from(SAMPLES) {
                let t_s = start_of(counter) + sample * INTERVAL_S;
                assert!(
                    times.contains(&t_s),
                    "{}: block {counter} was acknowledged but its sample at {t_s} is lost",
                    writer.serial
                );
            }
        }
        kept_blocks.insert(writer.serial.clone(), writer.acked.len());
    }
    server.stop();

    let report = run(instance.command().arg("verify"));
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    for (serial, acked) in kept_blocks {
        let prefix = format!("device {serial}: ");
        let blocks: usize = report
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|rest| rest.split_once(" blocks, intact"))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no intact line for {serial} in:\n{report}"));
        assert!(blocks >= acked, "{serial}: {blocks} blocks kept, {acked} acknowledged");
    }
    let audit = run(instance.command().args(["audit", "verify"]));
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));
    assert!(String::from_utf8_lossy(&audit.stdout).contains("intact"), "{}", String::from_utf8_lossy(&audit.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_during_concurrent_uploads_keeps_every_acknowledged_block_on_sqlite() {
    kill_during_uploads_keeps_every_acknowledged_block(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_during_concurrent_uploads_keeps_every_acknowledged_block_on_postgres() {
    kill_during_uploads_keeps_every_acknowledged_block(true).await;
}
