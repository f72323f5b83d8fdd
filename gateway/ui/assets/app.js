// The dashboard's own script (no inline script: the Content-Security-Policy
// allows this file and the vendored libraries only). It draws the charts of
// published values: each element with data-chart holds a series as JSON
// ({App, Key, Times, Values}), written by the server into an attribute
// (escaped by html/template), drawn with uPlot after every swap.
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
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // An action the API refused answers its status with the reason: show it.
  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (ev.detail.xhr.status >= 400 && ev.detail.target && ev.detail.target.id === "result") {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSettle", function (ev) { draw(ev.target); });
})();
