/*
 * What Baton's editor scripts share (editor.js, editor-properties.js, editor-forms.js): the
 * session's CSRF token, a JSON POST that carries it, and reading a BPMN element's
 * <spiffworkflow:property> entries. Classic script, one namespace: window.Baton. The editor's
 * parts also meet here (Baton.setProperty, Baton.formEditor) instead of in globals of their own.
 * Loaded before the editor scripts by templates/definition_edit.html.
 */
window.Baton = (function () {
  "use strict";

  var PROPERTIES = "spiffworkflow:properties", PROPERTY = "spiffworkflow:property";

  /* The session's CSRF token (base.html puts it in a meta tag). */
  function csrfToken() {
    return (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  }

  /* POST a JSON body with the CSRF header; resolves to {status, data} (data: the JSON answer,
   * or {error: "HTTP <status>"} when the answer is not JSON). */
  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
        "X-CSRFToken": csrfToken()
      },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return { error: "HTTP " + r.status }; })
        .then(function (data) { return { status: r.status, data: data }; });
    });
  }

  /* An element's <spiffworkflow:property name value> entries as {name: value}. */
  function propertiesOf(bo) {
    var result = {};
    var ext = bo.extensionElements;
    ((ext && ext.values) || []).forEach(function (v) {
      if (v.$type !== PROPERTIES) { return; }
      (v.$children || []).forEach(function (p) {
        if (p.$type === PROPERTY && p.name) { result[p.name] = p.value || ""; }
      });
    });
    return result;
  }

  return {
    PROPERTIES: PROPERTIES,
    PROPERTY: PROPERTY,
    csrfToken: csrfToken,
    postJson: postJson,
    propertiesOf: propertiesOf,
    setProperty: null, // set by editor-properties.js
    formEditor: null // set by editor-forms.js
  };
})();
