//! `logvault-versus`: the load generator of `scripts/bench-vs-influxdb`.
//!
//! It makes the same deterministic data set — N devices × 2 channels (temperature 0.1 °C, humidity 0.1 %RH) × one
//! sample a minute, ending now — and either posts it to a running Logvault as sealed blocks of 1,440 samples over
//! HTTPS (`logvault`), or writes it to InfluxDB 1.x as line protocol in batches of 5,000 points (`influx`). Then it
//! times a year of one channel into ~1,000 buckets and the same year as CSV, reads the server's peak RSS from
//! `/proc/PID/status`, and prints one JSON object with the figures. The script adds disk usage and the table.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use clap::{Parser, Subcommand};
use futures_util::StreamExt as _;
use logvault_protocol::{Block, Channel, DeviceKey, KeyGeneration, Quantity, ResolutionTable, Sample, Serial, seal};

const SAMPLES_PER_BLOCK: usize = 1_440;
const INFLUX_BATCH: usize = 5_000;
const BUCKETS: u32 = 1_000;

#[derive(Debug, Parser)]
struct Args {
    /// Measurements in all (one measurement = one value of one channel), split evenly over the devices and their
    /// two channels; the default is 10 devices × 2 channels × a year of minutes.
    #[arg(long, default_value_t = 10_512_000)]
    points: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Process id of the server, for its peak RSS.
    #[arg(long)]
    server_pid: u32,
    #[command(subcommand)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum Target {
    /// A running `logvault serve`.
    Logvault {
        /// e.g. https://127.0.0.1:8443
        #[arg(long)]
        url: String,
        /// The server's certificate (data_dir/tls/self-signed-cert.pem), the only trusted root.
        #[arg(long)]
        cert: std::path::PathBuf,
        /// An API token of the organisation the devices belong to.
        #[arg(long, env = "LOGVAULT_BENCH_TOKEN")]
        token: String,
        /// A file of lines `SERIAL KEY_HEX`, one per registered device.
        #[arg(long)]
        devices: std::path::PathBuf,
    },
    /// A running InfluxDB 1.x.
    Influx {
        /// e.g. http://127.0.0.1:8086
        #[arg(long)]
        url: String,
        /// Number of devices.
        #[arg(long, default_value_t = 10)]
        n_devices: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Ring may be linked beside aws-lc-rs; rustls then needs to be told which provider to use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = Args::parse();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).context("the clock is before 1970")?.as_secs();
    let now = i64::try_from(now).context("the clock is past 2262")?;
    match args.target {
        Target::Logvault { ref url, ref cert, ref token, ref devices } => {
            let devices = read_devices(devices)?;
            let pem = std::fs::read(cert).with_context(|| format!("could not read {}", cert.display()))?;
            let client = reqwest::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(&pem).context("not a PEM certificate")?])
                .build()?;
            run_logvault(&args, &client, url, token, &devices, now).await
        }
        Target::Influx { ref url, n_devices } => run_influx(&args, url, n_devices, now).await,
    }
}

fn read_devices(path: &std::path::Path) -> anyhow::Result<Vec<(Serial, DeviceKey)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (serial, key) = line.split_once(' ').context("a device line is `SERIAL KEY_HEX`")?;
            let key: [u8; 16] = hex::decode(key.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .context("a device key is 32 hexadecimal digits")?;
            Ok((Serial::parse(serial)?, DeviceKey::from_bytes(key)))
        })
        .collect()
}

/// The data set: per device, `n_minutes` samples a minute apart ending at the last whole minute before `now`, a daily
/// swing plus deterministic noise, on the 0.1 grids. Values in milli-units (°C, %RH).
fn series(device_idx: usize, n_minutes: usize, now: i64) -> Vec<(i64, i32, i32)> {
    let start = (now / 60 - i64::try_from(n_minutes).unwrap_or(i64::MAX)) * 60;
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ device_idx as u64;
    (0..n_minutes)
        .map(|minute| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let noise = ((state >> 60) % 3) as i32 - 1;
            let t_s = start + minute as i64 * 60;
            let phase = (t_s % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
            let temperature = 5_000 + (2_000.0 * phase.sin()) as i32 / 100 * 100 + noise * 100;
            let humidity = 55_000 + (10_000.0 * phase.cos()) as i32 / 100 * 100 + noise * 300;
            (t_s, temperature, humidity)
        })
        .collect()
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("could not read the server's status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in the server's status")
}

