/*
 * The bottleneck heatmap: a definition version's diagram in bpmn-js's navigated viewer, each task
 * filled with the colour of its bucket and labelled with its figure.
 *
 * <div class="diagram heatmap" data-heatmap="ID-data" data-bpmn-url="/definitions/x/versions/1.bpmn">
 * <script type="application/json" id="ID-data">
 *   {"measure": "duration", "hottest": "qc_check",
 *    "elements": [{"id": "qc_check", "bucket": 4, "colour": "#e2553f", "label": "5.5 h", "title": "..."}]}
 *
 * Each coloured element gets the markers `bt-heat` and `bt-heat-<bucket>` (`bt-heat-none`: no
 * figure yet); heatmap.css fills each bucket with its colour, as the legend shows it.
 *
 * A filter <select data-resets="version"> empties those fields and submits its form when changed
 * (another process has other versions).
 */
(function () {
  "use strict";

  var PAD = 24;

  function fail(container, message) {
    container.classList.add("diagram-failed");
    container.textContent = message;
  }

  function setView(canvas, container, cx, cy, scale) {
    var w = container.clientWidth, h = container.clientHeight;
    canvas.viewbox({ x: cx - w / scale / 2, y: cy - h / scale / 2, width: w / scale, height: h / scale });
  }

  /* Fit the whole diagram to the box's width; the box takes the height that needs. */
  function fitWidth(viewer, container) {
    var canvas = viewer.get("canvas");
    canvas.resized();
    var inner = canvas.viewbox().inner;
    var scale = container.clientWidth / (inner.width + 2 * PAD);
    container.style.height = Math.max(200, Math.ceil((inner.height + 2 * PAD) * scale)) + "px";
    canvas.resized();
    setView(canvas, container, inner.x + inner.width / 2, inner.y + inner.height / 2, scale);
  }

  function zoomBy(viewer, container, factor) {
    var canvas = viewer.get("canvas");
    var box = canvas.viewbox();
    var scale = Math.min(3, Math.max(0.1, box.scale * factor));
    setView(canvas, container, box.x + box.width / 2, box.y + box.height / 2, scale);
  }

  function toolbar(viewer, container, hottest) {
    var bar = document.createElement("div");
    bar.className = "diagram-tools";
    var buttons = [
      ["Fit", "Fit the whole process to the width", function () { fitWidth(viewer, container); }],
      ["−", "Zoom out", function () { zoomBy(viewer, container, 1 / 1.4); }],
      ["+", "Zoom in", function () { zoomBy(viewer, container, 1.4); }]
    ];
    if (hottest) {
      buttons.push(["Hottest", "Zoom to the hottest task", function () { focusOn(viewer, container, hottest); }]);
    }
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

  /* Fill each task with its bucket's colour, a label with its figure, a tooltip with all of them. */
  function paint(viewer, heat) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    heat.elements.forEach(function (e) {
      var element = registry.get(e.id);
      if (!element) { return; } // ran on another version only: the table lists it
      var none = e.bucket === null || e.bucket === undefined;
      canvas.addMarker(e.id, "bt-heat");
      canvas.addMarker(e.id, none ? "bt-heat-none" : "bt-heat-" + e.bucket);
      var gfx = registry.getGraphics(element);
      var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = e.title;
      gfx.appendChild(title);
      if (none) { return; } // the dashed grey outline says it; a label each would clutter
      var label = document.createElement("div");
      label.className = "heat-label" + (e.id === heat.hottest ? " hot" : "");
      label.textContent = e.label;
      overlays.add(e.id, "baton-heat", {
        position: { top: -10, right: 12 }, html: label, scale: { min: 0.8, max: 1.3 }
      });
    });
  }

  /* Show one element at a readable size, centred. */
  function focusOn(viewer, container, id) {
    var element = viewer.get("elementRegistry").get(id);
    if (!element) { return; }
    var scale = Math.min(1, Math.max(0.5, container.clientWidth / 900));
    setView(viewer.get("canvas"), container, element.x + element.width / 2, element.y + element.height / 2, scale);
  }

  function load(container) {
    if (!window.BpmnJS) {
      fail(container, "The diagram viewer is not installed: run scripts/setup (npm ci, npm run vendor).");
      return;
    }
    var heat = JSON.parse(document.getElementById(container.dataset.heatmap).textContent);
    fetch(container.dataset.bpmnUrl, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (xml) {
        var viewer = new window.BpmnJS({ container: container, zoomScroll: { enabled: false } });
        container.bpmnViewer = viewer; // tests and the console reach the viewer here
        return viewer.importXML(xml).then(function () {
          fitWidth(viewer, container);
          paint(viewer, heat);
          toolbar(viewer, container, heat.hottest);
          container.classList.add("diagram-ready");
          var resizing;
          window.addEventListener("resize", function () {
            clearTimeout(resizing);
            resizing = setTimeout(function () { fitWidth(viewer, container); }, 150);
          });
        });
      })
      .catch(function (err) { fail(container, "The heatmap could not be shown (" + err.message + ")."); });
  }

  document.querySelectorAll(".diagram[data-heatmap]").forEach(load);
  document.querySelectorAll("select[data-resets]").forEach(function (select) {
    select.addEventListener("change", function () {
      select.dataset.resets.split(" ").forEach(function (name) {
        if (select.form.elements[name]) { select.form.elements[name].value = ""; }
      });
      select.form.submit();
    });
  });
})();
