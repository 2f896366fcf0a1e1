// Shoal web app: copy buttons, keyboard tabs, and live "waiting for events" indicators.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // http on another host: fall back to a hidden textarea and execCommand.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var text = "value" in target && target.tagName === "INPUT" ? target.value : target.textContent;
    var label = button.textContent;
    copyText(text).then(
      function () { button.textContent = "Copied"; },
      function () { button.textContent = "Press Ctrl+C"; if (target.select) target.select(); }
    ).then(function () {
      setTimeout(function () { button.textContent = label; }, 1600);
    });
  });

  // <dialog> boxes: a button with data-dialog-open="ID" opens one as a modal.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog-open]");
    if (!opener) return;
    var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
    if (dialog && typeof dialog.showModal === "function") dialog.showModal();
  });

  function setupTabs(root) {
    var tabs = Array.prototype.slice.call(root.querySelectorAll("[role=tab]"));
    function select(tab) {
      tabs.forEach(function (other) {
        var on = other === tab;
        other.setAttribute("aria-selected", on ? "true" : "false");
        other.tabIndex = on ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
      });
    }
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab); });
      tab.addEventListener("keydown", function (event) {
        var next = null;
        if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
        if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
        if (event.key === "Home") next = tabs[0];
        if (event.key === "End") next = tabs[tabs.length - 1];
        if (next) { event.preventDefault(); select(next); next.focus(); }
      });
    });
  }

  function setupLive(el) {
    var count = parseInt(el.getAttribute("data-live-count") || "0", 10);
    var text = el.querySelector(".live-text");
    var source = new EventSource(el.getAttribute("data-live-stream"));
    var seen = {};
    source.addEventListener("message", function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (seen[data.id]) return;
      seen[data.id] = true;
      count += 1;
      el.classList.add("live-ok");
      var name = data.event || data.name || data.type;
      text.textContent = "Events are arriving: " + count + " received so far, latest " +
        name + (data.status === "rejected" ? " (rejected)" : "") + ".";
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) text.textContent = "Lost the connection; reload the page.";
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // The live count says which conditions are incomplete. Each message goes next to its
  // condition only if that condition is still on the page: the editor may have changed
  // (or switched to text) while the count was running.
  document.addEventListener("htmx:afterSwap", function (event) {
    var root = event.target;
    if (!root || !root.querySelectorAll) return;
    Array.prototype.forEach.call(root.querySelectorAll("[data-cond-error]"), function (carrier) {
      var slot = document.getElementById(carrier.getAttribute("data-cond-error"));
      if (slot) {
        slot.textContent = carrier.textContent;
        slot.hidden = !carrier.textContent;
      }
      carrier.remove();
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tabs]").forEach(setupTabs);
    document.querySelectorAll("[data-live-stream]").forEach(setupLive);
  });
})();
