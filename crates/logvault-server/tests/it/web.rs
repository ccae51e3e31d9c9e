//! The web application end to end, through the UI only, in Debian's headless Chromium: first run, sign-in with a
//! second factor, registering a logger, a phone syncing its QR link, the device page's chart, the three exports,
//! an invited member who sees only their organisation, and the audit log — on both engines.
//!
//! Every page visited is checked at desktop (1280×800) and phone (390×844) size: no console error or CSP violation
//! (the console log and the server's CSP report counter), no serious or critical axe-core finding, and a screenshot
//! under `target/tmp/screenshots/` to look at.

use std::time::Duration;

use data_encoding::{BASE32_NOPAD, BASE64};
use fantoccini::{Client, Locator};
use logvault_core::authz::Role;
use logvault_protocol::DeviceKey;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::browser::{Chromedriver, chromium, console_errors};
use crate::exports::public_key;
use crate::helpers::{PASSWORD, TestApp, member, sign_in};
use crate::ingest::{block, seal};
use crate::mfa::totp_at;

/// axe-core, vendored for the tests only (MPL-2.0, licence beside it).
const AXE: &str = include_str!("../vendor/axe-core-4.14.1/axe.min.js");

const METRICS_TOKEN: &str = "metrics-token-for-the-web-tests-0123456789";

/// The browser and what checks each page it shows.
struct Ui<'a> {
    app: &'a TestApp,
    driver: &'a Chromedriver,
    browser: Client,
    label: &'static str,
}

impl Ui<'_> {
    async fn goto(&self, path: &str) {
        self.browser.goto(&format!("{}{path}", self.app.url)).await.unwrap();
    }

    async fn path(&self) -> String {
        let url = self.browser.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.browser.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css} on the page"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks `css` and waits until the browser shows the next page (the old one is gone).
    async fn submit(&self, css: &str) {
        let old = self.browser.find(Locator::Css("html")).await.unwrap();
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css} on the page"))
            .click()
            .await
            .unwrap();
        for _ in 0..200 {
            if old.tag_name().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("clicking {css} led to no new page");
    }

    async fn text(&self, css: &str) -> String {
        let found = self.browser.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await;
        match found {
            Ok(element) => element.text().await.unwrap(),
            Err(_) => panic!("{css} is not on {}: {}", self.path().await, self.body().await),
        }
    }

    async fn body(&self) -> String {
        self.browser.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    /// Checks the page now shown at both sizes: screenshots, axe-core, the console.
    async fn check(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        for (width, height) in [(1280, 800), (390, 844)] {
            self.browser.set_window_size(width, height).await.unwrap();
            // Let the layout (and a chart) follow the new size.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let png = self.browser.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{}-{name}-{width}x{height}.png", self.label)), png).unwrap();
            let violations = self.axe().await;
            assert!(violations.is_empty(), "{name} at {width}×{height}: axe-core finds {violations:#?}");
        }
        self.browser.set_window_size(1280, 800).await.unwrap();
        let errors = console_errors(self.driver, &self.browser).await;
        assert!(errors.is_empty(), "{name}: console errors {errors:#?}");
    }

    /// Serious and critical axe-core violations of the page, as `rule: nodes`.
    async fn axe(&self) -> Vec<String> {
        self.browser.execute(&format!("{AXE}\n;return true;"), Vec::new()).await.unwrap();
        let script = "const done = arguments[arguments.length - 1];\
            axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations\
              .filter(v => v.impact === 'serious' || v.impact === 'critical')\
              .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
              .catch(e => done(['axe failed: ' + e]));";
        let result = self.browser.execute_async(script, Vec::new()).await.unwrap();
        result.as_array().unwrap().iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect()
    }

    /// Downloads `href` with the browser's own session (as its download button does) and returns the bytes.
    async fn download(&self, href: &str) -> Vec<u8> {
        let script = "const [href, done] = arguments;\
            fetch(href, { credentials: 'same-origin' }).then(r => r.arrayBuffer()).then(buffer => {\
              const bytes = new Uint8Array(buffer); let text = '';\
              for (let i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }\
              done(btoa(text)); });";
        let encoded = self.browser.execute_async(script, vec![Value::String(href.to_owned())]).await.unwrap();
        BASE64.decode(encoded.as_str().unwrap().as_bytes()).unwrap()
    }

    async fn sign_out(&self) {
        self.submit("header form[action='/sign-out'] button").await;
        assert_eq!(self.path().await, "/sign-in?notice=signed-out");
    }
}

