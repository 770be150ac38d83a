/*
 * The editor's form drawer: a step's JSON Schema edited as fields (add, remove, reorder; title,
 * type, options, required, limits, description, multiline) or as raw JSON, beside a live
 * preview the server renders with the task page's own template (POST /definitions/forms/preview,
 * debounced, with the CSRF token). The server also checks the schema against its meta-schema and,
 * for an approval step, the decision vocabulary; its problems are listed above the preview.
 *
 * Forms live here by file name (loaded with the source: the forms folder overlaid by the latest
 * version's own) and travel with validate and deploy: window.Baton.formEditor.payload().
 * JSON that does not parse is kept as typed, shown as an error, and blocks the deploy.
 */
(function () {
  "use strict";

  var root = document.getElementById("editor");
  var drawer = document.getElementById("form-drawer");
  var modeler = window.batonModeler;
  if (!root || !drawer || !modeler) { return; }

  var fieldsBox = document.getElementById("form-fields");
  var jsonBox = document.getElementById("form-json");
  var jsonText = document.getElementById("form-json-text");
  var preview = document.getElementById("form-preview");
  var problemsBox = document.getElementById("form-problems");
  var SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema";
  var FORM_PROPERTY = "formJsonSchemaFilename";
  var KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
  // what the Type select offers, and how each is written in the schema
  var TYPES = [
    ["text", "Text"], ["number", "Number"], ["integer", "Whole number"], ["boolean", "Yes / no"],
    ["date", "Date"], ["list", "List of texts"], ["table", "Table (rows of fields)"]
  ];
  var COLUMN_TYPES = TYPES.filter(function (t) { return ["list", "table"].indexOf(t[0]) < 0; });
  var MULTILINE = 4000, SINGLE_LINE = 300; // the task page shows maxLength > 300 as a text area

  var forms = {};   // file name -> { schema: object|null, text: string, error: string|null }
  var current = null; // { name, element }
  var timer = null, sequence = 0;

  // -- the forms ----------------------------------------------------------------------------

  function load(mapping) {
    forms = {};
    Object.keys(mapping || {}).forEach(function (name) {
      var schema = mapping[name];
      if (typeof schema === "string") {
        try { schema = JSON.parse(schema); } catch (e) { forms[name] = { schema: null, text: schema, error: e.message }; return; }
      }
      forms[name] = { schema: schema, text: JSON.stringify(schema, null, 2), error: null };
    });
  }

  function names() { return Object.keys(forms).sort(); }

  /* Every form for validate/deploy; throws when one is not valid JSON (nothing is lost). */
  function payload() {
    var out = {};
    names().forEach(function (name) {
      var form = forms[name];
      if (form.error) { throw new Error("the form " + name + " is not valid JSON: fix it in the form editor"); }
      out[name] = form.schema;
    });
    return out;
  }

  function changed() {
    var form = forms[current.name];
    form.text = JSON.stringify(form.schema, null, 2);
    form.error = null;
    root.dispatchEvent(new CustomEvent("baton:dirty"));
    schedulePreview();
  }

  function blankForm(title) {
    return { "$schema": SCHEMA_URI, title: title, type: "object", properties: {}, required: [], additionalProperties: false };
  }

  /* A new form for a step, named after it, set as the step's form. */
  function newForm(element) {
    var bo = element.businessObject;
    var base = (bo.id || "step").replace(/[^A-Za-z0-9_.-]/g, "_"), name = base + ".schema.json", n = 2;
    while (forms[name]) { name = base + "_" + n++ + ".schema.json"; }
    var schema = blankForm(bo.name || bo.id);
    forms[name] = { schema: schema, text: JSON.stringify(schema, null, 2), error: null };
    window.Baton.setProperty(element, FORM_PROPERTY, name);
    return name;
  }

  // -- the drawer ---------------------------------------------------------------------------

  var propertiesOf = window.Baton.propertiesOf; // common.js

  function isApproval() {
    return current && (propertiesOf(current.element.businessObject).approval || "").toLowerCase() === "true";
  }

  function open(element, name) {
    if (!name) { name = newForm(element); }
    if (!forms[name]) {
      var schema = blankForm(element.businessObject.name || name);
      forms[name] = { schema: schema, text: JSON.stringify(schema, null, 2), error: null };
    }
    current = { name: name, element: element };
    var bo = element.businessObject;
    document.getElementById("form-drawer-title").textContent = "Form of " + (bo.name || bo.id);
    var users = modeler.get("elementRegistry").filter(function (e) {
      return e.businessObject && e.businessObject !== bo && propertiesOf(e.businessObject)[FORM_PROPERTY] === name;
    }).map(function (e) { return e.businessObject.name || e.id; });
    document.getElementById("form-drawer-meta").textContent = name +
      (isApproval() ? " · approval step: keep the *_decision field with its vocabulary" : "") +
      (users.length ? " · also used by " + users.join(", ") : "");
    drawer.hidden = false;
    showTab(forms[name].error ? "json" : "fields");
    previewNow();
  }

  function close() {
    drawer.hidden = true;
    current = null;
  }

  function showTab(which) {
    var json = which === "json";
    document.getElementById("tab-fields").setAttribute("aria-selected", String(!json));
    document.getElementById("tab-json").setAttribute("aria-selected", String(json));
    jsonBox.hidden = !json;
    fieldsBox.hidden = json;
    if (json) {
      jsonText.value = forms[current.name].text;
    } else {
      renderFields();
    }
  }

  document.getElementById("tab-fields").addEventListener("click", function () {
    if (forms[current.name].error) {
      showProblems([{ path: "", message: "Fix the JSON first: " + forms[current.name].error }]);
      return;
    }
    showTab("fields");
  });
  document.getElementById("tab-json").addEventListener("click", function () { showTab("json"); });
  document.getElementById("form-drawer-close").addEventListener("click", close);
  document.addEventListener("keydown", function (event) { if (event.key === "Escape" && !drawer.hidden) { close(); } });
  drawer.addEventListener("submit", function (event) { event.preventDefault(); }); // the preview's buttons

  jsonText.addEventListener("input", function () {
    var form = forms[current.name];
    form.text = jsonText.value;
    root.dispatchEvent(new CustomEvent("baton:dirty"));
    try {
      var parsed = JSON.parse(jsonText.value);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) { throw new Error("a form's JSON Schema must be an object"); }
      form.schema = parsed;
      form.error = null;
      schedulePreview();
    } catch (e) {
      form.error = e.message;
      clearTimeout(timer);
      showProblems([{ path: "", message: "Not valid JSON: " + e.message + " (your text is kept)" }]);
      preview.classList.add("stale");
    }
  });

  // -- the fields tab -----------------------------------------------------------------------

  function typeOf(prop) {
    if (prop.type === "string") { return prop.format === "date" ? "date" : "text"; }
    if (prop.type === "array") { return (prop.items || {}).type === "object" ? "table" : "list"; }
    return prop.type || "text";
  }

  /* Rewrite a property for a new type, keeping its title and description. */
  function retype(prop, type) {
    var kept = { title: prop.title, description: prop.description };
    Object.keys(prop).forEach(function (k) { delete prop[k]; });
    if (kept.title) { prop.title = kept.title; }
    if (kept.description) { prop.description = kept.description; }
    if (type === "text") { prop.type = "string"; prop.maxLength = SINGLE_LINE; }
    else if (type === "date") { prop.type = "string"; prop.format = "date"; }
    else if (type === "list") { prop.type = "array"; prop.items = { type: "string", minLength: 1, maxLength: 500 }; }
    else if (type === "table") {
      prop.type = "array";
      prop.items = { type: "object", properties: { item: { type: "string", title: "Item", maxLength: SINGLE_LINE } }, required: [] };
    } else { prop.type = type; }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k in node && k !== "list") { node[k] = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.append(c); } });
    return node;
  }

  function labelled(text, control, cls) {
    return el("label", { className: "fe-field" + (cls ? " " + cls : "") }, [el("span", { text: text }), control]);
  }

  function numberInput(name, value, onChange) {
    var input = el("input", { type: "number", name: name, value: value === undefined ? "" : String(value), step: "any" });
    input.addEventListener("input", function () { onChange(input.value === "" ? undefined : Number(input.value)); });
    return input;
  }

  function setOrDelete(obj, key, value) {
    if (value === undefined || value === "" || (Array.isArray(value) && !value.length)) { delete obj[key]; } else { obj[key] = value; }
  }

  /* The controls of one property (a field, or a table's column when `column`). */
  function propControls(owner, key, prop, column) {
    var type = typeOf(prop);
    var box = el("div", { className: "fe-props" });
    var typeSelect = el("select", { name: "type" });
    (column ? COLUMN_TYPES : TYPES).forEach(function (t) {
      typeSelect.append(el("option", { value: t[0], text: t[1], selected: t[0] === type }));
    });
    typeSelect.addEventListener("change", function () { retype(prop, typeSelect.value); changed(); renderFields(); });
    var required = el("input", { type: "checkbox", name: "required", checked: (owner.required || []).indexOf(key) >= 0 });
    required.addEventListener("change", function () {
      var list = (owner.required || []).filter(function (k) { return k !== key; });
      if (required.checked) { list.push(key); }
      owner.required = list;
      changed();
    });
    box.append(labelled("Type", typeSelect), el("label", { className: "fe-check" }, [required, " Required"]));
    if (type === "text") {
      var options = el("textarea", { name: "enum", rows: 2, placeholder: "one per line: a choice instead of free text", value: (prop.enum || []).join("\n") });
      options.addEventListener("input", function () {
        var values = options.value.split("\n").map(function (v) { return v.trim(); }).filter(Boolean);
        setOrDelete(prop, "enum", values);
        changed();
      });
      box.append(labelled("Options", options, "wide"));
      if (!column) {
        var multiline = el("input", { type: "checkbox", name: "multiline", checked: (prop.maxLength || 0) > SINGLE_LINE });
        multiline.addEventListener("change", function () { prop.maxLength = multiline.checked ? MULTILINE : SINGLE_LINE; changed(); renderFields(); });
        box.append(el("label", { className: "fe-check" }, [multiline, " Multiline"]));
      }
      box.append(labelled("Min length", numberInput("minLength", prop.minLength, function (v) { setOrDelete(prop, "minLength", v); changed(); })),
        labelled("Max length", numberInput("maxLength", prop.maxLength, function (v) { setOrDelete(prop, "maxLength", v); changed(); })));
    } else if (type === "number" || type === "integer") {
      box.append(labelled("Min", numberInput("minimum", prop.minimum, function (v) { setOrDelete(prop, "minimum", v); changed(); })),
        labelled("Max", numberInput("maximum", prop.maximum, function (v) { setOrDelete(prop, "maximum", v); changed(); })));
    } else if (type === "list" || type === "table") {
      box.append(labelled("Min rows", numberInput("minItems", prop.minItems, function (v) { setOrDelete(prop, "minItems", v); changed(); })));
    }
    return box;
  }

  /* The list of fields of `owner` (the form, or a table's row object) as cards. */
  function fieldList(owner, column) {
    owner.properties = owner.properties || {};
    var list = el("ol", { className: column ? "fe-columns" : "fe-list" });
    var keys = Object.keys(owner.properties);
    keys.forEach(function (key, index) {
      var prop = owner.properties[key];
      if (!prop || typeof prop !== "object") { return; }
      var card = el("li", { className: "fe-card" });
      card.dataset.key = key;
      var keyInput = el("input", { type: "text", name: "key", value: key, title: "The field's key in the task data" });
      keyInput.addEventListener("change", function () { rename(owner, key, keyInput.value.trim(), keyInput); });
      var title = el("input", { type: "text", name: "title", value: prop.title || "", placeholder: key });
      title.addEventListener("input", function () { setOrDelete(prop, "title", title.value); changed(); });
      var up = el("button", { type: "button", className: "fe-icon", text: "↑", title: "Move up", disabled: index === 0 });
      var down = el("button", { type: "button", className: "fe-icon", text: "↓", title: "Move down", disabled: index === keys.length - 1 });
      var remove = el("button", { type: "button", className: "fe-icon fe-remove", text: "✕", title: "Remove this field" });
      up.addEventListener("click", function () { move(owner, key, -1); });
      down.addEventListener("click", function () { move(owner, key, 1); });
      remove.addEventListener("click", function () {
        delete owner.properties[key];
        owner.required = (owner.required || []).filter(function (k) { return k !== key; });
        changed();
        renderFields();
      });
      card.append(el("div", { className: "fe-row" }, [
        labelled(column ? "Column" : "Title", title, "grow"), labelled("Key", keyInput),
        el("div", { className: "fe-tools" }, [up, down, remove])
      ]));
      card.append(propControls(owner, key, prop, column));
      if (!column) {
        var description = el("input", { type: "text", name: "description", value: prop.description || "", placeholder: "a hint shown under the label" });
        description.addEventListener("input", function () { setOrDelete(prop, "description", description.value); changed(); });
        card.append(labelled("Description", description, "wide"));
      }
      if (typeOf(prop) === "table") {
        card.append(el("p", { className: "fe-sub", text: "Columns" }), fieldList(prop.items, true), addButton(prop.items, "+ Add column", true));
      }
      list.append(card);
    });
    return list;
  }

  function addButton(owner, text, column) {
    var button = el("button", { type: "button", className: column ? "fe-add fe-add-column" : "fe-add", text: text });
    button.addEventListener("click", function () {
      owner.properties = owner.properties || {};
      var n = Object.keys(owner.properties).length + 1, key = (column ? "column_" : "field_") + n;
      while (owner.properties[key]) { key = (column ? "column_" : "field_") + ++n; }
      owner.properties[key] = { type: "string", title: column ? "New column" : "New field", maxLength: SINGLE_LINE };
      changed();
      renderFields();
      var cards = fieldsBox.querySelectorAll('.fe-card[data-key="' + key + '"] input[name=title]');
      if (cards.length) { cards[cards.length - 1].select(); }
    });
    return button;
  }

  function rename(owner, from, to, input) {
    if (to === from) { return; }
    if (!KEY.test(to) || owner.properties[to]) {
      input.setCustomValidity(owner.properties[to] ? "another field has this key" : "letters, digits and _; not starting with a digit");
      input.reportValidity();
      return;
    }
    input.setCustomValidity("");
    var rebuilt = {};
    Object.keys(owner.properties).forEach(function (k) { rebuilt[k === from ? to : k] = owner.properties[k]; });
    owner.properties = rebuilt;
    owner.required = (owner.required || []).map(function (k) { return k === from ? to : k; });
    changed();
    renderFields();
  }

  function move(owner, key, step) {
    var keys = Object.keys(owner.properties), i = keys.indexOf(key), j = i + step;
    keys[i] = keys[j];
    keys[j] = key;
    var rebuilt = {};
    keys.forEach(function (k) { rebuilt[k] = owner.properties[k]; });
    owner.properties = rebuilt;
    changed();
    renderFields();
  }

  function renderFields() {
    var schema = forms[current.name].schema;
    var title = el("input", { type: "text", name: "form-title", value: schema.title || "" });
    title.addEventListener("input", function () { setOrDelete(schema, "title", title.value); changed(); });
    var description = el("input", { type: "text", name: "form-description", value: schema.description || "" });
    description.addEventListener("input", function () { setOrDelete(schema, "description", description.value); changed(); });
    fieldsBox.replaceChildren(
      el("div", { className: "fe-row fe-form" }, [labelled("Form title", title, "grow"), labelled("Description", description, "grow")]),
      fieldList(schema, false),
      addButton(schema, "+ Add field", false)
    );
  }

  // -- the preview --------------------------------------------------------------------------

  function showProblems(problems) {
    problemsBox.replaceChildren();
    problems.forEach(function (p) {
      var item = el("li", {}, [p.path ? el("code", { text: p.path }) : null, p.path ? " " : null, p.message]);
      if (p.kind) { item.className = "kind-" + p.kind; }
      problemsBox.append(item);
    });
    problemsBox.hidden = !problems.length;
  }

  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(previewNow, 300);
  }

  function previewNow() {
    var form = current && forms[current.name];
    if (!form || form.error) { return; }
    var mine = ++sequence;
    preview.classList.add("loading");
    window.Baton.postJson(root.dataset.previewUrl, { schema: form.schema, approval: isApproval() }).then(function (answer) {
      var data = answer.data;
      if (answer.status >= 400) { throw new Error(data.detail || data.error || "HTTP " + answer.status); }
      return data;
    }).then(function (data) {
      if (mine !== sequence) { return; } // a newer preview is on its way
      showProblems(data.problems);
      if (data.html !== null) {
        preview.innerHTML = data.html; // rendered by the server's autoescaping template
        preview.classList.remove("stale");
      } else {
        preview.classList.add("stale");
      }
      drawer.classList.toggle("invalid", !data.valid);
    }).catch(function (err) {
      if (mine === sequence) { showProblems([{ path: "", message: "The preview failed: " + err.message }]); }
    }).finally(function () {
      if (mine === sequence) { preview.classList.remove("loading"); }
    });
  }

  root.addEventListener("baton:forms", function (event) { load(event.detail); });
  modeler.on("import.done", function () { if (current) { close(); } }); // another diagram was opened

  window.Baton.formEditor = { open: open, close: close, names: names, payload: payload, newForm: newForm };
})();
