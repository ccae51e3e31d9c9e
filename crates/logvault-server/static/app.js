// Small progressive enhancements of the pages (no inline script: the CSP forbids it).
"use strict";
(function () {
  // A link's secret travels in its fragment, which never reaches the server in a URL: copy it into the form, and
  // take it out of the address bar and the history.
  function takeFragment() {
    var fragment = window.location.hash.length > 1 ? decodeURIComponent(window.location.hash.slice(1)) : "";
    if (!fragment) { return; }
    document.querySelectorAll("input[data-from-fragment]").forEach(function (input) { input.value = fragment; });
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  takeFragment();
  window.addEventListener("hashchange", takeFragment);
  // Copy buttons for secrets shown once.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () { button.textContent = "Copied"; });
    });
  });
})();
