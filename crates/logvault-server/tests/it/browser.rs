//! The `/l` page in a real browser: Debian's Chromium, headless, driven through chromedriver — what a phone does when
//! it opens a logger's QR link.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use logvault_store::{Engine, MeasurementQuery, OrgScope};

use crate::helpers::TestApp;
use crate::ingest::{block, registered, seal};

/// A chromedriver process on a free port, killed on drop.
pub(crate) struct Chromedriver {
    child: Child,
    pub(crate) port: u16,
}

impl Chromedriver {
    /// Starts chromedriver; `None` when it is not installed (outside CI — under CI that is a failure).
    pub(crate) fn start() -> Option<Chromedriver> {
        let binary = std::path::Path::new("/usr/bin/chromedriver");
        if !binary.exists() {
            assert!(std::env::var_os("CI").is_none(), "chromedriver is missing: scripts/test installs chromium-driver");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver { child, port };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(driver);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not listen on port {port}");
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session through `driver`, trusting the test server's self-signed certificate and keeping
/// the browser's console log (read with [`console_errors`]).
pub(crate) async fn chromium(driver: &Chromedriver) -> fantoccini::Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--ignore-certificate-errors", "--window-size=1280,800",
            ],
        }),
    );
    capabilities.insert("goog:loggingPrefs".to_owned(), serde_json::json!({ "browser": "ALL" }));
    capabilities.insert("acceptInsecureCerts".to_owned(), serde_json::Value::Bool(true));
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

/// The browser console's errors since the last call (chromedriver's log endpoint empties as it is read): failed
/// loads, script errors and CSP violations all land there.
pub(crate) async fn console_errors(driver: &Chromedriver, browser: &fantoccini::Client) -> Vec<String> {
    let session = browser.session_id().await.unwrap().expect("a session id");
    let url = format!("http://127.0.0.1:{}/session/{session}/se/log", driver.port);
    let body: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({ "type": "browser" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["value"]
        .as_array()
        .expect("log entries")
        .iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_opening_a_logger_link_syncs_its_measurements() {
    let Some(driver) = Chromedriver::start() else { return };
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let (org, _, key) = registered(&app, "LV-B001").await;
    let link = logvault_protocol::to_link(&app.url, &seal(&block("LV-B001", 1, 0, 300), &key));

    let browser = chromium(&driver).await;

    let status = async |browser: &fantoccini::Client| {
        let element = browser
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("#status.ok, #status.failed"))
            .await
            .expect("the page reports an outcome");
        element.text().await.unwrap()
    };
    browser.goto(&link).await.unwrap();
    assert_eq!(status(&browser).await, "300 new measurements from logger LV-B001 synced");
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.fragment(), None, "the payload is taken out of the address and the history");

    // The same link again: nothing new, and the page says so.
    browser.goto(&link).await.unwrap();
    assert_eq!(status(&browser).await, "0 new measurements from logger LV-B001 synced");
    let detail = browser.find(Locator::Css("#detail")).await.unwrap().text().await.unwrap();
    assert_eq!(detail, "300 had been synced before and were not stored twice.");

    // A link to an altered block is refused, visibly.
    let mut altered = seal(&block("LV-B001", 2, 300, 10), &key);
    let last = altered.len() - 1;
    altered[last] ^= 1;
    browser.goto(&logvault_protocol::to_link(&app.url, &altered)).await.unwrap();
    assert!(status(&browser).await.contains("was not accepted"));
    browser.close().await.unwrap();

    let store = &app.server().store;
    let device = store.devices(&OrgScope::for_operator(org)).await.unwrap().remove(0);
    let query = MeasurementQuery { channel: 0, from_s: i64::MIN, to_s: i64::MAX, after: None, limit: 10_000 };
    assert_eq!(store.measurements(&OrgScope::for_operator(org), device.id, query).await.unwrap().len(), 300);
}