/// The CSP violations the server has counted (`csp_violations` on `/metrics`).
async fn csp_violations(app: &TestApp) -> f64 {
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .filter(|line| line.starts_with("csp_violations"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn through_the_ui(engine: logvault_store::Engine) {
    let Some(driver) = Chromedriver::start() else { return };
    let Some(app) = TestApp::spawn_with(engine, |config| {
        config.metrics.token = Some(secrecy::SecretString::from(METRICS_TOKEN.to_owned()));
    })
    .await
    else {
        return;
    };
    let label = match engine {
        logvault_store::Engine::Sqlite => "sqlite",
        logvault_store::Engine::Postgres => "postgres",
    };
    let ui = Ui { app: &app, driver: &driver, browser: chromium(&driver).await, label };

    // First run: the server printed a one-time link; its fragment opens the set-up page.
    let link = app.server().setup_link.as_ref().expect("an empty instance prints a setup link").expose_secret();
    let (_, token) = link.split_once("/setup#").expect("a /setup# link");
    ui.goto("/setup").await;
    ui.check("setup-without-link").await;
    // Bad input comes back with a message next to the field and what was typed, and spends nothing.
    ui.goto(&format!("/setup#{token}")).await;
    ui.fill("#organisation", "Alpine Pharma Logistics").await;
    ui.fill("#name", "Olivia Owner").await;
    ui.fill("#email", "not-an-email").await;
    ui.fill("#password", PASSWORD).await;
    ui.submit("form[action='/setup'] button").await;
    assert!(ui.text("#email-error").await.len() > 5);
    assert_eq!(
        ui.browser.find(Locator::Css("#organisation")).await.unwrap().prop("value").await.unwrap().unwrap(),
        "Alpine Pharma Logistics"
    );
    ui.check("setup-with-error").await;
    ui.fill("#email", "olivia@coldchain.test").await;
    ui.fill("#password", PASSWORD).await;
    ui.submit("form[action='/setup'] button").await;
    assert_eq!(ui.path().await, "/account?notice=welcome", "{}", ui.body().await);
    ui.check("account-welcome").await;

    // TOTP enrolment: password again, the QR code and key, a first code, the recovery codes once.
    ui.fill("#mfa-password", PASSWORD).await;
    ui.submit("form[action='/account/mfa'] button").await;
    let secret = ui.text("code.secret").await;
    ui.check("account-enrol").await;
    let secret = BASE32_NOPAD.decode(secret.trim().trim_end_matches('=').as_bytes()).unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    ui.fill("#code", &totp_at(&secret, now())).await;
    ui.submit("form[action='/account/mfa/confirm'] button").await;
    let codes = ui.browser.find_all(Locator::Css(".codes code")).await.unwrap();
    assert_eq!(codes.len(), 10, "ten recovery codes are shown");
    let recovery = codes[0].text().await.unwrap();
    let second_recovery = codes[1].text().await.unwrap();
    ui.check("account-recovery-codes").await;

    // Sign out, then in again: password, then a recovery code; a wrong code first gets a readable refusal.
    ui.sign_out().await;
    ui.check("sign-in").await;
    ui.fill("#email", "olivia@coldchain.test").await;
    ui.fill("#password", "a wrong password that is long").await;
    ui.submit("form[action='/sign-in'] button").await;
    assert!(ui.text(".error").await.contains("wrong"));
    assert_eq!(
        ui.browser.find(Locator::Css("#email")).await.unwrap().prop("value").await.unwrap().unwrap(),
        "olivia@coldchain.test"
    );
    ui.check("sign-in-refused").await;
    ui.fill("#password", PASSWORD).await;
    ui.submit("form[action='/sign-in'] button").await;
    assert!(ui.path().await.starts_with("/sign-in/code"));
    ui.check("second-factor").await;
    ui.fill("#code", "000000").await;
    ui.submit("form[action='/sign-in/code'] button").await;
    assert!(ui.text(".error").await.contains("wrong"));
    ui.fill("#code", &recovery).await;
    ui.submit("form[action='/sign-in/code'] button").await;
    let dashboard = ui.path().await;
    assert!(dashboard.starts_with("/orgs/"), "{dashboard}");
    let org_id: i64 = dashboard.trim_start_matches("/orgs/").parse().unwrap();
    ui.check("dashboard-empty").await;

    // Register a logger: the key is shown once.
    ui.goto(&format!("/orgs/{org_id}/devices/new")).await;
    ui.check("device-new").await;
    ui.fill("#serial", "bad serial!").await;
    ui.submit("form[action$='/devices/new'] button").await;
    assert!(ui.text(".error").await.contains("serial"));
    assert_eq!(
        ui.browser.find(Locator::Css("#serial")).await.unwrap().prop("value").await.unwrap().unwrap(),
        "bad serial!"
    );
    ui.fill("#serial", "LV-W001").await;
    ui.fill("#name", "Vaccine fridge 2").await;
    ui.submit("form[action$='/devices/new'] button").await;
    let key = DeviceKey::from_hex(ui.text("#device-key").await.trim()).unwrap();
    ui.check("device-key").await;

    // A phone opens the logger's QR link (signed in: it is then taken to the device's page).
    let sealed = seal(&block("LV-W001", 1, 0, 288), &key);
    let qr_link = logvault_protocol::to_link(&app.url, &sealed);
    ui.browser.set_window_size(390, 844).await.unwrap();
    ui.browser.goto(&qr_link).await.unwrap();
    let device_path = format!("/orgs/{org_id}/devices/LV-W001");
    ui.browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_url(&url::Url::parse(&format!("{}{device_path}", app.url)).unwrap())
        .await
        .expect("the sync page takes a signed-in member to the device");
    let drawn =
        ui.browser.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#chart[data-drawn='true']")).await;
    let points: usize = drawn.expect("the chart draws").attr("data-points").await.unwrap().unwrap().parse().unwrap();
    assert!(points > 0 && points <= 288, "{points} chart points");
    let body = ui.body().await;
    assert!(body.contains("Verified: 1 blocks"), "{body}");
    assert!(body.contains("288"), "the statistics count every sample: {body}");
    ui.check("device").await;

    // The three exports of the period shown, downloaded as the buttons do, each verifies.
    let key_of_server = public_key(&app).await;
    for format in ["csv", "xlsx", "pdf"] {
        let link = ui.browser.find(Locator::Css(&format!("a[href*='format={format}']"))).await.unwrap();
        let href = link.attr("href").await.unwrap().unwrap();
        let bytes = ui.download(&href).await;
        logvault_export::verify_export(&bytes, Some(&key_of_server)).unwrap_or_else(|err| panic!("{format}: {err}"));
    }

    // The dashboard shows the last value and that it is seen.
    ui.goto(&format!("/orgs/{org_id}")).await;
    let body = ui.body().await;
    assert!(body.contains("Vaccine fridge 2") && body.contains("°C"), "{body}");
    ui.check("dashboard").await;

    // Invite a member; the link arrives by email.
    ui.goto(&format!("/orgs/{org_id}/members")).await;
    ui.check("members").await;
    ui.fill("#email", "vera@coldchain.test").await;
    ui.submit("form[action$='/members'] button").await;
    assert!(ui.text(".notice").await.contains("vera@coldchain.test"));
    let mail = app.mail.next_message(Duration::from_secs(10)).await.expect("the invitation email");
    let text = mail.text_body();
    let token =
        text.split("/invite#").nth(1).expect("a link in the email").split_whitespace().next().unwrap().to_owned();

    // Another organisation with its own logger, which the member must not reach.
    let (other_org, _) = member(&app, "Other Org", "owner@other.test", Role::Owner).await;
    let other = sign_in(&app, "owner@other.test").await;
    let response =
        other.post(&app, &format!("/api/v1/orgs/{other_org}/devices"), serde_json::json!({"serial": "LV-X999"})).await;
    assert_eq!(response.status(), 201);

    // The member accepts, signs in, and sees only their organisation.
    ui.sign_out().await;
    ui.goto(&format!("/invite#{token}")).await;
    ui.check("invite").await;
    ui.fill("#name", "Vera Viewer").await;
    ui.fill("#password", "short").await;
    ui.submit("form[action='/invite'] button").await;
    assert!(ui.text(".error").await.len() > 10, "a weak password is refused in words");
    assert_eq!(
        ui.browser.find(Locator::Css("#name")).await.unwrap().prop("value").await.unwrap().unwrap(),
        "Vera Viewer"
    );
    ui.fill("#password", PASSWORD).await;
    ui.submit("form[action='/invite'] button").await;
    assert_eq!(ui.path().await, "/sign-in?notice=account-created");
    ui.fill("#email", "vera@coldchain.test").await;
    ui.fill("#password", PASSWORD).await;
    ui.submit("form[action='/sign-in'] button").await;
    assert_eq!(ui.path().await, format!("/orgs/{org_id}"));
    let body = ui.body().await;
    assert!(body.contains("LV-W001") && !body.contains("LV-X999"), "{body}");
    let foreign =
        [format!("/orgs/{other_org}/devices/LV-X999"), "/devices/LV-X999".to_owned(), format!("/orgs/{other_org}")];
    for path in &foreign {
        ui.goto(path).await;
        assert!(ui.text("h1").await.contains("Not Found"), "{path}");
    }
    // The only console entries: the browser noting each page's own 404 status.
    let errors = console_errors(&driver, &ui.browser).await;
    assert_eq!(errors.len(), foreign.len(), "{errors:#?}");
    for (error, path) in errors.iter().zip(&foreign) {
        assert!(
            error.contains(&format!(
                "{}{path} - Failed to load resource: the server responded with a status of 404",
                app.url
            )),
            "{error}"
        );
    }
    ui.check("not-found").await;
    // A viewer has no audit log and no members page.
    ui.goto(&format!("/orgs/{org_id}/audit")).await;
    assert!(ui.text("h1").await.contains("Forbidden"));
    let errors = console_errors(&driver, &ui.browser).await;
    assert!(errors.len() == 1 && errors[0].contains("status of 403"), "{errors:#?}");
    ui.goto("/account").await;
    ui.sign_out().await;

    // The owner's audit log shows what happened, and a verified chain.
    ui.fill("#email", "olivia@coldchain.test").await;
    ui.fill("#password", PASSWORD).await;
    ui.submit("form[action='/sign-in'] button").await;
    ui.fill("#code", &second_recovery).await;
    ui.submit("form[action='/sign-in/code'] button").await;
    ui.goto(&format!("/orgs/{org_id}/audit")).await;
    let body = ui.body().await;
    assert!(body.contains("Chain verified"), "{body}");
    for action in ["org.bootstrap", "device.create", "export.created", "invitation.create", "invitation.accept"] {
        assert!(body.contains(action), "{action} in the audit page: {body}");
    }
    ui.check("audit").await;
    ui.goto(&format!("/orgs/{org_id}/audit?action=device.create")).await;
    let rows = ui.browser.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1, "the filter keeps only the device registration");

    assert_eq!(csp_violations(&app).await, 0.0, "the server counted CSP violations");
    ui.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_sets_up_syncs_a_logger_exports_and_invites_through_the_ui_sqlite() {
    through_the_ui(logvault_store::Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_sets_up_syncs_a_logger_exports_and_invites_through_the_ui_postgres() {
    through_the_ui(logvault_store::Engine::Postgres).await;
}