async fn run_logvault(
    args: &Args,
    client: &reqwest::Client,
    url: &str,
    token: &str,
    devices: &[(Serial, DeviceKey)],
    now: i64,
) -> anyhow::Result<()> {
    ensure!(!devices.is_empty(), "no devices");
    let n_minutes = args.points / (devices.len() * 2);
    let channels = vec![
        Channel { quantity: Quantity::Temperature, resolution: ResolutionTable::uniform(-40_000, 100, 125_000)? },
        Channel { quantity: Quantity::RelativeHumidity, resolution: ResolutionTable::uniform(0, 100, 100_000)? },
    ];
    // Seal everything first: the timed part is the server's.
    let mut queue = VecDeque::new();
    for (device_idx, (serial, key)) in devices.iter().enumerate() {
        let mut blocks = VecDeque::new();
        for (block_idx, chunk) in series(device_idx, n_minutes, now).chunks(SAMPLES_PER_BLOCK).enumerate() {
            let samples = chunk.iter().map(|&(time, t, h)| Sample { time, values: vec![t, h] }).collect();
            let block = Block::new(serial.clone(), block_idx as u64 + 1, channels.clone(), samples)?;
            blocks.push_back(seal(&block, key, KeyGeneration(0)));
        }
        queue.push_back(blocks);
    }
    // A device is in the queue only while none of its blocks is in flight, so each device's blocks arrive in order.
    let queue = Arc::new(Mutex::new(queue));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (queue, client, ingest) = (Arc::clone(&queue), client.clone(), format!("{url}/api/v1/ingest"));
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop_front();
                let Some(mut blocks) = next else { return anyhow::Ok(()) };
                let Some(sealed) = blocks.pop_front() else { continue };
                let response =
                    client.post(&ingest).header("content-type", "application/octet-stream").body(sealed).send().await?;
                let status = response.status();
                if !status.is_success() {
                    bail!("ingest answered {status}: {}", response.text().await.unwrap_or_default());
                }
                queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push_back(blocks);
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let ingest = started.elapsed();
    let rss = peak_rss_kib(args.server_pid)?;

    let series0 = series(0, n_minutes, now);
    let (from, to) = (series0.first().map_or(0, |s| s.0), series0.last().map_or(0, |s| s.0) + 1);
    let serial = devices[0].0.as_str();
    let auth = format!("Bearer {token}");
    let query = format!("{url}/api/v1/devices/{serial}/measurements?from={from}&to={to}&channel=0&buckets={BUCKETS}");
    let (bucketed, _) = best_of_three(|| {
        let request = client.get(&query).header("authorization", &auth);
        async move {
            let response = request.send().await?.error_for_status()?;
            Ok(response.bytes().await?.len())
        }
    })
    .await?;
    let export = format!("{url}/api/v1/devices/{serial}/export?format=csv&from={from}&to={to}&channel=0");
    let (csv, rows) = best_of_three(|| {
        let request = client.get(&export).header("authorization", &auth);
        async move { count_lines(request.send().await?.error_for_status()?).await }
    })
    .await?;
    report(args.points, n_minutes * devices.len() * 2, ingest, bucketed, rows, csv, rss);
    Ok(())
}

