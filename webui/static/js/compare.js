/*
 * Two versions of a definition side by side (bpmn-js navigated viewers, vendored by
 * `npm run vendor`). The server computed the diff (workflows/definition_diff.py); this marks
 * its element ids: removed and changed on the older diagram, added and changed on the newer.
 * Both diagrams keep the same view: pan or zoom one and the other follows.
 */
(function () {
  "use strict";

  var root = document.getElementById("compare");
  if (!root) { return; }
  var marks = JSON.parse(document.getElementById("compare-marks").textContent);
  var MARKERS = { added: "diff-added", changed: "diff-changed", removed: "diff-removed" };
  var SIGNS = { added: "+", changed: "Δ", removed: "−" };
  var sides = {
    old: { container: document.getElementById("compare-old"), url: root.dataset.oldUrl, kinds: ["removed", "changed"] },
    new: { container: document.getElementById("compare-new"), url: root.dataset.newUrl, kinds: ["added", "changed"] }
  };
  var syncing = false;
  var V = window.BatonViewer; // viewer.js: fetching, the toolbar, failing politely

  if (!V.installed([sides.old.container, sides.new.container])) { return; }

  function mark(side) {
    var viewer = side.viewer;
    var canvas = viewer.get("canvas"), registry = viewer.get("elementRegistry"), overlays = viewer.get("overlays");
    side.kinds.forEach(function (kind) {
      (marks[kind] || []).forEach(function (id) {
        var element = registry.get(id);
        if (!element) { return; }
        canvas.addMarker(id, MARKERS[kind]);
        if (element.waypoints || element.type === "bpmn:Lane") { return; } // badges on shapes only
        var badge = document.createElement("div");
        badge.className = "diff-badge " + MARKERS[kind];
        badge.textContent = SIGNS[kind];
        badge.title = kind;
        overlays.add(id, "baton-diff", { position: { top: -8, right: 8 }, html: badge });
      });
    });
  }

  /* The box around the given elements (of either diagram), or null when none is drawn. */
  function boundsOf(ids) {
    var box = null;
    Object.keys(sides).forEach(function (k) {
      var registry = sides[k].viewer.get("elementRegistry");
      ids.forEach(function (id) {
        var e = registry.get(id);
        if (!e || e.type === "bpmn:Lane" || e.type === "bpmn:Participant") { return; }
        var x1 = e.waypoints ? Math.min.apply(null, e.waypoints.map(function (p) { return p.x; })) : e.x;
        var y1 = e.waypoints ? Math.min.apply(null, e.waypoints.map(function (p) { return p.y; })) : e.y;
        var x2 = e.waypoints ? Math.max.apply(null, e.waypoints.map(function (p) { return p.x; })) : e.x + e.width;
        var y2 = e.waypoints ? Math.max.apply(null, e.waypoints.map(function (p) { return p.y; })) : e.y + e.height;
        box = box ? { x1: Math.min(box.x1, x1), y1: Math.min(box.y1, y1), x2: Math.max(box.x2, x2), y2: Math.max(box.y2, y2) }
          : { x1: x1, y1: y1, x2: x2, y2: y2 };
      });
    });
    return box;
  }

  function setView(cx, cy, scale) {
    Object.keys(sides).forEach(function (k) {
      var side = sides[k], w = side.container.clientWidth, h = side.container.clientHeight;
      syncing = true;
      side.viewer.get("canvas").viewbox({ x: cx - w / scale / 2, y: cy - h / scale / 2, width: w / scale, height: h / scale });
      syncing = false;
    });
  }

  /* Show the given elements (or, with none, the whole newer diagram) in both viewers. */
  function focus(ids) {
    var side = sides.new, w = side.container.clientWidth, h = side.container.clientHeight;
    var box = ids && ids.length ? boundsOf(ids) : null;
    if (!box) {
      var inner = side.viewer.get("canvas").viewbox().inner;
      box = { x1: inner.x, y1: inner.y, x2: inner.x + inner.width, y2: inner.y + inner.height };
      setView((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2, Math.min(w / (box.x2 - box.x1 + 48), h / (box.y2 - box.y1 + 48)));
      return;
    }
    var scale = Math.min(1, w / (box.x2 - box.x1 + 240), h / (box.y2 - box.y1 + 160));
    setView((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2, Math.max(scale, 0.35));
  }

  function follow(from, to) {
    from.viewer.on("canvas.viewbox.changed", function (event) {
      if (syncing || !to.viewer) { return; }
      syncing = true;
      var box = event.viewbox, w = to.container.clientWidth, h = to.container.clientHeight;
      to.viewer.get("canvas").viewbox({ x: box.x, y: box.y, width: w / box.scale, height: h / box.scale });
      syncing = false;
    });
  }

  function tools() {
    V.toolbar(sides.new.container, [
      ["Fit", "The whole process", function () { focus([]); }],
      ["Changes", "Zoom to what changed", function () { focus(allIds()); }]
    ]);
  }

  function allIds() {
    return [].concat(marks.added || [], marks.changed || [], marks.removed || []);
  }

  function load(side) {
    side.viewer = new window.BpmnJS({ container: side.container });
    side.container.bpmnViewer = side.viewer; // tests reach the viewer here
    return V.fetchText(side.url)
      .then(function (xml) { return side.viewer.importXML(xml); })
      .then(function () { mark(side); });
  }

  Promise.all([load(sides.old), load(sides.new)])
    .then(function () {
      follow(sides.old, sides.new);
      follow(sides.new, sides.old);
      var ids = allIds();
      focus(ids.length ? ids : []);
      tools();
      root.classList.add("compare-ready");
    })
    .catch(function (err) {
      Object.keys(sides).forEach(function (k) { V.fail(sides[k].container, "The diagram could not be shown (" + err.message + ")."); });
    });

  // a change in the list: show it in both diagrams, and flash it
  document.querySelectorAll("#changes li[data-element-id]").forEach(function (item) {
    function show() {
      var id = item.dataset.elementId;
      focus([id]);
      Object.keys(sides).forEach(function (k) {
        var viewer = sides[k].viewer;
        if (!viewer || !viewer.get("elementRegistry").get(id)) { return; }
        var canvas = viewer.get("canvas");
        canvas.addMarker(id, "diff-focus");
        setTimeout(function () { canvas.removeMarker(id, "diff-focus"); }, 1600);
      });
      document.querySelectorAll("#changes li.current").forEach(function (li) { li.classList.remove("current"); });
      item.classList.add("current");
    }
    item.addEventListener("click", show);
    item.addEventListener("keydown", function (event) { if (event.key === "Enter") { show(); } });
  });
})();
