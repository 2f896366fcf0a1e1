// The live debugger: events of one source over server-sent events, newest first.
(function () {
  "use strict";
  var MAX_SHOWN = 500;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Pretty JSON with colours; every piece goes in as text, never as HTML.
  function prettyJson(value) {
    var code = el("code");
    var json = JSON.stringify(value, null, 2);
    var pattern = /("(?:\\u[a-fA-F0-9]{4}|\\[^u]|[^\\"])*"(\s*:)?|\b(?:true|false|null)\b|-?\d+(?:\.\d*)?(?:[eE][+\-]?\d+)?)/g;
    var last = 0;
    json.replace(pattern, function (match, _str, colon, offset) {
      if (offset > last) code.appendChild(document.createTextNode(json.slice(last, offset)));
      var kind = "j-num";
      if (match.charAt(0) === '"') kind = colon ? "j-key" : "j-str";
      else if (/true|false|null/.test(match)) kind = "j-lit";
      code.appendChild(el("span", kind, match));
      last = offset + match.length;
      return match;
    });
    if (last < json.length) code.appendChild(document.createTextNode(json.slice(last)));
    return code;
  }

  function label(event) {
    switch (event.type) {
      case "track": return event.event || "(no event name)";
      case "page":
      case "screen": return event.name || event.properties && event.properties.title || "(unnamed " + event.type + ")";
      case "identify": return event.userId || event.anonymousId || "(anonymous)";
      case "group": return event.groupId || "(no group id)";
      case "alias": return (event.previousId || "?") + " → " + (event.userId || "?");
      default: return event.type || "(no type)";
    }
  }

  function clock(event) {
    var when = new Date(event.receivedAt || event.timestamp || Date.now());
    return isNaN(when) ? "" : when.toLocaleTimeString([], { hour12: false });
  }

  function render(event, fresh) {
    var item = el("li", "event" + (event.status === "rejected" ? " is-rejected" : "") + (fresh ? " is-new" : ""));
    item.setAttribute("data-event-id", event.id);
    item.setAttribute("data-type", event.type || "");
    item.setAttribute("data-status", event.status);
    var details = el("details");
    var summary = el("summary");
    summary.appendChild(el("span", "ev-time", clock(event)));
    summary.appendChild(el("span", "badge badge-todo ev-type", event.type || "?"));
    summary.appendChild(el("span", "ev-name", label(event)));
    var violations = event.violations || [];
    // Who sent it stays visible when the event has violations: the badge goes beside it.
    var who = el("span", "ev-who");
    who.appendChild(el("span", "ev-user small muted", event.userId || event.anonymousId || ""));
    if (violations.length) {
      who.appendChild(el("span", "badge badge-violations", violations.length + " violation" + (violations.length > 1 ? "s" : "")));
    }
    summary.appendChild(who);
    summary.appendChild(el("span", "badge badge-" + event.status + " ev-status", event.status));
    details.appendChild(summary);
    var body = el("div", "ev-body");
    if (event.reason) {
      body.appendChild(el("p", "ev-reason", "Rejected: " + event.reason.message + " (" + event.reason.code + ")"));
    }
    if (violations.length) {
      var list = el("ul", "ev-violations");
      violations.forEach(function (v) { list.appendChild(el("li", null, v.message || v.type)); });
      body.appendChild(list);
    }
    var pre = el("pre");
    pre.appendChild(prettyJson(event));
    body.appendChild(pre);
    details.appendChild(body);
    item.appendChild(details);
    return item;
  }

  function start(root) {
    var list = root.querySelector("[data-events]");
    var empty = root.querySelector("[data-empty]");
    var state = root.querySelector("[data-state]");
    var stateBox = root.querySelector(".live-state");
    var counter = root.querySelector("[data-counter]");
    var pauseButton = root.querySelector("[data-pause]");
    var paused = false, held = [], total = 0, backlogDone = false;

    function show(text, kind) {
      state.textContent = text;
      stateBox.className = "live-state " + (kind || "");
    }
    function count() {
      counter.textContent = total + " event" + (total === 1 ? "" : "s") +
        (held.length ? " · " + held.length + " new while paused" : "");
    }
    function add(event, fresh) {
      if (list.querySelector('[data-event-id="' + event.id + '"]')) return;
      list.insertBefore(render(event, fresh), list.firstChild);
      while (list.children.length > MAX_SHOWN) list.removeChild(list.lastChild);
      empty.hidden = true;
    }

    var source = new EventSource(root.getAttribute("data-stream"));
    source.addEventListener("open", function () {
      show(paused ? "Paused" : "Live: new events appear at the top", paused ? "paused" : "connected");
    });
    source.addEventListener("message", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      total += 1;
      if (paused) held.push(event); else add(event, backlogDone);
      count();
    });
    source.addEventListener("error", function () {
      show(source.readyState === EventSource.CLOSED ? "Disconnected: reload the page" : "Reconnecting…", "broken");
    });
    // The backlog arrives at once; after a moment, mark later events as new.
    setTimeout(function () { backlogDone = true; }, 800);
    window.addEventListener("pagehide", function () { source.close(); });

    pauseButton.addEventListener("click", function () {
      paused = !paused;
      pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
      pauseButton.textContent = paused ? "Resume" : "Pause";
      if (!paused) {
        held.forEach(function (event) { add(event, true); });
        held = [];
        show("Live: new events appear at the top", "connected");
      } else {
        show("Paused: new events are held until you resume", "paused");
      }
      count();
    });
    count();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-debugger]").forEach(start);
  });
})();
