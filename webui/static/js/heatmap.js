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
 * figure yet; `bt-heat-client`: its time is the client's, off the scale, labelled "client ...");
 * heatmap.css fills each bucket with its colour, as the legend shows it.
 *
 * A filter <select data-resets="version"> empties those fields and submits its form when changed
 * (another process has other versions).
 */
(function () {
  "use strict";

  var V = window.BatonViewer; // viewer.js: fetching, fitting, zooming, the toolbar
  var MIN_HEIGHT = 200;

  function toolbar(viewer, container, hottest) {
    var buttons = V.zoomButtons(viewer, container, MIN_HEIGHT);
    if (hottest) {
      buttons.push(["Hottest", "Zoom to the hottest task", function () { focusOn(viewer, container, hottest); }]);
    }
    V.toolbar(container, buttons);
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
      canvas.addMarker(e.id, e.client ? "bt-heat-client" : none ? "bt-heat-none" : "bt-heat-" + e.bucket);
      var gfx = registry.getGraphics(element);
      var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = e.title;
      gfx.appendChild(title);
      if (none && !e.client) { return; } // the dashed grey outline says it; a label each would clutter
      var label = document.createElement("div");
      label.className = "heat-label" + (e.id === heat.hottest ? " hot" : "") + (e.client ? " client" : "");
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
    V.setView(viewer.get("canvas"), container, element.x + element.width / 2, element.y + element.height / 2, scale);
  }

  function load(container) {
    if (!V.installed([container])) { return; }
    var heat = JSON.parse(document.getElementById(container.dataset.heatmap).textContent);
    V.fetchText(container.dataset.bpmnUrl)
      .then(function (xml) {
        var viewer = new window.BpmnJS({ container: container, zoomScroll: { enabled: false } });
        container.bpmnViewer = viewer; // tests and the console reach the viewer here
        return viewer.importXML(xml).then(function () {
          V.fitWidth(viewer, container, MIN_HEIGHT);
          paint(viewer, heat);
          toolbar(viewer, container, heat.hottest);
          container.classList.add("diagram-ready");
          V.keepFitted(viewer, container, MIN_HEIGHT);
        });
      })
      .catch(function (err) { V.fail(container, "The heatmap could not be shown (" + err.message + ")."); });
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
