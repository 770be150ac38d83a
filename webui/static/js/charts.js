/*
 * Baton's report charts: Chart.js (vendored by `npm run vendor`) over the JSON the page embeds.
 *
 * <script type="application/json" id="chart-data">[{id, title, labels, datasets: [{label, data,
 *   color}], stacked?, horizontal?, percent?, integer?, unit?}, ...]</script>
 * <canvas data-chart="<id>"></canvas>   one per chart
 *
 * A dataset's color is one colour or one per bar (the page colours the bottleneck, the lanes...).
 */
(function () {
  "use strict";

  function suffix(spec) {
    return spec.percent ? "%" : spec.unit ? " " + spec.unit : "";
  }

  function config(spec) {
    var valueAxis = spec.horizontal ? "x" : "y";
    var scales = { x: { stacked: !!spec.stacked }, y: { stacked: !!spec.stacked } };
    scales[valueAxis].beginAtZero = true;
    scales[valueAxis].ticks = {
      precision: spec.integer ? 0 : undefined,  // counts: no 0.5 of a task
      callback: function (value) { return value + suffix(spec); }
    };
    return {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (d) {
          return { label: d.label, data: d.data, backgroundColor: d.color, borderRadius: 3, maxBarThickness: 48 };
        })
      },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: scales,
        plugins: {
          legend: { display: spec.datasets.length > 1, position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (item) {
                var v = item.parsed[valueAxis];
                return item.dataset.label + ": " + (v === null ? "-" : v) + suffix(spec);
              }
            }
          }
        }
      }
    };
  }

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source) return;
    var specs = {};
    JSON.parse(source.textContent).forEach(function (spec) { specs[spec.id] = spec; });
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec = specs[canvas.getAttribute("data-chart")];
      if (!spec) return;
      if (typeof window.Chart === "undefined") {
        canvas.replaceWith(document.createTextNode("The chart library did not load."));
        return;
      }
      canvas.chart = new window.Chart(canvas, config(spec));
    });
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
