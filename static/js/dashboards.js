/* Draws every dashboard chart from the table beside it: the table is the source of truth
   (each figure sits in a cell's data-value), the chart only a picture of it. No inline
   script or style anywhere, so the page keeps its strict Content Security Policy.

   Table attributes: data-chart = line | bar | stacked-bar | horizontal-bar;
   data-chart-scale = minor units per major unit (amounts are drawn in major units);
   data-chart-limit = draw only the first N rows. A column header with data-series becomes
   a data set; the row header labels the point.

   The board refreshes through an htmx poll: charts in the old board are destroyed before
   the swap, the open table views are kept open, and every new chart is drawn after it. */
(function () {
  "use strict";

  // Okabe-Ito: told apart by colour-blind readers too.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];

  function readTable(table) {
    var scale = Number(table.getAttribute("data-chart-scale") || "1");
    var limit = Number(table.getAttribute("data-chart-limit") || "0");
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    if (limit > 0) {
      rows = rows.slice(0, limit);
    }
    var datasets = [];
    headers.forEach(function (header, column) {
      if (!header.hasAttribute("data-series")) {
        return;
      }
      var colour = PALETTE[datasets.length % PALETTE.length];
      datasets.push({
        label: header.textContent.trim(),
        data: rows.map(function (row) {
          return Number(row.cells[column].getAttribute("data-value")) / scale;
        }),
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: 2,
        pointRadius: 2,
        maxBarThickness: 32
      });
    });
    var wrap = table.getAttribute("data-chart") === "horizontal-bar";
    return {
      labels: rows.map(function (row) {
        var label = row.cells[0].textContent.trim();
        return wrap ? wrapLabel(label, 24) : label;
      }),
      datasets: datasets
    };
  }

  // A long label beside a horizontal bar would be cut at the canvas edge: Chart.js draws an
  // array of strings as lines, so break it between words into lines of about `width`.
  function wrapLabel(label, width) {
    var lines = [];
    label.split(/\s+/).forEach(function (word) {
      var last = lines.length - 1;
      if (last >= 0 && (lines[last] + " " + word).length <= width) {
        lines[last] += " " + word;
      } else {
        lines.push(word);
      }
    });
    return lines.length > 1 ? lines : label;
  }

  function draw(figure) {
    var table = figure.querySelector("table[data-chart]");
    var canvas = figure.querySelector("canvas");
    if (!table || !canvas || !window.Chart || window.Chart.getChart(canvas)) {
      return;
    }
    var kind = table.getAttribute("data-chart");
    var stacked = kind === "stacked-bar";
    var horizontal = kind === "horizontal-bar";
    // Counts and points are whole numbers: no 0.5 ticks. Money may show cents.
    var whole = Number(table.getAttribute("data-chart-scale") || "1") === 1 ? 0 : undefined;
    var valueTicks = { precision: whole };
    var labelTicks = { maxRotation: 0, autoSkip: !horizontal };
    new window.Chart(canvas, {
      type: kind === "line" ? "line" : "bar",
      data: readTable(table),
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked: stacked, beginAtZero: true, ticks: horizontal ? valueTicks : labelTicks },
          y: { stacked: stacked, beginAtZero: true, ticks: horizontal ? labelTicks : valueTicks }
        }
      }
    });
    figure.classList.add("chart-drawn");
  }

  function drawAll(root) {
    Array.prototype.forEach.call(root.querySelectorAll(".chart-card"), draw);
  }

  function destroyAll(root) {
    Array.prototype.forEach.call(root.querySelectorAll(".chart-card canvas"), function (canvas) {
      var chart = window.Chart && window.Chart.getChart(canvas);
      if (chart) {
        chart.destroy();
      }
    });
  }

  var openTables = [];

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var asked = detail.requestConfig && new URL(detail.requestConfig.path, window.location.href);
    var answered = detail.xhr && detail.xhr.responseURL && new URL(detail.xhr.responseURL);
    if (asked && answered && asked.pathname !== answered.pathname) {
      // The poll was redirected (the session ended): show that page whole.
      detail.shouldSwap = false;
      window.location.assign(answered.href);
      return;
    }
    if (!detail.shouldSwap) {
      return;
    }
    openTables = Array.prototype.map.call(
      document.querySelectorAll("details.chart-table[open]"),
      function (details) { return details.id; }
    );
    destroyAll(detail.target);
  });

  // Right after the swap, in the same task: nobody sees the new board half restored.
  document.addEventListener("htmx:afterSwap", function () {
    openTables.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) {
        details.open = true;
      }
    });
    openTables = [];
    drawAll(document);
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
})();
