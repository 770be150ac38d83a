/*
 * The definition editor: bpmn-js's modeler (vendored by `npm run vendor`) with Baton's
 * Validate / Deploy / Download / Open file. The server lints and deploys (POST JSON);
 * issues are listed and the elements they name are outlined in the diagram.
 */
(function () {
  "use strict";

  var root = document.getElementById("editor");
  var status = document.getElementById("editor-status");
  var list = document.getElementById("issues");
  var count = document.getElementById("issue-count");
  var noteInput = document.getElementById("deploy-note");
  var processId = root.dataset.processId;
  var marked = [];
  var dirty = false;

  function say(text, kind) {
    status.className = kind || "";
    status.textContent = text;
    Array.prototype.slice.call(arguments, 2).forEach(function (link) {
      if (!link) { return; }
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      status.append(" ", a);
    });
  }

  /* The edited forms (file name -> JSON Schema) that travel with validate and deploy. */
  function formsBody(body) {
    if (window.Baton.formEditor) { body.forms = window.Baton.formEditor.payload(); } // throws on broken JSON
    var bundle = window.Baton.bundle;
    if (bundle) { // the rest of the bundle: the processes this one calls, its DMN tables
      var files = {};
      Object.keys(bundle.bpmn || {}).forEach(function (name) { if (name !== bundle.main) { files[name] = bundle.bpmn[name]; } });
      Object.keys(bundle.dmn || {}).forEach(function (name) { files[name] = bundle.dmn[name]; });
      body.files = files;
    }
    return body;
  }

  if (!window.BpmnJS) {
    say("The diagram editor is not installed: run scripts/setup (npm ci, npm run vendor).", "bad");
    return;
  }

  var modeler = new window.BpmnJS({ container: "#canvas" });
  window.batonModeler = modeler; // tests and power users drive the editor through the bpmn-js API
  var canvas = modeler.get("canvas");
  var registry = modeler.get("elementRegistry");
  var overlays = modeler.get("overlays");

  function open(xml, what) {
    clearIssues();
    return modeler.importXML(xml).then(function (result) {
      startView();
      dirty = false;
      var warnings = (result.warnings || []).length;
      say(what + (warnings ? " (" + warnings + " import warning" + (warnings > 1 ? "s" : "") + ")" : ""), "");
      root.classList.add("editor-ready");
    });
  }

  /* Every process opens fitted: the whole diagram in view (zoom in from there). */
  function startView() {
    canvas.resized();
    canvas.zoom("fit-viewport", "auto");
  }

  // -- zoom, fit, undo, redo and the shortcuts ---------------------------------------------
  var commandStack = modeler.get("commandStack");
  var actions = {
    "zoom-in": function () { canvas.zoom(canvas.zoom() * 1.2); },
    "zoom-out": function () { canvas.zoom(canvas.zoom() / 1.2); },
    "zoom-fit": function () { canvas.zoom("fit-viewport", "auto"); },
    "undo": function () { commandStack.undo(); },
    "redo": function () { commandStack.redo(); },
    "shortcuts": function () {
      var help = document.getElementById("shortcut-help");
      help.hidden = !help.hidden;
    }
  };
  root.querySelectorAll("[data-canvas-action]").forEach(function (button) {
    button.addEventListener("click", function () { actions[button.dataset.canvasAction](); });
  });
  function canUndoRedo() {
    var undo = root.querySelector('[data-canvas-action="undo"]'), redo = root.querySelector('[data-canvas-action="redo"]');
    if (undo) { undo.disabled = !commandStack.canUndo(); }
    if (redo) { redo.disabled = !commandStack.canRedo(); }
  }
  modeler.on("commandStack.changed", canUndoRedo);
  modeler.on("import.done", canUndoRedo);

  function currentXml() {
    return modeler.saveXML({ format: true }).then(function (r) { return r.xml; });
  }

  var post = window.Baton.postJson; // common.js: the JSON POST with the CSRF header

  // -- issues: a list beside the diagram, and the elements they name outlined in red ----------

  function clearIssues() {
    marked.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, "bt-issue"); } });
    marked = [];
    overlays.remove({ type: "baton-issue" });
    list.replaceChildren();
    count.textContent = "";
    var hint = document.createElement("li");
    hint.className = "empty";
    hint.textContent = "Validate to check the process against Baton's rules.";
    list.appendChild(hint);
  }

  function showIssues(issues) {
    clearIssues();
    list.replaceChildren();
    var perElement = {};
    issues.forEach(function (issue) {
      var id = issue.element_id;
      var item = document.createElement("li");
      item.dataset.elementId = id || "";
      if (id) {
        var code = document.createElement("code");
        code.textContent = id;
        item.append(code, " ");
      }
      item.append(issue.message);
      if (issue.hint) {
        var hint = document.createElement("span");
        hint.className = "issue-hint";
        hint.textContent = "Fix: " + issue.hint;
        item.append(hint);
      }
      list.appendChild(item);
      if (id && registry.get(id)) {
        perElement[id] = (perElement[id] || 0) + 1;
        item.addEventListener("click", function () { reveal(id); });
      }
    });
    Object.keys(perElement).forEach(function (id) {
      canvas.addMarker(id, "bt-issue");
      marked.push(id);
      var badge = document.createElement("div");
      badge.className = "bt-issue-badge";
      badge.textContent = String(perElement[id]);
      badge.title = perElement[id] + " issue" + (perElement[id] > 1 ? "s" : "");
      overlays.add(id, "baton-issue", { position: { top: -9, right: 9 }, html: badge });
    });
    count.textContent = issues.length ? String(issues.length) : "";
    if (!issues.length) {
      var ok = document.createElement("li");
      ok.className = "empty";
      ok.textContent = "No issues: the process follows Baton's rules.";
      list.appendChild(ok);
    }
  }

  function reveal(id) {
    var element = registry.get(id);
    if (!element) { return; }
    modeler.get("selection").select(element);
    canvas.scrollToElement(element, { top: 120, bottom: 120, left: 200, right: 200 });
  }

  // -- the buttons -------------------------------------------------------------------------

  function busy(on) {
    root.querySelectorAll(".toolbar button").forEach(function (b) { b.disabled = on; });
  }

  document.getElementById("validate").addEventListener("click", function () {
    busy(true);
    say("Validating…");
    currentXml()
      .then(function (xml) { return post(root.dataset.validateUrl, formsBody({ xml: xml })); })
      .then(function (res) {
        if (res.status !== 200) { throw new Error(res.data.error || "HTTP " + res.status); }
        showIssues(res.data.issues);
        var n = res.data.issues.length;
        say(n ? n + " issue" + (n > 1 ? "s" : "") + " to fix before deploying." : "Valid: ready to deploy.", n ? "bad" : "ok");
      })
      .catch(function (err) { say("Validation failed: " + err.message, "bad"); })
      .finally(function () { busy(false); });
  });

  document.getElementById("deploy").addEventListener("click", function () {
    var note = noteInput.value.trim();
    if (!note) {
      say("Say what changed in the note before deploying.", "bad");
      noteInput.focus();
      return;
    }
    busy(true);
    say("Deploying…");
    currentXml()
      .then(function (xml) { return post(root.dataset.deployUrl, formsBody({ xml: xml, note: note })); })
      .then(function (res) {
        var d = res.data;
        if (res.status === 201 || res.status === 200) {
          showIssues([]);
          dirty = false;
          var link = { href: d.url, text: "Open " + d.process_id + " v" + d.version };
          var compare = d.compare_url ? { href: d.compare_url, text: "Compare with the previous version" } : null;
          var head = document.getElementById("editing-from");
          if (head) { head.textContent = "editing from v" + d.version; } // what the next deploy follows
          if (res.status === 201) {
            say("Deployed " + d.process_id + " v" + d.version + ".", "ok", link, compare);
            noteInput.value = "";
          } else {
            say("Identical to " + d.process_id + " v" + d.version + ": nothing new deployed.", "", link);
          }
        } else if (res.status === 422) {
          showIssues(d.issues || []);
          say("Not deployed: " + (d.issues || []).length + " issue(s) to fix.", "bad");
        } else {
          throw new Error(d.error || "HTTP " + res.status);
        }
      })
      .catch(function (err) { say("Deploy failed: " + err.message, "bad"); })
      .finally(function () { busy(false); });
  });

  document.getElementById("download-xml").addEventListener("click", function () {
    currentXml().then(function (xml) {
      var url = URL.createObjectURL(new Blob([xml], { type: "application/xml" }));
      var a = document.createElement("a");
      a.href = url;
      a.download = processId + ".bpmn";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
  });

  /* "Open file…": the bytes go to the server, which decodes them by their BOM or XML
   * declaration (ISO-8859-1, windows-1252, UTF-16...) and sorts a zip or several files into
   * the main diagram, the processes it calls, DMN tables and forms. */
  document.getElementById("open-file").addEventListener("change", function (event) {
    var files = Array.prototype.slice.call(event.target.files);
    if (!files.length) { return; }
    var names = files.map(function (f) { return f.name; }).join(", ");
    var body = new FormData();
    files.forEach(function (f) { body.append("files", f, f.name); });
    say("Opening " + names + "…");
    fetch(root.dataset.openUrl, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "Accept": "application/json", "X-CSRFToken": window.Baton.csrfToken() }
    })
      .then(function (r) { return r.json().then(function (d) { return { status: r.status, data: d }; }); })
      .then(function (res) {
        if (res.status !== 200) { throw new Error(res.data.error || "HTTP " + res.status); }
        var d = res.data;
        var current = {};
        try { current = window.Baton.formEditor ? window.Baton.formEditor.payload() : {}; } catch (e) { current = {}; }
        root.dispatchEvent(new CustomEvent("baton:forms", { detail: Object.assign({}, current, d.forms) }));
        window.Baton.bundle = { main: d.main, bpmn: d.bpmn, dmn: d.dmn };
        root.dispatchEvent(new CustomEvent("baton:bundle", { detail: window.Baton.bundle }));
        var extra = Object.keys(d.bpmn).length - 1 + Object.keys(d.dmn).length + Object.keys(d.forms).length;
        return open(d.xml, "Opened " + d.main + (extra ? " with " + extra + " more file" + (extra > 1 ? "s" : "") : "") +
          ": validate, then deploy it as a new version.");
      })
      .then(function () { dirty = true; })
      .catch(function (err) { say("Could not open " + names + ": " + err.message, "bad"); });
    event.target.value = "";
  });

  modeler.on("commandStack.changed", function () { dirty = true; });
  root.addEventListener("baton:dirty", function () { dirty = true; }); // a form was edited
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  fetch(root.dataset.sourceUrl, { credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    })
    .then(function (src) {
      root.dispatchEvent(new CustomEvent("baton:forms", { detail: src.forms || {} }));
      var kept = src.files || {}, bpmn = {}, dmn = {};
      Object.keys(kept).forEach(function (name) { (/\.dmn$/i.test(name) ? dmn : bpmn)[name] = kept[name]; });
      window.Baton.bundle = { main: "", bpmn: bpmn, dmn: dmn };
      return open(src.xml, src.version ? "Editing from " + src.process_id + " v" + src.version + "."
        : "A new process: draw it, validate, then deploy version 1.");
    })
    .catch(function (err) { say("The process could not be opened: " + err.message, "bad"); });
})();
