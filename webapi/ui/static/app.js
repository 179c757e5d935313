// shoal's dashboard: live job updates, file-to-textarea, copy buttons. No build step.
(function () {
  "use strict";
  var source = null;

  function percent(progress) {
    return Math.round((progress || 0) * 100);
  }

  function update(job) {
    var parts = document.querySelectorAll('[data-job-id="' + job.id + '"]');
    Array.prototype.forEach.call(parts, function (el) {
      var part = el.getAttribute("data-part");
      if (part === "status") {
        el.textContent = job.status.replace("_", " ").toLowerCase();
        el.className = "status status-" + job.status;
      } else if (part === "progress") {
        el.value = percent(job.progress);
        el.textContent = percent(job.progress) + " %";
      } else if (part === "percent") {
        el.textContent = percent(job.progress) + " %";
      } else if (part === "message") {
        el.textContent = job.message || "";
      } else if (part === "cancel" && job.terminal) {
        el.hidden = true;
      }
    });
    var refresh = document.querySelector("[data-refresh-on-finish='" + job.id + "']");
    var moved = refresh && refresh.getAttribute("data-shown") !== job.status + "/" + job.attempts;
    if ((job.terminal || moved) && refresh && window.htmx) {
      // The attempts, start time, result and files appear without a reload: a worker
      // took the job, it went back to the queue, or it ended; the main part is fetched again.
      window.htmx.ajax("GET", window.location.pathname, {target: "#main", select: "#main", swap: "outerHTML"});
    }
  }

  function follow() {
    if (source) {
      source.close();
      source = null;
    }
    var host = document.querySelector("[data-live]");
    if (!host || !window.EventSource) {
      return;
    }
    source = new EventSource(host.getAttribute("data-live"));
    source.addEventListener("job", function (event) {
      update(JSON.parse(event.data));
    });
    var stop = function () {
      source.close();
      source = null;
    };
    source.addEventListener("done", stop);
    source.addEventListener("refused", stop);
    source.onerror = function () {
      // A 401 (session over) or a closed stream: stop; the next page load starts again.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
      }
    };
  }

  function duration(seconds) {
    // As shared/durations.py writes it.
    var whole = Math.floor(seconds), hours = Math.floor(whole / 3600);
    var minutes = Math.floor((whole % 3600) / 60), secs = whole % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    if (hours) { return hours + " h " + two(minutes) + " min"; }
    if (minutes) { return minutes + " min " + two(secs) + " s"; }
    return secs + " s";
  }

  function tick() {
    // A running job's run time counts on from what the server said when it drew the page.
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("[data-run-seconds]"), function (el) {
      if (!el.hasAttribute("data-seen-at")) {
        el.setAttribute("data-seen-at", String(now));
      }
      var base = parseFloat(el.getAttribute("data-run-seconds"));
      el.textContent = duration(base + (now - parseInt(el.getAttribute("data-seen-at"), 10)) / 1000);
    });
  }

  function fillFromFile(event) {
    var input = event.target;
    var target = document.getElementById(input.getAttribute("data-fills"));
    if (!target || !input.files || !input.files[0]) {
      return;
    }
    input.files[0].text().then(function (text) {
      target.value = text;
      target.dispatchEvent(new Event("input", {bubbles: true}));
    });
  }

  function copy(event) {
    var button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var id = button.getAttribute("data-copy");
    var field = document.getElementById(id);
    var status = document.querySelector('[data-copied-for="' + id + '"]');
    field.select();
    var done = function () { if (status) { status.textContent = "Copied."; } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  }

  document.addEventListener("DOMContentLoaded", follow);
  document.addEventListener("htmx:afterSettle", function (event) {
    // A new page (boosted navigation) or a refreshed job: follow what is on it now.
    if (event.target && (event.target.id === "page" || event.target.id === "main" || event.target === document.body)) {
      follow();
    }
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[type=file][data-fills]")) {
      fillFromFile(event);
    }
  });
  document.addEventListener("click", copy);
  window.setInterval(tick, 1000);
})();
