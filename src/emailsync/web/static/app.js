// emailsync: the little behaviour htmx does not cover. No inline scripts (the CSP forbids them).
(function () {
  "use strict";
  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  onReady(function () {
    // Provider presets fill the server fields of "Add new account".
    var select = document.querySelector("select[data-presets]");
    if (select) {
      select.addEventListener("change", function () {
        var o = select.options[select.selectedIndex];
        ["imap-host", "imap-port", "imap-security", "smtp-host", "smtp-port", "smtp-security"].forEach(function (k) {
          var field = document.getElementById(k.replace("-", "_"));
          if (field) field.value = o.getAttribute("data-" + k) || "";
        });
        var note = document.getElementById("provider-note");
        if (note) note.textContent = o.getAttribute("data-note") || "";
      });
    }
    // "Sync emails from" only exists for a past window: hide it for "Now".
    var scope = document.getElementById("scope");
    if (scope) {
      document.querySelectorAll("input[name=sync_from]").forEach(function (radio) {
        radio.addEventListener("change", function () {
          scope.hidden = radio.checked && radio.getAttribute("data-past") === "0";
        });
      });
    }
    // Message bodies: grow each sandboxed (same-origin, script-less) iframe to its content.
    document.querySelectorAll("iframe.body").forEach(function (frame) {
      function fit() {
        try {
          var doc = frame.contentDocument;
          if (doc && doc.documentElement) frame.style.height = (doc.documentElement.scrollHeight + 8) + "px";
        } catch (e) { /* not readable: keep the default height */ }
      }
      frame.addEventListener("load", function () { fit(); setTimeout(fit, 300); });
    });
  });
})();
