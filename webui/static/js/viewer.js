/*
 * What Baton's read-only diagrams share (diagram.js, heatmap.js, compare.js): fetching, fitting a
 * diagram to its box, zooming, the toolbar over it, and saying when it cannot be shown.
 * Loaded with bpmn-js by templates/_diagram_assets.html.
 */
window.BatonViewer = (function () {
  "use strict";

  var PAD = 24; // room around the diagram when it is fitted, in diagram units
  var MISSING = "The diagram viewer is not installed: run scripts/setup (npm ci, npm run vendor).";

  function fail(container, message) {
    container.classList.add("diagram-failed");
    container.textContent = message;
  }

  /* True when bpmn-js is there; otherwise every container says how to install it. */
  function installed(containers) {
    if (window.BpmnJS) { return true; }
    containers.forEach(function (container) { fail(container, MISSING); });
    return false;
  }

  function fetched(url, read) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return read(r);
    });
  }

  function fetchText(url) { return fetched(url, function (r) { return r.text(); }); }

  function fetchJson(url) { return fetched(url, function (r) { return r.json(); }); }

  /* Centre the view on (cx, cy) at `scale`, over the whole box. */
  function setView(canvas, container, cx, cy, scale) {
    var w = container.clientWidth, h = container.clientHeight;
    canvas.viewbox({ x: cx - w / scale / 2, y: cy - h / scale / 2, width: w / scale, height: h / scale });
  }

  /* Fit the whole diagram to the box's width; the box takes the height that needs (at least minHeight). */
  function fitWidth(viewer, container, minHeight) {
    var canvas = viewer.get("canvas");
    canvas.resized();
    var inner = canvas.viewbox().inner;
    var scale = container.clientWidth / (inner.width + 2 * PAD);
    container.style.height = Math.max(minHeight, Math.ceil((inner.height + 2 * PAD) * scale)) + "px";
    canvas.resized();
    setView(canvas, container, inner.x + inner.width / 2, inner.y + inner.height / 2, scale);
  }

  function zoomBy(viewer, container, factor) {
    var canvas = viewer.get("canvas");
    var box = canvas.viewbox();
    var scale = Math.min(3, Math.max(0.1, box.scale * factor));
    setView(canvas, container, box.x + box.width / 2, box.y + box.height / 2, scale);
  }

  /* Fit, zoom out and zoom in: [label, title, action] for `toolbar`. */
  function zoomButtons(viewer, container, minHeight) {
    return [
      ["Fit", "Fit the whole process to the width", function () { fitWidth(viewer, container, minHeight); }],
      ["−", "Zoom out", function () { zoomBy(viewer, container, 1 / 1.4); }],
      ["+", "Zoom in", function () { zoomBy(viewer, container, 1.4); }]
    ];
  }

  /* Buttons ([label, title, action]) floating over the container's top right corner. */
  function toolbar(container, buttons) {
    var bar = document.createElement("div");
    bar.className = "diagram-tools";
    buttons.forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = b[0];
      button.title = b[1];
      button.addEventListener("click", b[2]);
      bar.appendChild(button);
    });
    container.appendChild(bar);
  }

  /* Fit the diagram to the width again when the window is resized. */
  function keepFitted(viewer, container, minHeight) {
    var resizing;
    window.addEventListener("resize", function () {
      clearTimeout(resizing);
      resizing = setTimeout(function () { fitWidth(viewer, container, minHeight); }, 150);
    });
  }

  return {
    PAD: PAD,
    fail: fail,
    installed: installed,
    fetchText: fetchText,
    fetchJson: fetchJson,
    setView: setView,
    fitWidth: fitWidth,
    zoomBy: zoomBy,
    zoomButtons: zoomButtons,
    toolbar: toolbar,
    keepFitted: keepFitted
  };
})();
