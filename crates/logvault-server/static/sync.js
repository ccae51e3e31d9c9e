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
  // Signed-in members get a link to the device.
  const me = await fetch("/api/v1/me", { credentials: "same-origin" }).catch(() => null);
  if (me && me.ok) {
    const link = document.getElementById("device");
    link.href = "/api/v1/devices/" + encodeURIComponent(result.device) + "/measurements";
    link.hidden = false;
  }
}
sync();
// Opening another logger's link in the same tab only changes the fragment: sync again.
window.addEventListener("hashchange", sync);
