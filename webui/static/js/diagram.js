/*
 * Baton's read-only diagrams: bpmn-js's navigated viewer (vendored by `npm run vendor`).
 *
 * <div class="diagram" data-state-url="/engagements/5/diagram">  engagement with element states
 * <div class="diagram" data-xml-url="/definitions/x/versions/1.bpmn">  a definition version
 *
 * The diagram is fitted to the width of its box; drag to pan, the buttons zoom. When that makes a
 * large process too small to read and steps are open, it opens on the open steps instead.
 */
(function () {
  "use strict";

  // element state -> CSS class bpmn-js puts on the element's SVG group (see baton.css)
  var MARKERS = { completed: "bt-done", active: "bt-active", at_risk: "bt-at-risk", overdue: "bt-overdue" };
  var V = window.BatonViewer; // viewer.js: fetching, fitting, zooming, the toolbar
  var MIN_HEIGHT = 240;
  var READABLE = 0.5; // below this scale task names cannot be read
  var OPENING = 0.6; // the scale a large process opens at, on its open steps

  /* Show the given elements at a readable size, centred. */
  function focusOn(viewer, container, ids, maxScale) {
    var registry = viewer.get("elementRegistry");
    var shapes = ids.map(function (id) { return registry.get(id); }).filter(Boolean);
    if (!shapes.length) { return false; }
    var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    shapes.forEach(function (s) {
      x1 = Math.min(x1, s.x); y1 = Math.min(y1, s.y);
      x2 = Math.max(x2, s.x + s.width); y2 = Math.max(y2, s.y + s.height);
    });
    var scale = Math.min(maxScale || 0.85, container.clientWidth / (x2 - x1 + 400), container.clientHeight / (y2 - y1 + 160));
    V.setView(viewer.get("canvas"), container, (x1 + x2) / 2, (y1 + y2) / 2, Math.max(scale, 0.4));
    return true;
  }

  /* The whole height of the process (every lane) at a readable scale, centred on the open steps. */
  function openOn(viewer, container, ids) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var shapes = ids.map(function (id) { return registry.get(id); }).filter(Boolean);
    if (!shapes.length) { return; }
    var inner = canvas.viewbox().inner;
    container.style.height = Math.ceil((inner.height + 2 * V.PAD) * OPENING) + "px";
    canvas.resized();
    var x1 = Math.min.apply(null, shapes.map(function (s) { return s.x; }));
    var x2 = Math.max.apply(null, shapes.map(function (s) { return s.x + s.width; }));
    var half = container.clientWidth / OPENING / 2;
    // keep the view inside the diagram: no empty space beside its first or last element
    var cx = Math.min(Math.max((x1 + x2) / 2, inner.x - V.PAD + half), inner.x + inner.width + V.PAD - half);
    V.setView(canvas, container, cx, inner.y + inner.height / 2, OPENING);
  }

  function svgTitle(gfx, text) {
    var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = text;
    gfx.appendChild(title);
  }

  function formatDue(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return d.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  /* Markers for each state, a badge over each open step, a tooltip with who and when. */
  function markStates(viewer, state, container) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    Object.keys(MARKERS).forEach(function (key) {
      (state[key] || []).forEach(function (id) {
        if (registry.get(id)) { canvas.addMarker(id, MARKERS[key]); }
      });
    });
    (state.open_steps || []).forEach(function (step) {
      var element = registry.get(step.bpmn_id);
      if (!element) { return; }
      var late = step.sla_state === "breached" ? "overdue" : (step.sla_state === "at_risk" ? "at risk" : "");
      // the badge links to the task's page (its URL is the engagement's plus /tasks/<id>)
      var base = container.dataset.taskBase ? container : null;
      var badge = document.createElement(step.task_id && base ? "a" : "div");
      if (badge.tagName === "A") {
        badge.href = base.dataset.taskBase + encodeURIComponent(step.task_id);
        // a title, not an aria-label: the accessible name must keep the badge's visible text
        badge.title = "Open the task " + step.title;
      }
      badge.className = "bt-badge" + (late ? " bt-badge-" + late.replace(" ", "-") : "");
      badge.textContent = (step.holder || "lane") + (late ? " · " + late : "");
      overlays.add(step.bpmn_id, "baton-state", {
        position: { bottom: -4, left: 0 }, html: badge, scale: { min: 0.9, max: 1.2 }
      });
      var due = step.due_at ? ", due " + formatDue(step.due_at) : "";
      svgTitle(registry.getGraphics(element), step.title + " — " + (step.holder || "anyone in the lane") + due);
    });
  }

  function toolbar(viewer, container, activeIds) {
    var buttons = V.zoomButtons(viewer, container, MIN_HEIGHT);
    if (activeIds.length) {
      buttons.push(["Current step", "Zoom to the open steps", function () { focusOn(viewer, container, activeIds); }]);
    }
    V.toolbar(container, buttons);
  }

  function show(container, xml, state) {
    var viewer = new window.BpmnJS({ container: container, zoomScroll: { enabled: false } });
    container.bpmnViewer = viewer; // tests and the console reach the viewer here
    return viewer.importXML(xml).then(function () {
      V.fitWidth(viewer, container, MIN_HEIGHT);
      var active = (state && state.active) || [];
      if (active.length && viewer.get("canvas").viewbox().scale < READABLE) {
        openOn(viewer, container, active);
      }
      if (state) { markStates(viewer, state, container); }
      toolbar(viewer, container, active);
      container.classList.add("diagram-ready");
      V.keepFitted(viewer, container, MIN_HEIGHT);
    });
  }

  function load(container) {
    if (!V.installed([container])) { return; }
    var stateUrl = container.dataset.stateUrl;
    var request = stateUrl
      ? V.fetchJson(stateUrl).then(function (state) { return show(container, state.xml, state); })
      : V.fetchText(container.dataset.xmlUrl).then(function (xml) { return show(container, xml, null); });
    request.catch(function (err) { V.fail(container, "The diagram could not be shown (" + err.message + ")."); });
  }

  document.querySelectorAll(".diagram[data-state-url], .diagram[data-xml-url]").forEach(load);
})();
