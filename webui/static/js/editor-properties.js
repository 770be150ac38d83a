/*
 * The editor's side panel: a selected user/manual task's stage, SLA and form, or a lane's role,
 * written as <spiffworkflow:property name=".." value=".."/> entries in the element's
 * extensionElements (what Baton's engine and lint rules read). Other extension elements
 * (instructions, scripts...) are kept as they are. Each change is one undoable command.
 */
(function () {
  "use strict";

  var modeler = window.batonModeler;
  var panel = document.getElementById("properties");
  if (!modeler || !panel) { return; }
  var vocabulary = JSON.parse(document.getElementById("editor-vocabulary").textContent);
  var NS = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var PROPERTIES = window.Baton.PROPERTIES, PROPERTY = window.Baton.PROPERTY;
  var moddle = modeler.get("moddle");
  var modeling = modeler.get("modeling");
  var current = null;

  var propertiesOf = window.Baton.propertiesOf; // common.js

  /* A new extensionElements with one property set (or removed when value is ""). */
  function setProperty(element, key, value) {
    var bo = element.businessObject;
    var values = bo.extensionElements ? bo.extensionElements.values.slice() : [];
    var at = values.findIndex(function (v) { return v.$type === PROPERTIES; });
    var children = at >= 0 ? (values[at].$children || []).slice() : [];
    var i = children.findIndex(function (p) { return p.$type === PROPERTY && p.name === key; });
    var entry = value === "" ? null : moddle.createAny(PROPERTY, NS, { name: key, value: value });
    if (i >= 0) {
      if (entry) { children[i] = entry; } else { children.splice(i, 1); }
    } else if (entry) {
      children.push(entry);
    }
    var props = moddle.createAny(PROPERTIES, NS, {});
    props.$children = children;
    if (at >= 0) {
      if (children.length) { values[at] = props; } else { values.splice(at, 1); }
    } else if (children.length) {
      values.push(props);
    }
    var ext = values.length ? moddle.create("bpmn:ExtensionElements", { values: values }) : undefined;
    modeling.updateProperties(element, { extensionElements: ext });
  }

  function field(label, control, hint) {
    var wrap = document.createElement("label");
    wrap.className = "field";
    var span = document.createElement("span");
    span.textContent = label;
    wrap.appendChild(span);
    wrap.appendChild(control);
    if (hint) {
      var small = document.createElement("small");
      small.textContent = hint;
      wrap.appendChild(small);
    }
    return wrap;
  }

  function select(name, options, value, blank) {
    var el = document.createElement("select");
    el.name = name;
    var list = blank ? [""].concat(options) : options.slice();
    if (value && list.indexOf(value) < 0) { list.push(value); } // keep an unknown value visible
    list.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = o;
      opt.textContent = o || blank;
      opt.selected = o === (value || "");
      el.appendChild(opt);
    });
    return el;
  }

  function bind(control, element, key) {
    control.addEventListener("change", function () { setProperty(element, key, control.value.trim()); });
    return control;
  }

  function laneOf(bo) {
    var lanes = bo.get ? bo.get("lanes") : [];
    return lanes && lanes.length ? lanes[lanes.length - 1] : null;
  }

  function render(element) {
    current = element;
    panel.replaceChildren();
    var bo = element && element.businessObject;
    var type = bo && bo.$type;
    if (bo && type === "bpmn:Task") {
      // a plain task from the palette: Baton needs to know who does it; one click makes it a user task
      var plain = document.createElement("p");
      plain.className = "meta";
      plain.textContent = "\u201c" + (bo.name || bo.id) + "\u201d is a plain task: make it a user task to give it a stage, an SLA and a form.";
      var make = document.createElement("button");
      make.type = "button";
      make.id = "make-user-task";
      make.className = "button";
      make.textContent = "Make it a user task";
      make.addEventListener("click", function () {
        var replaced = modeler.get("bpmnReplace").replaceElement(element, { type: "bpmn:UserTask" });
        modeler.get("selection").select(replaced);
      });
      panel.append(plain, make);
      return;
    }
    if (!bo || (type !== "bpmn:UserTask" && type !== "bpmn:ManualTask" && type !== "bpmn:Lane")) {
      var hint = document.createElement("p");
      hint.className = "meta";
      hint.textContent = "Select a user task to set its stage, SLA and form, or a lane to set its role.";
      panel.appendChild(hint);
      return;
    }
    var props = propertiesOf(bo);
    var title = document.createElement("p");
    title.className = "selected-name";
    title.textContent = (bo.name || "(no name)") + " ";
    var id = document.createElement("code");
    id.textContent = bo.id;
    title.appendChild(id);
    panel.appendChild(title);
    if (type === "bpmn:Lane") {
      panel.appendChild(field("Role", bind(select("role", vocabulary.roles, props.role, "— from the lane's name —"), element, "role"),
        "Who works this lane's steps."));
      return;
    }
    var lane = laneOf(bo);
    var where = document.createElement("p");
    where.className = "meta";
    where.textContent = lane ? "Lane: " + (lane.name || lane.id) : "Not in any lane: move it into one.";
    panel.appendChild(where);
    panel.appendChild(field("Stage", bind(select("stage", vocabulary.stages, props.stage, "— none —"), element, "stage")));
    var sla = document.createElement("input");
    sla.type = "text";
    sla.name = "sla";
    sla.value = props.sla || "";
    sla.placeholder = "e.g. 4bh or 2bd";
    panel.appendChild(field("SLA", bind(sla, element, "sla"), "Business hours (bh) or days (bd) to finish the step."));
    var formKey = "formJsonSchemaFilename";
    var formEditor = window.Baton.formEditor;
    var formNames = formEditor && formEditor.names().length ? formEditor.names() : vocabulary.forms;
    panel.appendChild(field("Form", bind(select("form", formNames, props[formKey], "— no form —"), element, formKey),
      "The JSON Schema staff fill in; it travels with the version."));
    panel.appendChild(field("Readable id", idControl(element), "Shown in validation, comparisons, reports and the CLI."));
    panel.appendChild(checkbox("Approval step", element, "approval", props.approval,
      "Decides approved / changes requested / rejected; gateways route the outcome."));
    panel.appendChild(checkbox("Waits on the client", element, "waits_on_client", props.waits_on_client,
      "The agency's deadlines pause while it is open."));
    var roleFrom = document.createElement("input");
    roleFrom.type = "text";
    roleFrom.name = "role_from";
    roleFrom.value = props.role_from || "";
    roleFrom.placeholder = "e.g. approver_role";
    panel.appendChild(field("Role from", bind(roleFrom, element, "role_from"),
      "A data key naming the role that does it (otherwise the lane's role)."));
    var shows = document.createElement("input");
    shows.type = "text";
    shows.name = "shows";
    shows.value = props.shows || "";
    shows.placeholder = "e.g. brief_write, budget";
    shows.setAttribute("list", "step-ids");
    panel.appendChild(field("Shows", bind(shows, element, "shows"),
      "Comma-separated step ids or data keys the task page displays."));
    panel.appendChild(stepIds(element));
    if (formEditor) {
      var actions = document.createElement("div");
      actions.className = "form-actions";
      var edit = document.createElement("button");
      edit.type = "button";
      edit.id = "edit-form";
      edit.className = "button";
      edit.textContent = "Edit form…";
      edit.disabled = !props[formKey];
      edit.addEventListener("click", function () { formEditor.open(element, props[formKey]); });
      var fresh = document.createElement("button");
      fresh.type = "button";
      fresh.id = "new-form";
      fresh.className = "button";
      fresh.textContent = "New form";
      fresh.title = "Start an empty form for this step";
      fresh.addEventListener("click", function () { formEditor.open(element, null); });
      actions.append(edit, fresh);
      panel.appendChild(actions);
    }
  }

  function checkbox(label, element, key, value, hint) {
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = key;
    box.checked = value === "true";
    box.addEventListener("change", function () { setProperty(element, key, box.checked ? "true" : ""); });
    var wrap = field(label, box, hint);
    wrap.classList.add("check");
    return wrap;
  }

  /* Readable ids: "Legal review" becomes legal_review (unique in the diagram). */
  function idFromName(name, element) {
    var base = (name || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "step";
    if (/^[0-9]/.test(base)) { base = "step_" + base; }
    var registry = modeler.get("elementRegistry"), id = base, n = 2;
    while (registry.get(id) && registry.get(id) !== element) { id = base + "_" + n++; }
    return id;
  }

  function idControl(element) {
    var wrap = document.createElement("span");
    wrap.className = "id-control";
    var input = document.createElement("input");
    input.type = "text";
    input.name = "element_id";
    input.value = element.businessObject.id;
    input.addEventListener("change", function () {
      var wanted = input.value.trim();
      if (wanted && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(wanted) && !modeler.get("elementRegistry").get(wanted)) {
        modeling.updateProperties(element, { id: wanted });
      } else {
        input.value = element.businessObject.id;
      }
    });
    var derive = document.createElement("button");
    derive.type = "button";
    derive.id = "id-from-name";
    derive.className = "button";
    derive.textContent = "From name";
    derive.addEventListener("click", function () {
      modeling.updateProperties(element, { id: idFromName(element.businessObject.name, element) });
    });
    wrap.append(input, derive);
    return wrap;
  }

  /* The step ids a "shows" entry may name, offered as the input's suggestions. */
  function stepIds(element) {
    var list = document.createElement("datalist");
    list.id = "step-ids";
    modeler.get("elementRegistry").filter(function (e) {
      return e !== element && /Task$/.test(e.type);
    }).forEach(function (e) {
      var option = document.createElement("option");
      option.value = e.businessObject.id;
      option.label = e.businessObject.name || "";
      list.appendChild(option);
    });
    return list;
  }

  /* A new step drawn from the palette gets a readable id once it is named. */
  modeler.on("commandStack.element.updateLabel.postExecuted", function (event) {
    var element = event.context.element;
    var bo = element && element.businessObject;
    if (bo && /^(Activity|Gateway|Event|Flow)_[0-9a-z]{7}$/.test(bo.id) && bo.name) {
      modeling.updateProperties(element, { id: idFromName(bo.name, element) });
    }
  });

  window.Baton.setProperty = setProperty; // the form editor sets a step's form the same way

  modeler.on("selection.changed", function (event) {
    var selection = event.newSelection || [];
    render(selection.length === 1 ? selection[0] : null);
  });
  modeler.on("elements.changed", function (event) {
    // show the new values after an edit, undo or redo of the selected element
    if (current && event.elements.indexOf(current) >= 0) { render(current); }
  });
  modeler.on("import.done", function () { render(null); });
  render(null);
})();