async fn run_influx(args: &Args, url: &str, n_devices: usize, now: i64) -> anyhow::Result<()> {
    ensure!(n_devices > 0, "no devices");
    let client = reqwest::Client::new();
    let n_minutes = args.points / (n_devices * 2);
    client.post(format!("{url}/query")).form(&[("q", "CREATE DATABASE bench")]).send().await?.error_for_status()?;
    let mut batches = VecDeque::new();
    let mut batch = String::new();
    let mut in_batch = 0;
    for device_idx in 0..n_devices {
        for (t_s, temperature, humidity) in series(device_idx, n_minutes, now) {
            batch.push_str(&format!(
                "m,device=LV-BENCH-{device_idx:02} temperature={},humidity={} {t_s}\n",
                f64::from(temperature) / 1_000.0,
                f64::from(humidity) / 1_000.0
            ));
            in_batch += 1;
            if in_batch == INFLUX_BATCH {
                batches.push_back(std::mem::take(&mut batch));
                in_batch = 0;
            }
        }
    }
    if in_batch > 0 {
        batches.push_back(batch);
    }
    let queue = Arc::new(Mutex::new(batches));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (queue, client, write) = (Arc::clone(&queue), client.clone(), format!("{url}/write?db=bench&precision=s"));
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop_front();
                let Some(body) = next else { return anyhow::Ok(()) };
                client.post(&write).body(body).send().await?.error_for_status()?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let ingest = started.elapsed();
    let rss = peak_rss_kib(args.server_pid)?;
    let series0 = series(0, n_minutes, now);
    let (from, to) = (series0.first().map_or(0, |s| s.0), series0.last().map_or(0, |s| s.0) + 1);
    let bucket_s = ((to - from) / i64::from(BUCKETS)).max(1);
    let group = format!(
        "SELECT mean(temperature), min(temperature), max(temperature), count(temperature) FROM m WHERE \
         device = 'LV-BENCH-00' AND time >= {from}s AND time < {to}s GROUP BY time({bucket_s}s)"
    );
    let select = format!("SELECT temperature FROM m WHERE device = 'LV-BENCH-00' AND time >= {from}s AND time < {to}s");
    let query = format!("{url}/query");
    let (bucketed, _) = best_of_three(|| {
        let request = client.get(&query).query(&[("db", "bench"), ("q", &group)]);
        async move { Ok(request.send().await?.error_for_status()?.bytes().await?.len()) }
    })
    .await?;
    let (csv, rows) = best_of_three(|| {
        let request = client.get(&query).header("accept", "application/csv").query(&[("db", "bench"), ("q", &select)]);
        async move { count_lines(request.send().await?.error_for_status()?).await }
    })
    .await?;
    report(args.points, n_minutes * n_devices * 2, ingest, bucketed, rows, csv, rss);
    Ok(())
}

/// Lines of a streamed body, read chunk by chunk (constant memory on the client side too).
async fn count_lines(response: reqwest::Response) -> anyhow::Result<usize> {
    let mut stream = response.bytes_stream();
    let mut lines = 0;
    while let Some(chunk) = stream.next().await {
        lines += chunk?.iter().filter(|&&byte| byte == b'\n').count();
    }
    Ok(lines)
}

/// The best time of three runs, and what the last run returned.
async fn best_of_three<F, Fut>(mut op: F) -> anyhow::Result<(Duration, usize)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let mut best = Duration::MAX;
    let mut last = 0;
    for _ in 0..3 {
        let started = Instant::now();
        last = std::hint::black_box(op().await?);
        best = best.min(started.elapsed());
    }
    Ok((best, last))
}

fn report(asked: usize, points: usize, ingest: Duration, bucketed: Duration, rows: usize, csv: Duration, rss: u64) {
    let figures = serde_json::json!({
        "measurements_asked": asked,
        "measurements": points,
        "ingest_measurements_per_s": points as f64 / ingest.as_secs_f64(),
        "bucketed_year_ms": bucketed.as_secs_f64() * 1e3,
        "csv_lines": rows,
        "csv_rows_per_s": rows as f64 / csv.as_secs_f64(),
        "peak_rss_mib": rss as f64 / 1024.0,
    });
    println!("{figures}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_is_deterministic_on_the_grid_a_minute_apart_and_in_the_past() {
        let now = 1_800_000_030;
        let series = series(3, 3_000, now);
        assert_eq!(series, super::series(3, 3_000, now));
        assert_ne!(series, super::series(4, 3_000, now));
        assert_eq!(series.len(), 3_000);
        assert!(series.windows(2).all(|pair| pair[1].0 - pair[0].0 == 60));
        assert!(series.last().is_some_and(|last| last.0 < now));
        assert!(series.iter().all(|&(_, t, h)| t % 100 == 0 && h % 100 == 0 && (0..=100_000).contains(&h)));
        let temperature = ResolutionTable::uniform(-40_000, 100, 125_000).unwrap_or_else(|err| panic!("{err}"));
        assert!(series.iter().all(|&(_, t, _)| temperature.code_of(t).is_some()));
    }

    #[test]
    fn a_device_file_with_a_bad_line_is_refused() {
        let dir = std::env::temp_dir().join(format!("logvault-versus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{err}"));
        let file = dir.join("devices");
        std::fs::write(&file, "LV-1 00112233445566778899aabbccddeeff\n\n").unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(read_devices(&file).map(|devices| devices.len()).ok(), Some(1));
        std::fs::write(&file, "LV-1 0011\n").unwrap_or_else(|err| panic!("{err}"));
        assert!(read_devices(&file).is_err());
        std::fs::write(&file, "LV-1\n").unwrap_or_else(|err| panic!("{err}"));
        assert!(read_devices(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap_or_else(|err| panic!("{err}"));
    }
}
