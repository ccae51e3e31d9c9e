// The page a logger's QR link opens: it sends the payload in the URL fragment (which never reaches any server on
// its own) to the ingest API and says what came of it.
"use strict";
async function sync() {
  const status = document.getElementById("status");
  const detail = document.getElementById("detail");
  const say = (text, kind) => { status.textContent = text; status.className = kind || ""; };
  const payload = location.hash.slice(1);
  if (!payload) {
    if (!status.className) { say("This link carries no logger data.", "failed"); }
    return;
  }
  detail.textContent = "";
  document.getElementById("device").hidden = true;
  say("Syncing the logger's data…");
  // The payload is the logger's data: keep it out of the history once read.
  history.replaceState(null, "", location.pathname);
  let response;
  try {
    response = await fetch("/api/v1/ingest", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: payload,
      credentials: "same-origin",
    });
  } catch (_) {
    say("No connection to the server. Open the link again when you are online.", "failed");
    return;
  }
  if (response.status === 429) {
    say("Too many failed attempts from this network. Try again later.", "failed");
    return;
  }
  if (!response.ok) {
    say("This logger's data was not accepted. Check that the logger is registered, then scan it again.", "failed");
    return;
  }
  const result = await response.json();
  const noun = result.accepted === 1 ? "measurement" : "measurements";
  say(result.accepted + " new " + noun + " from logger " + result.device + " synced", "ok");
  if (result.duplicates > 0) {
    detail.textContent = result.duplicates + " had been synced before and were not stored twice.";
  }
  // A signed-in member is taken to the device's page, with the newest data in view; anyone else is offered to
  // sign in and land there.
  const page = "/devices/" + encodeURIComponent(result.device);
  const me = await fetch("/api/v1/me", { credentials: "same-origin" }).catch(() => null);
  const link = document.getElementById("device");
  if (me && me.ok) {
    link.href = page;
    link.textContent = "Open this logger's page";
    link.hidden = false;
    location.assign(page);
  } else {
    link.href = "/sign-in?next=" + encodeURIComponent(page);
    link.textContent = "Sign in to see this logger's data";
    link.hidden = false;
  }
}
sync();
// Opening another logger's link in the same tab only changes the fragment: sync again.
window.addEventListener("hashchange", sync);
