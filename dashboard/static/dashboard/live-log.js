// The execution page's live log. It asks the dashboard for the API's event stream
// (text/event-stream: "id:" and "data:" lines per chunk, a final "event: end" with
// {"status", "exitCode"}, ":" comment heartbeats) and shows each chunk as it comes,
// resuming with Last-Event-ID if the connection drops. When the API serves only the
// plain log, it polls the log about once a second until the execution has ended.
// When it ends, the page reloads once to show the final record, results and plots.
(function () {
  "use strict";
  var box = document.getElementById("live-log");
  var state = document.getElementById("exec-state");
  if (!box || box.dataset.done === "true") { return; }
  var lastId = null, text = "", ended = false, drops = 0;

  function show(t) { box.textContent = t; box.scrollTop = box.scrollHeight; }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function finish(status, exitCode) {
    if (ended) { return; }
    ended = true;
    box.dataset.done = "true";
    state.textContent = (status || "ended") + (exitCode !== undefined && exitCode !== null ? " (exit code " + exitCode + ")" : "");
    setTimeout(function () { window.location.reload(); }, 1500);
  }

  async function poll() {
    while (!ended) {
      try {
        var r = await fetch(box.dataset.poll, { credentials: "same-origin", cache: "no-store" });
        if (r.status === 401) { window.location.reload(); return; }
        if (r.ok) {
          var j = await r.json();
          show(j.logs || "");
          state.textContent = j.status;
          if (j.terminal) { finish(j.status, j.exit_code); return; }
        }
      } catch (e) { /* the dashboard or API is briefly away: try again */ }
      await sleep(1000);
    }
  }

  function dispatch(ev) {
    if (ev.id !== null) { lastId = ev.id; }
    if (ev.event === "end") {
      var j = {};
      try { j = JSON.parse(ev.data.join("\n")); } catch (e) { j = {}; }
      finish(j.status, j.exitCode);
      return;
    }
    if (ev.data.length) { text += ev.data.join("\n"); show(text); }
  }

  async function stream() {
    var headers = { "Accept": "text/event-stream" };
    if (lastId !== null) { headers["Last-Event-ID"] = lastId; }
    var r;
    try {
      r = await fetch(box.dataset.stream, { headers: headers, credentials: "same-origin", cache: "no-store" });
    } catch (e) { return poll(); }
    var type = r.headers.get("Content-Type") || "";
    if (!r.ok || type.indexOf("text/event-stream") !== 0) { return poll(); }
    var reader = r.body.getReader(), decoder = new TextDecoder(), buf = "";
    var ev = { data: [], event: null, id: null };
    try {
      for (;;) {
        var part = await reader.read();
        if (part.done) { break; }
        buf += decoder.decode(part.value, { stream: true });
        var i;
        while ((i = buf.indexOf("\n")) >= 0) {
          var line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.slice(-1) === "\r") { line = line.slice(0, -1); }
          if (line === "") { dispatch(ev); ev = { data: [], event: null, id: null }; continue; }
          if (line.charAt(0) === ":") { continue; }               // a heartbeat
          var c = line.indexOf(":");
          var field = c < 0 ? line : line.slice(0, c);
          var value = c < 0 ? "" : line.slice(c + 1);
          if (value.charAt(0) === " ") { value = value.slice(1); }
          if (field === "data") { ev.data.push(value); }
          else if (field === "event") { ev.event = value; }
          else if (field === "id") { ev.id = value; }
        }
      }
    } catch (e) { /* dropped: resume below */ }
    if (!ended) {
      drops += 1;
      if (drops > 20) { return poll(); }
      await sleep(1000);
      return stream();
    }
  }

  stream();
})();
