// makegood console, campaign page: ask before irreversible actions, and follow
// execution and sending live. Without JavaScript the page shows the figures as of
// loading it, and every button still works.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
        return;
      }
      // One press is enough: the server runs it once however often it is asked.
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    });
  });

  var panel = document.getElementById("progress");
  if (!panel || panel.getAttribute("data-live") !== "yes") {
    return;
  }
  var url = panel.getAttribute("data-progress-url");
  var meter = document.getElementById("meter");
  var pill = document.getElementById("status-pill");
  var note = document.getElementById("progress-note");
  var format = new Intl.NumberFormat("en-US");
  var failures = 0;
  var startedStatus = pill ? pill.textContent.trim() : "";

  function lookup(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value == null ? undefined : value[key];
    }, data);
  }

  function show(data) {
    panel.querySelectorAll("[data-field]").forEach(function (el) {
      var value = lookup(data, el.getAttribute("data-field"));
      if (value === undefined) { return; }
      el.textContent = typeof value === "number" && el.getAttribute("data-field") !== "percent"
        ? format.format(value) : String(value);
    });
    if (meter) {
      meter.value = data.percent;
      meter.textContent = data.percent + "%";
    }
    if (pill && data.status) {
      pill.textContent = data.status;
      pill.className = "pill " + data.status;
      if (data.status !== startedStatus) {
        // Buttons for a state the campaign has left go (the server refuses them anyway).
        document.querySelectorAll("form[data-statuses]").forEach(function (form) {
          form.hidden = form.getAttribute("data-statuses").split(" ").indexOf(data.status) < 0;
        });
      }
    }
    if (note) {
      note.textContent = data.execution_error
        ? "Execution stopped: " + data.execution_error
        : (data.done ? "Finished. " : "Live: these figures update every second.");
      if (data.done) {
        var link = document.createElement("a");
        link.href = window.location.pathname + "#progress";
        link.textContent = "Reload for the final charts and timeline.";
        note.appendChild(link);
      }
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        show(data);
        if (!data.done && !data.execution_error) { window.setTimeout(poll, 1000); }
      })
      .catch(function () {
        failures += 1;
        if (note) { note.textContent = "Lost contact with the server; retrying…"; }
        window.setTimeout(poll, Math.min(15000, 1000 * Math.pow(2, failures)));
      });
  }

  poll();
})();
