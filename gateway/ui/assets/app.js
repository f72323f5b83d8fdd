// The dashboard's own script (no inline script: the Content-Security-Policy
// allows this file and the vendored libraries only).
//
// It keeps the page live: an EventSource on the body's data-stream (the
// gateway sends "change" at most once a second when the fleet changes)
// fires "refresh" on #live, which htmx answers by fetching the page's live
// part. The browser's EventSource reconnects by itself.
//
// It draws the charts of published values: each element with data-chart
// holds a series as JSON ({App, Key, Times, Values}), written by the
// server into an attribute (escaped by html/template), drawn with uPlot
// after every swap.
(function () {
  "use strict";
  function draw(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var s;
      try { s = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      if (!s.Times || s.Times.length === 0) { return; }
      el.textContent = "";
      new uPlot({
        width: Math.max(300, el.clientWidth || 600), height: 160,
        series: [{}, { label: s.Key, stroke: "#2a6fdb", width: 2 }],
        scales: { x: { time: true } },
      }, [s.Times, s.Values], el);
    });
  }
  function stream() {
    var url = document.body.getAttribute("data-stream");
    var live = document.getElementById("live");
    if (!url || !live) { return; }
    new EventSource(url).addEventListener("change", function () { htmx.trigger(live, "refresh"); });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); stream(); });
  // An action the API refused answers its status with the reason: show it.
  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (ev.detail.xhr.status >= 400 && ev.detail.target && ev.detail.target.id === "result") {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSettle", function (ev) { draw(ev.target); });
})();
